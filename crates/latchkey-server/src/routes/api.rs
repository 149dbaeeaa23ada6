//! The JSON API: who am I, and the credentials behind the pages.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::{Action, Resource, decide};
use latchkey_store::CredentialFilter;
use latchkey_types::lifecycle::{DisableCredential, UsageHistory, UsageHour, UsageRefusals};
use latchkey_types::{
    Credential, CredentialsFile, Envelope, Me, MeCredential, MeOrganization, MeUser, MeWorkspace,
    NewCredential, Timestamp,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Find, RouteAccess, credential_not_found, readable_workspaces};
use crate::audit::AuditSlot;
use crate::auth::{Caller, Via};
use crate::credentials::{self, CredentialRequest, DisableReason};
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;
use crate::usage_history::{RefusalReason, history_start};

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_ME: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "reading your own account");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_CREDENTIALS: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "listing your credentials");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREDENTIAL_USAGE: RouteAccess = RouteAccess::new(
    Action::ReadAccount,
    Find::Own,
    "reading your credential's usage",
);

/// The permissions `/v1/me` reports per workspace.
const WORKSPACE_ACTIONS: [Action; 3] = [
    Action::ReadWorkspace,
    Action::WriteWorkspace,
    Action::ManageWorkspaceMembers,
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(delete_credential))
        .routes(routes!(disable_credential))
        .routes(routes!(enable_credential))
        .routes(routes!(credential_usage))
}

/// `GET /v1/me`: the caller, as the server sees them.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "Account",
    summary = "Who am I",
    description = "The caller as the server sees them: the user, the credential and its \
        token scopes (and workspace limit) when the call carries an access token, the \
        organization and role, `isOperator`, and every workspace the caller can read with \
        their role and effective `permissions` (`workspace:read`, `workspace:write`, \
        `workspace:members`) once the credential's scopes and limit are applied. A quick \
        check that a token works.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller.", body = Envelope<Me>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn get_me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Me>>, AppError> {
    caller.authorize_own(&GET_ME)?;
    let principal = &caller.principal;
    let organization = match principal.organization {
        Some((id, role)) => state
            .store
            .organization(id)
            .await?
            .map(|row| MeOrganization {
                id: row.id,
                name: row.name,
                role: role.as_str().to_owned(),
            }),
        None => None,
    };
    // Each permission is the decision's own answer, so the scopes and the workspace
    // limit narrow it exactly as they narrow the calls.
    let workspaces = readable_workspaces(&state, principal)
        .await?
        .into_iter()
        .map(|(row, role)| {
            let resource = Resource::Workspace {
                id: &row.id,
                organization_id: row.organization_id,
            };
            let permissions = WORKSPACE_ACTIONS
                .into_iter()
                .filter(|action| decide(principal, *action, resource).is_ok())
                .map(|action| action.permission().to_owned())
                .collect();
            MeWorkspace {
                id: row.id.clone(),
                name: row.name.clone(),
                organization_id: row.organization_id,
                role: role.as_str().to_owned(),
                permissions,
            }
        })
        .collect();
    let credential = match caller.via {
        Via::Token(credential) => Some(MeCredential {
            scopes: credential.scopes.names(),
            expires: credential.expires_at.map(Timestamp),
            client_id: credential.client_id,
            name: credential.name,
            workspaces: principal
                .credential
                .as_ref()
                .and_then(|c| c.workspaces.as_ref())
                .map(|w| w.iter().cloned().collect()),
        }),
        Via::Session => None,
    };
    Ok(Json(Envelope {
        data: Me {
            user: MeUser {
                id: caller.user_id,
                email: caller.email,
                name: caller.name,
            },
            credential,
            organization,
            workspaces,
            is_operator: principal.is_operator,
        },
    }))
}

#[utoipa::path(
    get,
    path = "/v1/credentials",
    tag = "Account",
    summary = "List credentials",
    description = "The caller's user's API credentials, newest first; never a secret.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The credentials.", body = Envelope<Vec<Credential>>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Vec<Credential>>>, AppError> {
    caller.authorize_own(&LIST_CREDENTIALS)?;
    Ok(Json(Envelope {
        data: credentials::list(&state, CredentialFilter::User(caller.user_id)).await?,
    }))
}

/// `POST /v1/credentials`: answers the credentials file, the one time it exists.
#[utoipa::path(
    post,
    path = "/v1/credentials",
    tag = "Account",
    summary = "Generate a credential",
    description = "Creates a credential for the caller's user and answers its credentials \
        file, the only time the client secret exists in plain text (sent with \
        `Cache-Control: no-store`). `scopes` default to `api:read api:write`; `workspaces` \
        limits the credential to some of the user's workspaces. A token needs the \
        `credentials:manage` scope.",
    request_body = NewCredential,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The credentials file, shown once.",
            body = Envelope<CredentialsFile>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiJson(body): ApiJson<NewCredential>,
) -> Result<Response, AppError> {
    let file = credentials::generate(
        &state,
        &caller.principal,
        CredentialRequest {
            name: body.name,
            expires_at: body.expires.map(|t| t.0),
            never_expires: false,
            scopes: body.scopes,
            workspaces: body.workspaces,
            allowed_networks: body.allowed_networks,
            rate_limit_per_minute: body.rate_limit_per_minute,
        },
        &audit,
    )
    .await?;
    let mut response = (StatusCode::CREATED, Json(Envelope { data: file })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(
    delete,
    path = "/v1/credentials/{client_id}",
    tag = "Account",
    summary = "Delete a credential",
    description = "Deletes one of the caller's credentials. Its tokens stop working at once \
        on this replica and within milliseconds on the others (half a second on SQLite). A \
        token needs the `credentials:manage` scope.",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    credentials::delete(&state, &caller.principal, &client_id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/credentials/{client_id}/disable",
    tag = "Account",
    summary = "Disable a credential",
    description = "Disables one of the caller's credentials without deleting it: the token \
        endpoint refuses it with `invalid_client` and its tokens get 401 \
        `credential_disabled`, at once on this replica and within milliseconds on the others, \
        until it is enabled again. Disabling a disabled credential changes nothing. An \
        admin of the owner's organization may disable a member's credential, with an \
        optional `reason` the owner is shown; one an admin disabled only an admin may \
        enable. A token needs the `credentials:manage` scope and must cover the \
        credential (every scope and workspace of it also its own).",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    request_body(content = Option<DisableCredential>, description = "Optional: why."),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Disabled."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn disable_credential(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let body: DisableCredential = if body.iter().all(u8::is_ascii_whitespace) {
        DisableCredential::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AppError::bad_request(
                "invalid_body",
                format!("The body must be {{\"reason\": \"…\"}} or empty: {e}."),
            )
        })?
    };
    let reason = DisableReason::parse(body.reason.as_deref())?;
    credentials::set_disabled(&state, &caller.principal, &client_id, Some(reason), &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/credentials/{client_id}/enable",
    tag = "Account",
    summary = "Enable a credential",
    description = "Enables a disabled credential of the caller's: it gets tokens again, and \
        its unexpired tokens work again. Enabling an enabled credential changes nothing. One \
        an organization admin disabled only an admin may enable (403 \
        `disabled_by_admin`). A token needs the `credentials:manage` scope and must cover \
        the credential.",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Enabled."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn enable_credential(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(client_id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    credentials::set_disabled(&state, &caller.principal, &client_id, None, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/credentials/{client_id}/usage",
    tag = "Account",
    summary = "A credential's usage per hour",
    description = "How one of the caller's credentials was used over the last 30 days, per \
        hour: access tokens granted, API calls made with its tokens, and requests refused \
        once its secret or token was proven, by reason (`expired`, `disabled`, \
        `addressNotAllowed`, `rateLimited`, `missingPermission`: the token lacked a scope, \
        role or workspace the call needed). Only hours that saw any use are listed. Counts \
        reach the database with last-use, every few seconds; this replica's own recent \
        counts are included at once.",
    params(("client_id" = String, Path, description = "The credential's client id (`lkc_…`).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The credential's hours.", body = Envelope<UsageHistory>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn credential_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Json<Envelope<UsageHistory>>, AppError> {
    caller.authorize_own(&CREDENTIAL_USAGE)?;
    let owned = state
        .store
        .credentials(CredentialFilter::User(caller.user_id))
        .await?
        .iter()
        .any(|c| c.client_id == client_id);
    if !owned {
        return Err(credential_not_found(&client_id));
    }
    let since = history_start(state.now());
    let hours = state
        .usage
        .counters
        .history(&state.store, &client_id, since)
        .await?
        .into_iter()
        .map(|(hour, usage)| UsageHour {
            hour: Timestamp(hour),
            grants: usage.grants,
            calls: usage.calls,
            refused: UsageRefusals {
                expired: usage.refused_for(RefusalReason::Expired),
                disabled: usage.refused_for(RefusalReason::Disabled),
                address_not_allowed: usage.refused_for(RefusalReason::AddressNotAllowed),
                rate_limited: usage.refused_for(RefusalReason::RateLimited),
                missing_permission: usage.refused_for(RefusalReason::MissingPermission),
            },
        })
        .collect();
    Ok(Json(Envelope {
        data: UsageHistory {
            client_id,
            since: Timestamp(since),
            hours,
        },
    }))
}
