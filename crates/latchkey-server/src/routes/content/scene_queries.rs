//! Scenes once they exist: query by uuid or external id, one scene's summary, and
//! invalidation (CONTRACT.md §3.9).

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use latchkey_core::access::{Action, Denial, decide};
use latchkey_store::SceneRow;
use latchkey_types::content::{
    InvalidateScenes, NewScene, Scene, SceneQuery, SceneResource, SceneSummary,
};
use latchkey_types::{Envelope, Timestamp};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::scene_rules::invalid;
use super::{clip, distinct_ids, is_dryrun, parse_bool, query_param, scene_for, scene_wire};
use crate::access::{Find, RouteAccess, not_found};
use crate::auth::Caller;
use crate::error::{ApiJson, ApiPath, AppError};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const QUERY_SCENES: RouteAccess =
    RouteAccess::new(Action::ReadWorkspace, Find::Scenes, "reading scenes");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const INVALIDATE_SCENES: RouteAccess =
    RouteAccess::new(Action::WriteWorkspace, Find::Scenes, "invalidating scenes");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_SCENE: RouteAccess =
    RouteAccess::new(Action::ReadWorkspace, Find::Scene, "reading a scene");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query_scenes))
        .routes(routes!(invalidate_scenes))
        .routes(routes!(get_scene_summary))
}

/// The scenes of `rows` the caller may read; a scene of a workspace the caller cannot
/// read in their own organization is a 403 that says why.
async fn readable(
    state: &AppState,
    caller: &Caller,
    rows: Vec<SceneRow>,
    access: &RouteAccess,
) -> Result<Vec<SceneRow>, AppError> {
    let mut checked: HashMap<String, bool> = HashMap::new();
    let mut out = Vec::new();
    for row in rows {
        let allowed = match checked.get(&row.workspace_id) {
            Some(allowed) => *allowed,
            None => {
                let allowed = match caller.workspace(state, &row.workspace_id, access).await {
                    Ok(_) => true,
                    Err(AppError::NotFound { .. }) => false,
                    Err(other) => return Err(other),
                };
                checked.insert(row.workspace_id.clone(), allowed);
                allowed
            }
        };
        if allowed {
            out.push(row);
        }
    }
    Ok(out)
}

/// `POST v2/scenes/query`: scenes by uuid or by external id; 404 when any has no match.
#[utoipa::path(
    post,
    path = "/v2/scenes/query",
    tag = "Scenes",
    summary = "Query scenes",
    description = "Scenes by uuid or by external id (exactly one of the two, at most \
        10,000), in the order asked. 404 when any has no match the caller can see.",
    request_body = SceneQuery,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The scenes.", body = Envelope<Vec<Scene>>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn query_scenes(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SceneQuery>,
) -> Result<Json<Envelope<Vec<Scene>>>, AppError> {
    let scenes = match (&body.scene_uuids, &body.external_ids) {
        (Some(uuids), None) => {
            let uuids = distinct_ids("sceneUuids", uuids)?;
            let rows = state.store.scenes_by_uuids(&uuids).await?;
            let rows = readable(&state, &caller, rows, &QUERY_SCENES).await?;
            let found: HashSet<&str> = rows.iter().map(|r| r.uuid.as_str()).collect();
            if let Some(missing) = uuids.iter().find(|u| !found.contains(u.as_str())) {
                return Err(not_found("scene", missing));
            }
            let mut by_uuid: HashMap<String, SceneRow> =
                rows.into_iter().map(|r| (r.uuid.clone(), r)).collect();
            uuids
                .iter()
                .filter_map(|u| by_uuid.remove(u))
                .collect::<Vec<_>>()
        }
        (None, Some(external_ids)) => {
            let external_ids = distinct_ids("externalIds", external_ids)?;
            let all = state.store.scenes_by_external_ids(&external_ids).await?;
            let decision = |r: &SceneRow| {
                decide(
                    &caller.principal,
                    QUERY_SCENES.action,
                    latchkey_core::access::Resource::Workspace {
                        id: &r.workspace_id,
                        organization_id: r.organization_id,
                    },
                )
            };
            let rows: Vec<SceneRow> = all
                .iter()
                .filter(|r| decision(r).is_ok())
                .cloned()
                .collect();
            let found: HashSet<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
            if let Some(missing) = external_ids.iter().find(|e| !found.contains(e.as_str())) {
                // A match in the caller's own organization that they may not read gets
                // the explanatory 403, as a uuid query would; elsewhere it does not exist.
                let refused = all.iter().find(|r| {
                    r.external_id == *missing
                        && matches!(decision(r), Err(denial) if denial != Denial::NotFound)
                });
                if let Some(row) = refused {
                    caller
                        .workspace(&state, &row.workspace_id, &QUERY_SCENES)
                        .await?;
                }
                return Err(AppError::not_found(format!(
                    "There is no scene with the external id `{}`, or you cannot see it.",
                    clip(missing)
                )));
            }
            rows
        }
        _ => {
            return Err(invalid(
                "invalid_query",
                "Send exactly one of `sceneUuids` and `externalIds`.",
            ));
        }
    };
    Ok(Json(Envelope {
        data: scenes.iter().map(|s| scene_wire(&state, s)).collect(),
    }))
}

/// `GET v2/scenes/{uuid}?includeInvalidated=False`: what the scene holds.
#[utoipa::path(
    get,
    path = "/v2/scenes/{uuid}",
    tag = "Scenes",
    summary = "Get a scene",
    description = "What the scene holds: its sensors, frame times and metadata. An \
        invalidated scene is 404 unless asked for with `includeInvalidated=true`.",
    params(
        ("uuid" = String, Path, description = "The scene uuid."),
        ("includeInvalidated" = Option<bool>, Query, description = "Also answer an \
            invalidated scene. `true`/`false`, any case."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The scene's summary.", body = Envelope<SceneSummary>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn get_scene_summary(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<SceneSummary>>, AppError> {
    let include_invalidated = match query_param(query.as_deref(), "includeInvalidated") {
        Some(text) => parse_bool("includeInvalidated", &text)?,
        None => false,
    };
    let (scene, _) = scene_for(&state, &caller, &uuid, &GET_SCENE).await?;
    if scene.status.starts_with("invalidated") && !include_invalidated {
        return Err(AppError::not_found(format!(
            "Scene {uuid} is invalidated ({}); ask with includeInvalidated=true to see it.",
            scene.status
        )));
    }
    let body: NewScene = serde_json::from_str(&scene.body).map_err(anyhow::Error::from)?;
    let mut cameras = Vec::new();
    let mut lidars = Vec::new();
    let mut relative_times = Vec::new();
    let mut add = |images: &[SceneResource], clouds: &[SceneResource]| {
        for image in images {
            let name = image
                .sensor_name
                .clone()
                .unwrap_or_else(|| "CAM".to_owned());
            if !cameras.contains(&name) {
                cameras.push(name);
            }
        }
        for cloud in clouds {
            let name = cloud
                .sensor_name
                .clone()
                .unwrap_or_else(|| "lidar".to_owned());
            if !lidars.contains(&name) {
                lidars.push(name);
            }
        }
    };
    if let Some(frame) = &body.frame {
        add(&frame.images, &frame.point_clouds);
        relative_times.push(0);
    }
    for frame in body.frames.iter().flatten() {
        add(&frame.images, &frame.point_clouds);
        relative_times.push(frame.relative_timestamp);
    }
    let motion_compensation = body
        .feature_flags
        .as_ref()
        .and_then(|f| f.get("shouldMotionCompensate"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let metadata = match serde_json::from_str::<Value>(&scene.metadata) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Ok(Json(Envelope {
        data: SceneSummary {
            scene_uuid: scene.uuid.clone(),
            external_id: scene.external_id.clone(),
            workspace_id: scene.workspace_id.clone(),
            created: Timestamp(scene.created_at()),
            calibration_id: scene.calibration_id.clone(),
            frame_relative_times: relative_times,
            is_multi_sensor: !lidars.is_empty() && !cameras.is_empty(),
            is_motion_compensated: motion_compensation && !lidars.is_empty(),
            lidars,
            cameras,
            scene_type: scene.scene_type.clone(),
            metadata,
        },
    }))
}

/// `POST v2/scenes/actions/invalidate`: every named scene must exist and be writable;
/// then all are invalidated together.
#[utoipa::path(
    post,
    path = "/v2/scenes/actions/invalidate",
    tag = "Scenes",
    summary = "Invalidate scenes",
    description = "Every named scene must exist and be writable by the caller; then all \
        are invalidated together, with the reason as their status.",
    params(("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),),
    request_body = InvalidateScenes,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Invalidated (or, with `X-Dryrun`, valid)."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn invalidate_scenes(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<InvalidateScenes>,
) -> Result<StatusCode, AppError> {
    let uuids = distinct_ids("sceneUuids", &body.scene_uuids)?;
    if uuids.is_empty() {
        return Err(invalid("invalid_query", "`sceneUuids` names no scene."));
    }
    let rows = state.store.scenes_by_uuids(&uuids).await?;
    let rows = readable(&state, &caller, rows, &INVALIDATE_SCENES).await?;
    let found: HashSet<&str> = rows.iter().map(|r| r.uuid.as_str()).collect();
    if let Some(missing) = uuids.iter().find(|u| !found.contains(u.as_str())) {
        return Err(not_found("scene", missing));
    }
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT);
    }
    state
        .store
        .invalidate_scenes(&uuids, body.reason.status(), state.now())
        .await?;
    tracing::info!(
        scenes = uuids.len(),
        reason = body.reason.status(),
        "invalidated scenes"
    );
    Ok(StatusCode::NO_CONTENT)
}
