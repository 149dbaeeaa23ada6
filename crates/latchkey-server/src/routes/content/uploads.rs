//! Signed upload URLs: `PUT /upload/{token}`.
//!
//! The URL is the capability: unauthenticated (the upload client sends no bearer
//! token), for one file of one scene, until it expires or the file has arrived. Bodies,
//! chunked or not, stream to the object store; none is held in memory whole.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use latchkey_types::{Envelope, ErrorBody};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::scenes::token_digest;
use crate::error::{ApiPath, AppError};
use crate::openapi::{BadRequest, FileContent, NotFound};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_file))
}

/// What an upload answers; the client ignores the body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    resource_id: String,
    size: u64,
}

fn unknown_url() -> AppError {
    AppError::not_found(
        "This upload URL is not known. Use the exact URL the scene creation answered.",
    )
}

#[utoipa::path(
    put,
    path = "/upload/{token}",
    tag = "Uploads",
    summary = "Upload a scene file",
    description = "Sends one file of a scene to the signed URL that creating the scene \
        answered. No `Authorization`: the URL is the capability. Chunked or with a \
        length, any size; the body streams to the object store. A URL takes one upload \
        and expires after an hour; creating the scene again (same `internalId`) answers \
        fresh URLs.",
    params(("token" = String, Path, description = "The signed URL's token.")),
    request_body(content = FileContent, content_type = "application/octet-stream"),
    security(),
    responses(
        (status = 200, description = "The file arrived.", body = Envelope<Uploaded>),
        (status = 400, response = BadRequest),
        (status = 403, description = "The URL was used already (`upload_url_used`), has \
            expired (`upload_url_expired`), or its scene takes no more files \
            (`upload_closed`).", body = ErrorBody),
        (status = 404, response = NotFound),
    ),
)]
async fn upload_file(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    body: Body,
) -> Result<Json<Envelope<Uploaded>>, AppError> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unknown_url());
    }
    let digest = token_digest(&token);
    let (file, scene_status) = state
        .store
        .scene_file_by_token(&digest)
        .await?
        .ok_or_else(unknown_url)?;
    if file.uploaded_at().is_some() {
        return Err(AppError::Forbidden {
            code: "upload_url_used",
            message: format!(
                "This upload URL was used already: `{}` has arrived. Each URL takes one \
                 upload; create the scene again for new URLs.",
                file.resource_id
            ),
        });
    }
    if file.expires_at() <= state.now() {
        return Err(AppError::Forbidden {
            code: "upload_url_expired",
            message: format!(
                "This upload URL expired at {}. Create the scene again (same internalId) for \
                 new URLs.",
                latchkey_types::Timestamp(file.expires_at())
            ),
        });
    }
    if scene_status != "pending" {
        return Err(AppError::Forbidden {
            code: "upload_closed",
            message: format!(
                "Scene {} is {} and takes no more files.",
                file.scene_uuid, scene_status
            ),
        });
    }
    let size = state
        .blobs
        .put_stream(&file.object_key, body.into_data_stream())
        .await
        .map_err(|error| match error {
            crate::blob::BlobError::Body(why) => AppError::bad_request(
                "upload_interrupted",
                format!("The upload broke off before it was complete ({why}); send it again."),
            ),
            other => AppError::Internal(other.into()),
        })?;
    let size_i64 = i64::try_from(size).unwrap_or(i64::MAX);
    if !state
        .store
        .mark_file_uploaded(file.id, &digest, size_i64, state.now())
        .await?
    {
        return Err(AppError::Forbidden {
            code: "upload_url_used",
            message: "This upload URL was used by another upload at the same time.".to_owned(),
        });
    }
    tracing::info!(scene.uuid = %file.scene_uuid, file.bytes = size, "received a scene file");
    Ok(Json(Envelope {
        data: Uploaded {
            resource_id: file.resource_id,
            size,
        },
    }))
}
