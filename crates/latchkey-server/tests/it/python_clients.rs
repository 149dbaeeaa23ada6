//! The unmodified `kognic-auth` package from PyPI against the real server, with the
//! credentials file a person downloads (CONTRACT.md §2).
//!
//! The package is installed once into `target/python-venv` (reused while it holds the
//! pinned version) and every client runs as a child process with a timeout. Without
//! `python3` or PyPI these tests fail with the reason; they never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use latchkey_types::{CredentialsFile, Envelope, Me};
use serde_json::Value;
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::harness::{ADMIN_EMAIL, TestApp};
use crate::python;

/// The version CONTRACT.md was written against.
const KOGNIC_AUTH_VERSION: &str = "4.5.2";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn kognic_auth_cli_prints_a_token_from_the_downloaded_file_that_v1_me_accepts() {
    let venv = kognic_auth_venv().await;
    let app = TestApp::spawn().await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("python cli")
        .await;
    let home = ClientHome::with(&file);

    let stdout = run_client(
        &venv.join("bin/kognic-auth"),
        &[
            "get-access-token",
            "--server",
            &app.base_url,
            "--token-cache",
            "none",
        ],
        &home,
    )
    .await;

    let token = stdout.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT on stdout: {stdout:?}");
    let response = app.get_with_token("/v1/me", token).await;
    assert_eq!(response.status(), 200, "the server accepts the CLI's token");
    let me = response.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.user.email, ADMIN_EMAIL);
    assert_eq!(
        me.credential.expect("called with a credential").client_id,
        file.client_id
    );
}

#[tokio::test]
async fn kognic_auth_requests_session_sends_the_secret_in_the_body_and_calls_v1_me() {
    let venv = kognic_auth_venv().await;
    let app = TestApp::spawn().await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("python requests")
        .await;
    let home = ClientHome::with(&file);

    let out = run_script(venv, REQUESTS_SCRIPT, &app.base_url, &home).await;

    assert_eq!(
        out["token_requests"],
        serde_json::json!([{"basic": false, "secret_in_body": true, "status": 200}]),
        "one client_secret_post token request"
    );
    assert_me(&out, &file);
}

#[tokio::test]
async fn kognic_auth_httpx_client_authenticates_with_basic_and_calls_v1_me() {
    let venv = kognic_auth_venv().await;
    let app = TestApp::spawn().await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("python httpx")
        .await;
    let home = ClientHome::with(&file);

    let out = run_script(venv, HTTPX_SCRIPT, &app.base_url, &home).await;

    assert_eq!(
        out["token_requests"],
        serde_json::json!([{"basic": true, "secret_in_body": false, "status": 200}]),
        "one client_secret_basic token request"
    );
    assert_me(&out, &file);
}

/// `AuthClient.claims` decodes the payload with the standard base64 alphabet
/// (CONTRACT.md §2.6). An issuer with `~` and non-ASCII text is what would put `-`
/// and `_` into a plain base64url payload.
#[tokio::test]
async fn kognic_auth_claims_decode_even_when_the_issuer_has_tildes_and_unicode() {
    let issuer = "http://auth.bücher.example/~~~ops";
    let venv = kognic_auth_venv().await;
    let app = TestApp::spawn_with(|config| config.public_url = Some(issuer.to_owned())).await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("python claims")
        .await;
    assert_eq!(file.issuer, issuer);
    let home = ClientHome::with(&file);

    let out = run_script(venv, REQUESTS_SCRIPT, &app.base_url, &home).await;

    let token = out["access_token"].as_str().expect("access token");
    let payload = token.split('.').nth(1).expect("payload segment");
    assert!(
        !payload.contains(['-', '_']),
        "payload segment is readable with the standard alphabet: {payload}"
    );
    let claims = &out["claims"];
    assert_eq!(claims["client_id"], file.client_id.as_str(), "{claims}");
    assert_eq!(claims["sub"], file.client_id.as_str(), "{claims}");
    assert_eq!(claims["iss"], issuer, "{claims}");
    assert_eq!(claims["user_id"], file.user_id, "{claims}");
    assert_me(&out, &file);
}

/// Refresh tokens rotate and work once: kognic-auth keeps the newest one, so it never
/// presents a spent token (which would revoke its grant) and never falls back to a new
/// client-credentials grant. Access tokens of 30 s are inside authlib's 60 s leeway, so
/// each call refreshes first.
#[tokio::test]
async fn kognic_auth_refreshes_with_the_rotated_refresh_token_each_time() {
    let venv = kognic_auth_venv().await;
    let app = TestApp::spawn_with(|config| {
        config.access_token_ttl = Duration::from_secs(30);
    })
    .await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("python refresh")
        .await;
    let home = ClientHome::with(&file);

    let out = run_script(venv, REFRESH_SCRIPT, &app.base_url, &home).await;

    assert_eq!(out["statuses"], serde_json::json!([200, 200, 200]), "{out}");
    let grants = out["token_requests"].as_array().expect("token requests");
    assert_eq!(
        grants.first(),
        Some(&serde_json::json!({"grant_type": "client_credentials", "status": 200})),
        "{out}"
    );
    let refreshes = &grants[1..];
    assert!(refreshes.len() >= 2, "{out}");
    assert!(
        refreshes
            .iter()
            .all(|g| *g == serde_json::json!({"grant_type": "refresh_token", "status": 200})),
        "every refresh succeeds, with a refresh token never used before: {out}"
    );
}

/// `GET /v1/me` as the script saw it, and the claims of the token it used.
fn assert_me(out: &Value, file: &CredentialsFile) {
    assert_eq!(out["status"], 200, "GET /v1/me: {}", out["me"]);
    let me: Envelope<Me> = serde_json::from_value(out["me"].clone()).expect("me body");
    assert_eq!(me.data.user.email, ADMIN_EMAIL);
    let credential = me.data.credential.expect("called with a credential");
    assert_eq!(credential.client_id, file.client_id);
    assert_eq!(credential.name, file.name);
    assert_eq!(out["claims"]["client_id"], file.client_id.as_str());
}

/// The synchronous client that kognic-io and the CLI build on (`client_secret_post`).
/// Credentials come from `KOGNIC_CREDENTIALS`; a response hook records how the token
/// request authenticated.
const REQUESTS_SCRIPT: &str = r#"
import json
import sys

from kognic.auth.requests.auth_session import RequestsAuthSession

base_url = sys.argv[1]
token_requests = []


def record(response, *args, **kwargs):
    request = response.request
    if request.url.endswith("/v1/auth/oauth/token"):
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        token_requests.append({
            "basic": request.headers.get("Authorization", "").startswith("Basic "),
            "secret_in_body": "client_secret=" in body,
            "status": response.status_code,
        })


auth = RequestsAuthSession(host=base_url)
auth.oauth_session.hooks["response"].append(record)
me = auth.session.get(f"{base_url}/v1/me", timeout=10)
print(json.dumps({
    "token_requests": token_requests,
    "status": me.status_code,
    "me": me.json(),
    "access_token": auth.access_token,
    "claims": auth.claims,
}))
"#;

/// Three calls through one session, recording the grant type and status of each token
/// request.
const REFRESH_SCRIPT: &str = r#"
import json
import sys
from urllib.parse import parse_qs

from kognic.auth.requests.auth_session import RequestsAuthSession

base_url = sys.argv[1]
token_requests = []


def record(response, *args, **kwargs):
    request = response.request
    if request.url.endswith("/v1/auth/oauth/token"):
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        token_requests.append({
            "grant_type": parse_qs(body).get("grant_type", [""])[0],
            "status": response.status_code,
        })


auth = RequestsAuthSession(host=base_url)
auth.oauth_session.hooks["response"].append(record)
statuses = [auth.session.get(f"{base_url}/v1/me", timeout=10).status_code for _ in range(3)]
print(json.dumps({"token_requests": token_requests, "statuses": statuses}))
"#;

/// The async httpx client (`client_secret_basic`, authlib's default). Its keyword
/// arguments reach `httpx.AsyncClient`, so event hooks record the token request.
const HTTPX_SCRIPT: &str = r#"
import asyncio
import json
import sys

from kognic.auth.httpx.async_client import HttpxAuthAsyncClient


async def main(base_url):
    token_requests = []

    async def on_request(request):
        if request.url.path == "/v1/auth/oauth/token":
            body = (await request.aread()).decode()
            token_requests.append({
                "basic": request.headers.get("Authorization", "").startswith("Basic "),
                "secret_in_body": "client_secret=" in body,
            })

    async def on_response(response):
        if response.request.url.path == "/v1/auth/oauth/token":
            token_requests[-1]["status"] = response.status_code

    auth = HttpxAuthAsyncClient(
        host=base_url,
        timeout=10,
        event_hooks={"request": [on_request], "response": [on_response]},
    )
    try:
        session = await auth.session
        me = await session.get(f"{base_url}/v1/me")
        print(json.dumps({
            "token_requests": token_requests,
            "status": me.status_code,
            "me": me.json(),
            "access_token": auth.access_token,
            "claims": auth.claims,
        }))
    finally:
        await auth.close()


asyncio.run(main(sys.argv[1]))
"#;

/// A private home for one client run: the credentials file, and `HOME` / XDG
/// directories so no token cache or config of the machine leaks in or out.
struct ClientHome {
    dir: tempfile::TempDir,
    credentials: PathBuf,
}

impl ClientHome {
    fn with(file: &CredentialsFile) -> ClientHome {
        let dir = tempfile::tempdir().expect("temp dir");
        let credentials = dir.path().join("latchkey-credentials.json");
        let json = serde_json::to_string_pretty(file).expect("serialize the credentials file");
        std::fs::write(&credentials, json).expect("write the credentials file");
        ClientHome { dir, credentials }
    }
}

/// Runs the venv's Python on `script` with the base URL and returns its JSON output.
async fn run_script(venv: &Path, script: &str, base_url: &str, home: &ClientHome) -> Value {
    let stdout = run_client(&venv.join("bin/python"), &["-c", script, base_url], home).await;
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("the script printed no JSON ({error}): {stdout}"))
}

/// Runs a client program with only the environment it needs; panics with its stderr
/// unless it succeeds within `CLIENT_TIMEOUT`.
async fn run_client(program: &Path, args: &[&str], home: &ClientHome) -> String {
    let home_dir = home.dir.path();
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home_dir)
        .env("XDG_CONFIG_HOME", home_dir.join(".config"))
        .env("XDG_CACHE_HOME", home_dir.join(".cache"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("KOGNIC_CREDENTIALS", &home.credentials)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(CLIENT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} did not finish within {CLIENT_TIMEOUT:?}",
                program.display()
            )
        })
        .unwrap_or_else(|error| panic!("could not run {}: {error}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    stdout
}

/// The virtualenv with `kognic-auth`, created on first use in this process. The `full`
/// extra brings what the CLI (`requests`, `keyring`) and the async client (`httpx`)
/// import; the package itself is unmodified.
async fn kognic_auth_venv() -> &'static Path {
    static VENV: OnceCell<PathBuf> = OnceCell::const_new();
    VENV.get_or_init(|| {
        python::venv(&python::Package {
            folder: "python-venv",
            distribution: "kognic-auth",
            extras: "[full]",
            version: KOGNIC_AUTH_VERSION,
            imports: "import keyring, kognic.auth.requests.auth_session, \
                      kognic.auth.httpx.async_client",
        })
    })
    .await
}
