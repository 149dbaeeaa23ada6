//! Scenes coming in: initialize, create (every scene type), IMU data and commit
//! (CONTRACT.md §3.6–3.8). What each scene type must hold is in `scene_rules`; reading
//! and invalidating scenes is `scene_queries`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use latchkey_core::access::Action;
use latchkey_store::{
    BatchRow, NewImu, NewInput, NewScene as NewSceneRow, NewSceneFile, ProjectRow, SceneRow,
    StoreError, WorkspaceRow,
};
use latchkey_types::Envelope;
use latchkey_types::content::{
    ImuDataAccepted, InitializeScene, NewImuData, NewScene, Scene, SceneInitialized,
    SceneJobCreated,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::missing_batch;
use super::scene_rules::{SceneType, invalid, validate_scene};
use super::{clip, is_dryrun, project_for, scene_for, scene_wire, workspace_param};
use crate::access::{Find, RouteAccess, not_found};
use crate::auth::Caller;
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const INITIALIZE_SCENE: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::WorkspaceInBody,
    "creating a scene",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_SCENE_IN_PROJECT: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::NewScene { in_project: true },
    "creating a scene",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_SCENE: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::NewScene { in_project: false },
    "creating a scene",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const COMMIT_SCENE: RouteAccess =
    RouteAccess::new(Action::WriteWorkspace, Find::Scene, "committing a scene");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const UPLOAD_IMU: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::WorkspaceInQuery,
    "uploading IMU data",
);

/// How long a signed upload URL works. The upload client retries for up to ~20
/// minutes, so an hour covers a slow upload and its retries.
const UPLOAD_URL_LIFETIME_MINUTES: i64 = 60;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(initialize_scene))
        .routes(routes!(create_scene))
        .routes(routes!(create_scene_in_project))
        .routes(routes!(create_scene_in_batch))
        .routes(routes!(commit_scene))
        .routes(routes!(create_imu_data))
}

/// `POST v1/inputs/initialize`: a new scene uuid for the workspace.
#[utoipa::path(
    post,
    path = "/v1/inputs/initialize",
    tag = "Scenes",
    summary = "Reserve a scene uuid",
    description = "The first step of creating a scene: a new uuid in the workspace, sent \
        as `internalId` when creating the scene (and with its IMU data).",
    request_body = InitializeScene,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The uuid.", body = Envelope<SceneInitialized>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn initialize_scene(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<InitializeScene>,
) -> Result<Json<Envelope<SceneInitialized>>, AppError> {
    let workspace = caller
        .workspace(&state, &body.workspace_id, &INITIALIZE_SCENE)
        .await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    state
        .store
        .reserve_scene_id(&uuid, &workspace.id, state.now())
        .await?;
    Ok(Json(Envelope {
        data: SceneInitialized { scene_uuid: uuid },
    }))
}

#[utoipa::path(
    post,
    path = "/v1/inputs/{scene_type}",
    tag = "Scenes",
    summary = "Create a scene",
    description = "Creates a scene of this type from a uuid reserved by \
        `v1/inputs/initialize`. Single-frame types take `frame`, sequence types `frames`; \
        lidar-and-camera types need a `calibrationId` of the workspace. The same \
        `internalId` with the same body again answers the same scene.",
    params(
        ("scene_type" = inline(SceneType), Path, description = "The scene type, kebab-case."),
        ("workspaceId" = String, Query, description = "The workspace to create in."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body = NewScene,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The scene, pending until its files are uploaded \
            and it is committed; `files` maps each `resourceId` to its signed upload URL.",
            body = Envelope<SceneJobCreated>),
        (status = 200, description = "The same scene again (same `internalId` and body): \
            fresh upload URLs while it waits for files.", body = Envelope<SceneJobCreated>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_scene(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(scene_type): ApiPath<String>,
    RawQuery(query): RawQuery,
    body: ApiJson<NewScene>,
) -> Result<Response, AppError> {
    create(
        &state,
        &caller,
        &headers,
        &scene_type,
        None,
        None,
        query.as_deref(),
        body.0,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/inputs/project/{project}/{scene_type}",
    tag = "Scenes",
    summary = "Create a scene in a project",
    description = "As `v1/inputs/{scene_type}`, and places the scene in the project's latest \
        open batch (`requestInputUuid` names the input). The project must be in the \
        workspace.",
    params(
        ("project" = String, Path, description = "The project key."),
        ("scene_type" = inline(SceneType), Path, description = "The scene type, kebab-case."),
        ("workspaceId" = String, Query, description = "The workspace to create in."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body = NewScene,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The scene, pending until its files are uploaded \
            and it is committed; `files` maps each `resourceId` to its signed upload URL.",
            body = Envelope<SceneJobCreated>),
        (status = 200, description = "The same scene again (same `internalId` and body): \
            fresh upload URLs while it waits for files.", body = Envelope<SceneJobCreated>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_scene_in_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((project, scene_type)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    body: ApiJson<NewScene>,
) -> Result<Response, AppError> {
    let project = Some(project.as_str());
    create(
        &state,
        &caller,
        &headers,
        &scene_type,
        project,
        None,
        query.as_deref(),
        body.0,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/inputs/project/{project}/batch/{batch}/{scene_type}",
    tag = "Scenes",
    summary = "Create a scene in a batch",
    description = "As `v1/inputs/{scene_type}`, and places the scene in this open batch of \
        the project (`requestInputUuid` names the input).",
    params(
        ("project" = String, Path, description = "The project key."),
        ("batch" = String, Path, description = "The batch key; the batch must be open."),
        ("scene_type" = inline(SceneType), Path, description = "The scene type, kebab-case."),
        ("workspaceId" = String, Query, description = "The workspace to create in."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body = NewScene,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The scene, pending until its files are uploaded \
            and it is committed; `files` maps each `resourceId` to its signed upload URL.",
            body = Envelope<SceneJobCreated>),
        (status = 200, description = "The same scene again (same `internalId` and body): \
            fresh upload URLs while it waits for files.", body = Envelope<SceneJobCreated>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_scene_in_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((project, batch, scene_type)): ApiPath<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: ApiJson<NewScene>,
) -> Result<Response, AppError> {
    let (project, batch) = (Some(project.as_str()), Some(batch.as_str()));
    create(
        &state,
        &caller,
        &headers,
        &scene_type,
        project,
        batch,
        query.as_deref(),
        body.0,
    )
    .await
}

/// The batch a scene or input goes into: the named one, or the project's latest open
/// batch. It must be open.
pub(super) async fn open_batch(
    state: &AppState,
    project: &ProjectRow,
    batch: Option<&str>,
) -> Result<BatchRow, AppError> {
    let row = match batch {
        Some(key) => state
            .store
            .batch(project.id, key)
            .await?
            .ok_or_else(|| missing_batch(project, key))?,
        None => state
            .store
            .latest_open_batch(project.id)
            .await?
            .ok_or_else(|| {
                invalid(
                    "no_open_batch",
                    format!(
                        "Project `{}` has no open batch. Create one with POST \
                     v1/projects/{}/batches/<batch>, or name a batch.",
                        project.project, project.project
                    ),
                )
            })?,
    };
    if row.status != "open" {
        return Err(invalid(
            "batch_closed",
            format!(
                "Batch `{}` of project `{}` is {} (published) and accepts no more scenes. \
                 Create a new batch.",
                row.batch, project.project, row.status
            ),
        ));
    }
    Ok(row)
}

/// The project (and batch) a scene goes into; it must be in the scene's workspace.
async fn placement(
    state: &AppState,
    caller: &Caller,
    workspace: &WorkspaceRow,
    project: Option<&str>,
    batch: Option<&str>,
) -> Result<Option<(ProjectRow, BatchRow)>, AppError> {
    let Some(project) = project else {
        return Ok(None);
    };
    let (project, _) = project_for(state, caller, project, &CREATE_SCENE_IN_PROJECT).await?;
    if project.workspace_id != workspace.id {
        return Err(invalid(
            "project_in_other_workspace",
            format!(
                "Project `{}` belongs to workspace {}, not {}; create the scene there.",
                project.project, project.workspace_id, workspace.id
            ),
        ));
    }
    let batch = open_batch(state, &project, batch).await?;
    Ok(Some((project, batch)))
}

#[expect(
    clippy::too_many_arguments,
    reason = "the three creation paths share one body"
)]
async fn create(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    scene_type: &str,
    project: Option<&str>,
    batch: Option<&str>,
    query: Option<&str>,
    body: NewScene,
) -> Result<Response, AppError> {
    let scene_type = SceneType::parse(scene_type)?;
    let workspace_id = workspace_param(query)?;
    let workspace = caller
        .workspace(state, &workspace_id, &CREATE_SCENE)
        .await?;
    let resources = validate_scene(scene_type, &body)?;
    if uuid::Uuid::parse_str(&body.internal_id).is_err()
        || state
            .store
            .scene_id_workspace(&body.internal_id)
            .await?
            .as_deref()
            != Some(workspace.id.as_str())
    {
        return Err(invalid(
            "unknown_internal_id",
            format!(
                "`internalId` {} was not handed out by POST v1/inputs/initialize for workspace \
                 {}. Initialize the scene first and send the sceneUuid it answers.",
                clip(&body.internal_id),
                workspace.id
            ),
        ));
    }
    if let Some(calibration_id) = &body.calibration_id {
        let found = state.store.calibration(calibration_id).await?;
        if found.is_none_or(|c| c.workspace_id != workspace.id) {
            return Err(invalid(
                "unknown_calibration",
                format!(
                    "There is no calibration `{}` in workspace {}. Create it with POST \
                     v1/calibrations first.",
                    clip(calibration_id),
                    workspace.id
                ),
            ));
        }
    }
    if let Some(imu) = &body.imu_data {
        let found = state.store.imu(&body.internal_id).await?;
        if found.is_none_or(|row| &row.resource_id != imu) {
            return Err(invalid(
                "unknown_imu_data",
                format!(
                    "`imuData` `{}` is not IMU data posted to v1/imu for this scene.",
                    clip(imu)
                ),
            ));
        }
    }
    let placement = placement(state, caller, &workspace, project, batch).await?;
    if is_dryrun(headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let stored_body = serde_json::to_string(&body).map_err(anyhow::Error::from)?;
    if let Some(existing) = state.store.scene(&body.internal_id).await? {
        return replay(
            state,
            &existing,
            &stored_body,
            scene_type,
            placement.as_ref(),
        )
        .await;
    }

    let now = state.now();
    let mut files = Vec::new();
    let mut urls = BTreeMap::new();
    for (index, resource) in resources.iter().enumerate() {
        let object_key = format!("scenes/{}/{index}", body.internal_id);
        let (url, upload_token) = signed_url(state, &object_key).await?;
        urls.insert(resource.clone(), url);
        files.push(NewSceneFile {
            resource_id: resource.clone(),
            object_key,
            upload_token,
        });
    }
    let input = placement.as_ref().map(|(project, batch)| NewInput {
        uuid: uuid::Uuid::new_v4().to_string(),
        scene_uuid: body.internal_id.clone(),
        project_id: project.id,
        batch_id: batch.id,
        request_uid: format!("{}:{}", project.project, batch.batch),
        created_at: now,
    });
    let created = state
        .store
        .create_scene(
            &NewSceneRow {
                uuid: body.internal_id.clone(),
                workspace_id: workspace.id.clone(),
                external_id: body.external_id.clone(),
                scene_type: scene_type.name(),
                status: if files.is_empty() {
                    "created"
                } else {
                    "pending"
                }
                .to_owned(),
                calibration_id: body.calibration_id.clone(),
                project_id: placement.as_ref().map(|(p, _)| p.id),
                batch_id: placement.as_ref().map(|(_, b)| b.id),
                metadata: Value::Object(body.metadata.clone()).to_string(),
                body: stored_body.clone(),
                created_at: now,
            },
            &files,
            now + upload_url_lifetime(),
            input.as_ref(),
        )
        .await;
    match created {
        Ok(()) => {}
        // A concurrent retry of the same call won the race: answer as a retry.
        Err(StoreError::Conflict) => {
            let existing = state
                .store
                .scene(&body.internal_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("scene vanished after a conflict"))?;
            return replay(
                state,
                &existing,
                &stored_body,
                scene_type,
                placement.as_ref(),
            )
            .await;
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(scene.uuid = %body.internal_id, workspace.id = %workspace.id, scene.files = files.len(), "created a scene");
    let created = SceneJobCreated {
        internal_id: body.internal_id,
        files: urls,
        request_input_uuid: input.map(|i| i.uuid),
    };
    Ok((StatusCode::CREATED, Json(Envelope { data: created })).into_response())
}

/// A second creation with the same `internalId`: the same scene answers again, with
/// fresh upload URLs while it still waits for its files.
async fn replay(
    state: &AppState,
    existing: &SceneRow,
    stored_body: &str,
    scene_type: SceneType,
    placement: Option<&(ProjectRow, BatchRow)>,
) -> Result<Response, AppError> {
    let same = existing.body == stored_body
        && existing.scene_type == scene_type.name()
        && existing.batch_id == placement.map(|(_, b)| b.id);
    if !same {
        return Err(invalid(
            "scene_exists",
            format!(
                "Scene {} was already created with a different body, type or batch. \
                 Initialize a new scene for different content.",
                existing.uuid
            ),
        ));
    }
    let mut urls = BTreeMap::new();
    if existing.status == "pending" {
        let files = state.store.scene_files(&existing.uuid).await?;
        let mut tokens = Vec::new();
        for (index, file) in files.iter().enumerate() {
            // The key the create chose (files are in creation order): a bucket's
            // presigned URL names it. A local upload moves `object_key` on; its
            // tokens name the file, not the key.
            let object_key = format!("scenes/{}/{index}", existing.uuid);
            let (url, token) = signed_url(state, &object_key).await?;
            urls.insert(file.resource_id.clone(), url);
            if let Some(digest) = token {
                tokens.push((file.id, digest));
            }
        }
        let expires_at = state.now() + upload_url_lifetime();
        state.store.add_upload_tokens(&tokens, expires_at).await?;
    }
    let request_input_uuid = match placement {
        Some((_, batch)) => state
            .store
            .input_of(&existing.uuid, batch.id)
            .await?
            .map(|i| i.uuid),
        None => None,
    };
    Ok(Json(Envelope {
        data: SceneJobCreated {
            internal_id: existing.uuid.clone(),
            files: urls,
            request_input_uuid,
        },
    })
    .into_response())
}

fn upload_url_lifetime() -> Duration {
    Duration::minutes(UPLOAD_URL_LIFETIME_MINUTES)
}

/// A signed upload URL for the object `key` and, when the upload goes through this
/// service, the digest of the URL's token for the database. A bucket signs its own
/// URLs (no token: the bytes go straight to it); a local folder gets
/// `{public URL}/upload/{token}`.
async fn signed_url(state: &AppState, key: &str) -> Result<(String, Option<String>), AppError> {
    let lifetime = std::time::Duration::from_secs(60 * UPLOAD_URL_LIFETIME_MINUTES.unsigned_abs());
    let presigned = state
        .blobs
        .signed_put_url(key, lifetime)
        .await
        .map_err(anyhow::Error::from)?;
    if let Some(url) = presigned {
        return Ok((url, None));
    }
    let token = latchkey_core::random::base62(32);
    let digest = token_digest(&token);
    Ok((format!("{}/upload/{token}", state.public_url), Some(digest)))
}

pub(super) fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `POST v1/imu?workspaceId=`: IMU samples for a scene about to be created. The data
/// arrives in the body, so it is stored at once and there is nothing to upload.
#[utoipa::path(
    post,
    path = "/v1/imu",
    tag = "Scenes",
    summary = "Add IMU data",
    description = "IMU samples for a scene about to be created, posted after \
        `v1/inputs/initialize` and before the scene. The answer's `resourceId` goes into \
        the scene's `imuData`. The data comes in the body, so nothing is uploaded and \
        `signedUrl` is null.",
    params(
        ("workspaceId" = String, Query, description = "The workspace to create in."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body = NewImuData,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Stored.", body = Envelope<ImuDataAccepted>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_imu_data(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<NewImuData>,
) -> Result<Response, AppError> {
    let workspace_id = workspace_param(query.as_deref())?;
    let workspace = caller.workspace(&state, &workspace_id, &UPLOAD_IMU).await?;
    if body.imu_data.is_empty() {
        return Err(invalid(
            "invalid_imu_data",
            "`imuData` needs at least one sample.",
        ));
    }
    if state
        .store
        .scene_id_workspace(&body.internal_id)
        .await?
        .as_deref()
        != Some(workspace.id.as_str())
    {
        return Err(invalid(
            "unknown_internal_id",
            format!(
                "`internalId` {} was not handed out by POST v1/inputs/initialize for workspace {}.",
                clip(&body.internal_id),
                workspace.id
            ),
        ));
    }
    if state.store.scene(&body.internal_id).await?.is_some() {
        return Err(invalid(
            "scene_exists",
            "IMU data is posted before the scene is created; this scene exists already.",
        ));
    }
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let resource_id = format!("imu/{}.json", body.internal_id);
    let object_key = format!("scenes/{}/imu.json", body.internal_id);
    let json = serde_json::to_vec(&body.imu_data).map_err(anyhow::Error::from)?;
    state
        .blobs
        .put(&object_key, Bytes::from(json))
        .await
        .map_err(anyhow::Error::from)?;
    state
        .store
        .put_imu(&NewImu {
            scene_uuid: body.internal_id.clone(),
            workspace_id: workspace.id.clone(),
            resource_id: resource_id.clone(),
            object_key,
            samples: i64::try_from(body.imu_data.len()).unwrap_or(i64::MAX),
            created_at: state.now(),
        })
        .await?;
    Ok(Json(Envelope {
        data: ImuDataAccepted {
            resource_id,
            signed_url: None,
        },
    })
    .into_response())
}

/// `POST v1/inputs/{uuid}/actions/commit` (no body): every signed file has arrived, so
/// the scene becomes `created`. Committing a created scene again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/inputs/{uuid}/actions/commit",
    tag = "Scenes",
    summary = "Commit a scene",
    description = "Every signed file has arrived, so the scene becomes `created`; \
        otherwise 400 `uploads_missing` names the files still missing. Committing a \
        created scene again changes nothing. No body.",
    params(("uuid" = String, Path, description = "The scene uuid.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The created scene.", body = Envelope<Scene>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn commit_scene(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
) -> Result<Json<Envelope<Scene>>, AppError> {
    let (scene, _) = scene_for(&state, &caller, &uuid, &COMMIT_SCENE).await?;
    if scene.status == "created" {
        return Ok(Json(Envelope {
            data: scene_wire(&state, &scene),
        }));
    }
    if scene.status != "pending" {
        return Err(invalid(
            "scene_not_pending",
            format!("Scene {uuid} is {} and cannot be committed.", scene.status),
        ));
    }
    let files = state.store.scene_files(&uuid).await?;
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    let mut sizes = Vec::new();
    for file in &files {
        let size = state
            .blobs
            .size(&file.object_key)
            .await
            .map_err(anyhow::Error::from)?;
        let Some(size) = size else {
            missing.push(file.resource_id.as_str());
            continue;
        };
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        // An upload through this service recorded the size it wrote; a bucket's
        // presigned upload is measured here.
        match file.size {
            Some(expected) if expected != size => {
                changed.push(format!(
                    "{} ({expected} bytes arrived, the store holds {size})",
                    clip(&file.resource_id)
                ));
            }
            _ => sizes.push((file.id, file.object_key.clone(), size)),
        }
    }
    if !missing.is_empty() {
        return Err(invalid(
            "uploads_missing",
            format!(
                "Scene {uuid} still waits for {} of its {} files: {}. Upload them to their \
                 signed URLs, then commit.",
                missing.len(),
                files.len(),
                missing
                    .iter()
                    .take(10)
                    .map(|m| clip(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if !changed.is_empty() {
        return Err(invalid(
            "upload_size_mismatch",
            format!(
                "Scene {uuid} has {} files whose stored object is not the size that was \
                 uploaded: {}. Upload them again to their signed URLs, then commit.",
                changed.len(),
                changed
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    state.store.commit_scene(&uuid, &sizes, state.now()).await?;
    let scene = state
        .store
        .scene(&uuid)
        .await?
        .ok_or_else(|| not_found("scene", &uuid))?;
    tracing::info!(scene.uuid = %uuid, "committed a scene");
    Ok(Json(Envelope {
        data: scene_wire(&state, &scene),
    }))
}
