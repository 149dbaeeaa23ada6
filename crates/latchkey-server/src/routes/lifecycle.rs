//! The credential lifecycle API beyond create/list/delete: rolling a secret, renewing,
//! limits, the organization admin's view of every member's credential, the
//! organization's credential policy and a person's reminder preference.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::Action;
use latchkey_store::CredentialFilter;
use latchkey_types::lifecycle::{CredentialLimits, CredentialPolicy, Preferences, RollSecret};
use latchkey_types::{Credential, CredentialsFile, Envelope};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Find, RouteAccess};
use crate::audit::AuditSlot;
use crate::auth::Caller;
use crate::credential_policy;
use crate::credentials;
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_PREFERENCES: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "reading your preferences");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const SET_PREFERENCES: RouteAccess = RouteAccess::new(
    Action::ManageAccount,
    Find::Own,
    "changing your reminder preference",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const ORGANIZATION_CREDENTIALS: RouteAccess = RouteAccess::new(
    Action::AuditOrganization,
    Find::OrganizationInPath,
    "listing the organization's credentials",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_CREDENTIAL_POLICY: RouteAccess = RouteAccess::new(
    Action::ReadOrganization,
    Find::OrganizationInPath,
    "reading the credential policy",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const SET_CREDENTIAL_POLICY: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "changing the credential policy",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(roll_secret))
        .routes(routes!(renew_credential))
        .routes(routes!(set_limits))
        .routes(routes!(organization_credentials))
        .routes(routes!(get_credential_policy, set_credential_policy))
        .routes(routes!(get_preferences, set_preferences))
}

/// A credentials file answer: 201, never cached.
fn file_response(file: CredentialsFile) -> Response {
    let mut response = (StatusCode::CREATED, Json(Envelope { data: file })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[utoipa::path(
    post,
    path = "/v1/credentials/{client_id}/roll",
    tag = "Account",
    summary = "Roll a credential's secret",
    description = "Issues a new secret for one of the caller's credentials and answers a new \
        credentials file (same client id), the only time the new secret exists in plain text. \
        The current secrets keep working for `overlapSeconds` (0: they stop at once; at most \
        30 days, never beyond the credential's expiry), so programs can switch without \
        downtime; tokens they obtained expire with them. A credential holds at most 5 \
        working secrets. Only the owner can roll. A token needs `credentials:manage`.",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    request_body = RollSecret,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new credentials file, shown once.",
            body = Envelope<CredentialsFile>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
async fn roll_secret(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<RollSecret>,
) -> Result<Response, AppError> {
    let file = credentials::roll(
        &state,
        &caller.principal,
        &client_id,
        body.overlap_seconds,
        &audit,
    )
    .await?;
    Ok(file_response(file))
}

#[utoipa::path(
    post,
    path = "/v1/credentials/{client_id}/renew",
    tag = "Account",
    summary = "Renew a credential",
    description = "Creates a new credential with the same name, scopes, workspace limit, \
        allowed addresses and rate limit as one of the caller's, living as long as the \
        original did (within the organization's policy), and answers its credentials file. \
        The original keeps working until it expires or is deleted. The one-click answer to \
        an expiry reminder. A token needs `credentials:manage`.",
    params(("client_id" = String, Path, description = "The credential to renew (`lkc_…`).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new credentials file, shown once.",
            body = Envelope<CredentialsFile>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn renew_credential(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Response, AppError> {
    let file = credentials::renew(&state, &caller.principal, &client_id, &audit).await?;
    Ok(file_response(file))
}

#[utoipa::path(
    put,
    path = "/v1/credentials/{client_id}/limits",
    tag = "Account",
    summary = "Set a credential's limits",
    description = "Replaces a credential's allowed addresses (IP addresses and CIDR ranges; \
        requests from elsewhere get 403 `address_not_allowed` naming the address) and its \
        rate limit (token requests and API calls per minute, 1–100000; beyond it 429 \
        `rate_limited` with `Retry-After`). `null` or absent removes a limit. The owner or an \
        admin of the owner's organization may set them. A token needs \
        `credentials:manage`.",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    request_body = CredentialLimits,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Set; enforced at once here, within milliseconds elsewhere."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn set_limits(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<CredentialLimits>,
) -> Result<StatusCode, AppError> {
    credentials::set_limits(
        &state,
        &caller.principal,
        &client_id,
        body.allowed_networks,
        body.rate_limit_per_minute,
        &audit,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/credentials",
    tag = "Organizations",
    summary = "List the organization's credentials",
    description = "Every live credential of the organization's members, newest first, with \
        its owner, scopes, limits, secrets (never the secret) and last use. For the \
        organization's admins, who may also disable, enable, limit and delete them through \
        the credential endpoints, and the operator (read only).",
    params(("organization_id" = i64, Path, description = "The organization's id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The credentials.", body = Envelope<Vec<Credential>>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn organization_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(organization_id): ApiPath<i64>,
) -> Result<Json<Envelope<Vec<Credential>>>, AppError> {
    let organization = caller
        .organization(&state, organization_id, &ORGANIZATION_CREDENTIALS)
        .await?;
    Ok(Json(Envelope {
        data: credentials::list(&state, CredentialFilter::Organization(organization.id)).await?,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/credential-policy",
    tag = "Organizations",
    summary = "Read the credential policy",
    description = "The organization's rules for its members' credentials: default and \
        maximum lifetime, and the idle period after which unused credentials are disabled.",
    params(("organization_id" = i64, Path, description = "The organization's id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The policy.", body = Envelope<CredentialPolicy>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn get_credential_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(organization_id): ApiPath<i64>,
) -> Result<Json<Envelope<CredentialPolicy>>, AppError> {
    let organization = caller
        .organization(&state, organization_id, &GET_CREDENTIAL_POLICY)
        .await?;
    let policy = state
        .store
        .credential_policy(organization.id)
        .await?
        .unwrap_or_default();
    Ok(Json(Envelope {
        data: CredentialPolicy {
            default_lifetime_days: policy.default_credential_lifetime_days,
            max_lifetime_days: policy.max_credential_lifetime_days,
            idle_disable_days: policy.idle_disable_days,
        },
    }))
}

#[utoipa::path(
    put,
    path = "/v1/organizations/{organization_id}/credential-policy",
    tag = "Organizations",
    summary = "Set the credential policy",
    description = "Replaces the organization's credential policy; `null` removes a rule. \
        Days are 1–3650; the default lifetime may not exceed the maximum. Applies to \
        credentials generated from now on (lifetimes) and to every live one (idle period).",
    params(("organization_id" = i64, Path, description = "The organization's id.")),
    request_body = CredentialPolicy,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The policy now in force.", body = Envelope<CredentialPolicy>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn set_credential_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(organization_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CredentialPolicy>,
) -> Result<Json<Envelope<CredentialPolicy>>, AppError> {
    let organization = caller
        .organization(&state, organization_id, &SET_CREDENTIAL_POLICY)
        .await?;
    credential_policy::set_policy(
        &state,
        organization.id,
        latchkey_store::CredentialPolicy {
            default_credential_lifetime_days: body.default_lifetime_days,
            max_credential_lifetime_days: body.max_lifetime_days,
            idle_disable_days: body.idle_disable_days,
        },
    )
    .await?;
    Ok(Json(Envelope { data: body }))
}

#[utoipa::path(
    get,
    path = "/v1/me/preferences",
    tag = "Account",
    summary = "Read your preferences",
    description = "How many days before a credential expires you are reminded.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The preferences.", body = Envelope<Preferences>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn get_preferences(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Preferences>>, AppError> {
    caller.authorize_own(&GET_PREFERENCES)?;
    let days = state
        .store
        .user_by_id(caller.user_id)
        .await?
        .map_or(7, |user| user.expiry_reminder_days);
    Ok(Json(Envelope {
        data: Preferences {
            expiry_reminder_days: days,
        },
    }))
}

#[utoipa::path(
    put,
    path = "/v1/me/preferences",
    tag = "Account",
    summary = "Set your preferences",
    description = "`expiryReminderDays` (1–90): how many days before one of your credentials \
        expires you are reminded in the web app (and by email when the server sends email). \
        A token needs `credentials:manage`.",
    request_body = Preferences,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The preferences now in force.", body = Envelope<Preferences>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
async fn set_preferences(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Preferences>,
) -> Result<Json<Envelope<Preferences>>, AppError> {
    caller.authorize_own(&SET_PREFERENCES)?;
    credential_policy::set_reminder_days(&state, caller.user_id, body.expiry_reminder_days).await?;
    Ok(Json(Envelope { data: body }))
}
