//! Where scene files live (`LATCHKEY_STORAGE_URL`): a signed URL that takes a file again
//! until the commit, the size check at commit, refusals at start, and — when
//! `LATCHKEY_TEST_S3_URL` names a bucket of an S3-compatible server
//! (`scripts/s3-test-server`) — uploads straight to the bucket, committed through a
//! second replica.

use std::net::SocketAddr;
use std::path::Path;

use futures_util::StreamExt;
use latchkey_core::access::OrganizationRole;
use latchkey_server::{Application, Config, KeyEncryptionKeySource};
use latchkey_store::{NewWorkspace, Store};
use object_store::{ObjectStore, ObjectStoreExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::harness::TestApp;

const PASSWORD: &str = "a long enough password";
const RESOURCE: &str = "/data/cam_front.png";

/// A server with one workspace and a developer's token for it.
struct Setup {
    app: TestApp,
    store: Store,
    workspace: String,
    token: String,
}

impl Setup {
    async fn new(adjust: impl FnOnce(&mut Config)) -> Setup {
        let app = TestApp::spawn_with(adjust).await;
        let store = Store::connect(&app.database_url()).await.expect("store");
        let now = chrono::Utc::now();
        let organization = store.create_organization("Acme", now).await.expect("org");
        let workspace = store
            .create_workspace(&NewWorkspace {
                id: uuid::Uuid::new_v4().to_string(),
                organization_id: organization.id,
                name: "main".to_owned(),
                external_id: None,
                created_at: now,
            })
            .await
            .expect("workspace")
            .id;
        let user = latchkey_server::users::add_user(
            &store,
            "dev@acme.test",
            "Developer",
            Some(&SecretString::from(PASSWORD.to_owned())),
            false,
            Some((organization.id, OrganizationRole::Member)),
        )
        .await
        .expect("user");
        store
            .set_workspace_member(&workspace, user.id, "developer", chrono::Utc::now())
            .await
            .expect("member");
        let file = app
            .sign_in("dev@acme.test", PASSWORD)
            .await
            .create_credentials_with(json!({"name": "uploads"}))
            .await;
        let token = app.token(&file).await;
        Setup {
            app,
            store,
            workspace,
            token,
        }
    }

    async fn call(&self, base: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .bearer_auth(&self.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Initializes and creates a one-image scene; answers its uuid and signed URL.
    async fn create_scene(&self) -> (String, String) {
        let base = &self.app.base_url;
        let (status, body) = self
            .call(
                base,
                "/v1/inputs/initialize",
                Some(json!({"workspaceId": self.workspace})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["data"]["sceneUuid"].as_str().expect("uuid").to_owned();
        let (status, body) = self.create_again(&uuid).await;
        assert_eq!(status, 201, "{body}");
        (uuid, signed_url(&body))
    }

    /// Sends the scene's create call (again).
    async fn create_again(&self, uuid: &str) -> (u16, Value) {
        let body = json!({
            "externalId": format!("ext-{uuid}"),
            "frame": {"images": [{"filename": "/data/cam.png", "resourceId": RESOURCE,
                                  "sensorName": "CAM"}]},
            "internalId": uuid,
        });
        let path = format!("/v1/inputs/cameras?workspaceId={}", self.workspace);
        self.call(&self.app.base_url, &path, Some(body)).await
    }

    async fn commit_through(&self, base: &str, uuid: &str) -> (u16, Value) {
        let path = format!("/v1/inputs/{uuid}/actions/commit");
        self.call(base, &path, None).await
    }
}

fn signed_url(body: &Value) -> String {
    body["data"]["files"][RESOURCE]
        .as_str()
        .unwrap_or_else(|| panic!("a signed URL in {body}"))
        .to_owned()
}

/// A PUT of `bytes` with a length, as an upload client sends a file it holds whole.
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

/// The files in a folder, recursively, with their contents.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    found
}

#[tokio::test]
async fn a_signed_url_takes_the_file_again_until_the_scene_is_committed() {
    let setup = Setup::new(|_| {}).await;
    let (uuid, url) = setup.create_scene().await;
    assert!(url.starts_with(&setup.app.base_url), "{url}");

    // The client re-sends the whole file after a timeout or a 5xx: each PUT replaces it.
    let (status, body) = put(&url, b"first try").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(&url, b"the second, longer try").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["size"], 22);

    // A repeated create answers another URL; the earlier one keeps working too.
    let (status, again) = setup.create_again(&uuid).await;
    assert_eq!(status, 200, "{again}");
    let second_url = signed_url(&again);
    assert_ne!(second_url, url);
    let (status, body) = put(&second_url, b"third").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(&url, b"the last upload wins").await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "created");
    let files = setup.store.scene_files(&uuid).await.expect("files");
    assert_eq!(files[0].size, Some(20));

    // One object is left for the file, the last upload's; the replaced ones are gone.
    let objects = setup.app.data_dir.path().join("objects/scenes").join(&uuid);
    let stored = files_under(&objects);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].1, b"the last upload wins");

    for url in [&url, &second_url] {
        let (status, body) = put(url, b"after the commit").await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "upload_closed", "{body}");
    }
    assert_eq!(files_under(&objects)[0].1, b"the last upload wins");
}

/// Sends a PUT that announces `announced` bytes, sends `sent` of them, and drops the
/// connection: an upload that breaks off, as when the client times out.
async fn broken_put(url: &str, announced: usize, sent: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).expect("URL");
    let address = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    );
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {announced}\r\n\r\n",
        url.path(),
        url.host_str().expect("host")
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(sent).await.expect("part of the body");
    stream.shutdown().await.expect("close");
    // Whatever the server answers, if anything, before it closes its side.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
}

#[tokio::test]
async fn an_upload_that_breaks_off_leaves_the_file_as_it_was() {
    let setup = Setup::new(|_| {}).await;
    let (uuid, url) = setup.create_scene().await;
    broken_put(&url, 1000, b"only the first bytes").await;
    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 400, "nothing arrived: {body}");
    assert_eq!(body["error"], "uploads_missing", "{body}");

    let (status, body) = put(&url, b"the whole file").await;
    assert_eq!(status, 200, "{body}");
    broken_put(&url, 1000, b"a retry that breaks off").await;
    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 200, "{body}");
    let files = setup.store.scene_files(&uuid).await.expect("files");
    assert_eq!(files[0].size, Some(14));
    let objects = setup.app.data_dir.path().join("objects/scenes").join(&uuid);
    let stored = files_under(&objects);
    assert_eq!(stored.len(), 1, "no partial object is left: {stored:?}");
    assert_eq!(stored[0].1, b"the whole file");
}

#[tokio::test]
async fn an_object_that_changed_size_after_its_upload_is_refused_at_commit() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let folder = elsewhere.path().join("scene-files");
    let storage_url = url::Url::from_file_path(&folder).expect("file URL");
    let setup = Setup::new(|config| config.storage_url = Some(storage_url.to_string())).await;
    let (uuid, url) = setup.create_scene().await;
    let (status, body) = put(&url, b"sixteen bytes!!!").await;
    assert_eq!(status, 200, "{body}");

    // The file URL is where the objects went, not the data directory.
    assert!(files_under(&setup.app.data_dir.path().join("objects")).is_empty());
    let stored = files_under(&folder);
    assert_eq!(stored.len(), 1, "{stored:?}");
    std::fs::write(&stored[0].0, b"truncated").expect("change the object");

    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "upload_size_mismatch", "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains(RESOURCE) && message.contains("16 bytes arrived"),
        "{message}"
    );

    let (status, body) = put(&url, b"sent once more").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_malformed_storage_url_stops_the_start_with_a_reason() {
    for (url, reason) in [
        ("gs://bucket/scenes", "unknown scheme `gs`"),
        ("objects", "relative URL"),
        ("s3:///scenes", "names no bucket"),
        ("s3://key:secret@bucket", "carries credentials"),
    ] {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("temp dir");
        let mut config = Config::new(dir.path());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.storage_url = Some(url.to_owned());
        let error = Application::build(config)
            .await
            .expect_err("a malformed storage URL")
            .to_string();
        assert!(
            error.contains("LATCHKEY_STORAGE_URL") && error.contains(reason),
            "{url}: {error}"
        );
        assert!(!error.contains("secret"), "no credential echoed: {error}");
    }
}

/// The bucket URL of the S3 test server, or `None` (and a notice) when none is set.
fn s3_test_url() -> Option<String> {
    match std::env::var("LATCHKEY_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped: LATCHKEY_TEST_S3_URL is unset; `eval \"$(scripts/s3-test-server)\"` \
                 starts an S3-compatible server and sets it"
            );
            None
        }
    }
}

/// A second server on `app`'s database, issuer and key-encryption key, with a data
/// directory of its own: it shares nothing with `app` but the database and the bucket.
async fn start_replica(app: &TestApp) -> (String, oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("temp dir");
    let mut config = app.config();
    config.data_dir = dir.path().to_owned();
    config.database_url = Some(app.database_url());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.public_url = Some(app.base_url.clone());
    if config.key_encryption_key.is_none() {
        config.key_encryption_key = Some(KeyEncryptionKeySource::File(
            app.data_dir
                .path()
                .join(latchkey_server::data_dir::KEY_ENCRYPTION_KEY_FILE),
        ));
    }
    let replica = Application::build(config).await.expect("build the replica");
    let address = replica.local_addr().expect("address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(replica.run(async {
        let _ = stopped.await;
    }));
    (format!("http://{address}"), shutdown, dir)
}

/// `url` with the last digit of its `X-Amz-Signature` changed.
fn with_wrong_signature(url: &str) -> String {
    let mut url = url::Url::parse(url).expect("URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let mut value = value.into_owned();
            if name == "X-Amz-Signature" {
                let last = value.pop().expect("a signature");
                value.push(if last == '0' { '1' } else { '0' });
            }
            (name.into_owned(), value)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[tokio::test]
async fn s3_uploads_go_straight_to_the_bucket_and_another_replica_commits() {
    let Some(bucket_url) = s3_test_url() else {
        return;
    };
    let prefix = format!("it-{}", uuid::Uuid::new_v4().simple());
    let storage_url = format!("{}/{prefix}", bucket_url.trim_end_matches('/'));
    let setup = Setup::new(|config| config.storage_url = Some(storage_url.clone())).await;
    let (uuid, url) = setup.create_scene().await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    assert!(
        url.starts_with(&endpoint) && url.contains("X-Amz-Signature="),
        "the bucket's own presigned URL: {url}"
    );

    let (status, body) = setup.commit_through(&setup.app.base_url, &uuid).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "uploads_missing", "{body}");

    // Real PUTs to the bucket; a retry replaces the object whole.
    assert_eq!(put(&url, b"first try").await.0, 200);
    assert_eq!(put(&url, b"the second, longer try").await.0, 200);
    let (status, again) = setup.create_again(&uuid).await;
    assert_eq!(status, 200, "{again}");
    let second_url = signed_url(&again);
    assert_eq!(put(&second_url, b"the last upload wins").await.0, 200);
    let tampered = with_wrong_signature(&second_url);
    assert_eq!(
        put(&tampered, b"forged").await.0,
        403,
        "a URL with a wrong signature is refused by the bucket"
    );

    // Committed through another replica that shares only the database and the bucket.
    let (replica, stop_replica, replica_dir) = start_replica(&setup.app).await;
    let (status, body) = setup.commit_through(&replica, &uuid).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "created");
    let files = setup.store.scene_files(&uuid).await.expect("files");
    assert_eq!(files[0].size, Some(20));
    assert!(files[0].uploaded_at().is_some());

    // Read back from the bucket itself; nothing went through either data directory.
    let bucket = bucket_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .expect("bucket");
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .expect("S3 client");
    let key = object_store::path::Path::from(format!("{prefix}/{}", files[0].object_key));
    let stored = s3
        .get(&key)
        .await
        .expect("the object")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(stored.as_ref(), b"the last upload wins");
    for dir in [setup.app.data_dir.path(), replica_dir.path()] {
        assert!(files_under(&dir.join("objects")).is_empty(), "{dir:?}");
    }
    let _ = stop_replica.send(());
}

#[tokio::test]
async fn s3_uploads_through_the_service_take_chunked_bodies_and_land_in_the_bucket() {
    let Some(bucket_url) = s3_test_url() else {
        return;
    };
    let prefix = format!("it-{}", uuid::Uuid::new_v4().simple());
    let storage_url = format!("{}/{prefix}", bucket_url.trim_end_matches('/'));
    let setup = Setup::new(|config| {
        config.storage_url = Some(storage_url.clone());
        config.storage_presigned_uploads = false;
    })
    .await;
    let (uuid, url) = setup.create_scene().await;
    assert!(url.starts_with(&setup.app.base_url), "{url}");

    // Chunked, without a length, as kognic-io streams a file from disk; twice.
    for body in [&b"first try"[..], b"chunked and complete"] {
        let chunks = futures_util::stream::iter(
            body.chunks(4)
                .map(|chunk| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(chunk))),
        );
        let response = reqwest::Client::new()
            .put(&url)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("upload");
        assert_eq!(response.status().as_u16(), 200);
    }
    let (replica, stop_replica, _replica_dir) = start_replica(&setup.app).await;
    let (status, body) = setup.commit_through(&replica, &uuid).await;
    assert_eq!(status, 200, "{body}");
    let files = setup.store.scene_files(&uuid).await.expect("files");
    assert_eq!(files[0].size, Some(20));

    let bucket = bucket_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .expect("bucket");
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .expect("S3 client");
    let under_scene = object_store::path::Path::from(format!("{prefix}/scenes/{uuid}"));
    let listed: Vec<_> = s3
        .list(Some(&under_scene))
        .map(|meta| meta.expect("listing").location.to_string())
        .collect()
        .await;
    let key = format!("{prefix}/{}", files[0].object_key);
    assert_eq!(listed, vec![key.clone()], "the replaced upload is gone");
    let stored = s3
        .get(&object_store::path::Path::from(key))
        .await
        .expect("the object")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(stored.as_ref(), b"chunked and complete");
    assert!(files_under(&setup.app.data_dir.path().join("objects")).is_empty());
    let _ = stop_replica.send(());
}

#[tokio::test]
async fn s3_a_bucket_that_cannot_be_listed_stops_the_start() {
    if s3_test_url().is_none() {
        return;
    }
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("temp dir");
    let mut config = Config::new(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.storage_url = Some("s3://latchkey-no-such-bucket/scenes".to_owned());
    let error = Application::build(config)
        .await
        .expect_err("a missing bucket")
        .to_string();
    assert!(
        error.contains("s3://latchkey-no-such-bucket/scenes") && error.contains("cannot be listed"),
        "{error}"
    );
}
