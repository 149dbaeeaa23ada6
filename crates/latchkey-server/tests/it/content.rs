//! The workspace content API (projects, batches, scenes, uploads, IMU, inputs,
//! calibrations) through HTTP, with the tenants and roles of issue 3.
//!
//! Over 800 lines: the `kognic-io` content contract, one surface with shared tenants.

use latchkey_client::{Client, Error};
use latchkey_core::access::OrganizationRole;
use latchkey_store::{NewWorkspace, Store};
use latchkey_types::content::{NewBatch, NewProject, SceneQuery};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::harness::TestApp;

const PASSWORD: &str = "a long enough password";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really an image, but bytes";

/// A caller with a bearer token for raw requests, and the SDK's client for the same
/// credential.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    client: Option<Client>,
}

impl Api {
    fn client(&self) -> &Client {
        self.client.as_ref().expect("an SDK client")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}"))
        };
        assert!(status < 500, "never a 5xx: {status} {body}");
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    async fn dryrun(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Dryrun", "")
                .json(&body),
        )
        .await
    }
}

/// Two organizations: Acme with workspaces `main` and `side`, and Other with `theirs`.
struct World {
    app: TestApp,
    store: Store,
    main: String,
    side: String,
    theirs: String,
    developer: Api,
}

impl World {
    async fn new() -> World {
        let app = TestApp::spawn().await;
        let url = app.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                app.data_dir.path().join("latchkey.db").display()
            )
        });
        let store = Store::connect(&url).await.expect("store");
        let now = chrono::Utc::now();
        let acme = store.create_organization("Acme", now).await.expect("org");
        let other = store.create_organization("Other", now).await.expect("org");
        let workspace = |org: i64, name: &str| NewWorkspace {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org,
            name: name.to_owned(),
            external_id: None,
            created_at: now,
        };
        let main = store
            .create_workspace(&workspace(acme.id, "main"))
            .await
            .expect("ws")
            .id;
        let side = store
            .create_workspace(&workspace(acme.id, "side"))
            .await
            .expect("ws")
            .id;
        let theirs = store
            .create_workspace(&workspace(other.id, "theirs"))
            .await
            .expect("ws")
            .id;
        let mut world = World {
            developer: Api {
                http: reqwest::Client::new(),
                base: app.base_url.clone(),
                token: String::new(),
                client: None,
            },
            app,
            store,
            main,
            side,
            theirs,
        };
        let main = world.main.clone();
        let side = world.side.clone();
        world.developer = world
            .person(
                "dev@acme.test",
                acme.id,
                &[(&main, "developer"), (&side, "developer")],
                json!({"name": "dev"}),
            )
            .await;
        world
    }

    /// A user of `organization` with workspace roles, and a credential made with `body`.
    async fn person(
        &self,
        email: &str,
        organization: i64,
        roles: &[(&str, &str)],
        body: Value,
    ) -> Api {
        let user = latchkey_server::users::add_user(
            &self.store,
            email,
            "Someone",
            Some(&SecretString::from(PASSWORD.to_owned())),
            false,
            Some((organization, OrganizationRole::Member)),
        )
        .await
        .expect("user");
        for (workspace, role) in roles {
            self.store
                .set_workspace_member(workspace, user.id, role, chrono::Utc::now())
                .await
                .expect("member");
        }
        let file = self
            .app
            .sign_in(email, PASSWORD)
            .await
            .create_credentials_with(body)
            .await;
        Api {
            http: reqwest::Client::new(),
            base: self.app.base_url.clone(),
            token: self.app.token(&file).await,
            client: Some(self.app.client(&file)),
        }
    }

    async fn organization_of(&self, workspace: &str) -> i64 {
        self.store
            .workspace(workspace)
            .await
            .expect("db")
            .expect("ws")
            .organization_id
    }

    /// A project `p1` in `main` with an open batch `b1`, made through the SDK.
    async fn project(&self) {
        let client = self.developer.client();
        let project = client
            .create_project(&NewProject {
                project: "p1".to_owned(),
                title: "Project one".to_owned(),
                description: None,
                workspace_id: self.main.clone(),
            })
            .await
            .expect("POST /v1/projects");
        assert_eq!(project.project, "p1");
        assert_eq!(project.workspace_id, self.main);
        let batch = client
            .create_batch("p1", "b1", &NewBatch::default())
            .await
            .expect("POST /v1/projects/p1/batches/b1");
        assert_eq!(
            (batch.batch.as_str(), batch.status.as_str()),
            ("b1", "open")
        );
    }

    /// Initializes and creates a cameras scene; answers its uuid and the answer.
    async fn cameras_scene(&self, path: &str, external_id: &str) -> (String, u16, Value) {
        let uuid = self
            .developer
            .client()
            .initialize_scene(&self.main)
            .await
            .expect("POST /v1/inputs/initialize");
        let (status, body) = self
            .developer
            .post(
                &format!("{path}?workspaceId={}", self.main),
                cameras_body(&uuid, external_id),
            )
            .await;
        (uuid, status, body)
    }
}

fn cameras_body(uuid: &str, external_id: &str) -> Value {
    json!({
        "externalId": external_id,
        "frame": {"images": [{"filename": "/data/cam.front.png", "resourceId": "/data/cam_front.png",
                              "sensorName": "CAM", "clientFilename": "/data/cam.front.png",
                              "metadata": {"shutterTimeStartNs": 1_700_000_000_000_000_001_i64, "shutterTimeEndNs": 2}}]},
        "sensorSpecification": {"sensorToPrettyName": {"CAM": "Front"}, "sensorOrder": ["CAM"]},
        "metadata": {"region": "eu", "anyFlatKey": 1},
        "internalId": uuid,
        "featureFlags": {"shouldMotionCompensate": true},
        "someFutureField": [1, 2, 3]
    })
}

async fn put(url: &str, bytes: &'static [u8]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .put(url)
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_cameras_scene_is_created_uploaded_committed_and_read_back() {
    let world = World::new().await;
    world.project().await;
    let api = &world.developer;

    let projects = api.client().projects().await.expect("GET /v1/projects");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].project, "p1");
    assert_eq!(projects[0].description, "");
    // The exact wire format of a timestamp needs the raw answer.
    let (status, projects) = api.get("/v1/projects").await;
    assert_eq!(status, 200);
    let created = projects["data"][0]["created"].as_str().expect("created");
    assert_eq!(created.len(), 24, "YYYY-MM-DDTHH:MM:SS.mmmZ: {created}");

    let (uuid, status, body) = world
        .cameras_scene("/v1/inputs/project/p1/batch/b1/cameras", "cam-1")
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["internalId"], uuid.as_str());
    assert!(body["data"]["requestInputUuid"].is_string(), "{body}");
    let url = body["data"]["files"]["/data/cam_front.png"]
        .as_str()
        .expect("signed url")
        .to_owned();
    assert!(url.starts_with(&world.app.base_url), "{url}");

    // A retried create answers the same scene with fresh URLs, not a duplicate.
    let (status, again) = api
        .post(
            &format!(
                "/v1/inputs/project/p1/batch/b1/cameras?workspaceId={}",
                world.main
            ),
            cameras_body(&uuid, "cam-1"),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["internalId"], uuid.as_str());
    assert_eq!(
        again["data"]["requestInputUuid"],
        body["data"]["requestInputUuid"]
    );
    let url = again["data"]["files"]["/data/cam_front.png"]
        .as_str()
        .expect("signed url")
        .to_owned();

    let client = api.client();
    let early = client
        .commit_scene(&uuid)
        .await
        .expect_err("a commit before the upload");
    assert_eq!(early.status(), Some(400), "{early}");
    assert_eq!(early.code(), Some("uploads_missing"), "{early}");

    let files = tempfile::tempdir().expect("temp dir");
    let image = files.path().join("cam.front.png");
    std::fs::write(&image, PNG).expect("write the image");
    let sent = client
        .upload_file(&url, &image, |_| {})
        .await
        .expect("PUT to the signed URL");
    assert_eq!(sent, PNG.len() as u64);
    let resent = client
        .upload_file(&url, &image, |_| {})
        .await
        .expect("the URL takes the file again until the commit");
    assert_eq!(resent, PNG.len() as u64);

    let committed = client.commit_scene(&uuid).await.expect("commit");
    assert_eq!(committed.status, "created");
    let again = client
        .commit_scene(&uuid)
        .await
        .expect("committing twice changes nothing");
    assert_eq!(again.status, "created");

    let scenes = client
        .query_scenes(&SceneQuery {
            scene_uuids: Some(vec![uuid.clone()]),
            external_ids: None,
        })
        .await
        .expect("POST /v2/scenes/query");
    assert_eq!(scenes[0].scene_type, "cameras");
    assert_eq!(
        scenes[0].view_link.as_deref(),
        Some(format!("{}/scenes/{uuid}", world.app.base_url).as_str())
    );
    let by_external = client
        .query_scenes(&SceneQuery {
            scene_uuids: None,
            external_ids: Some(vec!["cam-1".to_owned()]),
        })
        .await
        .expect("POST /v2/scenes/query");
    assert_eq!(by_external.len(), 1);

    let (status, summary) = api
        .get(&format!("/v2/scenes/{uuid}?includeInvalidated=False"))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["data"]["cameras"], json!(["CAM"]));
    assert_eq!(
        summary["data"]["metadata"],
        json!({"region": "eu", "anyFlatKey": 1})
    );
    assert_eq!(summary["data"]["isMultiSensor"], false);

    // The stored body keeps nanosecond integers beyond 2^53 exact.
    let stored = world.store.scene(&uuid).await.expect("db").expect("scene");
    assert!(
        stored.body.contains("1700000000000000001"),
        "{}",
        stored.body
    );

    // The scene is in the batch already: creating its input again answers that input.
    let (status, inputs) = api
        .post(
            "/v1/inputs",
            json!({"sceneUuid": uuid, "project": "p1", "batch": "b1"}),
        )
        .await;
    assert_eq!(status, 200, "{inputs}");
    assert_eq!(inputs["data"][0]["uuid"], body["data"]["requestInputUuid"]);
    assert_eq!(inputs["data"][0]["requestUid"], "p1:b1");

    let (status, page) = api.post("/v2/inputs/query", json!({"project": "p1"})).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    assert!(page["metadata"]["nextCursorId"].is_null(), "{page}");

    let (status, _) = api
        .post(
            "/v2/scenes/actions/invalidate",
            json!({"sceneUuids": [uuid], "reason": "bad-content"}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .get(&format!("/v2/scenes/{uuid}?includeInvalidated=False"))
        .await;
    assert_eq!(status, 404, "an invalidated scene is hidden by default");
    let (status, summary) = api
        .get(&format!("/v2/scenes/{uuid}?includeInvalidated=TRUE"))
        .await;
    assert_eq!(status, 200, "{summary}");
    let (_, scenes) = api
        .post("/v2/scenes/query", json!({"sceneUuids": [uuid]}))
        .await;
    assert_eq!(scenes["data"][0]["status"], "invalidated:broken-input");
}

#[tokio::test]
async fn batches_are_idempotent_and_a_published_batch_takes_no_more_scenes() {
    let world = World::new().await;
    world.project().await;
    let api = &world.developer;

    let (status, again) = api
        .post(
            "/v1/projects/p1/batches/b1",
            json!({"publishPreviousBatches": false}),
        )
        .await;
    assert_eq!(status, 200, "the same batch again: {again}");
    assert_eq!(again["data"]["status"], "open");
    let (status, b2) = api
        .post(
            "/v1/projects/p1/batches/b2",
            json!({"publishPreviousBatches": true}),
        )
        .await;
    assert_eq!(status, 201, "{b2}");
    let batches = api
        .client()
        .batches("p1")
        .await
        .expect("GET /v1/projects/p1/batches");
    let statuses: Vec<(&str, &str)> = batches
        .iter()
        .map(|b| (b.batch.as_str(), b.status.as_str()))
        .collect();
    assert_eq!(statuses, vec![("b1", "ready"), ("b2", "open")]);

    let published = api
        .client()
        .publish_batch("p1", "b2")
        .await
        .expect("POST /v1/projects/p1/batches/b2/publish");
    assert_eq!(published.status, "ready");
    let (_, status, refused) = world
        .cameras_scene("/v1/inputs/project/p1/batch/b2/cameras", "late")
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "batch_closed");
    let (_, status, refused) = world
        .cameras_scene("/v1/inputs/project/p1/cameras", "no open batch")
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "no_open_batch");
    let missing = api
        .client()
        .batches("nope")
        .await
        .expect_err("an unknown project");
    assert!(
        matches!(
            &missing,
            Error::Api {
                status: 404,
                request_id: Some(_),
                ..
            }
        ),
        "{missing:?}"
    );
}

#[tokio::test]
async fn dryrun_validates_and_changes_nothing() {
    let world = World::new().await;
    world.project().await;
    let api = &world.developer;

    let (status, _) = api
        .dryrun(
            "/v1/projects/p1/batches/dry",
            json!({"publishPreviousBatches": true}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, batches) = api.get("/v1/projects/p1/batches").await;
    assert_eq!(
        batches["data"].as_array().map(Vec::len),
        Some(1),
        "{batches}"
    );

    let (_, body) = api
        .post("/v1/inputs/initialize", json!({"workspaceId": world.main}))
        .await;
    let uuid = body["data"]["sceneUuid"].as_str().expect("uuid").to_owned();
    let path = format!("/v1/inputs/cameras?workspaceId={}", world.main);
    let (status, _) = api.dryrun(&path, cameras_body(&uuid, "dry")).await;
    assert_eq!(status, 204);
    let (status, _) = api
        .post("/v2/scenes/query", json!({"sceneUuids": [uuid]}))
        .await;
    assert_eq!(status, 404, "no scene after a dryrun");
    let (status, bad) = api
        .dryrun(&path, json!({"externalId": "x", "internalId": uuid}))
        .await;
    assert_eq!(status, 400, "a dryrun still validates: {bad}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let world = World::new().await;
    world.project().await;
    let api = &world.developer;
    let main = &world.main;

    let (status, body) = api
        .post(
            &format!("/v1/inputs/Cameras?workspaceId={main}"),
            cameras_body("x", "x"),
        )
        .await;
    assert_eq!(status, 404, "scene types are case-sensitive: {body}");
    let (status, body) = api
        .post(
            "/v2/scenes/actions/invalidate",
            json!({"sceneUuids": [], "reason": "BAD_CONTENT"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("bad-content"),
        "names the allowed values: {body}"
    );
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"project": "p2", "workspaceId": main}),
        )
        .await;
    assert_eq!(status, 400, "a missing title: {body}");
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"project": "has space", "title": "t", "workspaceId": main}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"project": "p2", "title": "t", "workspaceId": main}),
        )
        .await;
    assert_eq!(status, 201, "a new project: {body}");
    let (status, body) = api
        .post(
            &format!("/v1/inputs/cameras?workspaceId={main}"),
            cameras_body(&uuid::Uuid::new_v4().to_string(), "x"),
        )
        .await;
    assert_eq!(status, 400, "an internalId never initialized: {body}");
    assert_eq!(body["error"], "unknown_internal_id");
    let (status, body) = api.post("/v1/inputs/cameras", cameras_body("x", "x")).await;
    assert_eq!(status, 400, "no workspaceId: {body}");
    let (status, body) = api
        .get("/v2/scenes/00000000-0000-0000-0000-000000000000?includeInvalidated=maybe")
        .await;
    assert!(status == 400 || status == 404, "{body}");
    let (status, body) = api.post("/v2/inputs/query?cursorId=abc", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .post(
            &format!("/v1/calibrations?workspaceId={main}"),
            json!({"externalId": "c", "calibration": {"CAM": {"calibrationType": "pinhole"}}}),
        )
        .await;
    assert_eq!(status, 400, "camelCase calibrationType: {body}");
    let (status, body) = api
        .post(
            &format!("/v1/calibrations?workspaceId={main}"),
            json!({"externalId": "c", "calibration": {"CAM": {"calibration_type": "Pinhole"}}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Double and trailing slashes reach the same routes.
    let (status, _) = api.get("//v1/projects/").await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "//v1/projects/p1/batches/b9/",
            json!({"publishPreviousBatches": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // 10,000 ids in one query: a clear answer, never a 5xx; more are refused.
    let many: Vec<String> = (0..10_000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let (status, body) = api
        .post("/v2/scenes/query", json!({"sceneUuids": many}))
        .await;
    assert_eq!(status, 404, "{body}");
    let mut more = many.clone();
    more.push(uuid::Uuid::new_v4().to_string());
    let (status, body) = api
        .post("/v2/scenes/query", json!({"sceneUuids": more}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "too_many_ids");
}

#[tokio::test]
async fn upload_urls_are_refused_when_unknown_expired_or_for_a_committed_scene() {
    let world = World::new().await;
    let (_, status, body) = world.cameras_scene("/v1/inputs/cameras", "up").await;
    assert_eq!(status, 201, "{body}");
    let url = body["data"]["files"]["/data/cam_front.png"]
        .as_str()
        .expect("url")
        .to_owned();

    let (status, _) = put(
        &format!("{}/upload/{}", world.app.base_url, "A".repeat(32)),
        PNG,
    )
    .await;
    assert_eq!(status, 404, "an unknown token");
    let (status, _) = put(&format!("{}/upload/short", world.app.base_url), PNG).await;
    assert_eq!(status, 404);

    let pool = sqlx::AnyPool::connect(&database_url(&world.app))
        .await
        .expect("pool");
    sqlx::query("UPDATE upload_tokens SET expires_at = 0")
        .execute(&pool)
        .await
        .expect("expire");
    let (status, body) = put(&url, PNG).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "upload_url_expired");
    pool.close().await;
}

fn database_url(app: &TestApp) -> String {
    sqlx::any::install_default_drivers();
    app.database.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            app.data_dir.path().join("latchkey.db").display()
        )
    })
}

#[tokio::test]
async fn calibrations_imu_and_a_lidars_and_cameras_scene() {
    let world = World::new().await;
    world.project().await;
    let api = &world.developer;
    let main = &world.main;
    let calibration = json!({"externalId": "calib-1", "calibration": {
        "CAM": {"calibration_type": "pinhole", "position": {"x": 0.0, "y": 0.0, "z": 0.0},
                "rotation_quaternion": {"w": 1.0, "x": 0.0, "y": 0.0, "z": 0.0}, "image_height": 3, "image_width": 4,
                "camera_matrix": {"fx": 1.0, "fy": 1.0, "cx": 1.0, "cy": 1.0},
                "distortion_coefficients": {"k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "k3": 0.0}},
        "lidar": {"calibration_type": "lidar", "position": {"x": 0.0, "y": 0.0, "z": 0.0},
                  "rotation_quaternion": {"w": 1.0, "x": 0.0, "y": 0.0, "z": 0.0}}}});
    let (status, created) = api
        .post(
            &format!("/v1/calibrations?workspaceId={main}"),
            calibration.clone(),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["data"]["calibration"], calibration["calibration"]);
    let (status, again) = api
        .post(
            &format!("/v1/calibrations?workspaceId={main}"),
            calibration.clone(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["data"]["id"],
        id.as_str(),
        "a retried create answers the same calibration"
    );
    let through_sdk = api
        .client()
        .create_calibration(
            main,
            &serde_json::from_value(calibration.clone()).expect("a NewCalibration"),
        )
        .await
        .expect("POST /v1/calibrations");
    assert_eq!(through_sdk["id"], id.as_str(), "the SDK's retry too");
    assert_eq!(through_sdk["calibration"], calibration["calibration"]);
    let (status, one) = api.get(&format!("/v1/calibrations?id={id}")).await;
    assert_eq!(status, 200);
    assert!(one["data"].is_object(), "a single object: {one}");
    let (_, list) = api.get("/v1/calibrations?externalId=calib-1").await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let (status, _) = api.get("/v1/calibrations?id=nope").await;
    assert_eq!(status, 404);

    let (_, body) = api
        .post("/v1/inputs/initialize", json!({"workspaceId": main}))
        .await;
    let uuid = body["data"]["sceneUuid"].as_str().expect("uuid").to_owned();
    let (status, imu) = api
        .post(&format!("/v1/imu?workspaceId={main}"), json!({"internalId": uuid, "imuData": [
            {"position": {"x": 0.0, "y": 0.0, "z": 0.0}, "rotationQuaternion": {"w": 1.0, "x": 0.0, "y": 0.0, "z": 0.0},
             "timestamp": 1_700_000_000_000_000_000_i64}]}))
        .await;
    assert_eq!(status, 200, "{imu}");
    let resource = imu["data"]["resourceId"]
        .as_str()
        .expect("resource")
        .to_owned();
    let lc = |calibration_id: &str| {
        json!({
        "externalId": "lc-1",
        "frame": {"pointClouds": [{"filename": "/d/lidar.pcd", "resourceId": "/d/lidar.pcd", "sensorName": "lidar"}],
                  "images": [{"filename": "/d/cam.png", "resourceId": "/d/cam.png", "sensorName": "CAM"}],
                  "unixTimestamp": 1_700_000_000_000_000_000_i64},
        "calibrationId": calibration_id, "metadata": {}, "internalId": uuid, "imuData": resource,
        "featureFlags": {"shouldMotionCompensate": true}})
    };
    let path = format!("/v1/inputs/lidars-and-cameras?workspaceId={main}");
    let (status, body) = api.post(&path, lc("not-a-calibration")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unknown_calibration");
    let (status, body) = api.post(&path, lc(&id)).await;
    assert_eq!(status, 201, "{body}");
    let files = body["data"]["files"].as_object().expect("files");
    assert_eq!(files.len(), 2, "{body}");
    let local = tempfile::tempdir().expect("temp dir");
    for (resource, url) in files {
        let file = local
            .path()
            .join(resource.trim_start_matches('/').replace('/', "_"));
        std::fs::write(&file, PNG).expect("write");
        let sent = api
            .client()
            .upload_file(url.as_str().expect("url"), &file, |_| {})
            .await
            .expect("PUT to the signed URL");
        assert_eq!(sent, PNG.len() as u64);
    }
    let committed = api.client().commit_scene(&uuid).await.expect("commit");
    assert_eq!(committed.status, "created");
    let summary = api
        .client()
        .scene_summary(&uuid, false)
        .await
        .expect("GET /v2/scenes/{uuid}");
    assert_eq!(summary.scene_type, "lidars_and_cameras");
    assert!(summary.is_multi_sensor);
    assert_eq!(summary.calibration_id.as_deref(), Some(id.as_str()));

    let (status, input) = api
        .post(
            "/v2/inputs",
            json!({"sceneUuid": uuid, "projectExtId": "p1"}),
        )
        .await;
    assert_eq!(status, 200, "{input}");
    let (status, again) = api
        .post(
            "/v2/inputs",
            json!({"sceneUuid": uuid, "projectExtId": "p1", "batchExtId": "b1"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["data"]["uuid"], input["data"]["uuid"],
        "the same input again"
    );
}

#[tokio::test]
async fn roles_scopes_and_tenants_decide_what_a_caller_may_do() {
    let world = World::new().await;
    world.project().await;
    let (scene, status, body) = world.cameras_scene("/v1/inputs/cameras", "mine").await;
    assert_eq!(status, 201, "{body}");
    let acme = world.organization_of(&world.main).await;
    let other = world.organization_of(&world.theirs).await;
    let (main, side, theirs) = (world.main.clone(), world.side.clone(), world.theirs.clone());

    let viewer = world
        .person(
            "viewer@acme.test",
            acme,
            &[(&main, "viewer")],
            json!({"name": "v"}),
        )
        .await;
    let (status, body) = viewer
        .post(
            "/v1/projects/p1/batches/b2",
            json!({"publishPreviousBatches": false}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "missing_role");
    assert_eq!(body["requiredPermission"], "workspace:write");
    let (status, _) = viewer.get("/v1/projects/p1/batches").await;
    assert_eq!(status, 200, "a viewer reads");
    let (status, _) = viewer.get(&format!("/v2/scenes/{scene}")).await;
    assert_eq!(status, 200);

    let read_only = world
        .person(
            "ro@acme.test",
            acme,
            &[(&main, "developer")],
            json!({"name": "ci-read", "scopes": ["api:read"]}),
        )
        .await;
    let (status, body) = read_only
        .post("/v1/inputs/initialize", json!({"workspaceId": main}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "missing_scope");
    assert!(
        body["message"].as_str().unwrap_or("").contains("read-only"),
        "{body}"
    );

    let limited = world
        .person(
            "limited@acme.test",
            acme,
            &[(&main, "developer"), (&side, "developer")],
            json!({"name": "side-only", "workspaces": [side]}),
        )
        .await;
    let (status, body) = limited
        .post(
            "/v1/projects/p1/batches/b3",
            json!({"publishPreviousBatches": false}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "workspace_not_allowed");
    let (_, projects) = limited.get("/v1/projects").await;
    assert_eq!(
        projects["data"],
        json!([]),
        "a limited credential lists only its workspaces"
    );

    let outsider = world
        .person(
            "x@other.test",
            other,
            &[(&theirs, "developer")],
            json!({"name": "x"}),
        )
        .await;
    for (status, body) in [
        outsider.get(&format!("/v2/scenes/{scene}")).await,
        outsider
            .post("/v2/scenes/query", json!({"sceneUuids": [scene]}))
            .await,
        outsider
            .post_empty(&format!("/v1/inputs/{scene}/actions/commit"))
            .await,
        outsider.get("/v1/projects/p1/batches").await,
        outsider
            .post(
                "/v1/projects/p1/batches/b4",
                json!({"publishPreviousBatches": false}),
            )
            .await,
        outsider
            .post_empty("/v1/projects/p1/batches/b1/publish")
            .await,
        outsider
            .post("/v1/inputs/initialize", json!({"workspaceId": main}))
            .await,
        outsider
            .post(
                "/v2/scenes/actions/invalidate",
                json!({"sceneUuids": [scene], "reason": "duplicate"}),
            )
            .await,
        outsider
            .post("/v1/inputs", json!({"sceneUuid": scene, "project": "p1"}))
            .await,
    ] {
        assert_eq!(status, 404, "another tenant's ids are 404: {body}");
    }
    let (_, projects) = outsider.get("/v1/projects").await;
    assert_eq!(projects["data"], json!([]));
    let (_, calibrations) = outsider.get("/v1/calibrations").await;
    assert_eq!(calibrations["data"], json!([]));
    let (status, _) = reqwest::Client::new()
        .get(format!("{}/v1/projects", world.app.base_url))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("request");
    assert_eq!(status, 401, "no token");
}
