//! No secret the service issues or is given reaches its logs or, other than as a
//! digest, its database (issue 9, finding 5).
//!
//! The real binary runs with the most verbose log an operator would turn on
//! (`LATCHKEY_LOG=debug`, as text and as JSON) through a broad flow over HTTP: sign-ins
//! (failed ones too), credentials, both token grants, introspection and revocation, a
//! new person's set-password link, a scene's signed upload URL, a webhook, a leak
//! report. Every secret value met on the way is collected, and after a clean shutdown
//! the whole of standard output and standard error, and the database, are searched
//! for each.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use common::{BINARY, PostgresDatabase, hidden};

const OPERATOR: &str = "ops@example.com";
const NEWCOMER: &str = "new@flow.test";

/// One secret value and what it is, for the failure message (never the value).
struct Secret {
    what: String,
    value: String,
}

#[derive(Default)]
struct Secrets(Vec<Secret>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: &str) {
        assert!(value.len() >= 16, "too short to search for reliably");
        self.0.push(Secret {
            what: what.into(),
            value: value.to_owned(),
        });
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_database() {
    check_a_run(false).await;
}

#[tokio::test]
async fn no_secret_reaches_the_json_logs_or_the_database() {
    check_a_run(true).await;
}

async fn check_a_run(json_logs: bool) {
    // Latchkey refuses a data directory other users can read.
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("dir");
    let database = match std::env::var("LATCHKEY_TEST_DATABASE_URL") {
        Ok(admin_url) => Some(PostgresDatabase::create(admin_url).await),
        Err(_) => None,
    };
    let database_url = database.as_ref().map(|(_, url)| url.clone());
    let mut logged = Secrets::default();
    let admin_password = format!("operator-{}", random(24));
    logged.add("the operator's password", &admin_password);

    let mut server = Server::start(
        dir.path(),
        &admin_password,
        database_url.as_deref(),
        json_logs,
    )
    .await;
    let log_only = drive(&server.base_url, &admin_password, &mut logged).await;
    // Deliveries are sent by the upkeep loop; give it a moment to sign and send some.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.terminate().await;

    let stdout = std::fs::read(dir.path().join("stdout.log")).expect("stdout");
    let stderr = std::fs::read(dir.path().join("stderr.log")).expect("stderr");
    let log = [stdout, stderr].concat();
    let text = String::from_utf8_lossy(&log);
    assert_absent("the log", &log, logged.0.iter().chain(&log_only));
    // The run was logged, its one-time links in redacted form.
    assert!(
        text.contains("DEBUG") || text.contains("\"level\":\"DEBUG\""),
        "debug lines"
    );
    for redacted in ["/set-password/{token}", "/upload/{token}"] {
        assert!(text.contains(redacted), "the log shows {redacted}");
    }

    // Only `logged`: CSRF tokens are stored beside their session's digest by design.
    assert_not_in_database(dir.path(), database_url.as_deref(), &logged.0).await;
    drop(database);
}

/// Fails, naming the secret, when any of `secrets` occurs in `haystack`.
fn assert_absent<'a>(place: &str, haystack: &[u8], secrets: impl IntoIterator<Item = &'a Secret>) {
    for secret in secrets {
        assert!(
            !contains(haystack, secret.value.as_bytes()),
            "{} appears in {place}",
            secret.what
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The database holds none of `secrets` in plain text: on SQLite the raw bytes of the
/// database, its write-ahead log and shared memory file (after a clean shutdown); on
/// PostgreSQL every row of every table, as text.
async fn assert_not_in_database(data_dir: &Path, database_url: Option<&str>, secrets: &[Secret]) {
    let Some(url) = database_url else {
        let mut found_files = 0;
        for name in ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"] {
            if let Ok(bytes) = std::fs::read(data_dir.join(name)) {
                found_files += 1;
                assert_absent(name, &bytes, secrets);
            }
        }
        assert!(
            found_files > 0,
            "no SQLite database in {}",
            data_dir.display()
        );
        return;
    };
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables")
    .iter()
    .map(|row| row.get(0))
    .collect();
    let mut all = String::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
        let text: String = rows.iter().map(|row| row.get::<String, _>(0)).collect();
        assert_absent(&format!("table {table}"), text.as_bytes(), secrets);
        all.push_str(&text);
    }
    assert!(all.contains(NEWCOMER), "the tables were read");
}

/// `latchkey serve` with its standard output and error written to files in `dir`.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    async fn start(
        dir: &Path,
        admin_password: &str,
        database_url: Option<&str>,
        json_logs: bool,
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &format!("http://127.0.0.1:{port}")])
            .env("LATCHKEY_ADMIN_EMAIL", OPERATOR)
            .env("LATCHKEY_ADMIN_PASSWORD", admin_password)
            .env("LATCHKEY_LOG", "debug")
            .env("LATCHKEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
            .env_remove("LATCHKEY_LOG_FORMAT")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("stdout.log")).expect("file"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).expect("file"),
            ))
            .kill_on_drop(true);
        if json_logs {
            command.env("LATCHKEY_LOG_FORMAT", "json");
        }
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let child = command.spawn().expect("start latchkey serve");
        let base_url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(response) = reqwest::get(format!("{base_url}/healthz")).await
                && response.status() == 200
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "latchkey serve did not become healthy within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, base_url }
    }

    /// SIGTERM, and a clean exit: the database files are complete.
    async fn terminate(&mut self) {
        let pid = self.child.id().expect("running");
        let killed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("latchkey stops within 15 s of SIGTERM")
            .expect("wait");
        assert!(status.success(), "latchkey exited with {status}");
    }
}

/// A person's browser: cookies and the session's CSRF token.
struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base_url: String,
    csrf: String,
}

impl Browser {
    fn new(base_url: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            http,
            jar,
            base_url: base_url.to_owned(),
            csrf: String::new(),
        }
    }

    /// Every cookie value the server set for `path`.
    fn cookies(&self, path: &str) -> Vec<(String, String)> {
        let url = format!("{}{path}", self.base_url).parse().expect("url");
        let Some(header) = self.jar.cookies(&url) else {
            return Vec::new();
        };
        header
            .to_str()
            .expect("ascii")
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// Posts the sign-in form; answers its status (303 when signed in).
    async fn sign_in(&mut self, email: &str, password: &str) -> u16 {
        let login = self.page("/login").await;
        let status = self
            .http
            .post(format!("{}/login", self.base_url))
            .form(&[
                ("login_csrf", hidden(&login, "login_csrf").as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("sign in")
            .status()
            .as_u16();
        if status == 303 {
            self.csrf = hidden(&self.page("/credentials").await, "csrf_token");
        }
        status
    }

    async fn page(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
    }

    /// A JSON call with the session; asserts the status and answers `data`.
    async fn call(&self, method: reqwest::Method, path: &str, body: Value, status: u16) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .expect("request");
        let actual = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(actual, status, "{path}: {text}");
        serde_json::from_str::<Value>(&text).expect("JSON")["data"].clone()
    }
}

/// The flow; collects every secret it meets in `logged`, and answers those that the
/// database holds in plain text (so they are looked for in the log only).
async fn drive(base_url: &str, admin_password: &str, logged: &mut Secrets) -> Vec<Secret> {
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;

    // Sign-ins that fail, with passwords a person might mistype.
    let mut stranger = Browser::new(base_url);
    for attempt in 0..2 {
        let wrong = format!("{admin_password}-{attempt}");
        assert_ne!(stranger.sign_in(OPERATOR, &wrong).await, 303);
        logged.add("a wrong password", &wrong);
    }
    for (name, value) in stranger.cookies("/login") {
        logged.add(format!("the {name} cookie"), &value);
    }

    let mut operator = Browser::new(base_url);
    assert_eq!(operator.sign_in(OPERATOR, admin_password).await, 303);
    for (name, value) in operator.cookies("/") {
        logged.add(format!("the operator's {name} cookie"), &value);
    }
    // A CSRF token is stored beside its session's digest (it is useless without the
    // session cookie).
    let mut log_only = vec![Secret {
        what: "the operator's CSRF token".to_owned(),
        value: operator.csrf.clone(),
    }];

    // Credentials, both grants, introspection and revocation.
    let file = operator
        .call(
            post.clone(),
            "/v1/credentials",
            json!({ "name": "flow" }),
            201,
        )
        .await;
    let client_id = file["clientId"].as_str().expect("client id").to_owned();
    let client_secret = file["clientSecret"].as_str().expect("secret").to_owned();
    logged.add("a client secret", &client_secret);
    let grant = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("client_id", client_id.clone()),
            ("client_secret", client_secret.clone()),
        ];
        form.extend(fields);
        form
    };
    let tokens: Value = http
        .post(format!("{base_url}/v1/auth/oauth/token"))
        .form(&grant(vec![(
            "grant_type",
            "client_credentials".to_owned(),
        )]))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let access = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    logged.add("an access token", &access);
    logged.add("a refresh token", &refresh);
    let me = http
        .get(format!("{base_url}/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let refreshed: Value = http
        .post(format!("{base_url}/v1/auth/oauth/token"))
        .form(&grant(vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.clone()),
        ]))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("refresh JSON");
    let second_access = refreshed["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    logged.add("a refreshed access token", &second_access);
    if let Some(second_refresh) = refreshed["refresh_token"].as_str() {
        logged.add("a second refresh token", second_refresh);
    }
    for endpoint in ["introspect", "revoke"] {
        let response = http
            .post(format!("{base_url}/v1/auth/oauth/{endpoint}"))
            .form(&grant(vec![("token", second_access.clone())]))
            .send()
            .await
            .expect(endpoint);
        assert_eq!(response.status(), 200, "{endpoint}");
    }

    // A new person sets their password through the one-time link.
    let organization = operator
        .call(
            post.clone(),
            "/v1/organizations",
            json!({ "name": "Flow" }),
            201,
        )
        .await;
    let organization_id = organization["id"].as_i64().expect("organization id");
    let person = operator
        .call(
            post.clone(),
            "/v1/users",
            json!({ "email": NEWCOMER, "name": "New", "organizationId": organization_id,
                    "role": "admin" }),
            201,
        )
        .await;
    let link = person["setPasswordUrl"]
        .as_str()
        .expect("set-password link")
        .to_owned();
    let link_token = link.rsplit('/').next().expect("token").to_owned();
    logged.add("a set-password link's token", &link_token);
    let link_path = link.strip_prefix(base_url).expect("a link to this server");
    let newcomer = Browser::new(base_url);
    let form = newcomer.page(link_path).await;
    let new_password = format!("newcomer-{}", random(24));
    logged.add("a password set through the link", &new_password);
    let set = newcomer
        .http
        .post(&link)
        .form(&[
            ("form_csrf", hidden(&form, "form_csrf").as_str()),
            ("password", new_password.as_str()),
        ])
        .send()
        .await
        .expect("set password");
    assert_eq!(set.status(), 303, "the link sets the password");
    let mut newcomer = Browser::new(base_url);
    assert_eq!(newcomer.sign_in(NEWCOMER, &new_password).await, 303);
    for (name, value) in newcomer.cookies("/") {
        logged.add(format!("the newcomer's {name} cookie"), &value);
    }
    log_only.push(Secret {
        what: "the newcomer's CSRF token".to_owned(),
        value: newcomer.csrf.clone(),
    });

    // A scene and its signed upload URL, used.
    let workspace = operator
        .call(
            post.clone(),
            "/v1/workspaces",
            json!({ "name": "flow", "organizationId": organization_id }),
            201,
        )
        .await;
    let workspace_id = workspace["id"].as_str().expect("workspace id").to_owned();
    let initialized = operator
        .call(
            post.clone(),
            "/v1/inputs/initialize",
            json!({ "workspaceId": workspace_id }),
            200,
        )
        .await;
    let scene = operator
        .call(
            post.clone(),
            &format!("/v1/inputs/cameras?workspaceId={workspace_id}"),
            json!({
                "externalId": "flow",
                "frame": {"images": [{"filename": "/d/cam.png", "resourceId": "/d/cam.png",
                                      "sensorName": "CAM"}]},
                "internalId": initialized["sceneUuid"],
            }),
            201,
        )
        .await;
    let upload_url = scene["files"]["/d/cam.png"]
        .as_str()
        .expect("signed URL")
        .to_owned();
    logged.add(
        "a signed upload URL's token",
        upload_url.rsplit('/').next().expect("token"),
    );
    let uploaded = http
        .put(&upload_url)
        .body(&b"\x89PNG not really"[..])
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 200);

    // A webhook, with a receiver that takes every delivery.
    let receiver = TcpListener::bind("127.0.0.1:0").await.expect("receiver");
    let receiver_url = format!("http://{}/hook", receiver.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = receiver.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0_u8; 8192];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let webhook = operator
        .call(
            post.clone(),
            &format!("/v1/organizations/{organization_id}/webhooks"),
            json!({ "url": receiver_url }),
            201,
        )
        .await;
    logged.add(
        "a webhook signing secret",
        webhook["signingSecret"].as_str().expect("whsec_"),
    );
    // Events of the organization's credentials reach the webhook.
    let leaked = newcomer
        .call(
            post.clone(),
            "/v1/credentials",
            json!({ "name": "leaked" }),
            201,
        )
        .await;
    let leaked_secret = leaked["clientSecret"].as_str().expect("secret").to_owned();
    logged.add("a reported client secret", &leaked_secret);
    let verdicts: Value = http
        .post(format!("{base_url}/v1/secret-scanning/reports"))
        .json(
            &json!([{ "token": leaked_secret, "type": "latchkey_client_secret",
                        "url": "https://example.com/leak", "source": "test" }]),
        )
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("verdicts");
    assert_eq!(verdicts[0]["label"], "true_positive", "{verdicts}");

    log_only
}

fn random(len: usize) -> String {
    latchkey_core::random::base62(len)
}
