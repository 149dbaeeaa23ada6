//! Three `latchkey serve` processes of the real binary on one PostgreSQL database, one
//! S3-compatible bucket and one Redis, as an operator runs a cluster (issue 10): a
//! workload spread over them round robin — credentials, tokens, scenes uploaded through
//! one and committed through another, deletions — and then what the cluster promises:
//! every token works on every replica, a change through any replica is refused by the
//! others within the target, a credential's rate limit is counted once for the cluster,
//! and a replica killed with SIGKILL mid-load loses nothing it acknowledged.
//!
//! It needs `LATCHKEY_TEST_DATABASE_URL`, `LATCHKEY_TEST_REDIS_URL` and
//! `LATCHKEY_TEST_S3_URL` with the `AWS_*` variables (`.ci/run` sets them all); without
//! them it says so and passes.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use latchkey_types::tenancy::{Organization, User, Workspace};
use latchkey_types::{CredentialsFile, Envelope, TokenResponse};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use common::{BINARY, EMAIL, PASSWORD, PostgresDatabase, Session};

const DEVELOPER: &str = "dev@cluster.test";
const RESOURCE: &str = "/data/cam_front.png";

/// What the cluster's replicas share, and where each keeps its own data.
struct Shared {
    database_url: String,
    public_url: String,
    storage_url: String,
    redis_url: String,
    key_encryption_key: String,
    dir: tempfile::TempDir,
}

/// One `latchkey serve` process.
struct Replica {
    child: Child,
    base_url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Starts replica `index` on `port` and waits until `/readyz` says ready.
async fn start(shared: &Shared, index: usize, port: u16) -> Replica {
    let data_dir = shared.dir.path().join(format!("replica-{index}"));
    // Its log, shown when it does not start.
    let log_path = shared.dir.path().join(format!("replica-{index}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(&data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &shared.public_url])
        .args(["--storage-url", &shared.storage_url])
        .env("DATABASE_URL", &shared.database_url)
        .env("LATCHKEY_REDIS_URL", &shared.redis_url)
        .env("LATCHKEY_KEY_ENCRYPTION_KEY", &shared.key_encryption_key)
        .env("LATCHKEY_ADMIN_EMAIL", EMAIL)
        .env("LATCHKEY_ADMIN_PASSWORD", PASSWORD)
        .env("LATCHKEY_LOG", "warn")
        .env_remove("LATCHKEY_KEY_ENCRYPTION_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start latchkey serve");
    let base_url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{base_url}/readyz")).await
            && response.status() == 200
        {
            let ready: Value = response.json().await.expect("readyz JSON");
            assert_eq!(
                ready["limits"], "cluster",
                "replica {index} counts in Redis"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "replica {index} was not ready within 30 s; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Replica { child, base_url }
}

/// What the test needs from its environment, or `None` and a notice.
fn environment() -> Option<(String, String, String)> {
    let names = [
        "LATCHKEY_TEST_DATABASE_URL",
        "LATCHKEY_TEST_REDIS_URL",
        "LATCHKEY_TEST_S3_URL",
        "AWS_ENDPOINT_URL",
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| std::env::var(n).ok()).collect();
    match values.as_slice() {
        [Some(database), Some(redis), Some(s3), Some(_)] => {
            Some((database.clone(), redis.clone(), s3.clone()))
        }
        _ => {
            eprintln!(
                "SKIPPED: the cluster test needs PostgreSQL, Redis and an S3-compatible \
                 server: set {} (`.ci/run` does)",
                names.join(", ")
            );
            None
        }
    }
}

/// A bearer call; its status and JSON body (`null` when there is none).
async fn bearer(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = http.request(method, url).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me_status(http: &reqwest::Client, base_url: &str, token: &str) -> u16 {
    bearer(http, Method::GET, &format!("{base_url}/v1/me"), token, None)
        .await
        .0
}

async fn token(http: &reqwest::Client, base_url: &str, file: &CredentialsFile) -> String {
    let response = http
        .post(format!("{base_url}/v1/auth/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "a token from {base_url}");
    response
        .json::<TokenResponse>()
        .await
        .expect("token JSON")
        .access_token
}

/// An organization with a workspace in which a new member is developer; answers the
/// workspace id.
async fn developer_workspace(operator: &Session) -> String {
    let organization: Organization = operator
        .call(
            Method::POST,
            "/v1/organizations",
            json!({ "name": "Cluster Org" }),
            201,
        )
        .await;
    let user: User = operator
        .call(
            Method::POST,
            "/v1/users",
            json!({
                "email": DEVELOPER, "name": "Dev", "password": PASSWORD,
                "organizationId": organization.id, "role": "member",
            }),
            201,
        )
        .await;
    let workspace: Workspace = operator
        .call(
            Method::POST,
            "/v1/workspaces",
            json!({ "name": "Drives", "organizationId": organization.id }),
            201,
        )
        .await;
    let _: Value = operator
        .call(
            Method::PUT,
            &format!("/v1/workspaces/{}/members/{}", workspace.id, user.id),
            json!({ "role": "developer" }),
            200,
        )
        .await;
    workspace.id
}

/// A scene initialized and created through `writer`, its file put straight into the
/// bucket, committed through `committer`.
async fn scene_across(
    http: &reqwest::Client,
    writer: &str,
    committer: &str,
    workspace: &str,
    token: &str,
) {
    let (status, body) = bearer(
        http,
        Method::POST,
        &format!("{writer}/v1/inputs/initialize"),
        token,
        Some(json!({ "workspaceId": workspace })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["data"]["sceneUuid"].as_str().expect("uuid").to_owned();
    let (status, body) = bearer(
        http,
        Method::POST,
        &format!("{writer}/v1/inputs/cameras?workspaceId={workspace}"),
        token,
        Some(json!({
            "externalId": format!("ext-{uuid}"),
            "frame": {"images": [{"filename": "/data/cam.png", "resourceId": RESOURCE,
                                  "sensorName": "CAM"}]},
            "internalId": uuid,
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let url = body["data"]["files"][RESOURCE]
        .as_str()
        .unwrap_or_else(|| panic!("a signed URL in {body}"));
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    assert!(url.starts_with(&endpoint), "straight to the bucket: {url}");
    let put = http
        .put(url)
        .header("content-type", "image/png")
        .body(format!("the image of scene {uuid}"))
        .send()
        .await
        .expect("upload");
    assert_eq!(put.status(), 200, "the bucket takes the file");
    let (status, body) = bearer(
        http,
        Method::POST,
        &format!("{committer}/v1/inputs/{uuid}/actions/commit"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "committed through {committer}: {body}");
    assert_eq!(body["data"]["status"], "created");
}

/// The changes that must stop a token everywhere.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Delete,
    Disable,
    Revoke,
}

async fn stop_through(session: &Session, change: Stop, file: &CredentialsFile, token: &str) {
    let id = &file.client_id;
    let url = |path: &str| format!("{}{path}", session.base_url);
    let request = match change {
        Stop::Delete => session.http.delete(url(&format!("/v1/credentials/{id}"))),
        Stop::Disable => session
            .http
            .post(url(&format!("/v1/credentials/{id}/disable"))),
        Stop::Revoke => session
            .http
            .post(url("/v1/auth/oauth/revoke"))
            .basic_auth(id, Some(&file.client_secret))
            .form(&[("token", token)]),
    };
    let response = request
        .header("x-csrf-token", &session.csrf)
        .send()
        .await
        .expect("the change");
    assert!(
        response.status().is_success(),
        "{change:?}: {}",
        response.status()
    );
}

/// How long until `base_url` refuses `token`, asking every 2 ms; at most 3 s.
async fn time_until_refused(base_url: String, token: String, since: Instant) -> Duration {
    let http = reqwest::Client::new();
    loop {
        let status = me_status(&http, &base_url, &token).await;
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200, "{base_url} answers {status}");
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "{base_url} still accepts the token after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Revocation latency over every kind of change through every replica: min, median,
/// max.
async fn revocation_latency(
    http: &reqwest::Client,
    urls: &[String],
    sessions: &[Session],
) -> (Duration, Duration, Duration) {
    let mut samples = Vec::new();
    for change in [Stop::Delete, Stop::Disable, Stop::Revoke] {
        for (writer, session) in sessions.iter().enumerate() {
            // Made through one replica, its token from the next.
            let file = session
                .credentials(json!({ "name": format!("stop-{change:?}-{writer}") }))
                .await;
            let token = token(http, &urls[(writer + 1) % urls.len()], &file).await;
            for url in urls {
                assert_eq!(me_status(http, url, &token).await, 200, "{url}");
            }
            stop_through(session, change, &file, &token).await;
            let stopped = Instant::now();
            let observers: Vec<_> = (0..urls.len())
                .filter(|observer| *observer != writer)
                .map(|observer| {
                    tokio::spawn(time_until_refused(
                        urls[observer].clone(),
                        token.clone(),
                        stopped,
                    ))
                })
                .collect();
            for observer in observers {
                samples.push(observer.await.expect("observer"));
            }
        }
    }
    samples.sort();
    (
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1],
    )
}

/// Creates credentials through `session` until `stop`, counting and keeping what was
/// acknowledged; a request that fails (its replica killed) is not.
async fn create_until(
    session: Arc<Session>,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let sent = session
            .http
            .post(format!("{}/v1/credentials", session.base_url))
            .header("x-csrf-token", &session.csrf)
            .json(&json!({ "name": format!("load-{n}") }))
            .send()
            .await;
        let Ok(response) = sent else {
            // The replica is gone; nothing more to send it.
            break;
        };
        if response.status() == 201
            && let Ok(file) = response.json::<Envelope<CredentialsFile>>().await
        {
            ids.push(file.data.client_id);
            acknowledged.fetch_add(1, Ordering::AcqRel);
        }
    }
    ids
}

/// Waits until every counter reached `at_least`; at most 20 s.
async fn until_each(counters: &[Arc<AtomicUsize>], at_least: usize) {
    let started = Instant::now();
    while counters
        .iter()
        .any(|c| c.load(Ordering::Acquire) < at_least)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the writers did not get {at_least} creations each acknowledged in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_tokens_files_revocations_and_limits_and_survive_a_kill() {
    let Some((admin_url, redis_url, s3_url)) = environment() else {
        return;
    };
    let (database, database_url) = PostgresDatabase::create(admin_url).await;
    let ports = [free_port(), free_port(), free_port()];
    let shared = Shared {
        database_url,
        // The load balancer's URL in a real cluster; here the first replica's.
        public_url: format!("http://127.0.0.1:{}", ports[0]),
        storage_url: format!(
            "{}/cluster-{}",
            s3_url.trim_end_matches('/'),
            latchkey_core::random::base62(12)
        ),
        redis_url,
        // 32 random base62 characters are 32 bytes.
        key_encryption_key: base64::engine::general_purpose::STANDARD
            .encode(latchkey_core::random::base62(32)),
        dir: tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("dir"),
    };
    let started = Instant::now();
    // The first creates the schema and the administrator; the others join it.
    let first = start(&shared, 0, ports[0]).await;
    let (second, third) = tokio::join!(start(&shared, 1, ports[1]), start(&shared, 2, ports[2]));
    let mut replicas = vec![first, second, third];
    let urls: Vec<String> = replicas.iter().map(|r| r.base_url.clone()).collect();
    println!("three replicas ready in {:?}", started.elapsed());
    let http = reqwest::Client::new();

    let operator = Session::sign_in(&urls[0], EMAIL, PASSWORD).await;
    let workspace = developer_workspace(&operator).await;
    let mut developers = Vec::new();
    for url in &urls {
        developers.push(Session::sign_in(url, DEVELOPER, PASSWORD).await);
    }

    // Credentials made through each replica in turn, each token from the next one:
    // every token works on every replica.
    let mut files = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..6 {
        let file = developers[i % 3]
            .credentials(json!({ "name": format!("fleet-{i}") }))
            .await;
        tokens.push(token(&http, &urls[(i + 1) % 3], &file).await);
        files.push(file);
    }
    for token in &tokens {
        for url in &urls {
            assert_eq!(me_status(&http, url, token).await, 200, "{url}");
        }
    }

    // Scenes: uploaded through one replica (straight to the bucket), committed
    // through the next.
    for i in 0..3 {
        let token = &tokens[i];
        scene_across(&http, &urls[i], &urls[(i + 1) % 3], &workspace, token).await;
    }

    // Deletions through the replica after the one that made the token's: refused
    // everywhere, the others' tokens untouched.
    for i in 0..3 {
        let deleted = developers[(i + 2) % 3]
            .http
            .delete(format!(
                "{}/v1/credentials/{}",
                urls[(i + 2) % 3],
                files[i].client_id
            ))
            .header("x-csrf-token", &developers[(i + 2) % 3].csrf)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
    }

    let (min, median, max) = revocation_latency(&http, &urls, &developers).await;
    println!(
        "revocation reached the other replicas (3 processes, PostgreSQL notified, 18 \
         samples): min {min:?}, median {median:?}, max {max:?}"
    );
    for token in &tokens[..3] {
        for url in &urls {
            assert_eq!(me_status(&http, url, token).await, 401, "deleted: {url}");
        }
    }
    for token in &tokens[3..] {
        for url in &urls {
            assert_eq!(me_status(&http, url, token).await, 200, "kept: {url}");
        }
    }
    assert!(median <= Duration::from_millis(100), "median {median:?}");
    assert!(max <= Duration::from_millis(500), "max {max:?}");

    // A credential's rate limit, counted once for the cluster: per minute in fixed
    // windows, so a run that straddles a window's end may see twice the limit, never
    // the three times three replicas counting alone would allow.
    let limit = 6;
    let limited = developers[0]
        .credentials(json!({ "name": "limited", "rateLimitPerMinute": limit }))
        .await;
    let limited_token = token(&http, &urls[1], &limited).await;
    let mut allowed = 1;
    for i in 0..3 * limit {
        match me_status(&http, &urls[i % 3], &limited_token).await {
            200 => allowed += 1,
            429 => {}
            other => panic!("the limited credential got {other}"),
        }
    }
    println!(
        "rate limit {limit}/min: {allowed} of {} allowed",
        3 * limit + 1
    );
    assert!(
        (limit..=2 * limit).contains(&allowed),
        "{allowed} allowed for a limit of {limit} a minute"
    );

    // SIGKILL one replica while each replica takes a stream of creations.
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    let developers: Vec<Arc<Session>> = developers.into_iter().map(Arc::new).collect();
    let writers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(create_until(
                Arc::clone(&developers[i]),
                Arc::clone(&stop),
                Arc::clone(&counters[i]),
            ))
        })
        .collect();
    until_each(&counters, 5).await;
    let mut killed = replicas.pop().expect("the third replica");
    killed.child.kill().await.expect("SIGKILL");
    let at_kill: Vec<usize> = counters.iter().map(|c| c.load(Ordering::Acquire)).collect();
    until_each(&counters[..2], at_kill[0].max(at_kill[1]) + 5).await;
    stop.store(true, Ordering::Release);
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    let listed: Vec<Value> = developers[1]
        .call(Method::GET, "/v1/credentials", Value::Null, 200)
        .await;
    let listed: BTreeSet<String> = listed
        .iter()
        .filter_map(|c| c["clientId"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<&String> = acknowledged.difference(&listed).collect();
    println!(
        "SIGKILL mid-load: {} creations acknowledged ({} by the killed replica), {} lost",
        acknowledged.len(),
        at_kill[2],
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    for token in &tokens[3..] {
        for url in &urls[..2] {
            assert_eq!(
                me_status(&http, url, token).await,
                200,
                "after the kill: {url}"
            );
        }
    }
    println!("the cluster test took {:?}", started.elapsed());

    for mut replica in replicas {
        replica.child.kill().await.expect("stop a replica");
    }
    drop(database);
}
