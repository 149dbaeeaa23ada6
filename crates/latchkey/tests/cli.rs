//! The real `latchkey` binary, as an operator meets it: a zero-configuration first start
//! that prints a one-time administrator password, `admin add-user` with the password on
//! standard input, a graceful stop on SIGTERM, and a restart that keeps everything.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");

struct Server {
    child: Child,
    base_url: String,
    stdout: mpsc::UnboundedReceiver<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts `latchkey serve` on its defaults but for the data directory and port, and
/// waits until `/healthz` answers.
async fn serve(data_dir: &Path, port: u16) -> Server {
    serve_with(data_dir, port, &[]).await
}

/// [`serve`] with more environment variables.
async fn serve_with(data_dir: &Path, port: u16, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(BINARY)
        .envs(env.iter().copied())
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("LATCHKEY_ADMIN_EMAIL")
        .env_remove("LATCHKEY_ADMIN_PASSWORD")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start latchkey serve");
    let (lines, stdout) = mpsc::unbounded_channel();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = lines.send(line);
        }
    });
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
    Server {
        child,
        base_url,
        stdout,
    }
}

impl Server {
    /// Everything printed on standard output so far.
    fn printed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.try_recv() {
            lines.push(line);
        }
        lines
    }

    /// Sends SIGTERM and returns whether the process exited successfully within 10 s.
    async fn terminate(mut self) -> bool {
        let pid = self.child.id().expect("running");
        let killed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("latchkey stops within 10 s of SIGTERM")
            .expect("wait")
            .success()
    }

    /// Signs in through the form; true when the server accepted the password.
    async fn can_sign_in(&self, email: &str, password: &str) -> bool {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = client
            .get(format!("{}/login", self.base_url))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("body");
        let marker = "name=\"login_csrf\" value=\"";
        let start = page.find(marker).expect("login_csrf") + marker.len();
        let csrf = &page[start..start + 32];
        let response = client
            .post(format!("{}/login", self.base_url))
            .form(&[
                ("login_csrf", csrf),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("sign in");
        response.status() == 303
    }
}

async fn add_user(data_dir: &Path, email: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(BINARY)
        .args(["admin", "add-user", "--data-dir"])
        .arg(data_dir)
        .args(["--email", email, "--name", "Bob Builder"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start latchkey admin add-user");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .expect("write password");
    drop(stdin);
    child.wait_with_output().await.expect("add-user output")
}

#[tokio::test]
async fn first_start_prints_a_one_time_admin_password_and_a_restart_keeps_everything() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let port = free_port();
    let mut server = serve(&data_dir, port).await;

    let printed = server.printed();
    let password = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("Password:"))
        .map(|p| p.trim().to_owned())
        .expect("the first start prints the administrator's password");
    assert!(server.can_sign_in("admin@latchkey.local", &password).await);
    assert!(
        !server
            .can_sign_in("admin@latchkey.local", "wrong password")
            .await
    );

    let added = add_user(&data_dir, "bob@example.com", "bobs password").await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(server.can_sign_in("bob@example.com", "bobs password").await);

    assert!(
        server.terminate().await,
        "SIGTERM ends latchkey with success"
    );

    let mut restarted = serve(&data_dir, port).await;
    assert!(
        restarted
            .can_sign_in("admin@latchkey.local", &password)
            .await
    );
    assert!(
        restarted
            .can_sign_in("bob@example.com", "bobs password")
            .await
    );
    assert!(
        !restarted
            .printed()
            .iter()
            .any(|line| line.contains("Password:")),
        "the password is printed only on the first start"
    );
    assert!(restarted.terminate().await);
}

#[tokio::test]
async fn add_user_refuses_a_short_password_with_a_message_and_no_panic() {
    let temp = tempfile::tempdir().expect("temp dir");
    let output = add_user(&temp.path().join("data"), "carol@example.com", "short").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 8 characters"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_first_start_keeps_the_data_directory_and_its_files_to_the_service_user() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let server = serve(&data_dir, free_port()).await;

    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(mode(&data_dir.join("objects")), 0o700, "the object store");
    for file in [
        "latchkey.db",
        "latchkey.db-wal",
        "latchkey.db-shm",
        "key-encryption-key",
    ] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    assert!(server.terminate().await);
}

#[tokio::test]
async fn a_start_on_a_world_readable_database_is_refused_with_the_chmod_that_fixes_it() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let port = free_port();
    assert!(serve(&data_dir, port).await.terminate().await);
    let database = data_dir.join("latchkey.db");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(BINARY)
            .args(["serve", "--data-dir"])
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("DATABASE_URL")
            .output(),
    )
    .await
    .expect("latchkey exits")
    .expect("run latchkey serve");
    assert!(!output.status.success(), "the start is refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let path = database.display().to_string();
    assert!(stderr.contains(&path), "names the file: {stderr}");
    assert!(stderr.contains("mode 0644"), "says its mode: {stderr}");
    assert!(
        stderr.contains(&format!("chmod 600 {path}")),
        "says how to fix it: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(
        serve(&data_dir, port).await.terminate().await,
        "fixed, it starts"
    );
}

async fn published_kids(base_url: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{base_url}/.well-known/jwks.json"))
        .await
        .expect("GET jwks")
        .json()
        .await
        .expect("JWKS");
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect();
    kids.sort();
    kids
}

async fn rotate_signing_key(data_dir: &Path) -> String {
    let output = Command::new(BINARY)
        .args(["admin", "rotate-signing-key", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .await
        .expect("run latchkey admin rotate-signing-key");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[tokio::test]
async fn an_operator_rotates_the_signing_key_and_the_server_publishes_both_keys() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let port = free_port();
    let server = serve(&data_dir, port).await;
    let [old] = published_kids(&server.base_url)
        .await
        .try_into()
        .expect("one key at first");

    let said = rotate_signing_key(&data_dir).await;
    let new = said
        .strip_prefix("New signing key ")
        .and_then(|rest| rest.split_whitespace().next())
        .expect("names the new key")
        .to_owned();
    assert!(said.contains(&format!("(after {old})")), "{said}");
    assert!(said.contains("it signs from"), "{said}");
    // Rotating again before the new key signs is the same rotation, not another key.
    let again = rotate_signing_key(&data_dir).await;
    assert!(
        again.starts_with(&format!("New signing key {new} ")),
        "{again}"
    );

    assert!(server.terminate().await);
    let server = serve(&data_dir, port).await;
    let mut expected = vec![old, new];
    expected.sort();
    assert_eq!(published_kids(&server.base_url).await, expected);
    assert!(server.terminate().await);
}

#[tokio::test]
async fn a_start_with_a_bucket_that_does_not_answer_is_refused_with_the_reason() {
    let temp = tempfile::tempdir().expect("temp dir");
    // A loopback port nothing listens on: the bucket's endpoint refuses every connection.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(BINARY)
            .args(["serve", "--data-dir"])
            .arg(temp.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--storage-url", "s3://scenes/prod"])
            .env_remove("DATABASE_URL")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "latchkey-test")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
            .output(),
    )
    .await
    .expect("latchkey exits")
    .expect("run latchkey serve");
    assert!(!output.status.success(), "the start is refused");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("s3://scenes/prod"),
        "names the bucket: {stderr}"
    );
    assert!(
        stderr.contains("AWS_ENDPOINT_URL"),
        "says what to check: {stderr}"
    );
    assert!(!stderr.contains("not-a-real-secret"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// One HTTP request as a collector received it: request line, headers (lower-cased
/// names), body.
struct Received {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A stand-in OpenTelemetry collector: answers 200 to every request and hands each one
/// over, as the binary's OTLP/HTTP exporter sent it.
async fn collector() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the collector");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let (received, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = Vec::new();
                    loop {
                        let mut header = String::new();
                        stream.read_line(&mut header).await.unwrap_or(0);
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
                        }
                    }
                    let length = headers
                        .iter()
                        .find(|(name, _)| name == "content-length")
                        .and_then(|(_, value)| value.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    if tokio::io::AsyncReadExt::read_exact(&mut stream, &mut body)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = received.send(Received {
                        line: line.trim_end().to_owned(),
                        headers,
                        body,
                    });
                    if stream
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, requests)
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_server_exports_its_request_spans() {
    let (endpoint, mut requests) = collector().await;
    let temp = tempfile::tempdir().expect("temp dir");
    let server = serve_with(
        &temp.path().join("data"),
        free_port(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "latchkey-under-test"),
        ],
    )
    .await;
    let me = reqwest::get(format!("{}/v1/me", server.base_url))
        .await
        .expect("GET /v1/me");
    assert_eq!(me.status(), 401);
    // Stopping flushes the spans still queued.
    assert!(server.terminate().await);

    let mut exported = Vec::new();
    while let Ok(Some(request)) =
        tokio::time::timeout(Duration::from_millis(500), requests.recv()).await
    {
        exported.push(request);
    }
    let traces: Vec<&Received> = exported
        .iter()
        .filter(|request| request.line.starts_with("POST /v1/traces "))
        .collect();
    assert!(!traces.is_empty(), "no POST /v1/traces arrived");
    for request in &traces {
        assert!(
            request
                .headers
                .iter()
                .any(|(name, value)| name == "content-type" && value == "application/x-protobuf"),
            "OTLP/HTTP protobuf: {:?}",
            request.headers
        );
    }
    let body: Vec<u8> = traces.iter().flat_map(|r| r.body.clone()).collect();
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"latchkey-under-test"),
        "the service name is in the resource"
    );
    assert!(contains(b"request"), "the request span is exported");
    assert!(contains(b"/v1/me"), "with its path");
}
