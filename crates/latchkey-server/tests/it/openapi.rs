//! `/openapi.json` and `/docs/api`: the description covers every API route, is a sound
//! OpenAPI 3.1 document, and renders as the reference page.
//!
//! How a missing route is caught: the API routers are `OpenApiRouter`s that register a
//! route only through `routes!(handler)`, from the handler's `#[utoipa::path]`
//! annotation, so what they serve and what they describe come from one source. What
//! could slip past is a plain axum `.route("…")` (on an axum `Router` or on an
//! `OpenApiRouter`, which passes it through undescribed). So
//! [`every_route_the_source_registers_is_described`] reads the server's source and
//! requires every `.route(`/`.route_service(` call to be described, unless it is a page
//! or asset route in a page module; and [`every_described_operation_is_routed`] calls
//! every described operation on the running server and requires that a handler, not
//! the router's fallback, answers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::TestApp;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

async fn description(app: &TestApp) -> Value {
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    response.json().await.expect("the description is JSON")
}

/// Every (METHOD, path) the description has.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

// --- reading the source -------------------------------------------------------------------

/// A route registration found in the source.
#[derive(Debug)]
struct Registration {
    file: String,
    method: String,
    path: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text from an opening parenthesis (exclusive) to its match, skipping string
/// literals.
fn parenthesised(text: &str) -> &str {
    let mut depth = 1;
    let mut in_string = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..index];
                }
            }
            _ => {}
        }
    }
    text
}

/// The axum method-router calls (`get(…)`, `.post(…)`, `any(…)`) in a route's second
/// argument; `ANY` for a service, which answers every method.
fn methods_of(expression: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expression.as_bytes();
    for name in METHODS.iter().chain(&["any"]) {
        let needle = format!("{name}(");
        let mut from = 0;
        while let Some(at) = expression[from..].find(&needle) {
            let start = from + at;
            let before = start.checked_sub(1).map(|i| bytes[i]);
            // `get(` but not `target(` or `budget(`.
            if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                found.push(name.to_uppercase());
            }
            from = start + needle.len();
        }
    }
    if found.is_empty() {
        found.push("ANY".to_owned());
    }
    found
}

/// Every `.route("…", …)` and `.route_service("…", …)` of the server's source.
fn registrations() -> Vec<Registration> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source file");
        let name = file
            .strip_prefix(&root)
            .expect("under src")
            .display()
            .to_string();
        for call in [".route(", ".route_service("] {
            let mut from = 0;
            while let Some(at) = text[from..].find(call) {
                let start = from + at + call.len();
                from = start;
                let arguments = parenthesised(&text[start..]);
                let Some((first, rest)) = arguments.split_once(',') else {
                    continue;
                };
                let first = first.trim();
                let path = first.trim_matches('"').to_owned();
                assert!(
                    first.starts_with('"') && first.ends_with('"'),
                    "{name}: `{call}{first}, …)` registers a path that is not a string literal; \
                     this test cannot check it. Use a literal or `routes!(…)`."
                );
                for method in if call == ".route(" {
                    methods_of(rest)
                } else {
                    vec!["ANY".to_owned()]
                } {
                    out.push(Registration {
                        file: name.clone(),
                        method,
                        path: path.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Paths that are API by their shape, whatever module registers them.
fn is_api_path(path: &str) -> bool {
    let versioned = path
        .strip_prefix("/v")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(version, _)| {
            !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
        });
    versioned
        || path.starts_with("/.well-known/")
        || path.starts_with("/upload/")
        || ["/healthz", "/readyz", "/openapi.json"].contains(&path)
}

/// Modules whose routes are pages or static assets, not API.
fn is_page_module(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    name == "web.rs"
        || name.ends_with("pages.rs")
        || file.contains("pages/")
        // The reference page and its stylesheet; its `/openapi.json` is API by path.
        || file == "openapi.rs"
}

#[tokio::test]
async fn every_route_the_source_registers_is_described() {
    let app = TestApp::spawn().await;
    let described = operations(&description(&app).await);
    let found = registrations();
    assert!(
        found
            .iter()
            .any(|r| r.file.ends_with("web.rs") && r.path == "/login"),
        "the source scan should see the pages' routes: {found:?}"
    );

    let mut undescribed = Vec::new();
    for registration in &found {
        if is_page_module(&registration.file) && !is_api_path(&registration.path) {
            continue;
        }
        // `/metrics` is served on its own address (`LATCHKEY_METRICS_LISTEN`) for the
        // operator, never on the public one this description covers.
        if registration.file == "metrics.rs" && registration.path == "/metrics" {
            continue;
        }
        let is_described = if registration.method == "ANY" {
            described.iter().any(|(_, path)| *path == registration.path)
        } else {
            described.contains(&(registration.method.clone(), registration.path.clone()))
        };
        if !is_described {
            undescribed.push(format!(
                "{} {} (src/{})",
                registration.method, registration.path, registration.file
            ));
        }
    }
    assert!(
        undescribed.is_empty(),
        "these API routes are registered with a plain `.route(…)` and missing from \
         /openapi.json; annotate the handler with #[utoipa::path(…)] and register it with \
         `.routes(routes!(handler))` on the module's OpenApiRouter:\n  {}",
        undescribed.join("\n  ")
    );
}

#[test]
fn the_source_scan_reads_method_routers_and_api_paths() {
    assert_eq!(
        methods_of(" get(show_login).post(log_in))"),
        ["GET", "POST"]
    );
    assert_eq!(
        methods_of(" put(set_member).delete(remove)"),
        ["PUT", "DELETE"]
    );
    assert_eq!(methods_of(" get(budget(x))"), ["GET"]);
    assert_eq!(methods_of(" service"), ["ANY"]);
    assert_eq!(
        parenthesised(r#""/a", get(f(")")))) .x"#),
        r#""/a", get(f(")"))"#
    );
    assert!(is_api_path("/v1/projects"));
    assert!(is_api_path("/v2/scenes/{uuid}"));
    assert!(is_api_path("/.well-known/jwks.json"));
    assert!(!is_api_path("/credentials"));
    assert!(!is_api_path("/very/important"));
    assert!(is_page_module("routes/web.rs"));
    assert!(is_page_module("routes/platform_pages.rs"));
    assert!(!is_page_module("routes/content/scenes.rs"));
}

#[tokio::test]
async fn every_described_operation_is_routed() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    let unrouted = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        (status, body)
    };
    // What the router's fallbacks answer, to tell them from a handler's own 404.
    let (status, fallback) = unrouted(
        app.http
            .get(app.url("/v1/no-such-route-at-all"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 404);
    let fallback_message = fallback["message"].as_str().expect("message").to_owned();

    let mut missing = Vec::new();
    for (method, path) in operations(&doc) {
        // Any value reaches the handler; it is the handler that refuses it.
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "0"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let request = app
            .http
            .request(method.parse().expect("method"), app.url(&concrete));
        let (status, body) = unrouted(request.send().await.expect("request")).await;
        let is_fallback = (status == 404 && body["message"] == fallback_message.as_str())
            || (status == 405 && body["error"] == "method_not_allowed");
        if is_fallback {
            missing.push(format!("{method} {path} → {status} {body}"));
        }
    }
    assert!(
        missing.is_empty(),
        "described but not served:\n  {}",
        missing.join("\n  ")
    );
}

// --- the document itself ------------------------------------------------------------------

/// Every `$ref` in `node`, with where it is.
fn references(node: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    out.push((at.to_owned(), value.as_str().unwrap_or_default().to_owned()));
                } else {
                    references(value, &format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                references(value, &format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

/// `response` itself, or the shared response it refers to.
fn resolved<'v>(doc: &'v Value, response: &'v Value) -> &'v Value {
    match response["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .expect("resolvable"),
        None => response,
    }
}

#[tokio::test]
async fn the_description_is_a_sound_openapi_3_1_document() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;

    assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Latchkey API");
    assert!(!doc["info"]["version"].as_str().expect("version").is_empty());
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorBody",
        "OAuthErrorBody",
        "TokenResponse",
        "Timestamp",
        "NewScene",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    assert_eq!(schemes["client_secret_basic"]["scheme"], "basic");

    let mut refs = Vec::new();
    references(&doc, "#", &mut refs);
    assert!(refs.len() > 50, "the document uses references");
    let unresolved: Vec<_> = refs
        .iter()
        .filter(|(_, reference)| {
            !reference.starts_with("#/") || doc.pointer(&reference[1..]).is_none()
        })
        .collect();
    assert!(unresolved.is_empty(), "unresolved $refs: {unresolved:?}");

    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut operation_ids = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            assert!(tags.contains(tag), "{at}: tag `{tag}` is not declared");
            assert!(
                !operation["summary"].as_str().unwrap_or_default().is_empty(),
                "{at}: summary"
            );
            assert!(
                !operation["description"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{at}: description"
            );
            if let Some(previous) =
                operation_ids.insert(operation["operationId"].to_string(), at.clone())
            {
                panic!("{at} and {previous} share an operationId");
            }

            // Path parameters and the template agree.
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(in_template, declared, "{at}: path parameters");

            // Authentication is stated, never left to a default.
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no `security`"));
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{at}: a success response"
            );
            if !security.is_empty() && !path.starts_with("/v1/auth/oauth/") {
                assert!(
                    responses.contains_key("401"),
                    "{at}: 401 for a missing token"
                );
            }

            // Errors in the right shape: RFC 6749 §5.2 at the OAuth endpoints, ours
            // everywhere else.
            let error_shape = if path.starts_with("/v1/auth/oauth/") {
                "#/components/schemas/OAuthErrorBody"
            } else {
                "#/components/schemas/ErrorBody"
            };
            for (status, response) in responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let schema = &resolved(&doc, response)["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], error_shape,
                    "{at}: {status} should answer {error_shape}"
                );
            }
        }
    }

    // Spot checks of what the clients rely on.
    let upload = &doc["paths"]["/upload/{token}"]["put"];
    assert_eq!(
        upload["security"],
        serde_json::json!([]),
        "uploads are unauthenticated"
    );
    let token = &doc["paths"]["/v1/auth/oauth/token"]["post"];
    assert!(
        token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "the token endpoint takes a form"
    );
    assert!(
        token["security"]
            .as_array()
            .expect("security")
            .iter()
            .any(|s| s.get("client_secret_basic").is_some())
    );
    let scene_types =
        &doc["paths"]["/v1/inputs/{scene_type}"]["post"]["parameters"][0]["schema"]["enum"];
    assert!(
        scene_types
            .as_array()
            .expect("scene types")
            .iter()
            .any(|t| t == "lidars-and-cameras")
    );
}

#[tokio::test]
async fn the_reference_page_shows_every_operation_without_outside_resources() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    let response = app
        .http
        .get(app.url("/docs/api"))
        .send()
        .await
        .expect("GET /docs/api");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = response.text().await.expect("page");

    assert!(html.contains("<h1>Latchkey API"));
    for path in [
        "/v1/auth/oauth/token",
        "/v1/credentials/{client_id}",
        "/v1/workspaces/{id}/members/{user_id}",
        "/v1/inputs/project/{project}/batch/{batch}/{scene_type}",
        "/v2/scenes/{uuid}",
        "/upload/{token}",
    ] {
        assert!(
            html.contains(&format!(">{path}</code>")),
            "the page shows {path}"
        );
    }
    let shown = html.matches("class=\"ref-path\"").count();
    assert_eq!(shown, operations(&doc).len(), "one entry per operation");
    for tag in ["OAuth", "Workspaces", "Scenes", "Uploads"] {
        assert!(
            html.contains(&format!("{tag} <span class=\"count-pill\">")),
            "tag {tag}"
        );
    }
    assert!(
        html.contains("id=\"schema-errorbody\""),
        "schemas have sections"
    );
    assert!(
        html.contains("href=\"#schema-newscene\""),
        "types link to them"
    );

    // The CSP allows only same-origin files: no inline style or script, no CDN.
    for forbidden in [
        "<script", "style=", "<style", "http://", "https://", "//cdn",
    ] {
        assert!(!html.contains(forbidden), "the page contains `{forbidden}`");
    }
    let stylesheet = app
        .http
        .get(app.url("/assets/api-reference.css"))
        .send()
        .await
        .expect("stylesheet");
    assert_eq!(stylesheet.status(), 200);
    assert!(
        stylesheet.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/css")
    );
}

/// Operations any client may call: they authenticate a client by its secret (or the
/// upload URL's own token), not a caller, or describe the service.
const PUBLIC: [&str; 12] = [
    "POST /v1/auth/oauth/token",
    "POST /v1/auth/oauth/introspect",
    "POST /v1/auth/oauth/revoke",
    "GET /.well-known/openid-configuration",
    "GET /.well-known/oauth-authorization-server",
    "GET /.well-known/jwks.json",
    "GET /healthz",
    "GET /readyz",
    "GET /openapi.json",
    "GET /docs/api",
    "PUT /upload/{token}",
    "POST /v1/secret-scanning/reports",
];

/// Every operation that takes a caller declares who may make it: `POST
/// /v1/access/check` (which reads the same declaration as the handler's permission
/// check) understands it, and names the permission it needs. A route added without a
/// declaration fails here; a public one must be listed in [`PUBLIC`].
#[tokio::test]
async fn every_operation_declares_who_may_call_it() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    let person = app.sign_in_as_admin().await;
    let mut undeclared = Vec::new();
    for (method, path) in operations(&doc) {
        let label = format!("{method} {path}");
        let secured = doc["paths"][&path][method.to_lowercase()]["security"]
            .as_array()
            .is_some_and(|schemes| schemes.iter().any(|s| s.get("bearer").is_some()));
        if PUBLIC.contains(&label.as_str()) {
            assert!(
                !secured,
                "{label} is listed as public but asks for a bearer token"
            );
            continue;
        }
        let concrete = path.replace('{', "x-").replace('}', "");
        let response = person
            .call(
                reqwest::Method::POST,
                "/v1/access/check",
                Some(serde_json::json!({ "method": method, "path": concrete })),
            )
            .await;
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        let understood = status == 200
            && answer["data"]["route"] == label.as_str()
            && answer["data"]["action"]
                .as_str()
                .is_some_and(|a| !a.is_empty());
        if !understood {
            undeclared.push(format!("{label}: {status} {answer}"));
        }
    }
    assert!(
        undeclared.is_empty(),
        "operations without an access declaration:\n{}",
        undeclared.join("\n")
    );
}

/// An id in the path that does not parse, or is not even UTF-8, is answered in the one
/// JSON error shape with a request id, never axum's `text/plain` rejection (issue 9,
/// finding 10e).
#[tokio::test]
async fn a_malformed_path_id_gets_the_json_error_shape_with_a_request_id() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    let operator = app.sign_in_as_admin().await;
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        if !path.contains('{') {
            continue;
        }
        for malformed in ["abc", "%FF"] {
            let url: String = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        malformed
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let body = (method != reqwest::Method::GET).then(|| serde_json::json!({}));
            let response = operator.call(method.clone(), &url, body).await;
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = response.text().await.expect("body");
            let call = format!("{method} {url}: {status} {content_type} {text}");
            assert!(status.is_client_error(), "{call}");
            assert!(content_type.starts_with("application/json"), "{call}");
            let body: Value = serde_json::from_str(&text).expect("JSON");
            for field in ["message", "error", "requestId"] {
                assert!(body[field].is_string(), "{field} in {call}");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} calls");
}
