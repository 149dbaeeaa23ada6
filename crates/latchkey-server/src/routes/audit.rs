//! `GET /v1/audit-events`: the audit log, read-only.
//!
//! What a caller sees is decided before any filter: the operator every event, an
//! organization admin their organization's, anyone else the events where they are the
//! actor or the subject. A token needs `api:read`. Pages are newest first with an
//! opaque cursor; `format=jsonl` streams every matching event as JSON lines. There is
//! no route that edits or deletes an event (the log is append-only), so other methods
//! on this path answer 405.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Json};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::access::{Action, Principal, Resource, decide};
use latchkey_store::{
    AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, AuditEventRow, AuditPage, AuditQuery, AuditVisibility,
    Store,
};
use latchkey_types::Timestamp;
use latchkey_types::audit::{AuditActor, AuditEvent, AuditEventPage, AuditPageMetadata};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Find, RouteAccess};
use crate::audit::Outcome;
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{BadRequest, Forbidden, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_AUDIT_EVENTS: RouteAccess =
    RouteAccess::new(Action::ReadOwnAuditLog, Find::Own, "reading the audit log");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// The events `principal` may see at all.
/// What of the log a caller sees beyond their own events: decided with this action, the
/// way a list is filtered by its route's.
const ORGANIZATION_LOG: RouteAccess = RouteAccess::new(
    Action::AuditOrganization,
    Find::Listed,
    "reading the organization's audit log",
);

/// The permission decision's answer: the operator every event, an organization admin
/// their organization's (not through a workspace-limited token), anyone else their own.
pub(crate) fn visibility(principal: &Principal) -> AuditVisibility {
    if decide(principal, ORGANIZATION_LOG.action, Resource::Platform).is_ok() {
        return AuditVisibility::All;
    }
    match principal.organization {
        Some((id, _))
            if decide(
                principal,
                ORGANIZATION_LOG.action,
                Resource::Organization { id },
            )
            .is_ok() =>
        {
            AuditVisibility::Organization(id)
        }
        _ => AuditVisibility::User(principal.user_id),
    }
}

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    JsonLines,
}

/// The cursor of the page after the one that ended with `last_id`.
pub(crate) fn encode_cursor(last_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("before:{last_id}"))
}

/// The id a cursor continues before; `invalid_cursor` for anything not made by
/// [`encode_cursor`].
pub(crate) fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("before:")?.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_cursor",
                "The cursor is not one this server gave out. Send `metadata.nextCursor` of \
                 the previous page as is, or leave it out for the first page.",
            )
        })
}

fn invalid_query(message: String) -> AppError {
    AppError::bad_request("invalid_query", message)
}

/// Parses the query string of `GET /v1/audit-events` for a caller who sees
/// `visibility`.
fn parse_query(
    raw: Option<&str>,
    visibility: AuditVisibility,
) -> Result<(AuditQuery, Format), AppError> {
    let mut query = AuditQuery::new(visibility);
    let mut format = Format::Json;
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if seen.contains(&key.to_string()) {
            return Err(invalid_query(format!(
                "The query parameter `{key}` was sent more than once."
            )));
        }
        seen.push(key.to_string());
        let value = value.into_owned();
        let time = |value: &str| {
            Timestamp::parse(value).map(|t| t.0).ok_or_else(|| {
                invalid_query(format!(
                    "`{key}` must be an RFC 3339 date-time with an offset, such as \
                     2030-01-31T12:00:00Z; `{value}` is not."
                ))
            })
        };
        match key.as_ref() {
            "action" => query.action = Some(value),
            "target" => query.target = Some(value),
            "outcome" => {
                if Outcome::parse(&value).is_none() {
                    return Err(invalid_query(format!(
                        "`outcome` is `success`, `denied` or `failure`, not `{value}`."
                    )));
                }
                query.outcome = Some(value);
            }
            "actor" => {
                query.actor_user_id = Some(value.parse().map_err(|_| {
                    invalid_query(format!("`actor` is a user id (a number), not `{value}`."))
                })?);
            }
            "since" => query.since = Some(time(&value)?),
            "until" => query.until = Some(time(&value)?),
            "cursor" => query.before_id = Some(decode_cursor(&value)?),
            "limit" => {
                query.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|limit| (1..=AUDIT_MAX_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "invalid_limit",
                            format!(
                                "`limit` is a number from 1 to {AUDIT_MAX_LIMIT} (default \
                                 {AUDIT_DEFAULT_LIMIT}), not `{value}`."
                            ),
                        )
                    })?;
            }
            "format" => {
                format = match value.as_str() {
                    "json" => Format::Json,
                    "jsonl" => Format::JsonLines,
                    _ => {
                        return Err(invalid_query(format!(
                            "`format` is `json` (pages) or `jsonl` (every event, one per \
                             line), not `{value}`."
                        )));
                    }
                };
            }
            _ => {
                return Err(invalid_query(format!(
                    "Unknown query parameter `{key}`. Known: action, outcome, actor, target, \
                     since, until, cursor, limit, format."
                )));
            }
        }
    }
    Ok((query, format))
}

/// A stored event on the wire.
pub(crate) fn event_json(row: AuditEventRow) -> AuditEvent {
    let detail = row
        .detail
        .as_deref()
        .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
        .unwrap_or_default();
    AuditEvent {
        id: row.id,
        occurred_at: Timestamp(row.occurred_at()),
        actor: AuditActor {
            user_id: row.actor_user_id,
            email: row.actor_email,
            client_id: row.actor_client_id,
        },
        action: row.action,
        outcome: row.outcome,
        subject_user_id: row.subject_user_id,
        organization_id: row.organization_id,
        target: row.target,
        method: row.method,
        path: row.path,
        status: row.status.and_then(|s| u16::try_from(s).ok()),
        source_address: row.source_address,
        user_agent: row.user_agent,
        request_id: row.request_id,
        detail,
    }
}

/// A page on the wire: its events and the cursor of the next one.
pub(crate) fn page_json(page: AuditPage) -> AuditEventPage {
    let next_cursor = page
        .more
        .then(|| page.events.last().map(|row| encode_cursor(row.id)))
        .flatten();
    AuditEventPage {
        data: page.events.into_iter().map(event_json).collect(),
        metadata: AuditPageMetadata { next_cursor },
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = "Audit",
    summary = "List audit events",
    description = "The audit log, newest first: every state-changing request (except \
        `POST /v1/auth/oauth/token` and `/v1/auth/oauth/introspect`, which change nothing a \
        person looks for and are the most frequent calls), sign-ins (failed ones too) and \
        sign-outs, with who, what, when, from where, the outcome and the request id. The \
        operator sees every event, an organization admin their organization's, anyone \
        else the events where they are the actor or the subject. A token needs \
        `api:read`. Pages hold `limit` events (1 to 1000, default 100); \
        `metadata.nextCursor` fetches the next one. `format=jsonl` answers every matching \
        event instead, one JSON object per line (`application/x-ndjson`, as a download); \
        it ignores `limit`. The log is append-only: nothing edits or deletes an event.",
    params(
        ("action" = Option<String>, Query, description = "Only this action (an operation \
            id such as `delete_credential`, or `sign_in`, `sign_out`, `set_password`)."),
        ("outcome" = Option<String>, Query, description = "`success`, `denied` or `failure`."),
        ("actor" = Option<i64>, Query, description = "Only events by this user id."),
        ("target" = Option<String>, Query, description = "Only events about this target."),
        ("since" = Option<String>, Query, description = "Events at or after this RFC 3339 \
            date-time."),
        ("until" = Option<String>, Query, description = "Events before this RFC 3339 \
            date-time."),
        ("cursor" = Option<String>, Query, description = "`metadata.nextCursor` of the \
            previous page."),
        ("limit" = Option<i64>, Query, description = "Events per page, 1 to 1000; default 100."),
        ("format" = Option<String>, Query, description = "`json` (default) or `jsonl`."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of events, or with `format=jsonl` every \
            matching event as JSON lines.",
            content(
                (AuditEventPage = "application/json"),
                (String = "application/x-ndjson"),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    caller.authorize_own(&LIST_AUDIT_EVENTS)?;
    let (query, format) = parse_query(raw.as_deref(), visibility(&caller.principal))?;
    match format {
        Format::Json => {
            let page = state.store.audit_events(&query).await?;
            Ok(Json(page_json(page)).into_response())
        }
        Format::JsonLines => Ok(json_lines(state.store.clone(), query)),
    }
}

/// Every event `query` matches, streamed as JSON lines in pages of the largest size, so
/// an export of any length holds one page in memory.
fn json_lines(store: Store, mut query: AuditQuery) -> Response {
    query.limit = AUDIT_MAX_LIMIT;
    let pages = futures_util::stream::try_unfold(Some(query), move |next| {
        let store = store.clone();
        async move {
            let Some(mut query) = next else {
                return Ok(None);
            };
            // The answer has started, so an error can only cut the download short (the
            // client sees a truncated body); it is logged here, where it happens.
            let page = store.audit_events(&query).await.inspect_err(|error| {
                tracing::error!(error = %error, "could not read audit events for an export");
            })?;
            let mut text = String::new();
            let last_id = page.events.last().map(|row| row.id);
            for row in page.events {
                text.push_str(&serde_json::to_string(&event_json(row))?);
                text.push('\n');
            }
            query.before_id = last_id;
            let next = (page.more && last_id.is_some()).then_some(query);
            Ok::<_, BoxError>(Some((Bytes::from(text), next)))
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit-events.jsonl\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        for junk in [
            "",
            "42",
            "!!",
            &URL_SAFE_NO_PAD.encode("before:x"),
            &URL_SAFE_NO_PAD.encode("before:-1"),
        ] {
            assert!(decode_cursor(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn bad_queries_are_refused_with_their_code() {
        let code = |raw: &str| {
            parse_query(Some(raw), AuditVisibility::All)
                .err()
                .map(|e| e.body().error)
        };
        assert_eq!(code("limit=0").as_deref(), Some("invalid_limit"));
        assert_eq!(code("limit=1001").as_deref(), Some("invalid_limit"));
        assert_eq!(code("cursor=nope").as_deref(), Some("invalid_cursor"));
        assert_eq!(code("since=yesterday").as_deref(), Some("invalid_query"));
        assert_eq!(code("outcome=maybe").as_deref(), Some("invalid_query"));
        assert_eq!(code("format=xml").as_deref(), Some("invalid_query"));
        assert_eq!(code("colour=red").as_deref(), Some("invalid_query"));
        assert_eq!(code("action=a&action=b").as_deref(), Some("invalid_query"));
        assert_eq!(code("limit=1000&action=sign_in&outcome=failure"), None);
    }
}
