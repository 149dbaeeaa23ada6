//! The JSON API: who am I, and the credentials behind the pages.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::Scope;
use latchkey_types::{
    Credential, CredentialsFile, Envelope, Me, MeCredential, MeUser, NewCredential, Timestamp,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, Via};
use crate::credentials::{self, CredentialRequest};
use crate::error::{ApiJson, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(delete_credential))
}

/// `GET /v1/me`: the caller, as the server sees them.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "Account",
    summary = "Who am I",
    description = "The caller as the server sees them: the user, and the credential and \
        token scopes when the call carries an access token. A quick check that a token works.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller.", body = Envelope<Me>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn get_me(caller: Caller) -> Json<Envelope<Me>> {
    let credential = match caller.via {
        Via::Token(credential) => Some(MeCredential {
            scopes: credential.scopes.names(),
            expires: credential.expires_at.map(Timestamp),
            client_id: credential.client_id,
            name: credential.name,
        }),
        Via::Session => None,
    };
    Json(Envelope {
        data: Me {
            user: MeUser {
                id: caller.user_id,
                email: caller.email,
                name: caller.name,
            },
            credential,
        },
    })
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
    Ok(Json(Envelope {
        data: credentials::list(&state, caller.user_id).await?,
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
    ApiJson(body): ApiJson<NewCredential>,
) -> Result<Response, AppError> {
    caller.require_scope(Scope::CredentialsManage, "creating credentials")?;
    let file = credentials::generate(
        &state,
        &caller.principal,
        CredentialRequest {
            name: body.name,
            expires_at: body.expires.map(|t| t.0),
            scopes: body.scopes,
            workspaces: body.workspaces,
        },
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
        on this replica and within a second on the others. A token needs the \
        `credentials:manage` scope.",
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
    Path(client_id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require_scope(Scope::CredentialsManage, "deleting credentials")?;
    credentials::delete(&state, caller.user_id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
