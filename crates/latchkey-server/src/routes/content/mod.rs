//! The workspace content API that the `kognic-io` client speaks (CONTRACT.md §3):
//! projects and batches, scenes with their uploads, IMU data, inputs, calibrations.
//!
//! Every handler builds its [`Caller`] and asks the permission decision before acting:
//! a workspace named in the request through [`Caller::workspace`]; a resource found by
//! its own id (a scene uuid, a project key) through its workspace, where another
//! organization's resource gets the same 404 as a missing one. Lists show only what the
//! caller may read. `X-Dryrun` (present, whatever its value) validates and changes
//! nothing. Creates are idempotent: the client retries POSTs.

pub(crate) mod calibrations;
pub(crate) mod inputs;
pub(crate) mod projects;
pub(crate) mod scene_queries;
mod scene_rules;
pub(crate) mod scenes;
mod uploads;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use latchkey_core::access::{Denial, Resource, decide};
use latchkey_store::{ProjectRow, SceneRow, WorkspaceRow};
use latchkey_types::content::Scene;
use latchkey_types::{Timestamp, content};
use utoipa_axum::router::OpenApiRouter;

use crate::access::{RouteAccess, not_found};
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

pub(crate) use projects::missing_batch;
pub(crate) use scene_rules::SceneType;

/// Scene, calibration, IMU and query bodies are bigger than the API's default limit.
const CONTENT_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Ids one query or action may name.
const MAX_IDS: usize = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(projects::router())
        .merge(scenes::router())
        .merge(scene_queries::router())
        .merge(inputs::router())
        .merge(calibrations::router())
        .layer(DefaultBodyLimit::max(CONTENT_BODY_BYTES))
}

/// The signed upload URLs: they stream to the object store, whatever their size and
/// however long a slow link takes, so they have neither a body limit nor the API's
/// request timeout.
pub fn upload_router() -> OpenApiRouter<AppState> {
    uploads::router().layer(DefaultBodyLimit::disable())
}

/// `X-Dryrun` is sent with an empty value: its presence is what counts.
fn is_dryrun(headers: &HeaderMap) -> bool {
    headers.contains_key("x-dryrun")
}

/// The first value of a query parameter.
pub(crate) fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The `workspaceId` query parameter that creation calls carry.
pub(crate) fn workspace_param(raw: Option<&str>) -> Result<String, AppError> {
    query_param(raw, "workspaceId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            AppError::bad_request(
                "missing_workspace_id",
                "The query parameter `workspaceId` is required: the workspace to create in.",
            )
        })
}

/// A boolean query value; clients send `True`/`False`.
fn parse_bool(name: &str, text: &str) -> Result<bool, AppError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(AppError::bad_request(
            "invalid_parameter",
            format!("`{name}` must be true or false, not `{}`.", clip(text)),
        )),
    }
}

/// At most 64 characters of a value, for messages.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Project and batch keys appear in paths: letters, digits, `-`, `_` and `.`.
fn validate_key(kind: &str, key: &str) -> Result<(), AppError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "invalid_key",
            format!(
                "`{}` is not a valid {kind} key: use 1 to 128 letters, digits, `-`, `_` or `.`.",
                clip(key)
            ),
        ))
    }
}

/// A list of ids within [`MAX_IDS`], without duplicates, in the order given.
fn distinct_ids(field: &str, ids: &[String]) -> Result<Vec<String>, AppError> {
    if ids.len() > MAX_IDS {
        return Err(AppError::bad_request(
            "too_many_ids",
            format!(
                "`{field}` names {} ids; one call takes at most {MAX_IDS}. Split the list.",
                ids.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect())
}

fn workspace_resource(workspace: &WorkspaceRow) -> Resource<'_> {
    Resource::Workspace {
        id: &workspace.id,
        organization_id: workspace.organization_id,
    }
}

/// Every workspace the caller may read, in their organization (every organization for
/// the operator), narrowed by a credential's workspace limit.
async fn readable_workspaces(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<WorkspaceRow>, AppError> {
    Ok(crate::access::readable_workspaces(state, &caller.principal)
        .await?
        .into_iter()
        .map(|(workspace, _)| workspace)
        .collect())
}

/// The project with this key that the caller's organization has, if the caller may make
/// the route `access` in its workspace.
pub(crate) async fn project_for(
    state: &AppState,
    caller: &Caller,
    key: &str,
    access: &RouteAccess,
) -> Result<(ProjectRow, WorkspaceRow), AppError> {
    for project in state.store.projects_by_key(key).await? {
        let Some(workspace) = state.store.workspace(&project.workspace_id).await? else {
            continue;
        };
        if decide(
            &caller.principal,
            access.action,
            workspace_resource(&workspace),
        ) == Err(Denial::NotFound)
        {
            continue;
        }
        let workspace = caller
            .workspace(state, &workspace.id, access)
            .await
            .map_err(|error| hide_workspace(error, "project", key))?;
        return Ok((project, workspace));
    }
    Err(not_found("project", key))
}

/// The scene `uuid`, if the caller may make the route `access` in its workspace.
pub(crate) async fn scene_for(
    state: &AppState,
    caller: &Caller,
    uuid: &str,
    access: &RouteAccess,
) -> Result<(SceneRow, WorkspaceRow), AppError> {
    let scene = state
        .store
        .scene(uuid)
        .await?
        .ok_or_else(|| not_found("scene", uuid))?;
    let workspace = caller
        .workspace(state, &scene.workspace_id, access)
        .await
        .map_err(|error| hide_workspace(error, "scene", uuid))?;
    Ok((scene, workspace))
}

/// A 404 about a workspace, reported as the 404 of the resource the caller named.
pub(crate) fn hide_workspace(error: AppError, kind: &str, id: &str) -> AppError {
    match error {
        AppError::NotFound { .. } => not_found(kind, id),
        other => other,
    }
}

/// Where a person sees a scene.
fn view_link(state: &AppState, scene_uuid: &str) -> String {
    format!("{}/scenes/{scene_uuid}", state.public_url)
}

fn scene_wire(state: &AppState, scene: &SceneRow) -> Scene {
    content::Scene {
        uuid: scene.uuid.clone(),
        workspace_id: scene.workspace_id.clone(),
        external_id: scene.external_id.clone(),
        scene_type: scene.scene_type.clone(),
        status: scene.status.clone(),
        created: Timestamp(scene.created_at()),
        calibration_id: scene.calibration_id.clone(),
        view_link: Some(view_link(state, &scene.uuid)),
        error_message: scene.error_message.clone(),
    }
}

/// A JSON body that may also be absent (`Content-Length: 0`): absent means `{}`.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|error| {
        AppError::bad_request(
            "invalid_body",
            format!("The request body is not valid JSON for this call: {error}."),
        )
    })
}
