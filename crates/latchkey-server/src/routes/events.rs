//! An organization's webhook endpoints and their deliveries
//! (`/v1/organizations/{organization_id}/webhooks`), and the caller's own
//! notifications (`/v1/notifications`).
//!
//! Managing webhooks is `organization:manage` (an organization admin or the operator);
//! another organization's endpoint answers the same 404 as one that does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::Action;
use latchkey_store::{NotificationRow, OrganizationRow, WebhookDeliveryRow, WebhookEndpointRow};
use latchkey_types::events::{NewWebhook, Notification, Webhook, WebhookDelivery};
use latchkey_types::{Envelope, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Find, RouteAccess, not_found};
use crate::auth::Caller;
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;
use crate::{notifications, webhooks};

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_NOTIFICATIONS: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "listing your notifications");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const DISMISS_NOTIFICATION: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "dismissing a notification");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_WEBHOOKS: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "listing webhooks",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_WEBHOOK: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "registering a webhook",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const DELETE_WEBHOOK: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "deleting a webhook",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_DELIVERIES: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "listing webhook deliveries",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const RETRY_DELIVERY: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "retrying a webhook delivery",
);

/// Deliveries a list shows, newest first.
const DELIVERIES_LISTED: i64 = 100;
/// Notifications a list shows.
const NOTIFICATIONS_LISTED: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(list_notifications))
        .routes(routes!(dismiss_notification))
}

fn webhook_json(row: WebhookEndpointRow, signing_secret: Option<String>) -> Webhook {
    Webhook {
        created: Timestamp(row.created_at()),
        events: row
            .event_types
            .map(|types| types.split(' ').map(str::to_owned).collect()),
        id: row.id,
        organization_id: row.organization_id,
        url: row.url,
        created_by: row.created_by,
        signing_secret,
    }
}

fn delivery_json(row: WebhookDeliveryRow) -> WebhookDelivery {
    WebhookDelivery {
        next_attempt: webhooks::next_attempt(&row).map(Timestamp),
        created: Timestamp(row.created_at()),
        delivered: row.delivered_at().map(Timestamp),
        id: row.id,
        webhook_id: row.endpoint_id,
        event_id: row.event_id,
        event_type: row.event_type,
        status: row.status,
        attempts: row.attempts,
        last_response_status: row.last_response_status,
        last_error: row.last_error,
    }
}

fn notification_json(public_url: &str, row: NotificationRow) -> Notification {
    let (url, renew_url) = notifications::links(public_url, &row.kind, row.client_id.as_deref());
    Notification {
        created: Timestamp(row.created_at()),
        dismissed: row.dismissed_at().map(Timestamp),
        id: row.id,
        kind: row.kind,
        client_id: row.client_id,
        title: row.title,
        body: row.body,
        url,
        renew_url,
    }
}

/// The organization in the path, if the caller may manage its webhooks; a path id
/// that is not a number is the same 404 as an organization that does not exist.
async fn managed_organization(
    state: &AppState,
    caller: &Caller,
    organization_id: &str,
    access: &RouteAccess,
) -> Result<OrganizationRow, AppError> {
    let id = organization_id
        .parse::<i64>()
        .map_err(|_| not_found("organization", organization_id))?;
    caller.organization(state, id, access).await
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/webhooks",
    tag = "Webhooks",
    summary = "List webhook endpoints",
    description = "The organization's webhook endpoints, oldest first, without their \
        signing secrets. Needs `organization:manage`: an organization admin or the \
        platform operator.",
    params(("organization_id" = i64, Path, description = "The organization id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The endpoints.", body = Envelope<Vec<Webhook>>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(organization_id): ApiPath<String>,
) -> Result<Json<Envelope<Vec<Webhook>>>, AppError> {
    let organization =
        managed_organization(&state, &caller, &organization_id, &LIST_WEBHOOKS).await?;
    let rows = state.store.webhook_endpoints(organization.id).await?;
    Ok(Json(Envelope {
        data: rows
            .into_iter()
            .map(|row| webhook_json(row, None))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/webhooks",
    tag = "Webhooks",
    summary = "Register a webhook endpoint",
    description = "Registers an endpoint for the lifecycle events of the organization's \
        credentials. The answer carries the endpoint's signing secret (`whsec_…`) once; \
        every delivery is signed with it (`Latchkey-Signature: t=<unix seconds>,v1=<hex \
        HMAC-SHA256 of \"<t>.<body>\">`). The URL must be http or https with a host, no \
        user or password, at most 2048 characters, not this service, and not a loopback, \
        private or link-local address unless the operator allows those. Needs \
        `organization:manage`.",
    params(("organization_id" = i64, Path, description = "The organization id.")),
    request_body = NewWebhook,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The endpoint, with its signing secret shown only \
            now.", body = Envelope<Webhook>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(organization_id): ApiPath<String>,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<Response, AppError> {
    let organization =
        managed_organization(&state, &caller, &organization_id, &CREATE_WEBHOOK).await?;
    let registered = webhooks::register(
        &state,
        &organization,
        caller.user_id,
        &body.url,
        body.events,
    )
    .await?;
    let mut response = (
        StatusCode::CREATED,
        Json(Envelope {
            data: webhook_json(registered.endpoint, Some(registered.signing_secret)),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(
    delete,
    path = "/v1/organizations/{organization_id}/webhooks/{webhook_id}",
    tag = "Webhooks",
    summary = "Delete a webhook endpoint",
    description = "Deletes the endpoint and its deliveries; nothing more is sent to it. \
        Needs `organization:manage`.",
    params(
        ("organization_id" = i64, Path, description = "The organization id."),
        ("webhook_id" = String, Path, description = "The endpoint id (`wh_…`)."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((organization_id, webhook_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    let organization =
        managed_organization(&state, &caller, &organization_id, &DELETE_WEBHOOK).await?;
    webhooks::delete(&state, organization.id, &webhook_id, caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint in the path, if it belongs to the organization the caller manages.
async fn managed_webhook(
    state: &AppState,
    caller: &Caller,
    organization_id: &str,
    webhook_id: &str,
    access: &RouteAccess,
) -> Result<WebhookEndpointRow, AppError> {
    let organization = managed_organization(state, caller, organization_id, access).await?;
    webhooks::endpoint(state, organization.id, webhook_id).await
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries",
    tag = "Webhooks",
    summary = "List an endpoint's deliveries",
    description = "The endpoint's latest 100 deliveries, newest first: status (`pending`, \
        `delivered`, `failed`), attempts, the last response status or error, and when a \
        pending one is attempted next. Needs `organization:manage`.",
    params(
        ("organization_id" = i64, Path, description = "The organization id."),
        ("webhook_id" = String, Path, description = "The endpoint id (`wh_…`)."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The deliveries.", body = Envelope<Vec<WebhookDelivery>>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((organization_id, webhook_id)): ApiPath<(String, String)>,
) -> Result<Json<Envelope<Vec<WebhookDelivery>>>, AppError> {
    let endpoint = managed_webhook(
        &state,
        &caller,
        &organization_id,
        &webhook_id,
        &LIST_DELIVERIES,
    )
    .await?;
    let rows = state
        .store
        .webhook_deliveries(&endpoint.id, DELIVERIES_LISTED)
        .await?;
    Ok(Json(Envelope {
        data: rows.into_iter().map(delivery_json).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    tag = "Webhooks",
    summary = "Retry a delivery",
    description = "Queues the delivery again, due now, whatever its status: a failed one \
        gets one more attempt, a delivered one is sent again with the same event id. \
        Needs `organization:manage`.",
    params(
        ("organization_id" = i64, Path, description = "The organization id."),
        ("webhook_id" = String, Path, description = "The endpoint id (`wh_…`)."),
        ("delivery_id" = String, Path, description = "The delivery id (`whd_…`)."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The delivery, pending.", body = Envelope<WebhookDelivery>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((organization_id, webhook_id, delivery_id)): ApiPath<(String, String, String)>,
) -> Result<Json<Envelope<WebhookDelivery>>, AppError> {
    let endpoint = managed_webhook(
        &state,
        &caller,
        &organization_id,
        &webhook_id,
        &RETRY_DELIVERY,
    )
    .await?;
    let row = webhooks::retry(&state, &endpoint, &delivery_id).await?;
    Ok(Json(Envelope {
        data: delivery_json(row),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = "Account",
    summary = "List your notifications",
    description = "What the caller should know about their credentials (expiring, \
        expired, leaked, disabled by someone else): undismissed first, each group newest \
        first, at most 100.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The notifications.", body = Envelope<Vec<Notification>>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Vec<Notification>>>, AppError> {
    caller.authorize_own(&LIST_NOTIFICATIONS)?;
    let rows = state
        .store
        .notifications_of_user(caller.user_id, NOTIFICATIONS_LISTED)
        .await?;
    Ok(Json(Envelope {
        data: rows
            .into_iter()
            .map(|row| notification_json(&state.public_url, row))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/notifications/{notification_id}/dismiss",
    tag = "Account",
    summary = "Dismiss a notification",
    description = "Marks one of the caller's notifications as dismissed; it stays in the \
        list, after the undismissed ones. Dismissing twice changes nothing.",
    params(("notification_id" = String, Path, description = "The notification id (`ntf_…`).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Dismissed."),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
)]
async fn dismiss_notification(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(notification_id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    caller.authorize_own(&DISMISS_NOTIFICATION)?;
    if !state
        .store
        .dismiss_notification(caller.user_id, &notification_id, state.now())
        .await?
    {
        return Err(not_found("notification", &notification_id));
    }
    Ok(StatusCode::NO_CONTENT)
}
