//! What the binary's tests share: a real server started in this process with an
//! operator signed in, and running the real `latchkey` binary.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers; `expect` would fail in the others"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use latchkey_server::{AdminBootstrap, Application, Config};
use latchkey_types::{CredentialsFile, Envelope};
use secrecy::SecretString;
use tokio::process::Command;

pub const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");
pub const EMAIL: &str = "ops@example.com";
pub const PASSWORD: &str = "operator password";

/// The value of the first hidden input named `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field") + marker.len();
    let end = html[start..].find('"').expect("end") + start;
    html[start..end].to_owned()
}

/// A signed-in page session with its CSRF token, for the API calls tests set up with.
pub struct Session {
    pub base_url: String,
    pub http: reqwest::Client,
    pub csrf: String,
}

impl Session {
    /// Signs in through the real form.
    pub async fn sign_in(base_url: &str, email: &str, password: &str) -> Session {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let login = http
            .get(format!("{base_url}/login"))
            .send()
            .await
            .expect("login")
            .text()
            .await
            .expect("html");
        let response = http
            .post(format!("{base_url}/login"))
            .form(&[
                ("login_csrf", hidden(&login, "login_csrf").as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), 303, "sign-in should redirect");
        let page = http
            .get(format!("{base_url}/credentials"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        Session {
            base_url: base_url.to_owned(),
            csrf: hidden(&page, "csrf_token"),
            http,
        }
    }

    /// A JSON call with the session; asserts the status and answers `data`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
        status: u16,
    ) -> T {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .expect("request");
        let actual = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(actual, status, "{path}: {text}");
        serde_json::from_str::<Envelope<T>>(&text)
            .expect("enveloped JSON")
            .data
    }

    /// Generates credentials as the signed-in person.
    pub async fn credentials(&self, body: serde_json::Value) -> CredentialsFile {
        self.call(reqwest::Method::POST, "/v1/credentials", body, 201)
            .await
    }
}

/// A server with the operator signed in: on SQLite in a temporary directory, or on a
/// PostgreSQL database of its own when `LATCHKEY_TEST_DATABASE_URL` names a server
/// (`postgres://postgres@127.0.0.1:5432/postgres`).
pub struct Server {
    pub base_url: String,
    pub operator: Session,
    pub dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    // Declared last, so the database is dropped after the server was told to stop.
    _database: Option<PostgresDatabase>,
}

/// A PostgreSQL database that exists for one test.
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates the database; answers it and its URL.
    pub async fn create(admin_url: String) -> (PostgresDatabase, String) {
        use sqlx::{Connection, Executor};
        // Unique among the tests of this process and the test processes running now.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "latchkey_cli_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to LATCHKEY_TEST_DATABASE_URL");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        (PostgresDatabase { admin_url, name }, url)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        use sqlx::{Connection, Executor};
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; a small runtime of its own drops the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// The database of a server started as a process of its own: a PostgreSQL database of
/// its own when `LATCHKEY_TEST_DATABASE_URL` names a server, otherwise none (SQLite in
/// the data directory).
pub struct TestDatabase(Option<(PostgresDatabase, String)>);

impl TestDatabase {
    /// The `--database-url` to serve with, if any.
    pub fn url(&self) -> Option<&str> {
        self.0.as_ref().map(|(_, url)| url.as_str())
    }
}

pub async fn test_database() -> TestDatabase {
    match std::env::var("LATCHKEY_TEST_DATABASE_URL") {
        Ok(admin_url) => TestDatabase(Some(PostgresDatabase::create(admin_url).await)),
        Err(_) => TestDatabase(None),
    }
}

pub async fn server() -> Server {
    // Latchkey refuses a data directory other users can read.
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("dir");
    let mut config = Config::new(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let database = match std::env::var("LATCHKEY_TEST_DATABASE_URL") {
        Ok(admin_url) => Some(PostgresDatabase::create(admin_url).await),
        Err(_) => None,
    };
    config.database_url = database.as_ref().map(|(_, url)| url.clone());
    config.admin = Some(AdminBootstrap {
        email: EMAIL.to_owned(),
        password: SecretString::from(PASSWORD.to_owned()),
    });
    // Bound first, so its address can be the public URL, which PostgreSQL requires.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind a port");
    config.public_url = Some(format!(
        "http://{}",
        listener.local_addr().expect("bound address")
    ));
    let app = Application::build_on(config, listener)
        .await
        .expect("build");
    let base_url = app.public_url().to_owned();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    Server {
        operator: Session::sign_in(&base_url, EMAIL, PASSWORD).await,
        base_url,
        dir,
        _shutdown: shutdown,
        _database: database.map(|(database, _)| database),
    }
}

impl Server {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    pub fn write_file(&self, name: &str, file: &CredentialsFile) -> PathBuf {
        self.write(name, &serde_json::to_string(file).expect("json"))
    }
}

/// What a run of the binary printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `latchkey` with `args` (and `--credentials`), never with credentials from this
/// process's environment; fails the test on a panic.
pub async fn latchkey(args: &[&str], credentials: Option<&Path>) -> Run {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("LATCHKEY_CREDENTIALS")
        .env_remove("KOGNIC_CREDENTIALS")
        .env_remove("LATCHKEY_CLIENT_ID");
    if let Some(credentials) = credentials {
        command.arg("--credentials").arg(credentials);
    }
    let output = command.output().await.expect("run latchkey");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}
