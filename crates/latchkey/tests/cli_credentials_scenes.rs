//! The real `latchkey` binary's `credentials`, `scenes upload` and `completions`
//! commands against a real server started in this process.

mod common;

use std::os::unix::fs::PermissionsExt;

use latchkey_types::CredentialsFile;
use latchkey_types::tenancy::{Organization, User, Workspace};
use serde_json::json;

use common::{PASSWORD, Server, Session, latchkey, server};

/// A valid 1×1 RGBA PNG.
const PNG: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// An organization with a workspace in which a new member is developer; answers the
/// workspace id and that member's signed-in session.
async fn developer_in_workspace(server: &Server) -> (String, Session) {
    let organization: Organization = server
        .operator
        .call(
            reqwest::Method::POST,
            "/v1/organizations",
            json!({ "name": "Scenes Org" }),
            201,
        )
        .await;
    let email = "dev@scenes.test";
    let user: User = server
        .operator
        .call(
            reqwest::Method::POST,
            "/v1/users",
            json!({
                "email": email, "name": "Dev", "password": PASSWORD,
                "organizationId": organization.id, "role": "member",
            }),
            201,
        )
        .await;
    let workspace: Workspace = server
        .operator
        .call(
            reqwest::Method::POST,
            "/v1/workspaces",
            json!({ "name": "Drives", "organizationId": organization.id }),
            201,
        )
        .await;
    let _: serde_json::Value = server
        .operator
        .call(
            reqwest::Method::PUT,
            &format!("/v1/workspaces/{}/members/{}", workspace.id, user.id),
            json!({ "role": "developer" }),
            200,
        )
        .await;
    (
        workspace.id,
        Session::sign_in(&server.base_url, email, PASSWORD).await,
    )
}

#[tokio::test]
async fn created_credentials_file_is_private_works_pauses_while_disabled_and_stops_when_deleted() {
    let server = server().await;
    let manager = server.write_file(
        "manager.json",
        &server
            .operator
            .credentials(json!({
                "name": "manager",
                "scopes": ["api:read", "api:write", "credentials:manage"],
            }))
            .await,
    );
    let out = server.path("made.json");
    let out_text = out.to_str().expect("utf-8");
    let create = ["credentials", "create", "--name", "made-by-cli"];
    let made = latchkey(
        &[&create[..], &["--scope", "api:read", "--out", out_text]].concat(),
        Some(&manager),
    )
    .await;
    assert_eq!(made.code, 0, "{}{}", made.stdout, made.stderr);
    let mode = std::fs::metadata(&out).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let file: CredentialsFile =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("file");
    assert_eq!(file.name, "made-by-cli");
    assert_eq!(file.scopes, ["api:read"]);
    let token = latchkey(&["token"], Some(&out)).await;
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert_eq!(token.stdout.trim().split('.').count(), 3);

    let again = latchkey(
        &[&create[..], &["--out", out_text]].concat(),
        Some(&manager),
    )
    .await;
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let unchanged: CredentialsFile =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("file");
    assert_eq!(unchanged.client_id, file.client_id);

    // --force replaces the file with a new private one, even over a world-readable one.
    let other = server.path("other.json");
    std::fs::write(&other, "old").expect("write");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let forced = latchkey(
        &[
            &create[..],
            &["--out", other.to_str().expect("utf-8"), "--force"],
        ]
        .concat(),
        Some(&manager),
    )
    .await;
    assert_eq!(forced.code, 0, "{}{}", forced.stdout, forced.stderr);
    let mode = std::fs::metadata(&other)
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let replaced: CredentialsFile =
        serde_json::from_str(&std::fs::read_to_string(&other).expect("read")).expect("file");
    assert_ne!(replaced.client_id, file.client_id);

    let list = latchkey(&["credentials", "list"], Some(&manager)).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains(&file.client_id))
        .unwrap_or_else(|| panic!("not listed:\n{}", list.stdout));
    assert!(
        line.starts_with("made-by-cli") && line.contains("api:read"),
        "{line}"
    );
    assert!(list.stdout.starts_with("NAME"), "{}", list.stdout);
    let json = latchkey(&["credentials", "list", "--output", "json"], Some(&manager)).await;
    let listed: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["clientId"] == file.client_id.as_str()),
        "{listed}"
    );

    let disabled = latchkey(&["credentials", "disable", &file.client_id], Some(&manager)).await;
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    assert!(
        disabled.stdout.contains("credentials enable"),
        "{}",
        disabled.stdout
    );
    let list = latchkey(&["credentials", "list"], Some(&manager)).await;
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains(&file.client_id))
        .unwrap_or_else(|| panic!("not listed:\n{}", list.stdout));
    assert!(line.ends_with("disabled"), "{line}");
    let refused = latchkey(&["token"], Some(&out)).await;
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("disabled"), "{}", refused.stderr);
    let enabled = latchkey(&["credentials", "enable", &file.client_id], Some(&manager)).await;
    assert_eq!(enabled.code, 0, "{}", enabled.stderr);
    let token = latchkey(&["token"], Some(&out)).await;
    assert_eq!(token.code, 0, "{}", token.stderr);

    let deleted = latchkey(&["credentials", "delete", &file.client_id], Some(&manager)).await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let refused = latchkey(&["token"], Some(&out)).await;
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("error"), "{}", refused.stderr);
}

#[tokio::test]
async fn credentials_create_without_the_manage_scope_explains_the_refusal() {
    let server = server().await;
    let plain = server.write_file(
        "plain.json",
        &server
            .operator
            .credentials(json!({ "name": "plain" }))
            .await,
    );
    let out = server.path("never.json");
    let run = latchkey(
        &[
            "credentials",
            "create",
            "--name",
            "nope",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        Some(&plain),
    )
    .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("needs the scope credentials:manage"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("missing_scope"), "{}", run.stderr);
    assert!(
        !out.exists(),
        "no file is left behind for a refused credential"
    );
}

#[tokio::test]
async fn scenes_upload_creates_a_cameras_scene_from_a_local_png() {
    let server = server().await;
    let (workspace, developer) = developer_in_workspace(&server).await;
    let credentials = server.write_file(
        "dev.json",
        &developer.credentials(json!({ "name": "uploader" })).await,
    );
    let image = server.path("cam.front.png");
    std::fs::write(&image, PNG).expect("png");
    let image_arg = format!("CAM={}", image.display());
    let run = latchkey(
        &[
            "scenes",
            "upload",
            "--workspace",
            &workspace,
            "--external-id",
            "drive-1",
            "--type",
            "cameras",
            "--image",
            &image_arg,
            "--output",
            "json",
        ],
        Some(&credentials),
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let uploaded: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let uuid = uploaded["sceneUuid"].as_str().expect("uuid");
    assert_eq!(uploaded["status"], "created");
    assert_eq!(uploaded["bytes"], PNG.len());
    assert!(
        uploaded["viewLink"]
            .as_str()
            .is_some_and(|l| l.contains(uuid)),
        "{uploaded}"
    );

    let query = json!({ "sceneUuids": [uuid] }).to_string();
    let scenes = latchkey(
        &["call", "POST", "/v2/scenes/query", "--data", &query],
        Some(&credentials),
    )
    .await;
    assert_eq!(scenes.code, 0, "{}{}", scenes.stdout, scenes.stderr);
    let scenes: serde_json::Value = serde_json::from_str(&scenes.stdout).expect("json");
    assert_eq!(scenes["data"][0]["status"], "created", "{scenes}");
    assert_eq!(scenes["data"][0]["externalId"], "drive-1");

    let text = latchkey(
        &[
            "scenes",
            "upload",
            "--workspace",
            &workspace,
            "--external-id",
            "drive-2",
            "--type",
            "cameras",
            "--image",
            &image_arg,
        ],
        Some(&credentials),
    )
    .await;
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    assert!(
        text.stdout.starts_with("Created scene ") && text.stdout.contains("View it at "),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn scenes_upload_of_a_missing_file_fails_clearly_before_calling_the_server() {
    let server = server().await;
    let credentials = server.write_file(
        "ops.json",
        &server.operator.credentials(json!({ "name": "ops" })).await,
    );
    let missing = server.path("no-such-image.png");
    let run = latchkey(
        &[
            "scenes",
            "upload",
            "--workspace",
            "any",
            "--external-id",
            "x",
            "--type",
            "cameras",
            "--image",
            &format!("CAM={}", missing.display()),
        ],
        Some(&credentials),
    )
    .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no-such-image.png") && run.stderr.contains("No such file"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("backtrace"), "{}", run.stderr);

    let malformed = latchkey(
        &[
            "scenes",
            "upload",
            "--workspace",
            "any",
            "--external-id",
            "x",
            "--type",
            "cameras",
            "--image",
            "front.png",
        ],
        Some(&credentials),
    )
    .await;
    assert_eq!(malformed.code, 2, "{}", malformed.stderr);
    assert!(
        malformed.stderr.contains("SENSOR=PATH"),
        "{}",
        malformed.stderr
    );
}

#[tokio::test]
async fn completions_print_a_bash_script() {
    let run = latchkey(&["completions", "bash"], None).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("latchkey"), "{}", run.stdout);
    assert!(run.stdout.contains("scenes"), "{}", run.stdout);
}

/// A scene names its files by the path given relative to the current folder, or by
/// their own name: never by this machine's absolute path. Two files that would get the
/// same name are refused before the server hears of the scene.
#[tokio::test]
async fn scenes_upload_names_files_without_the_local_folders() {
    let server = server().await;
    let (workspace, developer) = developer_in_workspace(&server).await;
    let credentials = server.write_file(
        "namer.json",
        &developer.credentials(json!({ "name": "namer" })).await,
    );
    let mut images = Vec::new();
    for folder in ["left", "right"] {
        let dir = server.path(folder);
        std::fs::create_dir_all(&dir).expect("folder");
        let image = dir.join("0001.png");
        std::fs::write(&image, PNG).expect("png");
        images.push(image);
    }
    let left = format!("CAM_LEFT={}", images[0].display());
    let right = format!("CAM_RIGHT={}", images[1].display());
    let run = latchkey(
        &[
            "scenes",
            "upload",
            "--workspace",
            &workspace,
            "--external-id",
            "twins",
            "--type",
            "cameras",
            "--image",
            &left,
            "--image",
            &right,
        ],
        Some(&credentials),
    )
    .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("two files would both be named 0001.png"),
        "{}",
        run.stderr
    );
}
