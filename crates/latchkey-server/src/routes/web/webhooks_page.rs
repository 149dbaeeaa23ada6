//! `/organization/webhooks`: the signed-in organization admin's webhook endpoints, the
//! form that registers one (its signing secret shown once), deleting one, and each
//! endpoint's recent deliveries with a **Retry** button.
//!
//! Every handler asks the API's permission decision (`organization:manage` through
//! [`Caller::organization`]) and calls the rules the API calls ([`webhooks::register`],
//! [`webhooks::delete`], [`webhooks::retry`]), so a refusal or a bad URL reads exactly
//! like the API's answer. After a delete or a retry the browser is redirected
//! (post/redirect/get); a registration is answered with the page itself, since that
//! answer is the only one that shows the signing secret (`Cache-Control: no-store`, as
//! every page).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_store::OrganizationRow;
use serde::Deserialize;

use crate::access::RouteAccess;
use crate::auth::{Caller, PageSession, Session};
use crate::error::AppError;
use crate::events::CredentialEventKind;
use crate::routes::events;
use crate::state::AppState;
use crate::webhooks::{self, Registered};

use super::{Nav, SessionForm, display_time, page_error, render};

/// Deliveries shown per endpoint, newest first; the API lists more.
const DELIVERIES_SHOWN: i64 = 10;
const PAGE: &str = "/organization/webhooks";

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Nav,
    organization: String,
    endpoints: Vec<EndpointItem>,
    event_types: Vec<EventTypeOption>,
    /// The endpoint just registered, with its signing secret: shown only in this answer.
    registered: Option<RegisteredView>,
    error: Option<String>,
    notice: Option<&'static str>,
    /// The URL of a refused registration, to correct rather than retype.
    form_url: String,
}

struct EndpointItem {
    id: String,
    url: String,
    /// The event types it receives, or `None` for every type.
    events: Option<Vec<String>>,
    created: String,
    deliveries: Vec<DeliveryItem>,
}

struct DeliveryItem {
    id: String,
    event_type: String,
    created: String,
    status: String,
    attempts: i64,
    /// The last HTTP status, or why the last attempt got none.
    last_response: String,
    next_attempt: String,
}

struct EventTypeOption {
    name: &'static str,
    checked: bool,
}

struct RegisteredView {
    url: String,
    signing_secret: String,
}

/// What a page shows besides the endpoints.
#[derive(Default)]
struct Shown {
    registered: Option<RegisteredView>,
    error: Option<String>,
    notice: Option<&'static str>,
    form_url: String,
    form_events: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WebhooksQuery {
    done: Option<String>,
}

/// The signed-in person's organization, if they may manage its webhooks; the refusal
/// is the API's.
async fn managed_organization(
    state: &AppState,
    session: &Session,
    access: &RouteAccess,
) -> Result<(Caller, OrganizationRow), AppError> {
    let Some(id) = session.user.organization_id else {
        return Err(AppError::not_found(
            "You do not belong to an organization, so there are no webhooks to manage. \
             Ask the platform operator to add you to one.",
        ));
    };
    let caller = Caller::of_session(state, session).await?;
    let organization = caller.organization(state, id, access).await?;
    Ok((caller, organization))
}

pub(super) async fn show_webhooks(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<WebhooksQuery>,
) -> Response {
    let notice = match query.done.as_deref() {
        Some("deleted") => Some("The webhook endpoint was deleted; nothing more is sent to it."),
        Some("retried") => Some("The delivery is queued again and will be attempted shortly."),
        _ => None,
    };
    let page = async {
        let (_, organization) =
            managed_organization(&state, &session, &events::LIST_WEBHOOKS).await?;
        webhooks_page(
            &state,
            &session,
            &organization,
            StatusCode::OK,
            Shown {
                notice,
                ..Shown::default()
            },
        )
        .await
    };
    page.await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn webhooks_page(
    state: &AppState,
    session: &Session,
    organization: &OrganizationRow,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, AppError> {
    let mut endpoints = Vec::new();
    for endpoint in state.store.webhook_endpoints(organization.id).await? {
        let deliveries = state
            .store
            .webhook_deliveries(&endpoint.id, DELIVERIES_SHOWN)
            .await?
            .into_iter()
            .map(|row| DeliveryItem {
                next_attempt: webhooks::next_attempt(&row).map_or_else(String::new, display_time),
                created: display_time(row.created_at()),
                last_response: match (row.last_response_status, &row.last_error) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(error)) => error.clone(),
                    (None, None) => String::new(),
                },
                id: row.id,
                event_type: row.event_type,
                status: row.status,
                attempts: row.attempts,
            })
            .collect();
        endpoints.push(EndpointItem {
            created: display_time(endpoint.created_at()),
            events: endpoint
                .event_types
                .map(|types| types.split(' ').map(str::to_owned).collect()),
            id: endpoint.id,
            url: endpoint.url,
            deliveries,
        });
    }
    let page = WebhooksPage {
        nav: Nav::of(session),
        organization: organization.name.clone(),
        endpoints,
        event_types: CredentialEventKind::ALL
            .into_iter()
            .map(|kind| EventTypeOption {
                name: kind.event_type(),
                checked: shown.form_events.iter().any(|e| e == kind.event_type()),
            })
            .collect(),
        registered: shown.registered,
        error: shown.error,
        notice: shown.notice,
        form_url: shown.form_url,
    };
    Ok(render(status, &page))
}

pub(super) async fn create_webhook(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let page = async {
        let (caller, organization) =
            managed_organization(&state, &session, &events::CREATE_WEBHOOK).await?;
        let url = form.one("url")?;
        let events = form.all("events");
        // No box ticked is "every type", as leaving `events` out of the API call is.
        let chosen = (!events.is_empty()).then(|| events.clone());
        match webhooks::register(&state, &organization, caller.user_id, url, chosen).await {
            Ok(Registered {
                endpoint,
                signing_secret,
            }) => {
                let registered = RegisteredView {
                    url: endpoint.url,
                    signing_secret,
                };
                let shown = Shown {
                    registered: Some(registered),
                    ..Shown::default()
                };
                webhooks_page(&state, &session, &organization, StatusCode::CREATED, shown).await
            }
            Err(error @ AppError::BadRequest { .. }) => {
                let shown = Shown {
                    error: Some(error.body().message),
                    form_url: url.chars().take(webhooks::MAX_URL_LENGTH).collect(),
                    form_events: events,
                    ..Shown::default()
                };
                webhooks_page(&state, &session, &organization, error.status(), shown).await
            }
            Err(error) => Err(error),
        }
    };
    page.await
        .unwrap_or_else(|error| page_error(&session, error))
}

pub(super) async fn delete_webhook(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let page = async {
        let (caller, organization) =
            managed_organization(&state, &session, &events::DELETE_WEBHOOK).await?;
        webhooks::delete(&state, organization.id, &webhook_id, caller.user_id).await?;
        Ok::<_, AppError>(Redirect::to(&format!("{PAGE}?done=deleted")).into_response())
    };
    page.await
        .unwrap_or_else(|error| page_error(&session, error))
}

pub(super) async fn retry_delivery(
    State(state): State<AppState>,
    Path((webhook_id, delivery_id)): Path<(String, String)>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let page = async {
        let (_, organization) =
            managed_organization(&state, &session, &events::RETRY_DELIVERY).await?;
        let endpoint = webhooks::endpoint(&state, organization.id, &webhook_id).await?;
        webhooks::retry(&state, &endpoint, &delivery_id).await?;
        Ok::<_, AppError>(Redirect::to(&format!("{PAGE}?done=retried")).into_response())
    };
    page.await
        .unwrap_or_else(|error| page_error(&session, error))
}
