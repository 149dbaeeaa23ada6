//! `POST /v1/access/check`: "would this call be allowed, and why not?" for the caller,
//! with no side effects. `latchkey doctor --check` asks it.
//!
//! [`ROUTES`] maps (method, path) to the route's declaration, the [`RouteAccess`]
//! constant its handler asks the permission decision with: what the call does, how it
//! finds its workspace, organization or credential ([`Find`]), and its words. The
//! answer comes from the very lookups the handlers make — [`Caller::workspace`],
//! [`Caller::organization`], [`Caller::authorize_route`], `credentials::subject`, the
//! content module's `project_for` and `scene_for` — so the refusal's code and message
//! are word for word the real call's, and a resource that does not exist or belongs to
//! another organization is the same `not_found`. Nothing here reads a body beyond the
//! ids it names, and nothing writes. The integration test `openapi` fails on an
//! operation that has no row here.
//!
//! What the check does not predict: a call's own validation (a malformed body, a batch
//! that is closed, a project in another workspace) — only whether the caller may make
//! it.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use latchkey_core::access::{Action, CredentialFacts, Denial, RequiredRole, Resource, decide};
use latchkey_core::{Scope, Scopes};
use latchkey_types::{AccessCheck, AccessCheckRequest, Envelope, ResourceRef};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{CredentialTarget, Find, RouteAccess, Target, not_found};
use crate::audit::AuditSlot;
use crate::auth::Caller;
use crate::credentials;
use crate::error::{ApiJson, AppError};
use crate::openapi::{BadRequest, Unauthorized};
use crate::routes::content::{
    SceneType, calibrations, hide_workspace, inputs, missing_batch, project_for, projects,
    query_param, scene_for, scene_queries, scenes, workspace_param,
};
use crate::routes::tenancy::{self, organization_ids};
use crate::routes::{api, audit, events, lifecycle};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_access))
}

/// One API route and the declaration its handler asks the permission decision with
/// (lists: what they filter by).
struct Route {
    method: Method,
    /// The path as registered, `{name}` for a parameter.
    pattern: &'static str,
    access: &'static RouteAccess,
}

const fn route(method: Method, pattern: &'static str, access: &'static RouteAccess) -> Route {
    Route {
        method,
        pattern,
        access,
    }
}

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CHECK_ACCESS: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "checking access");

/// The API routes of `routes/api.rs`, `routes/lifecycle.rs`, `routes/audit.rs`,
/// `routes/events.rs`, `routes/tenancy.rs` and `routes/content`, in the handlers' words.
/// A literal segment goes before a parameter in the same place (`/v1/inputs/initialize`
/// before `/v1/inputs/{scene_type}`): the first match wins, as in the router.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // routes/api.rs, routes/lifecycle.rs, routes/events.rs and this module: the caller's
    // own account and credentials.
    route(Method::GET, "/v1/me", &api::GET_ME),
    route(Method::GET, "/v1/credentials", &api::LIST_CREDENTIALS),
    route(Method::POST, "/v1/credentials", &credentials::CREATE_CREDENTIAL),
    route(Method::DELETE, "/v1/credentials/{client_id}", &credentials::DELETE_CREDENTIAL),
    route(Method::POST, "/v1/access/check", &CHECK_ACCESS),
    route(Method::POST, "/v1/credentials/{client_id}/disable", &credentials::DISABLE_CREDENTIAL),
    route(Method::POST, "/v1/credentials/{client_id}/enable", &credentials::ENABLE_CREDENTIAL),
    route(Method::POST, "/v1/credentials/{client_id}/roll", &credentials::ROLL_SECRET),
    route(Method::POST, "/v1/credentials/{client_id}/renew", &credentials::RENEW_CREDENTIAL),
    route(Method::PUT, "/v1/credentials/{client_id}/limits", &credentials::SET_LIMITS),
    route(Method::GET, "/v1/credentials/{client_id}/usage", &api::CREDENTIAL_USAGE),
    route(Method::GET, "/v1/me/preferences", &lifecycle::GET_PREFERENCES),
    route(Method::PUT, "/v1/me/preferences", &lifecycle::SET_PREFERENCES),
    // routes/audit.rs: each caller sees the part of the log that is theirs.
    route(Method::GET, "/v1/audit-events", &audit::LIST_AUDIT_EVENTS),
    route(Method::GET, "/v1/notifications", &events::LIST_NOTIFICATIONS),
    route(Method::POST, "/v1/notifications/{notification_id}/dismiss", &events::DISMISS_NOTIFICATION),
    // routes/tenancy.rs
    route(Method::GET, "/v1/organizations", &tenancy::LIST_ORGANIZATIONS),
    route(Method::POST, "/v1/organizations", &tenancy::CREATE_ORGANIZATION),
    route(Method::GET, "/v1/users", &tenancy::LIST_USERS),
    route(Method::POST, "/v1/users", &tenancy::ADD_USER),
    route(Method::GET, "/v1/workspaces", &tenancy::LIST_WORKSPACES),
    route(Method::POST, "/v1/workspaces", &tenancy::CREATE_WORKSPACE),
    route(Method::GET, "/v1/workspaces/{id}/members", &tenancy::LIST_MEMBERS),
    route(Method::PUT, "/v1/workspaces/{id}/members/{user_id}", &tenancy::SET_MEMBER),
    route(Method::DELETE, "/v1/workspaces/{id}/members/{user_id}", &tenancy::REMOVE_MEMBER),
    // routes/events.rs
    route(Method::GET, "/v1/organizations/{organization_id}/credentials", &lifecycle::ORGANIZATION_CREDENTIALS),
    route(Method::GET, "/v1/organizations/{organization_id}/credential-policy", &lifecycle::GET_CREDENTIAL_POLICY),
    route(Method::PUT, "/v1/organizations/{organization_id}/credential-policy", &lifecycle::SET_CREDENTIAL_POLICY),
    route(Method::GET, "/v1/organizations/{organization_id}/webhooks", &events::LIST_WEBHOOKS),
    route(Method::POST, "/v1/organizations/{organization_id}/webhooks", &events::CREATE_WEBHOOK),
    route(Method::DELETE, "/v1/organizations/{organization_id}/webhooks/{webhook_id}", &events::DELETE_WEBHOOK),
    route(Method::GET, "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries", &events::LIST_DELIVERIES),
    route(Method::POST, "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", &events::RETRY_DELIVERY),
    // routes/content/projects.rs
    route(Method::GET, "/v1/projects", &projects::LIST_PROJECTS),
    route(Method::POST, "/v1/projects", &projects::CREATE_PROJECT),
    route(Method::GET, "/v1/projects/{project}/batches", &projects::LIST_BATCHES),
    route(Method::GET, "/v1/projects/{project}/batches/{batch}", &projects::GET_BATCH),
    route(Method::POST, "/v1/projects/{project}/batches/{batch}", &projects::CREATE_BATCH),
    route(Method::POST, "/v1/projects/{project}/batches/{batch}/publish", &projects::PUBLISH_BATCH),
    // routes/content/scenes.rs
    route(Method::POST, "/v1/inputs/initialize", &scenes::INITIALIZE_SCENE),
    route(Method::POST, "/v1/inputs/project/{project}/batch/{batch}/{scene_type}", &scenes::CREATE_SCENE_IN_PROJECT),
    route(Method::POST, "/v1/inputs/project/{project}/{scene_type}", &scenes::CREATE_SCENE_IN_PROJECT),
    route(Method::POST, "/v1/inputs/{uuid}/actions/commit", &scenes::COMMIT_SCENE),
    route(Method::POST, "/v1/inputs/{scene_type}", &scenes::CREATE_SCENE),
    route(Method::POST, "/v1/imu", &scenes::UPLOAD_IMU),
    route(Method::POST, "/v2/scenes/query", &scene_queries::QUERY_SCENES),
    route(Method::POST, "/v2/scenes/actions/invalidate", &scene_queries::INVALIDATE_SCENES),
    route(Method::GET, "/v2/scenes/{uuid}", &scene_queries::GET_SCENE),
    // routes/content/inputs.rs
    route(Method::POST, "/v1/inputs", &inputs::CREATE_INPUT),
    route(Method::POST, "/v2/inputs", &inputs::CREATE_INPUT),
    route(Method::POST, "/v2/inputs/query", &inputs::QUERY_INPUTS),
    // routes/content/calibrations.rs
    route(Method::GET, "/v1/calibrations", &calibrations::GET_CALIBRATIONS),
    route(Method::POST, "/v1/calibrations", &calibrations::CREATE_CALIBRATION),
];

/// A call the check was asked about, parsed.
struct Call<'a> {
    route: &'a Route,
    params: Vec<(&'static str, String)>,
    query: Option<String>,
    body: Option<Value>,
}

impl Call<'_> {
    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A string field of the body.
    fn body_text(&self, field: &str) -> Option<String> {
        match self.body.as_ref()?.get(field)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }

    /// An id the call names in its body or, for the check's sake, in its query.
    fn named(&self, field: &str) -> Option<String> {
        self.body_text(field)
            .or_else(|| query_param(self.query.as_deref(), field))
            .filter(|v| !v.is_empty())
    }

    /// The error when the check was not told an id the call carries in its body.
    fn needs(&self, field: &str, code: &'static str) -> AppError {
        AppError::bad_request(
            code,
            format!(
                "{} {} names it in the body's `{field}`; send the call's `body` with the \
                 check, or add `?{field}=…` to the path.",
                self.route.method, self.route.pattern
            ),
        )
    }

    fn label(&self) -> String {
        format!("{} {}", self.route.method, self.route.pattern)
    }
}

/// What one evaluation found: what the call named, and the handler's verdict with the
/// resource it acts on.
struct Evaluation {
    named: Option<ResourceRef>,
    verdict: Result<Option<ResourceRef>, AppError>,
}

fn reference(kind: &str, id: impl Into<String>) -> Option<ResourceRef> {
    Some(ResourceRef {
        kind: kind.to_owned(),
        id: Some(id.into()),
        name: None,
    })
}

/// `POST /v1/access/check`.
#[utoipa::path(
    post,
    path = "/v1/access/check",
    tag = "Account",
    summary = "Would this call be allowed?",
    description = "Answers whether the caller may make a call, and if not, the error code \
        and the message that call would answer, word for word, with the permission, the \
        scope or role that would allow it and the resource. Nothing is changed. `path` may \
        carry a query string (`/v1/imu?workspaceId=…`); calls that name their workspace \
        or organization in the body take the call's `body`, or the id as a query \
        parameter (`/v1/projects?workspaceId=…`). A resource that does not exist or \
        belongs to another organization answers `allowed: false` with `not_found`. Only \
        access is checked, not the call's own validation.",
    request_body = AccessCheckRequest,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The verdict.", body = Envelope<AccessCheck>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
async fn check_access(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AccessCheckRequest>,
) -> Result<Json<Envelope<AccessCheck>>, AppError> {
    let call = parse(&body)?;
    let route = call.route;
    let evaluation = evaluate(&state, &caller, &call).await?;
    let (permission, scope) = match route.access.find {
        Find::Listed => (None, None),
        _ => (
            Some(route.access.action.permission()),
            route.access.action.required_scope().map(Scope::as_str),
        ),
    };
    let mut answer = AccessCheck {
        allowed: false,
        route: call.label(),
        action: route.access.doing.to_owned(),
        required_permission: permission.map(str::to_owned),
        required_scope: scope.map(str::to_owned),
        required_role: None,
        resource: None,
        error: None,
        message: None,
    };
    match evaluation.verdict {
        Ok(resource) => {
            answer.allowed = true;
            answer.message = Some(match (&resource, route.access.find) {
                (_, Find::Listed) => {
                    format!(
                        "Allowed: {} answers only what you may see.",
                        route.access.doing
                    )
                }
                (Some(resource), _) => format!(
                    "Allowed: {} in {} {}.",
                    route.access.doing,
                    resource.kind,
                    resource
                        .name
                        .as_deref()
                        .or(resource.id.as_deref())
                        .unwrap_or("")
                ),
                (None, _) => format!("Allowed: {}.", route.access.doing),
            });
            answer.resource = resource;
        }
        Err(AppError::Denied(denied)) => {
            answer.required_permission = Some(denied.required_permission.to_owned());
            if denied.code == "missing_role" {
                answer.required_role =
                    required_role(&state, &caller, route.access, &denied.resource).await?;
            }
            answer.resource = Some(denied.resource.clone());
            answer.error = Some(denied.code.to_owned());
            answer.message = Some(denied.message);
        }
        Err(error @ (AppError::NotFound { .. } | AppError::BadRequest { .. })) => {
            let body = error.body();
            answer.resource = evaluation.named;
            answer.error = Some(body.error);
            answer.message = Some(body.message);
        }
        Err(other) => return Err(other),
    }
    Ok(Json(Envelope { data: answer }))
}

/// The route and its parameters, or 400 `unknown_route` saying what was understood.
fn parse(request: &AccessCheckRequest) -> Result<Call<'static>, AppError> {
    let method_text = request.method.trim().to_ascii_uppercase();
    let method = Method::from_bytes(method_text.as_bytes()).map_err(|_| {
        AppError::bad_request(
            "unknown_route",
            format!(
                "`{}` is not an HTTP method; use GET, POST, PUT or DELETE.",
                clip(&request.method)
            ),
        )
    })?;
    let mut text = request.path.trim();
    // A whole URL is fine: only its path and query count.
    if let Some((_, rest)) = text.split_once("://") {
        text = rest.find('/').map_or("/", |at| &rest[at..]);
    }
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (text, None),
    };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let shown = format!("/{}", segments.join("/"));
    let mut methods = Vec::new();
    for route in ROUTES {
        let Some(params) = matches(route.pattern, &segments) else {
            continue;
        };
        if route.method == method {
            return Ok(Call {
                route,
                params,
                query,
                body: request.body.clone(),
            });
        }
        if !methods.contains(&route.method) {
            methods.push(route.method.clone());
        }
    }
    let message = if methods.is_empty() {
        format!(
            "The check understood {method} {shown}, which is no API route it knows; it covers \
             the routes of /v1/me, /v1/credentials, /v1/notifications, organizations and \
             their webhooks, users, workspaces, \
             projects, batches, scenes, inputs, IMU data and calibrations."
        )
    } else {
        format!(
            "The check understood {method} {shown}; that path takes {}, not {method}.",
            methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(AppError::bad_request("unknown_route", message))
}

/// The parameters of `segments` if they fit `pattern`.
fn matches(pattern: &'static str, segments: &[String]) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&'static str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.into_iter().zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name, segment.clone())),
            None if part == segment => {}
            None => return None,
        }
    }
    Some(params)
}

/// Asks the handler's own lookups about the call.
async fn evaluate(
    state: &AppState,
    caller: &Caller,
    call: &Call<'_>,
) -> Result<Evaluation, AppError> {
    let route = call.route;
    let access = route.access;
    let workspace = |id: String| async move {
        let named = reference("workspace", id.clone());
        let verdict = caller
            .workspace(state, &id, access)
            .await
            .map(|w| Some(Target::Workspace(&w).reference()));
        Evaluation { named, verdict }
    };
    let evaluation = match route.access.find {
        Find::Own => Evaluation {
            named: None,
            verdict: caller.authorize_own(access).map(|()| None),
        },
        Find::NewCredential => {
            // Without the call's body, the widest credential the caller may make: the
            // token's own reach, or for a session the default scopes everywhere.
            let principal = &caller.principal;
            let (scopes, workspaces) = match &principal.credential {
                Some(limits) => (limits.scopes.clone(), limits.workspaces.clone()),
                None => (Scopes::default_for_new_credential(), None),
            };
            let target = Target::Credential(CredentialTarget {
                client_id: None,
                name: "",
                owner_email: &caller.email,
                disabled_by: None,
                facts: CredentialFacts {
                    owner_user_id: caller.user_id,
                    organization_id: principal.organization.map(|(id, _)| id),
                    scopes: &scopes,
                    workspaces: workspaces.as_ref(),
                    disabled_by_admin: false,
                },
            });
            Evaluation {
                named: None,
                verdict: caller.authorize_route(access, target).map(|()| None),
            }
        }
        Find::Credential => {
            let client_id = call.param("client_id");
            let named = reference("credential", client_id);
            let verdict = credentials::subject(
                state,
                &caller.principal,
                client_id,
                access,
                &AuditSlot::default(),
            )
            .await
            .map(|subject| reference("credential", subject.row.client_id.clone()));
            Evaluation { named, verdict }
        }
        Find::Listed => Evaluation {
            named: None,
            verdict: Ok(None),
        },
        Find::Platform => Evaluation {
            named: None,
            verdict: caller
                .authorize_route(access, Target::Platform)
                .map(|()| Some(Target::Platform.reference())),
        },
        Find::Organization => {
            let Some(text) = call.named("organizationId") else {
                return Ok(Evaluation {
                    named: None,
                    verdict: Err(call.needs("organizationId", "missing_organization_id")),
                });
            };
            let named = reference("organization", text.clone());
            let verdict = match text.parse::<i64>() {
                Ok(id) => caller
                    .organization(state, id, access)
                    .await
                    .map(|o| Some(Target::Organization(&o).reference())),
                Err(_) => Err(not_found("organization", &text)),
            };
            Evaluation { named, verdict }
        }
        Find::OrganizationInPath => {
            let text = call.param("organization_id").to_owned();
            let named = reference("organization", text.clone());
            let verdict = match text.parse::<i64>() {
                Ok(id) => caller
                    .organization(state, id, access)
                    .await
                    .map(|o| Some(Target::Organization(&o).reference())),
                Err(_) => Err(not_found("organization", &text)),
            };
            Evaluation { named, verdict }
        }
        Find::Users => {
            // As `list_users`: the organizations named, else the caller's own, else
            // (the operator) every one.
            let requested = match organization_ids(call.query.as_deref()) {
                Ok(ids) => ids,
                Err(error) => {
                    return Ok(Evaluation {
                        named: None,
                        verdict: Err(error),
                    });
                }
            };
            let organizations = match (requested.is_empty(), caller.principal.organization) {
                (false, _) => requested,
                (true, Some((own, _))) => vec![own],
                (true, None) => state
                    .store
                    .organizations()
                    .await?
                    .iter()
                    .map(|o| o.id)
                    .collect(),
            };
            let mut evaluation = Evaluation {
                named: None,
                verdict: Ok(None),
            };
            for id in organizations {
                evaluation.named = reference("organization", id.to_string());
                match caller.organization(state, id, access).await {
                    Ok(o) => evaluation.verdict = Ok(Some(Target::Organization(&o).reference())),
                    Err(error) => {
                        evaluation.verdict = Err(error);
                        break;
                    }
                }
            }
            evaluation
        }
        Find::WorkspaceInPath => workspace(call.param("id").to_owned()).await,
        Find::WorkspaceInBody => match call.named("workspaceId") {
            Some(id) => workspace(id).await,
            None => Evaluation {
                named: None,
                verdict: Err(call.needs("workspaceId", "missing_workspace_id")),
            },
        },
        Find::WorkspaceInQuery => match workspace_param(call.query.as_deref()) {
            Ok(id) => workspace(id).await,
            Err(error) => Evaluation {
                named: None,
                verdict: Err(error),
            },
        },
        Find::Project { batch_exists } => {
            let batch = batch_exists.then(|| call.param("batch"));
            project(state, caller, call.param("project"), batch, access).await?
        }
        Find::NewScene { in_project } => {
            if let Err(error) = SceneType::parse(call.param("scene_type")) {
                return Ok(Evaluation {
                    named: None,
                    verdict: Err(error),
                });
            }
            let evaluation = match workspace_param(call.query.as_deref()) {
                Ok(id) => workspace(id).await,
                Err(error) => Evaluation {
                    named: None,
                    verdict: Err(error),
                },
            };
            if !in_project || evaluation.verdict.is_err() {
                evaluation
            } else {
                project(state, caller, call.param("project"), None, access).await?
            }
        }
        Find::Scene => scene(state, caller, call.param("uuid"), access).await?,
        Find::Scenes => {
            let uuids: Vec<String> = call
                .body
                .as_ref()
                .and_then(|b| b.get("sceneUuids"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            // Without scenes named, the check can only say the call may be made; each
            // scene it names is checked then.
            let mut evaluation = Evaluation {
                named: None,
                verdict: Ok(None),
            };
            for uuid in &uuids {
                evaluation = scene(state, caller, uuid, access).await?;
                if evaluation.verdict.is_err() {
                    break;
                }
            }
            evaluation
        }
        Find::Input => {
            let (Some(scene_uuid), Some(project_key)) = (
                call.body_text("sceneUuid"),
                call.body_text("project")
                    .or_else(|| call.body_text("projectExtId")),
            ) else {
                return Ok(Evaluation {
                    named: None,
                    verdict: Err(AppError::bad_request(
                        "missing_body",
                        format!(
                            "{} names its scene (`sceneUuid`) and project in the body; send \
                             the call's `body` with the check.",
                            call.label()
                        ),
                    )),
                });
            };
            // As `inputs::create`: the scene first, then the project.
            let evaluation = scene(state, caller, &scene_uuid, access).await?;
            if evaluation.verdict.is_err() {
                evaluation
            } else {
                project(state, caller, &project_key, None, access).await?
            }
        }
        Find::InputQuery => match call.body_text("project") {
            Some(key) => {
                let batch = call.body_text("batch");
                project(state, caller, &key, batch.as_deref(), access).await?
            }
            None => Evaluation {
                named: None,
                verdict: Ok(None),
            },
        },
        Find::Calibrations => match query_param(call.query.as_deref(), "id") {
            Some(id) => {
                let named = reference("calibration", id.clone());
                let verdict = match state.store.calibration(&id).await? {
                    None => Err(not_found("calibration", &id)),
                    Some(row) => caller
                        .workspace(state, &row.workspace_id, access)
                        .await
                        .map(|w| Some(Target::Workspace(&w).reference()))
                        .map_err(|error| hide_workspace(error, "calibration", &id)),
                };
                Evaluation { named, verdict }
            }
            None => Evaluation {
                named: None,
                verdict: Ok(None),
            },
        },
    };
    Ok(evaluation)
}

/// The project `key` as `project_for` finds it, and its batch when named.
async fn project(
    state: &AppState,
    caller: &Caller,
    key: &str,
    batch: Option<&str>,
    access: &RouteAccess,
) -> Result<Evaluation, AppError> {
    let named = reference("project", key);
    let verdict = match project_for(state, caller, key, access).await {
        Ok((project, workspace)) => match batch {
            Some(batch) if state.store.batch(project.id, batch).await?.is_none() => {
                Err(missing_batch(&project, batch))
            }
            _ => Ok(Some(Target::Workspace(&workspace).reference())),
        },
        Err(error) => Err(error),
    };
    Ok(Evaluation { named, verdict })
}

/// The scene `uuid` as `scene_for` finds it.
async fn scene(
    state: &AppState,
    caller: &Caller,
    uuid: &str,
    access: &RouteAccess,
) -> Result<Evaluation, AppError> {
    let named = reference("scene", uuid);
    let verdict = scene_for(state, caller, uuid, access)
        .await
        .map(|(_, workspace)| Some(Target::Workspace(&workspace).reference()));
    Ok(Evaluation { named, verdict })
}

/// The role that would allow `action` on the refused resource, in words, as the
/// permission decision names it.
async fn required_role(
    state: &AppState,
    caller: &Caller,
    access: &RouteAccess,
    resource: &ResourceRef,
) -> Result<Option<String>, AppError> {
    let id = resource.id.as_deref().unwrap_or_default();
    let denial = match resource.kind.as_str() {
        "workspace" => match state.store.workspace(id).await? {
            Some(w) => decide(
                &caller.principal,
                access.action,
                Resource::Workspace {
                    id: &w.id,
                    organization_id: w.organization_id,
                },
            ),
            None => return Ok(None),
        },
        "organization" => match id.parse() {
            Ok(id) => decide(
                &caller.principal,
                access.action,
                Resource::Organization { id },
            ),
            Err(_) => return Ok(None),
        },
        "platform" => decide(&caller.principal, access.action, Resource::Platform),
        _ => return Ok(None),
    };
    Ok(match denial {
        Err(Denial::MissingRole { required, .. }) => Some(match required {
            RequiredRole::Workspace(role) => role.as_str().to_owned(),
            RequiredRole::OrganizationAdmin => "organization admin".to_owned(),
            RequiredRole::OrganizationMember => "organization member".to_owned(),
            RequiredRole::Operator => "platform operator".to_owned(),
        }),
        _ => None,
    })
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn understood(method: &str, path: &str) -> Result<(String, Vec<(String, String)>), String> {
        parse(&AccessCheckRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            body: None,
        })
        .map(|call| {
            (
                call.label(),
                call.params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            )
        })
        .map_err(|error| error.body().message)
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(
            understood("post", "/v1/inputs/initialize").map(|c| c.0),
            Ok("POST /v1/inputs/initialize".to_owned())
        );
        assert_eq!(
            understood("POST", "/v1/inputs/cameras?workspaceId=w").map(|c| c.0),
            Ok("POST /v1/inputs/{scene_type}".to_owned())
        );
        let (label, params) = understood("POST", "//v1/projects/p1/batches/b2/").expect("route");
        assert_eq!(label, "POST /v1/projects/{project}/batches/{batch}");
        assert_eq!(
            params,
            vec![
                ("project".to_owned(), "p1".to_owned()),
                ("batch".to_owned(), "b2".to_owned())
            ]
        );
    }

    #[test]
    fn an_unknown_route_says_what_was_understood() {
        let error = understood("PATCH", "/v1/projects").expect_err("unknown");
        assert!(
            error.contains("PATCH /v1/projects") && error.contains("GET, POST"),
            "{error}"
        );
        let error = understood("GET", "/v1/nothing").expect_err("unknown");
        assert!(error.contains("GET /v1/nothing"), "{error}");
    }

    #[test]
    fn every_pattern_is_reachable() {
        for route in ROUTES {
            let path = route.pattern.replace('{', "x").replace('}', "");
            let found = parse(&AccessCheckRequest {
                method: route.method.to_string(),
                path: path.clone(),
                body: None,
            })
            .map(|call| call.route.pattern)
            .map_err(|error| error.body().message);
            assert_eq!(found, Ok(route.pattern), "{path}");
        }
    }
}
