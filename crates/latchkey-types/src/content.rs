//! Workspace content as the `kognic-io` client sends and reads it (CONTRACT.md §3):
//! projects, batches, scenes, IMU data, inputs and calibrations.
//!
//! Requests ignore unknown fields (clients add fields over time); nanosecond times are
//! `i64`, never floats, because they exceed 2^53. Enums are strict and case-sensitive.
//! Free-form JSON the server keeps as is (metadata, calibrations, poses) is
//! `serde_json::Value`, which keeps large integers exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;

/// `GET v1/projects`, `POST v1/projects`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// The key used in every path.
    pub project: String,
    pub title: String,
    /// Never null: the client requires a string.
    pub description: String,
    pub status: String,
    pub created: Timestamp,
    pub workspace_id: String,
}

/// `POST v1/projects`: "start a new project".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewProject {
    pub project: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub workspace_id: String,
}

/// A batch of a project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProjectBatch {
    pub project: String,
    pub batch: String,
    pub title: String,
    /// `open` until published, then `ready`.
    pub status: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// `POST v1/projects/{project}/batches/{batch}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewBatch {
    /// Publish the project's other open batches.
    #[serde(default)]
    pub publish_previous_batches: bool,
}

/// `POST v1/inputs/initialize`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InitializeScene {
    pub workspace_id: String,
}

/// The answer to `v1/inputs/initialize`: the uuid the scene will have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneInitialized {
    pub scene_uuid: String,
}

/// A file of a scene as the client names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneResource {
    /// The client's local path.
    pub filename: String,
    /// The key of `files` in the answer.
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The one frame of a single-frame scene (`cameras`, `lidars`, `lidars-and-cameras`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneFrame {
    #[serde(default)]
    pub images: Vec<SceneResource>,
    #[serde(default)]
    pub point_clouds: Vec<SceneResource>,
    /// Nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_timestamp: Option<i64>,
}

/// A frame of a sequence scene.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SequenceFrame {
    pub frame_id: String,
    /// Milliseconds from the first frame.
    pub relative_timestamp: i64,
    #[serde(default)]
    pub images: Vec<SceneResource>,
    #[serde(default)]
    pub point_clouds: Vec<SceneResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ego_vehicle_pose: Option<Value>,
}

/// `POST v1/inputs/{type}` (and its project and batch variants): one body for every
/// scene type; which of `frame` and `frames` is required depends on the type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewScene {
    pub external_id: String,
    /// The uuid from `v1/inputs/initialize`.
    pub internal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<SceneFrame>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<SequenceFrame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_id: Option<String>,
    /// Flat: string, number and boolean values only.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The `resourceId` answered by `v1/imu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imu_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_flags: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_specification: Option<Value>,
}

/// The answer to a scene creation (`SceneJobCreated`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneJobCreated {
    pub internal_id: String,
    /// `resourceId` → absolute signed upload URL; all of the scene's files or none.
    pub files: BTreeMap<String, String>,
    pub request_input_uuid: Option<String>,
}

/// `POST v1/imu`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewImuData {
    pub imu_data: Vec<ImuSample>,
    pub internal_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImuSample {
    pub position: Position,
    pub rotation_quaternion: RotationQuaternion,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotationQuaternion {
    pub w: f64,
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// The answer to `v1/imu`: what the scene's `imuData` names. The data came in the
/// request, so there is nothing to upload and `signedUrl` is null.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImuDataAccepted {
    pub resource_id: String,
    pub signed_url: Option<String>,
}

/// A scene as `v2/scenes/query` answers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Scene {
    pub uuid: String,
    pub workspace_id: String,
    pub external_id: String,
    /// snake_case (`lidars_and_cameras`).
    pub scene_type: String,
    /// `pending`, `created`, `invalidated:broken-input`, …
    pub status: String,
    pub created: Timestamp,
    pub calibration_id: Option<String>,
    pub view_link: Option<String>,
    pub error_message: Option<String>,
}

/// `POST v2/scenes/query`: by uuids or by external ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_uuids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<String>>,
}

/// `GET v2/scenes/{uuid}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SceneSummary {
    pub scene_uuid: String,
    pub external_id: String,
    pub workspace_id: String,
    pub created: Timestamp,
    pub calibration_id: Option<String>,
    pub frame_relative_times: Vec<i64>,
    pub lidars: Vec<String>,
    pub cameras: Vec<String>,
    pub scene_type: String,
    pub is_multi_sensor: bool,
    pub is_motion_compensated: bool,
    /// Flat; never null.
    pub metadata: Map<String, Value>,
}

/// Why scenes are invalidated.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum InvalidatedReason {
    BadContent,
    Duplicate,
    IncorrectlyCreated,
}

impl InvalidatedReason {
    /// The scene status it leads to.
    pub fn status(self) -> &'static str {
        match self {
            InvalidatedReason::BadContent => "invalidated:broken-input",
            InvalidatedReason::Duplicate => "invalidated:duplicate",
            InvalidatedReason::IncorrectlyCreated => "invalidated:incorrectly-created",
        }
    }
}

/// `POST v2/scenes/actions/invalidate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InvalidateScenes {
    pub scene_uuids: Vec<String>,
    pub reason: InvalidatedReason,
}

/// An input: a scene placed in a project's batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub uuid: String,
    pub scene_uuid: String,
    /// `project:batch`.
    pub request_uid: String,
    pub scene_external_id: String,
    pub view_link: String,
}

/// `POST v1/inputs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewInputV1 {
    pub scene_uuid: String,
    pub project: String,
    /// The latest open batch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

/// `POST v2/inputs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewInputV2 {
    pub scene_uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_annotation_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_ext_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_ext_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uuid: Option<String>,
}

/// `POST v2/inputs/query`; every present filter must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InputQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_uuids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<String>>,
}

/// A page of a paginated answer: `{"data": […], "metadata": {"nextCursorId": …}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub data: Vec<T>,
    pub metadata: PageMetadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PageMetadata {
    /// Send as `?cursorId=` for the next page; null on the last page.
    pub next_cursor_id: Option<i64>,
}

/// `POST v1/calibrations`: calibrations by sensor name; each value is snake_case
/// inside and carries `calibration_type`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewCalibration {
    pub external_id: String,
    pub calibration: Map<String, Value>,
}

/// A stored calibration (`SensorCalibrationEntry`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CalibrationEntry {
    pub id: String,
    pub external_id: String,
    pub workspace_id: String,
    pub created: Timestamp,
    /// Echoed as it was sent.
    pub calibration: Map<String, Value>,
}

/// The calibration types the clients know (`calibration_type`).
pub const CALIBRATION_TYPES: [&str; 9] = [
    "pinhole",
    "fisheye",
    "kannala",
    "lidar",
    "principal_point_distortion",
    "fused_cylindrical",
    "cylindrical",
    "principal_point_fisheye",
    "custom",
];
