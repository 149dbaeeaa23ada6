//! The audit log: every state-changing request is recorded, append-only.
//!
//! [`record_request`] is a route layer (it runs once the router has matched a route, so
//! an unknown path — the fallback's 404 — or a method the path does not have — 405 — is
//! never recorded). For every request whose method is not GET, HEAD or OPTIONS it puts
//! an [`AuditSlot`] into the request, lets the handler answer, and then writes one
//! event before the answer leaves: the log is complete when the caller sees the
//! answer. Writing the event never fails the request; a failed write is logged.
//!
//! The slot is how the rest of the server says what only it knows: the extractors of
//! `auth.rs` and the sign-in handler fill in the actor, handlers [`AuditSlot::note`]
//! whose thing it was, the organization, the target and details. [`record`] is the one
//! way rows are written, also for events without a request (expiry, idle policy, leak
//! reports).
//!
//! Two writes are not recorded: `POST /v1/auth/oauth/token` and
//! `POST /v1/auth/oauth/introspect`. They change nothing a person would look for in
//! the log, and they are by far the most frequent calls (every program asks for a token
//! and resource servers introspect every call), so recording them would bury the events
//! that matter and add a database write to the token path, which has none by design.
//!
//! `POST /v1/secret-scanning/reports` is recorded only when the report revoked a
//! credential (the handler notes [`AuditNote::changed`]): anyone may call it, and a
//! flood of junk reports, which change nothing, would otherwise fill the log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use latchkey_store::NewAuditEvent;
use serde_json::{Map, Value};
use utoipa::openapi::OpenApi as Description;

use crate::middleware::{REQUEST_ID_HEADER, redacted_path};
use crate::origin::Origin;
use crate::state::AppState;

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused: not signed in or not allowed (401, 403).
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Denied, Outcome::Failure]
            .into_iter()
            .find(|o| o.as_str() == text)
    }

    /// 2xx and 3xx succeeded, 401 and 403 were refused, the rest failed.
    fn of_status(status: StatusCode) -> Outcome {
        match status.as_u16() {
            200..=399 => Outcome::Success,
            401 | 403 => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub email: Option<String>,
    /// The credential, when the actor called with an access token.
    pub client_id: Option<String>,
    /// The actor's organization: the event's organization unless a handler names another.
    pub organization_id: Option<i64>,
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: String,
    pub outcome: Outcome,
    pub actor: Actor,
    pub subject_user_id: Option<i64>,
    /// Defaults to the actor's organization.
    pub organization_id: Option<i64>,
    pub target: Option<String>,
    pub request: Option<RequestFacts>,
    pub detail: Map<String, Value>,
}

impl AuditEntry {
    pub fn new(action: impl Into<String>, outcome: Outcome) -> AuditEntry {
        AuditEntry {
            action: action.into(),
            outcome,
            actor: Actor::default(),
            subject_user_id: None,
            organization_id: None,
            target: None,
            request: None,
            detail: Map::new(),
        }
    }
}

/// What the request itself tells about an event.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: String,
    /// The path, with one-time tokens replaced by `{token}` (`middleware::redacted_path`).
    pub path: String,
    pub status: u16,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Appends `entry` to the log. A failed write is logged, never raised: the change it
/// records has happened already.
pub async fn record(state: &AppState, entry: AuditEntry) {
    let request = entry.request.as_ref();
    let event = NewAuditEvent {
        occurred_at: state.now(),
        outcome: entry.outcome.as_str().to_owned(),
        actor_user_id: entry.actor.user_id,
        actor_email: entry.actor.email.clone(),
        actor_client_id: entry.actor.client_id.clone(),
        subject_user_id: entry.subject_user_id,
        organization_id: entry.organization_id.or(entry.actor.organization_id),
        target: entry.target.clone(),
        method: request.map(|r| r.method.clone()),
        path: request.map(|r| r.path.clone()),
        status: request.map(|r| i64::from(r.status)),
        source_address: request.and_then(|r| r.source_address.clone()),
        user_agent: request.and_then(|r| r.user_agent.clone()),
        request_id: request.and_then(|r| r.request_id.clone()),
        detail: (!entry.detail.is_empty()).then(|| Value::Object(entry.detail.clone()).to_string()),
        action: entry.action,
    };
    if let Err(error) = state.store.append_audit_event(&event).await {
        tracing::error!(error = %error, audit.action = %event.action, "could not write an audit event");
    }
}

// --- the slot ------------------------------------------------------------------------

/// What the handler and the extractors learnt about the event of this request.
#[derive(Debug, Default)]
pub struct AuditNote {
    pub actor: Option<Actor>,
    pub subject_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub target: Option<String>,
    /// Replaces the outcome the status implies (a failed sign-in answers 401 but is a
    /// `failure`, not a refusal).
    pub outcome: Option<Outcome>,
    pub detail: Map<String, Value>,
    /// On a route recorded only when it changed something: it did.
    pub changed: bool,
}

/// The request's audit note, shared between the recording middleware and the handler.
///
/// As an extractor it never fails: a request that is not recorded (a GET) gets a slot
/// nobody reads, so handlers may note unconditionally.
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(Arc<Mutex<AuditNote>>);

impl AuditSlot {
    /// Changes the note.
    pub fn note(&self, change: impl FnOnce(&mut AuditNote)) {
        let mut note = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut note);
    }

    /// Records who acts, when this request is recorded.
    pub fn actor_of(extensions: &Extensions, actor: Actor) {
        if let Some(slot) = extensions.get::<AuditSlot>() {
            slot.note(|note| note.actor = Some(actor));
        }
    }

    fn take(&self) -> AuditNote {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

// --- the middleware ------------------------------------------------------------------

/// State-changing requests that are not recorded: see the module documentation.
const EXEMPT: [(Method, &str); 2] = [
    (Method::POST, "/v1/auth/oauth/token"),
    (Method::POST, "/v1/auth/oauth/introspect"),
];

/// Public writes recorded only when their handler notes that they changed something:
/// see the module documentation.
const RECORDED_WHEN_CHANGED: [(Method, &str); 1] = [(Method::POST, "/v1/secret-scanning/reports")];

/// The page forms (all POST): the API operation each mirrors, or its own action.
const PAGE_ACTIONS: &[(&str, &str)] = &[
    ("/login", "sign_in"),
    ("/logout", "sign_out"),
    ("/set-password/{token}", "set_password"),
    ("/credentials", "create_credential"),
    ("/credentials/{client_id}/delete", "delete_credential"),
    ("/credentials/{client_id}/disable", "disable_credential"),
    ("/credentials/{client_id}/enable", "enable_credential"),
    ("/credentials/{client_id}/roll", "roll_secret"),
    ("/credentials/{client_id}/renew", "renew_credential"),
    ("/credentials/{client_id}/limits", "set_limits"),
    ("/credentials/reminders", "set_preferences"),
    (
        "/notifications/{notification_id}/dismiss",
        "dismiss_notification",
    ),
    (
        "/organization/credentials/{client_id}/disable",
        "disable_credential",
    ),
    (
        "/organization/credentials/{client_id}/enable",
        "enable_credential",
    ),
    (
        "/organization/credentials/{client_id}/delete",
        "delete_credential",
    ),
    ("/organization/credential-policy", "set_credential_policy"),
    ("/admin/users", "create_user"),
    ("/organizations", "create_organization"),
    ("/organizations/{id}/people", "create_user"),
    ("/organizations/{id}/workspaces", "create_workspace"),
    ("/workspaces/{id}/members", "set_member"),
    ("/workspaces/{id}/members/{user_id}", "set_member"),
    ("/workspaces/{id}/members/{user_id}/remove", "remove_member"),
    ("/organization/webhooks", "create_webhook"),
    (
        "/organization/webhooks/{webhook_id}/delete",
        "delete_webhook",
    ),
    (
        "/organization/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        "retry_delivery",
    ),
];

/// How a route is recorded.
#[derive(Debug, Clone)]
struct RouteAction {
    action: String,
    /// A page form rather than an API call.
    page: bool,
}

/// The state of [`record_request`]: the application and the action of each route.
#[derive(Debug, Clone)]
pub struct Recorder {
    state: AppState,
    actions: Arc<HashMap<(Method, String), RouteAction>>,
}

impl Recorder {
    /// Names each API route by its OpenAPI `operationId`, and each page form by the
    /// operation it mirrors.
    pub fn new(state: AppState, description: &Description) -> Recorder {
        let mut actions = HashMap::new();
        for (path, item) in &description.paths.paths {
            for (method, operation) in [
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ] {
                if let Some(id) = operation.as_ref().and_then(|o| o.operation_id.clone()) {
                    let action = RouteAction {
                        action: id,
                        page: false,
                    };
                    actions.insert((method, path.clone()), action);
                }
            }
        }
        for &(path, action) in PAGE_ACTIONS {
            let action = RouteAction {
                action: action.to_owned(),
                page: true,
            };
            actions.insert((Method::POST, path.to_owned()), action);
        }
        Recorder {
            state,
            actions: Arc::new(actions),
        }
    }

    /// The action of a matched route; a route missing from both tables is still
    /// recorded, under its method and route, so no state-changing request escapes.
    fn action(&self, method: &Method, route: &str) -> RouteAction {
        self.actions
            .get(&(method.clone(), route.to_owned()))
            .cloned()
            .unwrap_or_else(|| RouteAction {
                action: format!("{method} {route}"),
                page: !route.starts_with("/v1/") && !route.starts_with("/v2/"),
            })
    }
}

/// Records every state-changing request once its handler has answered.
pub async fn record_request(
    State(recorder): State<Recorder>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(route) = route.filter(|route| {
        !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
            && !EXEMPT.iter().any(|(m, r)| *m == method && r == route)
    }) else {
        return next.run(request).await;
    };
    let action = recorder.action(&method, &route);
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let origin = Origin::of(
        request.headers(),
        request.extensions(),
        recorder.state.config.trust_forwarded_for,
    );
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = redacted_path(request.uri().path()).into_owned();

    let response = next.run(request).await;

    let status = response.status();
    let note = slot.take();
    if !note.changed
        && RECORDED_WHEN_CHANGED
            .iter()
            .any(|(m, r)| *m == method && *r == route)
    {
        return response;
    }
    let mut entry = AuditEntry::new(
        action.action,
        note.outcome.unwrap_or(Outcome::of_status(status)),
    );
    entry.actor = note.actor.unwrap_or_default();
    entry.subject_user_id = note.subject_user_id;
    entry.organization_id = note.organization_id;
    entry.target = note.target;
    entry.detail = note.detail;
    if action.page {
        entry.detail.insert("via".to_owned(), Value::from("page"));
    }
    entry.request = Some(RequestFacts {
        method: method.to_string(),
        path,
        status: status.as_u16(),
        source_address: origin.address.map(|address| address.to_string()),
        user_agent: origin.user_agent,
        request_id,
    });
    record(&recorder.state, entry).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(Outcome::of_status(StatusCode::CREATED), Outcome::Success);
        assert_eq!(Outcome::of_status(StatusCode::SEE_OTHER), Outcome::Success);
        assert_eq!(
            Outcome::of_status(StatusCode::UNAUTHORIZED),
            Outcome::Denied
        );
        assert_eq!(Outcome::of_status(StatusCode::FORBIDDEN), Outcome::Denied);
        assert_eq!(Outcome::of_status(StatusCode::NOT_FOUND), Outcome::Failure);
        assert_eq!(
            Outcome::of_status(StatusCode::BAD_REQUEST),
            Outcome::Failure
        );
    }
}
