//! The real `latchkey serve` under a sign-in flood (issue 9): 64 clients sending bogus
//! sign-ins for 10 s, from many addresses, against the operator's account and unknown
//! emails. Password hashing runs a few at a time in reused buffers, so the server's
//! resident memory stays small; the owner then signs in from an address of their own.

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use common::{BINARY, hidden};

const EMAIL: &str = "owner@example.com";
const PASSWORD: &str = "the owner's password";
const CLIENTS: usize = 64;
const FLOOD: Duration = Duration::from_secs(10);
const MAX_RSS_KIB: u64 = 150 * 1024;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The resident set of process `pid`, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

async fn serve(data_dir: &std::path::Path, database_url: Option<&str>, port: u16) -> Child {
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--trust-forwarded-for", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")])
        .env("LATCHKEY_ADMIN_EMAIL", EMAIL)
        .env("LATCHKEY_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let child = command.spawn().expect("start latchkey serve");
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await
            && response.status() == 200
        {
            return child;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "latchkey serve did not become healthy within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sign-in through the form from `address` (as the proxy in front says); the status.
async fn sign_in(base_url: &str, address: &str, email: &str, password: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let page = client
        .get(format!("{base_url}/login"))
        .header("x-forwarded-for", address)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let response = client
        .post(format!("{base_url}/login"))
        .header("x-forwarded-for", address)
        .form(&[
            ("login_csrf", hidden(&page, "login_csrf").as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_flood_leaves_rss_small_and_the_owner_signs_in_from_another_address() {
    // Latchkey refuses a data directory other users can read.
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("dir");
    let database = common::test_database().await;
    let port = free_port();
    let server = serve(dir.path(), database.url(), port).await;
    let pid = server.id().expect("running");
    let base_url = format!("http://127.0.0.1:{port}");
    let before = rss_kib(pid);

    let deadline = Instant::now() + FLOOD;
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let clients = (0..CLIENTS).map(|client| {
        let base_url = base_url.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            let mut attempt = 0u32;
            while Instant::now() < deadline {
                attempt += 1;
                // Many addresses, so the throttle does not end the flood for us: the
                // hashing limit has to hold it.
                let address = format!("10.{client}.{}.{}", attempt / 250, attempt % 250);
                let email = if attempt.is_multiple_of(2) {
                    EMAIL.to_owned()
                } else {
                    format!("nobody{client}x{attempt}@example.com")
                };
                let slot = match sign_in(&base_url, &address, &email, "guess guess").await {
                    Some(401) => 0,
                    Some(429) => 1,
                    Some(503) => 2,
                    _ => 3,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    let clients: Vec<_> = clients.collect();
    let mut peak = before;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_kib(pid));
    }
    for client in clients {
        client.await.expect("client task");
    }
    let after = rss_kib(pid);
    let [wrong, throttled, busy, other] = counts.each_ref().map(|c| c.load(Ordering::Relaxed));
    println!(
        "sign-in flood: {CLIENTS} clients for {} s: {wrong} answered 401, {throttled} 429, \
         {busy} 503, {other} other; VmRSS before {} MiB, peak {} MiB, after {} MiB",
        FLOOD.as_secs(),
        before / 1024,
        peak / 1024,
        after / 1024
    );
    assert_eq!(other, 0, "every bogus sign-in is refused cleanly");
    assert!(wrong > 0, "passwords were checked during the flood");
    assert!(
        peak < MAX_RSS_KIB,
        "RSS peaked at {} MiB (limit {} MiB)",
        peak / 1024,
        MAX_RSS_KIB / 1024
    );

    let owner = sign_in(&base_url, "198.51.100.20", EMAIL, PASSWORD).await;
    assert_eq!(
        owner,
        Some(303),
        "the owner signs in from their own address"
    );
    drop(server);
    drop(database);
}
