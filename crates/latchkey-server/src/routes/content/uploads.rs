//! Signed upload URLs: `PUT /upload/{token}`, when uploads go through this service (a
//! local folder, or a bucket with `LATCHKEY_STORAGE_UPLOADS_THROUGH_SERVICE`; otherwise
//! the bucket signs its own URLs and the bytes never come here).
//!
//! The URL is the capability: unauthenticated (the upload client sends no bearer
//! token), for one file of one scene, until it expires or the scene is committed.
//! Clients re-send a whole file after a timeout or a 5xx, so a URL takes the file
//! again and again, each upload replacing the last whole. Each upload is written to an
//! object of its own and the file then pointed at it, only while the scene still waits
//! for files: an upload that breaks off, loses a race or ends after the commit never
//! changes what the file holds. Bodies, chunked or not, stream to the object store;
//! none is held in memory whole.

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
        length, any size; the body streams to the object store. Until the scene is \
        committed or the URL expires (after an hour) the file may be sent again, each \
        upload replacing the last; creating the scene again (same `internalId`) answers \
        more URLs, and the earlier ones keep working.",
    params(("token" = String, Path, description = "The signed URL's token.")),
    request_body(content = FileContent, content_type = "application/octet-stream"),
    security(),
    responses(
        (status = 200, description = "The file arrived.", body = Envelope<Uploaded>),
        (status = 400, response = BadRequest),
        (status = 403, description = "The URL has expired (`upload_url_expired`), or its \
            scene was committed or invalidated and takes no more files (`upload_closed`).",
            body = ErrorBody),
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
    let target = state
        .store
        .upload_target(&digest)
        .await?
        .ok_or_else(unknown_url)?;
    if target.expires_at <= state.now() {
        return Err(AppError::Forbidden {
            code: "upload_url_expired",
            message: format!(
                "This upload URL expired at {}. Create the scene again (same internalId) for \
                 new URLs.",
                latchkey_types::Timestamp(target.expires_at)
            ),
        });
    }
    if target.scene_status != "pending" {
        return Err(upload_closed(&target.file.scene_uuid, &target.scene_status));
    }
    let mut file = target.file;
    let object_key = format!(
        "scenes/{}/{}-{}",
        file.scene_uuid,
        file.id,
        latchkey_core::random::base62(12)
    );
    let size = state
        .blobs
        .put_stream(&object_key, body.into_data_stream())
        .await
        .map_err(|error| match error {
            crate::blob::BlobError::Body(why) => AppError::bad_request(
                "upload_interrupted",
                format!("The upload broke off before it was complete ({why}); send it again."),
            ),
            other => AppError::Internal(other.into()),
        })?;
    let size_i64 = i64::try_from(size).unwrap_or(i64::MAX);
    // Point the file at this upload unless the scene was committed meanwhile. When
    // another upload of the same file finished in between, take its place too: the
    // last to finish wins, as with a bucket.
    loop {
        let replaced = state
            .store
            .replace_uploaded_file(
                file.id,
                &file.object_key,
                &object_key,
                size_i64,
                state.now(),
            )
            .await?;
        if replaced {
            break;
        }
        let now = state.store.upload_target(&digest).await?;
        match now {
            Some(now) if now.scene_status == "pending" => file = now.file,
            other => {
                discard(&state, &object_key).await;
                let status = other.map_or_else(|| "gone".to_owned(), |t| t.scene_status);
                return Err(upload_closed(&file.scene_uuid, &status));
            }
        }
    }
    if file.uploaded_at().is_some() {
        discard(&state, &file.object_key).await;
    }
    tracing::info!(scene.uuid = %file.scene_uuid, file.bytes = size, "received a scene file");
    Ok(Json(Envelope {
        data: Uploaded {
            resource_id: file.resource_id,
            size,
        },
    }))
}

fn upload_closed(scene_uuid: &str, status: &str) -> AppError {
    AppError::Forbidden {
        code: "upload_closed",
        message: format!("Scene {scene_uuid} is {status} and takes no more files."),
    }
}

/// Removes an object no file points at (a replaced or a refused upload). Failing leaves
/// an orphan behind, which costs space and nothing else, so it is logged, not answered.
async fn discard(state: &AppState, key: &str) {
    if let Err(error) = state.blobs.delete(key).await {
        tracing::warn!(error = %error, object.key = key, "could not remove a replaced upload");
    }
}
