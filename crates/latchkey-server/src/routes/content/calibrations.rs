//! Calibrations (CONTRACT.md §3.11): created in a workspace, echoed back verbatim, with
//! `calibration_type` snake_case inside.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey_core::access::Action;
use latchkey_store::{CalibrationRow, NewCalibration as NewCalibrationRow};
use latchkey_types::content::{CALIBRATION_TYPES, CalibrationEntry, NewCalibration};
use latchkey_types::{Envelope, Timestamp};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{clip, hide_workspace, is_dryrun, query_param, readable_workspaces, workspace_param};
use crate::access::{Find, RouteAccess, not_found};
use crate::auth::Caller;
use crate::error::{ApiJson, AppError};
use crate::openapi::{BadRequest, CalibrationsAnswer, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const GET_CALIBRATIONS: RouteAccess = RouteAccess::new(
    Action::ReadWorkspace,
    Find::Calibrations,
    "reading a calibration",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_CALIBRATION: RouteAccess = RouteAccess::new(
    Action::WriteWorkspace,
    Find::WorkspaceInQuery,
    "creating a calibration",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_calibrations, create_calibration))
}

fn entry(row: &CalibrationRow) -> Result<CalibrationEntry, AppError> {
    let calibration: Map<String, Value> =
        serde_json::from_str(&row.calibration).map_err(anyhow::Error::from)?;
    Ok(CalibrationEntry {
        id: row.id.clone(),
        external_id: row.external_id.clone(),
        workspace_id: row.workspace_id.clone(),
        created: Timestamp(row.created_at()),
        calibration,
    })
}

fn validate(body: &NewCalibration) -> Result<(), AppError> {
    let invalid = |message: String| AppError::bad_request("invalid_calibration", message);
    if body.external_id.trim().is_empty() || body.external_id.len() > 1024 {
        return Err(invalid(
            "`externalId` must be 1 to 1024 characters.".to_owned(),
        ));
    }
    if body.calibration.is_empty() {
        return Err(invalid(
            "`calibration` needs at least one sensor.".to_owned(),
        ));
    }
    for (sensor, value) in &body.calibration {
        let Some(object) = value.as_object() else {
            return Err(invalid(format!(
                "The calibration of sensor `{}` must be an object.",
                clip(sensor)
            )));
        };
        match object.get("calibration_type").and_then(Value::as_str) {
            Some(kind) if CALIBRATION_TYPES.contains(&kind) => {}
            Some(kind) => {
                return Err(invalid(format!(
                    "Sensor `{}`: `calibration_type` `{}` is unknown; use one of {}.",
                    clip(sensor),
                    clip(kind),
                    CALIBRATION_TYPES.join(", ")
                )));
            }
            None => {
                return Err(invalid(format!(
                    "Sensor `{}` needs `calibration_type` (snake_case), one of {}.",
                    clip(sensor),
                    CALIBRATION_TYPES.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `POST v1/calibrations?workspaceId=`. The same external id with the same content in
/// the same workspace answers the existing calibration (the client retries POSTs).
#[utoipa::path(
    post,
    path = "/v1/calibrations",
    tag = "Calibrations",
    summary = "Create a calibration",
    description = "Stores the calibrations of a set of sensors, by sensor name. Each value \
        is snake_case inside and carries `calibration_type` (`pinhole`, `fisheye`, \
        `kannala`, `lidar`, `principal_point_distortion`, `fused_cylindrical`, \
        `cylindrical`, `principal_point_fisheye` or `custom`). The same external id with \
        the same content in the same workspace answers the existing calibration.",
    params(
        ("workspaceId" = String, Query, description = "The workspace to create in."),
        ("X-Dryrun" = Option<String>, Header, description = "Present (any value, even empty): validate, change nothing, answer 204."),
    ),
    request_body = NewCalibration,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new calibration.", body = Envelope<CalibrationEntry>),
        (status = 200, description = "The same calibration existed already.",
            body = Envelope<CalibrationEntry>),
        (status = 204, description = "Dry run: valid, nothing changed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_calibration(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<NewCalibration>,
) -> Result<Response, AppError> {
    let workspace_id = workspace_param(query.as_deref())?;
    let workspace = caller
        .workspace(&state, &workspace_id, &CREATE_CALIBRATION)
        .await?;
    validate(&body)?;
    let json = Value::Object(body.calibration.clone());
    let same = state
        .store
        .calibrations(std::slice::from_ref(&workspace.id), Some(&body.external_id))
        .await?
        .into_iter()
        .find(|row| {
            serde_json::from_str::<Value>(&row.calibration)
                .ok()
                .as_ref()
                == Some(&json)
        });
    if let Some(row) = same {
        return Ok(Json(Envelope { data: entry(&row)? }).into_response());
    }
    if is_dryrun(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let row = state
        .store
        .create_calibration(&NewCalibrationRow {
            id: uuid::Uuid::new_v4().to_string(),
            workspace_id: workspace.id.clone(),
            external_id: body.external_id.clone(),
            calibration: json.to_string(),
            created_at: state.now(),
        })
        .await?;
    tracing::info!(calibration.id = %row.id, workspace.id = %workspace.id, "created a calibration");
    Ok((StatusCode::CREATED, Json(Envelope { data: entry(&row)? })).into_response())
}

/// `GET v1/calibrations[?externalId=]` lists what the caller may read;
/// `GET v1/calibrations?id=` answers one calibration (not a list) or 404.
#[utoipa::path(
    get,
    path = "/v1/calibrations",
    tag = "Calibrations",
    summary = "Get calibrations",
    description = "With `id`: that one calibration (not a list), or 404. Without: the \
        calibrations of every workspace the caller may read, optionally with one external \
        id.",
    params(
        ("id" = Option<String>, Query, description = "One calibration's id."),
        ("externalId" = Option<String>, Query, description = "Only calibrations with this \
            external id."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "One calibration with `id`, otherwise a list.",
            body = CalibrationsAnswer),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn get_calibrations(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    if let Some(id) = query_param(query.as_deref(), "id") {
        let row = state
            .store
            .calibration(&id)
            .await?
            .ok_or_else(|| not_found("calibration", &id))?;
        caller
            .workspace(&state, &row.workspace_id, &GET_CALIBRATIONS)
            .await
            .map_err(|error| hide_workspace(error, "calibration", &id))?;
        return Ok(Json(Envelope { data: entry(&row)? }).into_response());
    }
    let external_id = query_param(query.as_deref(), "externalId");
    let workspaces: Vec<String> = readable_workspaces(&state, &caller)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let rows = state
        .store
        .calibrations(&workspaces, external_id.as_deref())
        .await?;
    let entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Envelope { data: entries }).into_response())
}
