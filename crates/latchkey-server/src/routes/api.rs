//! The JSON API: who am I, and the credentials behind the pages.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use latchkey_core::Scope;
use latchkey_types::{Credential, Envelope, Me, MeCredential, MeUser, NewCredential, Timestamp};

use crate::auth::{Caller, Via};
use crate::credentials::{self, CredentialRequest};
use crate::error::{ApiJson, AppError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(get_me))
        .route(
            "/v1/credentials",
            get(list_credentials).post(create_credential),
        )
        .route("/v1/credentials/{client_id}", delete(delete_credential))
}

/// `GET /v1/me`: the caller, as the server sees them.
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

async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Vec<Credential>>>, AppError> {
    Ok(Json(Envelope {
        data: credentials::list(&state, caller.user_id).await?,
    }))
}

/// `POST /v1/credentials`: answers the credentials file, the one time it exists.
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

async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require_scope(Scope::CredentialsManage, "deleting credentials")?;
    credentials::delete(&state, caller.user_id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
