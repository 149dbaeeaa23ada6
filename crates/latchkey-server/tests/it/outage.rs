//! The database goes down under a running server: valid tokens keep working from what
//! the server holds in memory, everything else is 503 `temporarily_unavailable` with
//! `Retry-After` (never a 401 telling a client its credential is gone), nothing waits
//! long, and all is well once the database is back. On a throwaway PostgreSQL cluster
//! of the test's own, never a shared server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use latchkey_types::{ErrorBody, IntrospectionResponse, OAuthErrorBody};

use crate::harness::TestApp;

/// A PostgreSQL cluster in a temporary directory, on a free port, for one test.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's programs.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs in /usr/lib/postgresql/<version>/bin")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb in /usr/lib/postgresql/*/bin")
}

impl Cluster {
    fn create() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster {
            bin: postgres_bin(),
            data,
            port,
            _dir: dir,
        };
        // PostgreSQL refuses to run as root; then the cluster is the postgres user's.
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster._dir.path()));
        }
        run(&mut cluster.command(
            "initdb",
            &[
                "-D",
                cluster.data.to_str().expect("path"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        ));
        cluster.start();
        cluster
    }

    /// `program` of PostgreSQL with `args`, as the postgres user when this is root.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if is_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir().display()
        );
        let log = self.socket_dir().join("postgres.log");
        run(&mut self.command(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("path"),
                "-o",
                &options,
                "-l",
                log.to_str().expect("path"),
                "-w",
                "start",
            ],
        ));
    }

    /// Stops the server at once, as a crash or a lost host would.
    fn stop(&self) {
        run(&mut self.command(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("path"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        ));
    }

    fn socket_dir(&self) -> &Path {
        self.data.parent().expect("the cluster's directory")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    self.data.to_str().unwrap_or_default(),
                    "-m",
                    "immediate",
                    "stop",
                ],
            )
            .output();
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .is_ok_and(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a PostgreSQL program");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A second server on `app`'s database and issuer, serving the SDK's base URL.
async fn replica_of(app: &TestApp) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = app.config();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let replica = latchkey_server::Application::build(config)
        .await
        .expect("build replica");
    let base_url = format!("http://{}", replica.local_addr().expect("address"));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(replica.run(async {
        let _ = stopped.await;
    }));
    (base_url, shutdown)
}

async fn introspect(
    http: &reqwest::Client,
    base_url: &str,
    file: &latchkey_types::CredentialsFile,
    token: &str,
) -> reqwest::Response {
    http.post(format!("{base_url}/v1/auth/oauth/introspect"))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect")
}

async fn me(http: &reqwest::Client, base_url: &str, token: &str) -> reqwest::Response {
    http.get(format!("{base_url}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /v1/me")
}

/// Asserts a 503 `temporarily_unavailable` with `Retry-After`, in the API's shape.
async fn temporarily_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.error, "temporarily_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_known_tokens_work_and_nothing_says_a_credential_is_gone() {
    let cluster = tokio::task::block_in_place(Cluster::create);
    let url = cluster.url();
    let app = TestApp::spawn_with(|config| config.database_url = Some(url)).await;
    let (replica, _replica_shutdown) = replica_of(&app).await;
    let person = app.sign_in_as_admin().await;
    let known = person.create_credentials("known").await;
    let unknown = person.create_credentials("unknown").await;
    let known_token = app.token(&known).await;
    let unknown_token = app.token(&unknown).await;
    // The replica has `known` in memory, and has never seen `unknown`.
    let http = reqwest::Client::new();
    assert_eq!(me(&http, &replica, &known_token).await.status(), 200);

    tokio::task::block_in_place(|| cluster.stop());

    // A token the replica knows is still valid: introspection says so, from memory.
    let started = Instant::now();
    let answer = introspect(&http, &replica, &known, &known_token).await;
    assert_eq!(answer.status(), 200);
    let answer: IntrospectionResponse = answer.json().await.expect("introspection");
    assert!(answer.active, "the known token is still active");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A call that needs the database: 503 after about two seconds at most, never 401.
    let started = Instant::now();
    let response = me(&http, &replica, &known_token).await;
    let waited = started.elapsed();
    println!(
        "database down: GET /v1/me with a known token answered {} after {waited:?}",
        response.status()
    );
    if response.status() != 200 {
        temporarily_unavailable(response).await;
    }
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");

    // A token whose credential is not in memory cannot be judged: 503, not 401.
    let started = Instant::now();
    temporarily_unavailable(me(&http, &replica, &unknown_token).await).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let token = http
        .post(format!("{replica}/v1/auth/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", unknown.client_id.as_str()),
            ("client_secret", unknown.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(token.status(), 503);
    assert!(token.headers().contains_key("retry-after"));
    let body: OAuthErrorBody = token.json().await.expect("OAuth error");
    assert_eq!(body.error, "temporarily_unavailable");

    // Readiness says so within a second.
    let started = Instant::now();
    let ready = http
        .get(format!("{replica}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    tokio::task::block_in_place(|| cluster.start());
    let back = Instant::now();
    loop {
        let ready = http
            .get(format!("{replica}/readyz"))
            .send()
            .await
            .expect("readyz");
        if ready.status() == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "not ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "ready again {:?} after the database was back",
        back.elapsed()
    );
    assert_eq!(me(&http, &replica, &unknown_token).await.status(), 200);
    assert_eq!(me(&http, &replica, &known_token).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_while_the_database_is_down_comes_up_when_it_is_back() {
    let cluster = tokio::task::block_in_place(Cluster::create);
    tokio::task::block_in_place(|| cluster.stop());
    let url = cluster.url();
    let starting = tokio::spawn(TestApp::spawn_with(|config| {
        config.database_url = Some(url)
    }));
    // It keeps trying rather than giving up: still starting after a few attempts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !starting.is_finished(),
        "the start ended without the database"
    );

    tokio::task::block_in_place(|| cluster.start());
    let app = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("started once the database was back")
        .expect("start task");
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("after the outage")
        .await;
    let token = app.token(&file).await;
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
}
