//! The unmodified `kognic-io` client from PyPI against the real server: the "Done
//! when" flow of issue 3, with every host pointed at the server.
//!
//! The client is installed once into `target/python-venv-kognic-io` (reused while it
//! holds the pinned version). Without `python3` or PyPI this test fails with the
//! reason; it never skips.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use latchkey_core::access::OrganizationRole;
use latchkey_store::{NewWorkspace, Store};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::harness::TestApp;
use crate::python;

/// The version CONTRACT.md was written against.
const KOGNIC_IO_VERSION: &str = "2.19.0";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
const PASSWORD: &str = "a long enough password";

#[tokio::test]
async fn kognic_io_creates_batches_scenes_inputs_and_calibrations() {
    let venv = kognic_io_venv().await;
    let app = TestApp::spawn().await;
    let url = app.database.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            app.data_dir.path().join("latchkey.db").display()
        )
    });
    let store = Store::connect(&url).await.expect("store");
    let now = chrono::Utc::now();
    let org = store.create_organization("Acme", now).await.expect("org");
    let workspace = store
        .create_workspace(&NewWorkspace {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id,
            name: "main".to_owned(),
            external_id: Some("ws-main".to_owned()),
            created_at: now,
        })
        .await
        .expect("workspace");
    let user = latchkey_server::users::add_user(
        &store,
        "dev@acme.test",
        "Developer",
        Some(&SecretString::from(PASSWORD.to_owned())),
        false,
        Some((org.id, OrganizationRole::Member)),
    )
    .await
    .expect("user");
    store
        .set_workspace_member(&workspace.id, user.id, "developer", chrono::Utc::now())
        .await
        .expect("member");
    let file = app
        .sign_in("dev@acme.test", PASSWORD)
        .await
        .create_credentials("kognic-io")
        .await;
    // kognic-io cannot start a project; the API can.
    let token = app.token(&file).await;
    let created = app
        .http
        .post(app.url("/v1/projects"))
        .bearer_auth(&token)
        .json(&json!({"project": "p1", "title": "Project one", "workspaceId": workspace.id}))
        .send()
        .await
        .expect("create project");
    assert_eq!(created.status(), 201);

    let home = tempfile::tempdir().expect("temp dir");
    let credentials = home.path().join("credentials.json");
    std::fs::write(&credentials, serde_json::to_string(&file).expect("json")).expect("write");
    let out = run_script(venv, &app.base_url, &credentials, home.path()).await;

    assert_eq!(out["workspace_id"], workspace.id.as_str(), "{out}");
    assert_eq!(out["projects"], json!(["p1"]), "{out}");
    assert_eq!(out["batches_before"], json!([]), "{out}");
    assert_eq!(out["batch"], json!(["b1", "open"]), "{out}");
    let statuses = out["statuses"].as_array().expect("statuses");
    assert_eq!(statuses.len(), 2, "{out}");
    assert!(statuses.iter().all(|s| s == "created"), "{out}");
    assert_eq!(out["summary_type"], "lidars_and_cameras", "{out}");
    assert_eq!(out["summary_cameras"], json!(["CAM"]), "{out}");
    assert_eq!(out["calibration_fetched"], out["calibration_id"], "{out}");
    assert_eq!(out["calibrations_listed"], 1, "{out}");
    assert_eq!(out["inputs_v1"], 1, "{out}");
    assert_eq!(out["input_v2_request_uid"], "p1:b1", "{out}");
    assert!(out["inputs_queried"].as_u64().unwrap_or(0) >= 2, "{out}");
    assert_eq!(
        out["invalidated_status"], "invalidated:broken-input",
        "{out}"
    );
    assert_eq!(out["published"], "ready", "{out}");

    // What the server stored: both scenes' files arrived in the object store.
    for uuid in out["scene_uuids"].as_array().expect("uuids") {
        let files = store
            .scene_files(uuid.as_str().expect("uuid"))
            .await
            .expect("files");
        assert!(!files.is_empty());
        assert!(
            files
                .iter()
                .all(|f| f.uploaded_at().is_some() && f.size.unwrap_or(0) > 0)
        );
    }
    store.close().await;
}

/// The flow, as a user of kognic-io writes it. Prints one JSON object.
const FLOW_SCRIPT: &str = r##"
import json
import struct
import sys
import zlib
from pathlib import Path

from kognic.io.client import KognicIOClient
from kognic.io.model.calibration import (CameraMatrix, DistortionCoefficients, LidarCalibration,
                                         PinholeCalibration, Position, RotationQuaternion,
                                         SensorCalibration)
from kognic.io.model.ego import IMUData
from kognic.io.model.scene.cameras import Cameras, Frame as CamerasFrame
from kognic.io.model.scene.invalidated_reason import SceneInvalidatedReason
from kognic.io.model.scene.lidars_and_cameras import Frame as LidarsAndCamerasFrame, LidarsAndCameras
from kognic.io.model.scene.resources import Image, PointCloud

base, credentials, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])


def png(width, height):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x80\x20\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


image = workdir / "cam.front.png"
image.write_bytes(png(4, 3))
cloud = workdir / "lidar.pcd"
cloud.write_text("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
                 "WIDTH 2\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 2\nDATA ascii\n0 0 0\n1 1 1\n")

client = KognicIOClient(auth=credentials, host=base, workspace_api_host=base, auth_host=base,
                        order_execution_api_host=base, annotation_integration_api_host=base,
                        project_management_api_host=base, timeout=20)
out = {"workspace_id": client.cameras._workspace_id}
out["projects"] = [p.project for p in client.project.get_projects()]
out["batches_before"] = [b.batch for b in client.project.get_project_batches("p1")]
batch = client.project.create_batch("p1", "b1")
out["batch"] = [batch.batch, batch.status.value if hasattr(batch.status, "value") else batch.status]

cameras = client.cameras.create(Cameras(external_id="cam-1", frame=CamerasFrame(images=[Image(filename=str(image))])),
                                project="p1", batch="b1")

pose = dict(position=Position(x=0.0, y=0.0, z=0.0), rotation_quaternion=RotationQuaternion(w=1.0, x=0.0, y=0.0, z=0.0))
calibration = client.calibration.create_calibration(SensorCalibration(external_id="calib-1", calibration={
    "CAM": PinholeCalibration(**pose, image_height=3, image_width=4,
                              camera_matrix=CameraMatrix(fx=1.0, fy=1.0, cx=1.0, cy=1.0),
                              distortion_coefficients=DistortionCoefficients(k1=0.0, k2=0.0, p1=0.0, p2=0.0, k3=0.0)),
    "lidar": LidarCalibration(**pose),
}))
out["calibration_id"] = calibration.id
out["calibration_fetched"] = client.calibration.get_calibration(calibration.id).id
out["calibrations_listed"] = len(client.calibration.get_calibrations(external_id="calib-1"))

ns = 1_700_000_000_000_000_000
imu = [IMUData(position=Position(x=float(i), y=0.0, z=0.0), rotation_quaternion=RotationQuaternion(w=1.0, x=0.0, y=0.0, z=0.0),
               timestamp=ns + i * 10_000_000) for i in range(3)]
lidars_and_cameras = client.lidars_and_cameras.create(LidarsAndCameras(
    external_id="lc-1", calibration_id=calibration.id, imu_data=imu,
    frame=LidarsAndCamerasFrame(point_clouds=[PointCloud(filename=str(cloud))], images=[Image(filename=str(image))],
                                unix_timestamp=ns)))

uuids = [cameras.scene_uuid, lidars_and_cameras.scene_uuid]
out["scene_uuids"] = uuids
out["statuses"] = [s.status.value if hasattr(s.status, "value") else s.status for s in client.scene.get_scenes_by_uuids(uuids)]
summary = client.scene.get_scene_summary(lidars_and_cameras.scene_uuid)
out["summary_type"] = summary.scene_type.value if hasattr(summary.scene_type, "value") else summary.scene_type
out["summary_cameras"] = sorted(summary.cameras or [])

out["inputs_v1"] = len(client.lidars_and_cameras.create_from_scene(lidars_and_cameras.scene_uuid, project="p1", batch="b1"))
out["input_v2_request_uid"] = client.input.create_from_scene(lidars_and_cameras.scene_uuid, project="p1", batch="b1").request_uid
out["inputs_queried"] = len(list(client.input.query_inputs(project="p1", batch="b1")))

client.scene.invalidate_scenes([cameras.scene_uuid], SceneInvalidatedReason.BAD_CONTENT)
invalidated = client.scene.get_scene_summary(cameras.scene_uuid, find_invalidated_scenes=True)
out["invalidated_status"] = [s.status.value if hasattr(s.status, "value") else s.status
                             for s in client.scene.get_scenes_by_uuids([cameras.scene_uuid])][0]
published = client.project.publish_batch("p1", "b1")
out["published"] = published.status.value if hasattr(published.status, "value") else published.status
print(json.dumps(out))
"##;

async fn run_script(venv: &Path, base_url: &str, credentials: &Path, home: &Path) -> Value {
    let python = venv.join("bin/python");
    let mut command = Command::new(&python);
    command
        .args(["-c", FLOW_SCRIPT, base_url])
        .arg(credentials)
        .arg(home)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(CLIENT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the kognic-io flow did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|error| panic!("could not run {}: {error}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the kognic-io flow failed ({})\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|error| panic!("the flow printed no JSON ({error}): {stdout}"))
}

/// The virtualenv with `kognic-io`, created on first use in this process.
async fn kognic_io_venv() -> &'static Path {
    static VENV: OnceCell<PathBuf> = OnceCell::const_new();
    VENV.get_or_init(|| {
        python::venv(&python::Package {
            folder: "python-venv-kognic-io",
            distribution: "kognic-io",
            extras: "",
            version: KOGNIC_IO_VERSION,
            imports: "import kognic.io.client",
        })
    })
    .await
}
