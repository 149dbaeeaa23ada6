//! Creating a scene from local files (CONTRACT.md §3.6–3.7): reserve a uuid, create the
//! scene with its files keyed by `resourceId`, send each file to the signed URL the
//! server answered, then commit.
//!
//! Uploads stream from disk in 64 KiB chunks: a file of any size costs a fixed amount of
//! memory. They go through a separate HTTP client without a bearer token (the URL is the
//! capability) and without the 30 s whole-request timeout of API calls, which a large
//! file on a slow link would exceed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use latchkey_types::ErrorBody;
use latchkey_types::content::{
    InitializeScene, NewScene, Scene, SceneInitialized, SceneJobCreated, SceneQuery, SceneSummary,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;

use crate::client::{Client, Error};
use crate::tokens::excerpt;

/// Chunk size of streamed uploads, as the Python client sends them.
const UPLOAD_CHUNK: usize = 64 * 1024;
/// Retries of an upload that met a transient failure, resending the whole file.
const UPLOAD_RETRIES: u32 = 3;
/// How long an upload may wait for a connection, or for the server to say something.
const UPLOAD_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const UPLOAD_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a new scene goes: a workspace, optionally a project and one of its batches.
#[derive(Debug, Clone, Copy)]
pub struct ScenePlacement<'a> {
    pub workspace_id: &'a str,
    /// Without a batch the scene goes into the project's latest open batch.
    pub project: Option<&'a str>,
    /// Ignored without a project, as the Python client ignores it.
    pub batch: Option<&'a str>,
}

/// Why an upload to a signed URL failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not send {} to the server: {reason}", path.display())]
    Transport { path: PathBuf, reason: String },
    /// The server refused the file; carries its message.
    #[error("uploading {}: {source}", path.display())]
    Refused { path: PathBuf, source: Error },
}

/// The `resourceId` of a file: its name with every `.` but the last replaced by `_`
/// (CONTRACT.md §3.6), as the Python client computes it.
///
/// ```
/// use latchkey_client::resource_id;
///
/// assert_eq!(resource_id("/data/drive1/cam.front.png"), "/data/drive1/cam_front.png");
/// assert_eq!(resource_id("/data/lidar.pcd"), "/data/lidar.pcd");
/// assert_eq!(resource_id("README"), "README");
/// ```
pub fn resource_id(filename: &str) -> String {
    match filename.rfind('.') {
        Some(last) => format!(
            "{}{}",
            filename[..last].replace('.', "_"),
            &filename[last..]
        ),
        None => filename.to_owned(),
    }
}

/// The `Content-Type` the Python client would send for this file name.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn segment(text: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(text, NON_ALPHANUMERIC)
}

impl Client {
    /// `POST v1/inputs/initialize`: reserves the uuid the new scene will have.
    pub async fn initialize_scene(&self, workspace_id: &str) -> Result<String, Error> {
        let body = InitializeScene {
            workspace_id: workspace_id.to_owned(),
        };
        let answer: SceneInitialized = self
            .call(Method::POST, "/v1/inputs/initialize", Some(&body))
            .await?;
        Ok(answer.scene_uuid)
    }

    /// `POST v1/inputs/[project/{p}/[batch/{b}/]]{scene_type}`: creates the scene, pending
    /// until its files have arrived; `files` of the answer maps each `resourceId` to its
    /// signed upload URL. `scene_type` is the kebab-case name (`cameras`,
    /// `lidars-and-cameras`, …).
    pub async fn create_scene(
        &self,
        placement: ScenePlacement<'_>,
        scene_type: &str,
        scene: &NewScene,
    ) -> Result<SceneJobCreated, Error> {
        let mut path = "/v1/inputs/".to_owned();
        if let Some(project) = placement.project {
            path.push_str(&format!("project/{}/", segment(project)));
            if let Some(batch) = placement.batch {
                path.push_str(&format!("batch/{}/", segment(batch)));
            }
        }
        path.push_str(&format!(
            "{}?workspaceId={}",
            segment(scene_type),
            segment(placement.workspace_id)
        ));
        self.call(Method::POST, &path, Some(scene)).await
    }

    /// Sends the file at `path` to a signed upload URL, streamed from disk with a
    /// `Content-Length` (object stores' signed URLs want one). `progress` hears the bytes
    /// sent so far in the current attempt; a retry starts again from 0. Answers the size.
    ///
    /// Retries 408, 429, 502, 503, 504 and broken connections a few times; never other
    /// answers, which carry the server's message.
    pub async fn upload_file(
        &self,
        url: &str,
        path: &Path,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<u64, UploadError> {
        let http = reqwest::Client::builder()
            .connect_timeout(UPLOAD_CONNECT_TIMEOUT)
            .read_timeout(UPLOAD_READ_TIMEOUT)
            .user_agent(concat!("latchkey-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(progress);
        let file_error = |source| UploadError::File {
            path: path.to_owned(),
            source,
        };
        let mut attempt = 0;
        loop {
            let file = tokio::fs::File::open(path).await.map_err(file_error)?;
            let size = file.metadata().await.map_err(file_error)?.len();
            let report = Arc::clone(&progress);
            let mut sent = 0u64;
            let stream = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK)
                .inspect_ok(move |chunk| {
                    sent += chunk.len() as u64;
                    report(sent);
                });
            let result = http
                .put(url)
                .header(reqwest::header::CONTENT_TYPE, content_type(path))
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await;
            let transient = match &result {
                Ok(response) => matches!(response.status().as_u16(), 408 | 429 | 502..=504),
                Err(error) => !error.is_builder(),
            };
            if transient && attempt < UPLOAD_RETRIES {
                attempt += 1;
                let wait = Duration::from_millis(500) * 2u32.pow(attempt);
                tracing::debug!(file = %path.display(), attempt, "retrying upload");
                tokio::time::sleep(wait).await;
                continue;
            }
            let response = result.map_err(|error| UploadError::Transport {
                path: path.to_owned(),
                reason: if error.is_timeout() {
                    format!(
                        "the server did not answer within {} s",
                        UPLOAD_READ_TIMEOUT.as_secs()
                    )
                } else {
                    root_cause(&error)
                },
            })?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(size);
            }
            let body = response.text().await.unwrap_or_default();
            let source = match serde_json::from_str::<ErrorBody>(&body) {
                Ok(body) => Error::Api {
                    status,
                    message: body.message,
                    code: body.error,
                    request_id: body.request_id,
                },
                Err(_) => Error::UnexpectedResponse {
                    url: url.to_owned(),
                    status,
                    excerpt: excerpt(&body),
                },
            };
            return Err(UploadError::Refused {
                path: path.to_owned(),
                source,
            });
        }
    }

    /// `POST v1/inputs/{uuid}/actions/commit`: every file has arrived, so the scene
    /// becomes `created`. Answers the scene with its `viewLink`.
    pub async fn commit_scene(&self, scene_uuid: &str) -> Result<Scene, Error> {
        self.call(
            Method::POST,
            &format!("/v1/inputs/{}/actions/commit", segment(scene_uuid)),
            None::<&()>,
        )
        .await
    }

    /// `GET v2/scenes/{uuid}`: one scene's sensors, frames and metadata. An invalidated
    /// scene is a 404 unless `include_invalidated`.
    pub async fn scene_summary(
        &self,
        scene_uuid: &str,
        include_invalidated: bool,
    ) -> Result<SceneSummary, Error> {
        self.call(
            Method::GET,
            &format!(
                "/v2/scenes/{}?includeInvalidated={include_invalidated}",
                segment(scene_uuid)
            ),
            None::<&()>,
        )
        .await
    }

    /// `POST v2/scenes/query`: scenes by uuids or external ids; a 404 when any has no
    /// match.
    pub async fn query_scenes(&self, query: &SceneQuery) -> Result<Vec<Scene>, Error> {
        self.call(Method::POST, "/v2/scenes/query", Some(query))
            .await
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
