//! `/audit`: the audit events the signed-in person may see, newest first, a page at a
//! time; the same visibility and cursor as `GET /v1/audit-events`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_store::{AuditQuery, AuditVisibility};
use serde::Deserialize;

use crate::auth::{Caller, PageSession};
use crate::error::AppError;
use crate::routes::audit::{decode_cursor, page_json, visibility};
use crate::state::AppState;

use super::{Nav, display_time, page_error, render};

/// Events per page.
const PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    /// Which events the person sees, in a sentence.
    scope: &'static str,
    events: Vec<EventItem>,
    next_cursor: Option<String>,
}

struct EventItem {
    id: i64,
    when: String,
    action: String,
    outcome: String,
    who: String,
    request: String,
    source: String,
    request_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditPageQuery {
    cursor: Option<String>,
}

pub(super) async fn show_audit(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<AuditPageQuery>,
) -> Response {
    let page = async {
        let caller = Caller::of_session(&state, &session).await?;
        let visibility = visibility(&caller.principal);
        let mut events = AuditQuery::new(visibility);
        events.limit = PAGE_SIZE;
        events.before_id = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let page = page_json(state.store.audit_events(&events).await?);
        Ok::<_, AppError>((visibility, page))
    };
    let (visibility, page) = match page.await {
        Ok(found) => found,
        Err(error) => return page_error(&session, error),
    };
    let scope = match visibility {
        AuditVisibility::All => "Every event of the platform.",
        AuditVisibility::Organization(_) => "The events of your organization.",
        AuditVisibility::User(_) => "What you did, and what others did to your account.",
    };
    let events = page
        .data
        .into_iter()
        .map(|event| EventItem {
            id: event.id,
            when: display_time(event.occurred_at.0),
            who: match (event.actor.email, event.actor.client_id) {
                (Some(email), Some(client_id)) => format!("{email} ({client_id})"),
                (Some(email), None) => email,
                (None, _) => "—".to_owned(),
            },
            action: event.action,
            outcome: event.outcome,
            request: match (event.method, event.path, event.status) {
                (Some(method), Some(path), Some(status)) => format!("{method} {path} → {status}"),
                _ => String::new(),
            },
            source: event.source_address.unwrap_or_default(),
            request_id: event.request_id.unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            nav: Nav::of(&session),
            scope,
            events,
            next_cursor: page.metadata.next_cursor,
        },
    )
}
