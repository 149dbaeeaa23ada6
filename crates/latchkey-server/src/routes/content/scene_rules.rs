//! What a scene of each type must hold: the scene types of the creation paths and the
//! checks of a scene body against its type. Pure rules, no IO; `scenes` asks them
//! before it stores anything.

use std::collections::{HashMap, HashSet};

use latchkey_types::content::{NewScene, SceneResource};

use super::clip;
use crate::error::AppError;

/// The scene types, by the kebab-case name of their creation path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "kebab-case")]
pub(crate) enum SceneType {
    Cameras,
    LidarsAndCameras,
    CamerasSequence,
    LidarsAndCamerasSequence,
    Lidars,
    LidarsSequence,
    AggregatedLidarsAndCamerasSequence,
}

impl SceneType {
    const ALL: [SceneType; 7] = [
        SceneType::Cameras,
        SceneType::LidarsAndCameras,
        SceneType::CamerasSequence,
        SceneType::LidarsAndCamerasSequence,
        SceneType::Lidars,
        SceneType::LidarsSequence,
        SceneType::AggregatedLidarsAndCamerasSequence,
    ];

    fn path(self) -> &'static str {
        match self {
            SceneType::Cameras => "cameras",
            SceneType::LidarsAndCameras => "lidars-and-cameras",
            SceneType::CamerasSequence => "cameras-sequence",
            SceneType::LidarsAndCamerasSequence => "lidars-and-cameras-sequence",
            SceneType::Lidars => "lidars",
            SceneType::LidarsSequence => "lidars-sequence",
            SceneType::AggregatedLidarsAndCamerasSequence => {
                "aggregated-lidars-and-cameras-sequence"
            }
        }
    }

    /// The name in scene bodies and summaries: snake_case.
    pub(super) fn name(self) -> String {
        self.path().replace('-', "_")
    }

    pub(crate) fn parse(path: &str) -> Result<SceneType, AppError> {
        SceneType::ALL
            .into_iter()
            .find(|t| t.path() == path)
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "`{}` is not a scene type. Scenes are created at v1/inputs/<type> with one \
                     of: {}.",
                    clip(path),
                    SceneType::ALL.map(SceneType::path).join(", ")
                ))
            })
    }

    fn is_sequence(self) -> bool {
        matches!(
            self,
            SceneType::CamerasSequence
                | SceneType::LidarsAndCamerasSequence
                | SceneType::LidarsSequence
                | SceneType::AggregatedLidarsAndCamerasSequence
        )
    }

    fn needs_calibration(self) -> bool {
        matches!(
            self,
            SceneType::LidarsAndCameras
                | SceneType::LidarsAndCamerasSequence
                | SceneType::AggregatedLidarsAndCamerasSequence
        )
    }

    /// (images allowed, images required per frame, point clouds allowed, required).
    fn sensors(self) -> (bool, bool, bool, bool) {
        match self {
            SceneType::Cameras | SceneType::CamerasSequence => (true, true, false, false),
            SceneType::Lidars | SceneType::LidarsSequence => (false, false, true, true),
            SceneType::LidarsAndCameras => (true, true, true, true),
            SceneType::LidarsAndCamerasSequence | SceneType::AggregatedLidarsAndCamerasSequence => {
                (true, false, true, true)
            }
        }
    }
}

pub(super) fn invalid(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::bad_request(code, message)
}

/// Checks a scene body against its type; answers the distinct resource ids to upload.
pub(super) fn validate_scene(
    scene_type: SceneType,
    body: &NewScene,
) -> Result<Vec<String>, AppError> {
    let kind = scene_type.path();
    if body.external_id.trim().is_empty() || body.external_id.len() > 1024 {
        return Err(invalid(
            "invalid_external_id",
            "`externalId` must be 1 to 1024 characters.",
        ));
    }
    for (key, value) in &body.metadata {
        if value.is_object() || value.is_array() || value.is_null() {
            return Err(invalid(
                "invalid_metadata",
                format!(
                    "`metadata.{}` must be a string, number or boolean; metadata is flat.",
                    clip(key)
                ),
            ));
        }
    }
    if scene_type.needs_calibration() && body.calibration_id.is_none() {
        return Err(invalid(
            "missing_calibration",
            format!("A {kind} scene needs `calibrationId`."),
        ));
    }
    // Each frame as (frame id, images, point clouds).
    let frames: Vec<(String, &[SceneResource], &[SceneResource])> = if scene_type.is_sequence() {
        if body.frame.is_some() {
            return Err(invalid(
                "invalid_frames",
                format!("A {kind} scene has `frames`, not `frame`."),
            ));
        }
        let frames = body.frames.as_deref().unwrap_or_default();
        if frames.is_empty() {
            return Err(invalid(
                "invalid_frames",
                format!("A {kind} scene needs at least one frame in `frames`."),
            ));
        }
        let mut ids = HashSet::new();
        let mut previous = i64::MIN;
        for frame in frames {
            if frame.frame_id.is_empty() || !ids.insert(frame.frame_id.as_str()) {
                return Err(invalid(
                    "invalid_frames",
                    format!(
                        "Frame ids must be non-empty and unique; `{}` is not.",
                        clip(&frame.frame_id)
                    ),
                ));
            }
            if frame.relative_timestamp < 0 || frame.relative_timestamp < previous {
                return Err(invalid(
                    "invalid_frames",
                    format!(
                        "Frame `{}`: `relativeTimestamp` must be zero or more and never less \
                         than the previous frame's.",
                        clip(&frame.frame_id)
                    ),
                ));
            }
            previous = frame.relative_timestamp;
            if scene_type == SceneType::AggregatedLidarsAndCamerasSequence
                && frame.ego_vehicle_pose.is_none()
            {
                return Err(invalid(
                    "invalid_frames",
                    format!("Frame `{}` needs `egoVehiclePose`.", clip(&frame.frame_id)),
                ));
            }
        }
        frames
            .iter()
            .map(|f| {
                (
                    f.frame_id.clone(),
                    f.images.as_slice(),
                    f.point_clouds.as_slice(),
                )
            })
            .collect()
    } else {
        if body.frames.is_some() {
            return Err(invalid(
                "invalid_frames",
                format!("A {kind} scene has one `frame`, not `frames`."),
            ));
        }
        let frame = body
            .frame
            .as_ref()
            .ok_or_else(|| invalid("invalid_frames", format!("A {kind} scene needs `frame`.")))?;
        vec![(
            "frame".to_owned(),
            frame.images.as_slice(),
            frame.point_clouds.as_slice(),
        )]
    };
    let (images_allowed, images_required, clouds_allowed, clouds_required) = scene_type.sensors();
    let mut resources: Vec<String> = Vec::new();
    let mut filenames: HashMap<&str, &str> = HashMap::new();
    for (frame_id, images, clouds) in &frames {
        let problem = if !images_allowed && !images.is_empty() {
            Some("has images, which")
        } else if images_required && images.is_empty() {
            Some("has no images, which")
        } else if !clouds_allowed && !clouds.is_empty() {
            Some("has point clouds, which")
        } else if clouds_required && clouds.is_empty() {
            Some("has no point clouds, which")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(invalid(
                "invalid_frames",
                format!(
                    "Frame `{}` {problem} a {kind} scene does not allow.",
                    clip(frame_id)
                ),
            ));
        }
        for resource in images.iter().chain(clouds.iter()) {
            if resource.resource_id.is_empty() || resource.resource_id.len() > 1024 {
                return Err(invalid(
                    "invalid_resource",
                    "Every `resourceId` must be 1 to 1024 characters.",
                ));
            }
            match filenames.insert(&resource.resource_id, &resource.filename) {
                None => resources.push(resource.resource_id.clone()),
                Some(other) if other == resource.filename => {}
                Some(_) => {
                    return Err(invalid(
                        "invalid_resource",
                        format!(
                            "`resourceId` `{}` names two different files.",
                            clip(&resource.resource_id)
                        ),
                    ));
                }
            }
        }
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_type_names_are_the_snake_case_of_their_paths() {
        assert_eq!(SceneType::LidarsAndCameras.name(), "lidars_and_cameras");
        assert_eq!(
            SceneType::parse("aggregated-lidars-and-cameras-sequence").ok(),
            Some(SceneType::AggregatedLidarsAndCamerasSequence)
        );
        assert!(SceneType::parse("Cameras").is_err());
    }

    #[test]
    fn the_described_scene_types_are_the_creation_paths() {
        let schema =
            serde_json::to_value(<SceneType as utoipa::PartialSchema>::schema()).expect("schema");
        let described: Vec<&str> = schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert_eq!(described, SceneType::ALL.map(SceneType::path));
    }
}
