//! Connections that take too long or are too many (issue 9, finding 7): raw TCP
//! streams against the real server, with its timeouts set short.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures::create_workspace;
use crate::harness::TestApp;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: latchkey\r\n\r\n";

async fn server(header_read_timeout: u64, idle_timeout: u64, max_connections: usize) -> TestApp {
    TestApp::spawn_with(|config| {
        config.header_read_timeout = Duration::from_secs(header_read_timeout);
        config.idle_timeout = Duration::from_secs(idle_timeout);
        config.max_connections = max_connections;
    })
    .await
}

/// Reads until the server closes the connection; answers how long that took.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0_u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

/// Reads one response with a `Content-Length` and answers its status line.
async fn response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("a response within 10 s")
            .expect("read");
        assert!(
            read > 0,
            "the connection closed before the response was complete"
        );
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("content-length");
            if received.len() >= end + 4 + length {
                return text.lines().next().unwrap_or_default().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn half_a_request_line_is_closed_after_the_header_timeout() {
    let app = server(1, 30, 16).await;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    stream.write_all(b"GET /heal").await.expect("write");
    let waited = closed_after(&mut stream, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = server(1, 30, 16).await;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let waited = closed_after(&mut stream, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = server(30, 1, 16).await;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    stream.write_all(HEALTHZ).await.expect("write");
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    // Kept alive: a second request on the same connection is served.
    stream.write_all(HEALTHZ).await.expect("write");
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    let waited = closed_after(&mut stream, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
}

/// Hyper starts the header clock as soon as a keep-alive connection waits for its next
/// request, so that wait is bounded by the header timeout too; the configuration's
/// documentation says so, and this pins it.
#[tokio::test]
async fn a_keep_alive_connection_waiting_for_its_next_request_is_closed_after_the_header_timeout() {
    let app = server(1, 30, 16).await;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    stream.write_all(HEALTHZ).await.expect("write");
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    closed_after(&mut stream, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_not_served_until_one_closes() {
    let app = server(30, 30, 2).await;
    let first = TcpStream::connect(app.address).await.expect("connect");
    let mut second = TcpStream::connect(app.address).await.expect("connect");
    second.write_all(HEALTHZ).await.expect("write");
    assert_eq!(response(&mut second).await, "HTTP/1.1 200 OK");

    let mut third = TcpStream::connect(app.address).await.expect("connect");
    third.write_all(HEALTHZ).await.expect("write");
    let mut byte = [0_u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the third connection was served beyond the cap"
    );

    drop(first);
    assert_eq!(response(&mut third).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_slow_but_steady_upload_is_not_cut() {
    let app = server(1, 1, 16).await;
    let url = upload_url(&app).await;
    let path = url
        .strip_prefix(&app.base_url)
        .expect("a URL of this server");
    let chunks: Vec<Vec<u8>> = (0..8_u8).map(|i| vec![b'a' + i; 1000]).collect();
    let length: usize = chunks.iter().map(Vec::len).sum();

    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: latchkey\r\nContent-Type: image/png\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    for chunk in &chunks {
        // Each pause is shorter than the idle timeout; all of them together are far
        // longer than both timeouts.
        tokio::time::sleep(Duration::from_millis(400)).await;
        stream.write_all(chunk).await.expect("a chunk of the body");
    }
    assert!(started.elapsed() > Duration::from_secs(3));
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
}

/// A signed upload URL for one file of a new scene, made by the operator.
async fn upload_url(app: &TestApp) -> String {
    let operator = app.sign_in_as_admin().await;
    let organization = operator
        .call(
            reqwest::Method::POST,
            "/v1/organizations",
            Some(json!({ "name": "Uploads" })),
        )
        .await
        .json::<Value>()
        .await
        .expect("organization");
    let organization_id = organization["data"]["id"].as_i64().expect("id");
    let workspace = create_workspace(&operator, organization_id, "uploads").await;
    let initialized = operator
        .call(
            reqwest::Method::POST,
            "/v1/inputs/initialize",
            Some(json!({ "workspaceId": workspace })),
        )
        .await
        .json::<Value>()
        .await
        .expect("initialized");
    let uuid = initialized["data"]["sceneUuid"].as_str().expect("uuid");
    let created = operator
        .call(
            reqwest::Method::POST,
            &format!("/v1/inputs/cameras?workspaceId={workspace}"),
            Some(json!({
                "externalId": "slow-upload",
                "frame": {"images": [{"filename": "/data/cam.png", "resourceId": "/data/cam.png",
                                      "sensorName": "CAM"}]},
                "internalId": uuid,
            })),
        )
        .await
        .json::<Value>()
        .await
        .expect("scene");
    created["data"]["files"]["/data/cam.png"]
        .as_str()
        .unwrap_or_else(|| panic!("a signed URL: {created}"))
        .to_owned()
}
