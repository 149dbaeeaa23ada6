//! The reference page: the OpenAPI description rendered as HTML on the server, once,
//! when the router is built.
//!
//! It reads the description as JSON (what a client sees at `/openapi.json`), so the page
//! shows exactly what the document says. Operations are grouped by tag in the order of
//! the document's tag list; each shows its method, path, summary, authentication,
//! parameters, request body and responses. Named schemas get a section of their own and
//! are linked wherever a type mentions them. The CSP allows no inline style or script,
//! so the page has neither: styles come from `/assets/app.css` and
//! `/assets/api-reference.css`, and operations fold with `<details>`.

use std::collections::BTreeMap;

use askama::Template;
use serde_json::Value;

use super::DESCRIPTION_PATH;

/// Nesting depth up to which inline objects show their fields.
const MAX_FIELD_DEPTH: usize = 3;

/// Renders `description` (an OpenAPI document as JSON) as the reference page.
pub fn render(description: &Value) -> String {
    let page = Page::build(description);
    page.render().unwrap_or_else(|error| {
        tracing::error!(error = %error, "could not render the API reference");
        "The API reference could not be rendered; see /openapi.json.".to_owned()
    })
}

// --- view models (field names are the template's contract) ----------------------------

#[derive(Template)]
#[template(path = "api_reference.html")]
struct Page {
    title: String,
    version: String,
    intro: Text,
    description_path: &'static str,
    operation_count: usize,
    schemes: Vec<SchemeView>,
    tags: Vec<TagView>,
    schemas: Vec<SchemaView>,
}

/// Prose with `code` spans, in paragraphs.
#[derive(Debug, Default)]
struct Text {
    paragraphs: Vec<Vec<Span>>,
}

#[derive(Debug)]
struct Span {
    code: bool,
    text: String,
}

#[derive(Debug)]
struct SchemeView {
    name: String,
    kind: String,
    description: Text,
}

#[derive(Debug)]
struct TagView {
    name: String,
    anchor: String,
    description: Text,
    operations: Vec<OperationView>,
}

#[derive(Debug)]
struct OperationView {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: Text,
    /// One entry per accepted way to authenticate; empty when the operation is public.
    auth: Vec<String>,
    params: Vec<ParamView>,
    request: Option<BodyView>,
    responses: Vec<ResponseView>,
}

#[derive(Debug)]
struct ParamView {
    name: String,
    location: String,
    required: bool,
    ty: TypeView,
    description: Text,
}

#[derive(Debug)]
struct BodyView {
    content_type: String,
    required: bool,
    description: Text,
    ty: TypeView,
    fields: Vec<FieldView>,
}

#[derive(Debug)]
struct ResponseView {
    status: String,
    /// `ok`, `client` or `server`: the badge colour.
    class: &'static str,
    description: Text,
    headers: Vec<(String, Text)>,
    body: Option<BodyView>,
}

#[derive(Debug)]
struct FieldView {
    name: String,
    required: bool,
    ty: TypeView,
    description: Text,
}

#[derive(Debug)]
struct SchemaView {
    name: String,
    anchor: String,
    description: Text,
    ty: TypeView,
    fields: Vec<FieldView>,
}

/// A type expression, some of whose parts link to a schema.
#[derive(Debug, Default)]
struct TypeView {
    parts: Vec<TypePart>,
}

#[derive(Debug)]
struct TypePart {
    text: String,
    href: Option<String>,
}

// --- building ----------------------------------------------------------------------------

impl Page {
    fn build(doc: &Value) -> Page {
        let components = &doc["components"];
        let schemas = Schemas(&components["schemas"]);
        let mut tags: Vec<TagView> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tag| {
                let name = tag["name"].as_str()?;
                Some(TagView {
                    name: name.to_owned(),
                    anchor: format!("tag-{}", slug(name)),
                    description: Text::parse(tag["description"].as_str().unwrap_or_default()),
                    operations: Vec::new(),
                })
            })
            .collect();
        let mut operation_count = 0;
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                operation_count += 1;
                let view = operation_view(&schemas, components, path, method, operation);
                let tag = operation["tags"][0].as_str().unwrap_or("Other");
                match tags.iter_mut().find(|t| t.name == tag) {
                    Some(group) => group.operations.push(view),
                    None => tags.push(TagView {
                        name: tag.to_owned(),
                        anchor: format!("tag-{}", slug(tag)),
                        description: Text::default(),
                        operations: vec![view],
                    }),
                }
            }
        }
        // Operations keep the document's order: the order the routers register them.
        tags.retain(|t| !t.operations.is_empty());
        let schemes = components["securitySchemes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, scheme)| SchemeView {
                name: name.clone(),
                kind: scheme_kind(scheme),
                description: Text::parse(scheme["description"].as_str().unwrap_or_default()),
            })
            .collect();
        let schemas = schemas.views();
        Page {
            title: doc["info"]["title"].as_str().unwrap_or("API").to_owned(),
            version: doc["info"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            intro: Text::parse(doc["info"]["description"].as_str().unwrap_or_default()),
            description_path: DESCRIPTION_PATH,
            operation_count,
            schemes,
            tags,
            schemas,
        }
    }
}

fn scheme_kind(scheme: &Value) -> String {
    match (scheme["type"].as_str(), scheme["scheme"].as_str()) {
        (Some("http"), Some("bearer")) => "HTTP Bearer".to_owned(),
        (Some("http"), Some("basic")) => "HTTP Basic".to_owned(),
        (Some("apiKey"), _) => format!(
            "{} `{}`",
            scheme["in"].as_str().unwrap_or("key"),
            scheme["name"].as_str().unwrap_or_default()
        ),
        (Some(kind), _) => kind.to_owned(),
        (None, _) => "unknown".to_owned(),
    }
}

fn operation_view(
    schemas: &Schemas<'_>,
    components: &Value,
    path: &str,
    method: &str,
    operation: &Value,
) -> OperationView {
    let params = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| ParamView {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            location: p["in"].as_str().unwrap_or_default().to_owned(),
            required: p["required"].as_bool().unwrap_or(false),
            ty: schemas.type_of(&p["schema"]),
            description: Text::parse(p["description"].as_str().unwrap_or_default()),
        })
        .collect();
    let request = operation.get("requestBody").and_then(|body| {
        let mut view = body_view(schemas, body, true)?;
        // What to send matters most, so a request body always shows its fields.
        view.fields = schemas.fields_of(&body["content"][&view.content_type]["schema"]);
        view.required = body["required"].as_bool().unwrap_or(false);
        Some(view)
    });
    let responses = operation["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, response)| {
            // Shared responses live in components; show them where they are used.
            let response = match response["$ref"].as_str() {
                Some(reference) => resolve(components, reference).unwrap_or(response),
                None => response,
            };
            ResponseView {
                class: match status.chars().next() {
                    Some('2' | '3') => "ok",
                    Some('4') => "client",
                    _ => "server",
                },
                status: status.clone(),
                description: Text::parse(response["description"].as_str().unwrap_or_default()),
                headers: response["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, header)| {
                        (
                            name.clone(),
                            Text::parse(header["description"].as_str().unwrap_or_default()),
                        )
                    })
                    .collect(),
                body: body_view(schemas, response, false),
            }
        })
        .collect();
    let auth = operation["security"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|requirement| {
            let names: Vec<&str> = requirement
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| name.as_str())
                .collect();
            if names.is_empty() {
                "credentials in the form".to_owned()
            } else {
                names.join(" + ")
            }
        })
        .collect();
    OperationView {
        anchor: format!("op-{}-{}", method, slug(path)),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: operation["summary"].as_str().unwrap_or(path).to_owned(),
        description: Text::parse(operation["description"].as_str().unwrap_or_default()),
        auth,
        params,
        request,
        responses,
    }
}

/// The first content of a request body or response, if it has one.
/// A request body shows its own description; a response's is shown with its status.
fn body_view(schemas: &Schemas<'_>, holder: &Value, describe: bool) -> Option<BodyView> {
    let (content_type, media) = holder["content"].as_object()?.iter().next()?;
    let schema = &media["schema"];
    let description = match describe {
        true => Text::parse(holder["description"].as_str().unwrap_or_default()),
        false => Text::default(),
    };
    // A named schema has its own section, linked from the type; a generic instance or
    // an inline object has none, so its fields are shown here.
    let named = schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .is_some_and(|name| !Schemas::is_generic_instance(name));
    Some(BodyView {
        content_type: content_type.clone(),
        required: false,
        description,
        ty: schemas.type_of(schema),
        fields: if named {
            Vec::new()
        } else {
            schemas.fields_of(schema)
        },
    })
}

/// A local JSON pointer (`#/components/responses/NotFound`) in `components`.
fn resolve<'v>(components: &'v Value, reference: &str) -> Option<&'v Value> {
    let rest = reference.strip_prefix("#/components/")?;
    rest.split('/')
        .try_fold(components, |node, key| node.get(key))
}

/// The document's named schemas.
struct Schemas<'v>(&'v Value);

impl Schemas<'_> {
    fn get(&self, reference: &str) -> Option<&Value> {
        self.0.get(reference.strip_prefix("#/components/schemas/")?)
    }

    /// A generic instance (`Envelope_Vec_Project`) has no section; its shape is shown
    /// where it is used.
    fn is_generic_instance(name: &str) -> bool {
        name.contains('_')
    }

    fn type_of(&self, schema: &Value) -> TypeView {
        let mut view = TypeView::default();
        self.write_type(schema, &mut view, 0);
        view
    }

    fn write_type(&self, schema: &Value, out: &mut TypeView, depth: usize) {
        if depth > 6 {
            out.text("…");
            return;
        }
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            if Schemas::is_generic_instance(name) {
                out.text(&generic_name(name));
            } else {
                out.link(name, &format!("#schema-{}", slug(name)));
            }
            return;
        }
        for (key, separator) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
            if let Some(items) = schema[key].as_array() {
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.text(separator);
                    }
                    self.write_type(item, out, depth + 1);
                }
                return;
            }
        }
        if let Some(values) = schema["enum"].as_array() {
            let values: Vec<String> = values.iter().map(Value::to_string).collect();
            out.text(&values.join(" | "));
            return;
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.is_empty() {
            out.text("any JSON");
            return;
        }
        for (index, kind) in types.iter().enumerate() {
            if index > 0 {
                out.text(" | ");
            }
            match *kind {
                "array" => {
                    out.text("array of ");
                    self.write_type(&schema["items"], out, depth + 1);
                }
                "object" => match schema.get("additionalProperties") {
                    Some(values) if values.is_object() => {
                        out.text("map of string → ");
                        self.write_type(values, out, depth + 1);
                    }
                    _ if schema.get("properties").is_some() => out.text("object"),
                    _ => out.text("JSON object"),
                },
                "string" if schema.get("contentMediaType").is_some() => {
                    out.text(&format!(
                        "bytes ({})",
                        schema["contentMediaType"].as_str().unwrap_or_default()
                    ));
                }
                other => match schema["format"].as_str() {
                    Some(format) => out.text(&format!("{other} ({format})")),
                    None => out.text(other),
                },
            }
        }
    }

    /// The fields of an object schema, following one reference; nested inline objects
    /// show their fields with dotted names.
    fn fields_of(&self, schema: &Value) -> Vec<FieldView> {
        let schema = schema["$ref"]
            .as_str()
            .and_then(|r| self.get(r))
            .unwrap_or(schema);
        let mut fields = Vec::new();
        self.collect_fields(schema, "", &mut fields, 0);
        fields
    }

    fn collect_fields(&self, schema: &Value, prefix: &str, out: &mut Vec<FieldView>, depth: usize) {
        let Some(properties) = schema["properties"].as_object() else {
            return;
        };
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, property) in properties {
            let full = format!("{prefix}{name}");
            out.push(FieldView {
                name: full.clone(),
                required: required.contains(&name.as_str()),
                ty: self.type_of(property),
                description: Text::parse(property["description"].as_str().unwrap_or_default()),
            });
            if depth < MAX_FIELD_DEPTH {
                // Inline objects (a generic's argument, say) have no section to link to.
                let (inner, suffix) = match property["items"].is_object() {
                    true => (&property["items"], "[]."),
                    false => (property, "."),
                };
                if inner.get("$ref").is_none() && inner.get("properties").is_some() {
                    self.collect_fields(inner, &format!("{full}{suffix}"), out, depth + 1);
                }
            }
        }
    }

    fn views(&self) -> Vec<SchemaView> {
        self.0
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| !Schemas::is_generic_instance(name))
            .map(|(name, schema)| SchemaView {
                name: name.clone(),
                anchor: format!("schema-{}", slug(name)),
                description: Text::parse(schema["description"].as_str().unwrap_or_default()),
                ty: self.type_of(schema),
                fields: self.fields_of(schema),
            })
            .collect()
    }
}

impl TypeView {
    fn text(&mut self, text: &str) {
        match self.parts.last_mut() {
            Some(last) if last.href.is_none() => last.text.push_str(text),
            _ => self.parts.push(TypePart {
                text: text.to_owned(),
                href: None,
            }),
        }
    }

    fn link(&mut self, text: &str, href: &str) {
        self.parts.push(TypePart {
            text: text.to_owned(),
            href: Some(href.to_owned()),
        });
    }
}

/// `Envelope_Vec_Project` → `Envelope<Vec<Project>>`: utoipa names a generic's
/// instances by joining the type names with `_`.
fn generic_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('_').collect();
    let mut out = parts.join("<");
    out.push_str(&">".repeat(parts.len().saturating_sub(1)));
    out
}

/// An anchor-safe form of a name or path.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

impl Text {
    /// Paragraphs split at blank lines; single line breaks are wrapping; `backticks`
    /// become code.
    fn parse(text: &str) -> Text {
        let paragraphs = text
            .split("\n\n")
            .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|paragraph| !paragraph.is_empty())
            .map(|paragraph| {
                paragraph
                    .split('`')
                    .enumerate()
                    .filter(|(_, piece)| !piece.is_empty())
                    .map(|(index, piece)| Span {
                        code: index % 2 == 1,
                        text: piece.to_owned(),
                    })
                    .collect()
            })
            .collect();
        Text { paragraphs }
    }

    fn is_empty(&self) -> bool {
        self.paragraphs.is_empty()
    }
}

/// Named schemas by the JSON of their definition, to replace inline copies by references.
pub fn share_schemas(doc: &mut Value) {
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            // Only objects and enums are worth a reference; and not generic instances,
            // whose definitions are unique anyway.
            let worth = schema.get("properties").is_some() || schema.get("enum").is_some();
            if worth && !Schemas::is_generic_instance(name) {
                named
                    .entry(schema.to_string())
                    .or_insert_with(|| name.clone());
            }
        }
    }
    if named.is_empty() {
        return;
    }
    if let Some(paths) = doc.get_mut("paths") {
        replace_copies(paths, &named, true);
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            // A definition is not a copy of itself: look only below its top level.
            replace_copies(schema, &named, false);
        }
    }
}

fn replace_copies(node: &mut Value, named: &BTreeMap<String, String>, check_self: bool) {
    if check_self
        && node.is_object()
        && let Some(name) = named.get(&node.to_string())
    {
        *node = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        return;
    }
    match node {
        Value::Object(map) => {
            for value in map.values_mut() {
                replace_copies(value, named, true);
            }
        }
        Value::Array(items) => {
            for value in items {
                replace_copies(value, named, true);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_instances_read_as_rust_types() {
        assert_eq!(
            generic_name("Envelope_Vec_Project"),
            "Envelope<Vec<Project>>"
        );
        assert_eq!(generic_name("Page_Input"), "Page<Input>");
    }

    #[test]
    fn backticks_become_code_and_blank_lines_paragraphs() {
        let text = Text::parse("Send `a`\nor b.\n\nThen `c`");
        assert_eq!(text.paragraphs.len(), 2);
        assert!(text.paragraphs[0][1].code);
        assert_eq!(text.paragraphs[0][2].text, " or b.");
    }

    #[test]
    fn inline_copies_of_named_schemas_become_references() {
        let mut doc = serde_json::json!({
            "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"type": "object", "properties": {"data": {"type": "object", "properties": {"a": {"type": "string"}}}}}
            }}}}}}},
            "components": {"schemas": {
                "A": {"type": "object", "properties": {"a": {"type": "string"}}},
                "Envelope_A": {"type": "object", "properties": {"data": {"type": "object", "properties": {"a": {"type": "string"}}}}}
            }}
        });
        share_schemas(&mut doc);
        let data = &doc["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["properties"]["data"];
        assert_eq!(data["$ref"], "#/components/schemas/A");
        assert_eq!(
            doc["components"]["schemas"]["Envelope_A"]["properties"]["data"]["$ref"],
            "#/components/schemas/A"
        );
        assert_eq!(doc["components"]["schemas"]["A"]["type"], "object");
    }
}
