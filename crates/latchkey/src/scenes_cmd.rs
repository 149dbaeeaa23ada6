//! `latchkey scenes upload`: a single-frame scene from local files, the way the
//! `kognic-io` client makes one (CONTRACT.md §3.6–3.7): initialize, create, upload each
//! file to its signed URL, commit.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latchkey_client::{Client, ScenePlacement, resource_id};
use latchkey_types::content::{NewScene, SceneFrame, SceneResource};
use serde::Serialize;

use crate::client_args::ClientArgs;
use crate::tools::Output;

/// Files at least this large get a progress bar (when standard error is a terminal).
const PROGRESS_THRESHOLD: u64 = 8 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct ScenesArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: ScenesCommand,
}

#[derive(Debug, Subcommand)]
enum ScenesCommand {
    /// Create a scene from local images (and point clouds) and upload its files.
    ///
    /// Needs write access to the workspace (the developer or admin role there, and the
    /// api:write scope). Prints the scene's uuid and where to view it.
    Upload(UploadArgs),
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// The workspace id to create the scene in.
    #[arg(long, value_name = "WORKSPACE_ID")]
    workspace: String,
    /// Your name for the scene (its external id).
    #[arg(long)]
    external_id: String,
    /// Place the scene in this project (its latest open batch unless --batch).
    #[arg(long)]
    project: Option<String>,
    /// Place the scene in this open batch of --project.
    #[arg(long, requires = "project")]
    batch: Option<String>,
    /// The calibration id of the workspace; required for lidars-and-cameras.
    #[arg(long, value_name = "CALIBRATION_ID")]
    calibration: Option<String>,
    /// The scene type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    scene_type: SceneType,
    /// A camera image as SENSOR=PATH (repeatable), such as CAM=front.png.
    #[arg(long = "image", value_name = "SENSOR=PATH", value_parser = parse_sensor_file, required = true)]
    images: Vec<SensorFile>,
    /// A point cloud as SENSOR=PATH (repeatable), such as lidar=scan.pcd.
    #[arg(long = "point-cloud", value_name = "SENSOR=PATH", value_parser = parse_sensor_file)]
    point_clouds: Vec<SensorFile>,
    /// `json` prints the scene's uuid, status and view link as JSON.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SceneType {
    /// Camera images only.
    Cameras,
    /// Camera images and point clouds, with a calibration.
    LidarsAndCameras,
}

impl SceneType {
    fn path(self) -> &'static str {
        match self {
            SceneType::Cameras => "cameras",
            SceneType::LidarsAndCameras => "lidars-and-cameras",
        }
    }
}

#[derive(Debug, Clone)]
struct SensorFile {
    sensor: String,
    path: PathBuf,
}

fn parse_sensor_file(text: &str) -> Result<SensorFile, String> {
    match text.split_once('=') {
        Some((sensor, path)) if !sensor.is_empty() && !path.is_empty() => Ok(SensorFile {
            sensor: sensor.to_owned(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!(
            "`{text}` is not SENSOR=PATH (such as CAM=front.png)"
        )),
    }
}

/// A file checked before anything is sent: it exists, is a non-empty regular file, and
/// has a UTF-8 name for the scene (its `filename` and `resourceId`): the path as given
/// when it is relative and stays below the current folder, else the file's name. A
/// local absolute path would tell the platform about this machine's folders.
#[derive(Debug)]
struct LocalFile {
    sensor: String,
    path: PathBuf,
    filename: String,
    size: u64,
}

fn check_file(file: &SensorFile) -> anyhow::Result<LocalFile> {
    let shown = file.path.display();
    let path = std::fs::canonicalize(&file.path).with_context(|| format!("{shown}"))?;
    let metadata = std::fs::metadata(&path).with_context(|| format!("{shown}"))?;
    if !metadata.is_file() {
        anyhow::bail!("{shown} is not a file");
    }
    if metadata.len() == 0 {
        anyhow::bail!("{shown} is empty");
    }
    let below = file.path.is_relative()
        && file.path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    let name = if below {
        file.path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        path.file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned()
    };
    let utf8 = file.path.to_str().is_some() && !name.is_empty();
    if !utf8 {
        anyhow::bail!("{shown}: the path is not valid UTF-8");
    }
    let filename = name;
    Ok(LocalFile {
        sensor: file.sensor.clone(),
        path,
        filename,
        size: metadata.len(),
    })
}

fn resources(files: &[LocalFile]) -> Vec<SceneResource> {
    files
        .iter()
        .map(|f| SceneResource {
            filename: f.filename.clone(),
            resource_id: resource_id(&f.filename),
            sensor_name: Some(f.sensor.clone()),
            metadata: None,
        })
        .collect()
}

/// What `--output json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    scene_uuid: String,
    external_id: String,
    status: String,
    view_link: Option<String>,
    request_input_uuid: Option<String>,
    files: usize,
    bytes: u64,
}

pub async fn run(args: ScenesArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    match args.command {
        ScenesCommand::Upload(upload_args) => upload(&client, upload_args).await,
    }
}

async fn upload(client: &Client, args: UploadArgs) -> anyhow::Result<()> {
    // Every file is checked before the server hears of the scene, so a typo costs
    // nothing on the server.
    let images = args
        .images
        .iter()
        .map(check_file)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let point_clouds = args
        .point_clouds
        .iter()
        .map(check_file)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut names = std::collections::BTreeSet::new();
    for file in images.iter().chain(&point_clouds) {
        if !names.insert(file.filename.as_str()) {
            anyhow::bail!(
                "two files would both be named {} in the scene; give them as paths \
                 relative to one folder (run the command there), such as cam/{0} and \
                 lidar/{0}",
                file.filename
            );
        }
    }
    match args.scene_type {
        SceneType::Cameras if !point_clouds.is_empty() => {
            anyhow::bail!("a cameras scene has no point clouds; use --type lidars-and-cameras")
        }
        SceneType::LidarsAndCameras if point_clouds.is_empty() => {
            anyhow::bail!("a lidars-and-cameras scene needs at least one --point-cloud")
        }
        SceneType::LidarsAndCameras if args.calibration.is_none() => {
            anyhow::bail!(
                "a lidars-and-cameras scene needs --calibration (a calibration id of the \
                 workspace)"
            )
        }
        _ => {}
    }

    let uuid = client.initialize_scene(&args.workspace).await?;
    let scene = NewScene {
        external_id: args.external_id.clone(),
        internal_id: uuid.clone(),
        frame: Some(SceneFrame {
            images: resources(&images),
            point_clouds: resources(&point_clouds),
            unix_timestamp: None,
        }),
        frames: None,
        calibration_id: args.calibration.clone(),
        metadata: serde_json::Map::new(),
        imu_data: None,
        // What the Python client always sends.
        feature_flags: Some(serde_json::Map::from_iter([(
            "shouldMotionCompensate".to_owned(),
            serde_json::Value::Bool(true),
        )])),
        sensor_specification: None,
    };
    let placement = ScenePlacement {
        workspace_id: &args.workspace,
        project: args.project.as_deref(),
        batch: args.batch.as_deref(),
    };
    let job = client
        .create_scene(placement, args.scene_type.path(), &scene)
        .await?;

    let mut bytes = 0;
    let files: Vec<&LocalFile> = images.iter().chain(&point_clouds).collect();
    for file in &files {
        let id = resource_id(&file.filename);
        let url = job.files.get(&id).with_context(|| {
            format!("the server gave no upload URL for {id}; scene {uuid} stays pending")
        })?;
        bytes += upload_one(client, url, file).await?;
    }
    let created = client.commit_scene(&uuid).await?;
    match args.output {
        Output::Json => {
            let answer = Uploaded {
                scene_uuid: created.uuid,
                external_id: created.external_id,
                status: created.status,
                view_link: created.view_link,
                request_input_uuid: job.request_input_uuid,
                files: files.len(),
                bytes,
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        Output::Text => {
            println!("Created scene {} ({}).", created.uuid, created.status);
            if let Some(link) = &created.view_link {
                println!("View it at {link}");
            }
        }
    }
    Ok(())
}

/// Uploads one file, with a progress bar when it is large and someone is watching.
async fn upload_one(client: &Client, url: &str, file: &LocalFile) -> anyhow::Result<u64> {
    let bar = (file.size >= PROGRESS_THRESHOLD && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(file.size);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(short_name(&file.path));
        bar
    });
    let report = bar.clone();
    let result = client
        .upload_file(url, &file.path, move |sent| {
            if let Some(bar) = &report {
                bar.set_position(sent);
            }
        })
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(result?)
}

fn short_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
