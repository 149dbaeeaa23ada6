//! The SDK against servers that misbehave: a proxy's HTML page, a server that never
//! answers, a flaky 503, a refusal that must not be retried. Each test starts a small
//! fake HTTP server on port 0 that answers from a script and counts what it is asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_client::{Client, Credentials, Error, TokenError};
use reqwest::Method;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN_PATH: &str = "/v1/auth/oauth/token";
const TOKEN: &str =
    r#"{"access_token":"not.a.jwt","token_type":"Bearer","expires_in":3600,"scope":"api:read"}"#;
const PROXY_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
    <body><h1>Bad Gateway</h1><p>The proxy could not reach the upstream server.</p></body></html>";

/// What the fake server answers: a whole HTTP response, or nothing at all (`None`: it
/// reads the request and keeps the connection open without a word).
type Script = dyn Fn(&str, usize) -> Option<String> + Send + Sync;

/// A fake server; `requests(path)` counts the requests for one path.
struct FakeServer {
    url: String,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeServer {
    /// Starts a server whose `script` is called with each request's path and how many
    /// requests for that path came before it.
    async fn start(script: impl Fn(&str, usize) -> Option<String> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&script), Arc::clone(&log)));
            }
        });
        FakeServer { url, seen }
    }

    fn requests(&self, path: &str) -> usize {
        self.seen
            .lock()
            .expect("log")
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    fn client(&self) -> Client {
        Client::new(Credentials::new(
            "lkc_0123456789abcdefghijkl",
            SecretString::from("lksk_not-a-real-secret".to_owned()),
            &self.url,
        ))
    }
}

/// Answers every request on one connection from the script.
async fn serve(
    mut stream: TcpStream,
    script: Arc<Script>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) {
    loop {
        let Some(path) = read_request(&mut stream).await else {
            return;
        };
        let before = {
            let mut seen = seen.lock().expect("log");
            let before = seen.iter().filter(|p| **p == path).count();
            seen.push(path.clone());
            before
        };
        match script(&path, before) {
            Some(response) => {
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            None => {
                // Hold the connection open and say nothing, as a hung upstream would.
                tokio::time::sleep(Duration::from_secs(300)).await;
                return;
            }
        }
    }
}

/// Reads one request (head and `Content-Length` body) and answers its path.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let target = head.split_whitespace().nth(1)?;
    Some(target.split('?').next().unwrap_or(target).to_owned())
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn json(status: &str, body: &str) -> String {
    response(status, "application/json", body)
}

/// A server whose token endpoint works and whose `/v1/thing` answers `thing(n)`.
async fn api_server(thing: impl Fn(usize) -> Option<String> + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(move |path, n| match path {
        TOKEN_PATH => Some(json("200 OK", TOKEN)),
        _ => thing(n),
    })
    .await
}

async fn get_thing(client: &Client) -> Result<serde_json::Value, Error> {
    client.call(Method::GET, "/v1/thing", None::<&()>).await
}

#[tokio::test]
async fn an_html_page_from_the_token_endpoint_is_an_unexpected_response_with_an_excerpt() {
    let server = FakeServer::start(|_, _| Some(response("200 OK", "text/html", PROXY_PAGE))).await;

    let error = server
        .client()
        .tokens()
        .access_token()
        .await
        .expect_err("an HTML page is no token");

    let TokenError::UnexpectedResponse {
        url,
        status,
        excerpt,
    } = &error
    else {
        panic!("not an unexpected response: {error}");
    };
    assert_eq!(*status, 200);
    assert_eq!(url, &format!("{}{TOKEN_PATH}", server.url));
    assert!(excerpt.starts_with("<!DOCTYPE html> <html>"), "{excerpt}");
    assert!(
        excerpt.chars().count() <= 121,
        "an excerpt, not the page: {excerpt}"
    );
    let message = error.to_string();
    assert!(message.contains("not a token response"), "{message}");
    assert!(message.contains("502 Bad Gateway"), "{message}");
}

#[tokio::test]
async fn an_html_502_page_from_the_api_is_an_unexpected_response_after_the_retries() {
    let server = api_server(|_| Some(response("502 Bad Gateway", "text/html", PROXY_PAGE))).await;
    let client = server.client();

    let error = get_thing(&client)
        .await
        .expect_err("an HTML page is no answer");

    let Error::UnexpectedResponse {
        status, excerpt, ..
    } = &error
    else {
        panic!("not an unexpected response: {error}");
    };
    assert_eq!(*status, 502);
    assert!(
        excerpt.contains("<title>502 Bad Gateway</title>"),
        "{excerpt}"
    );
    assert!(error.to_string().contains("not Latchkey's JSON"), "{error}");
    assert!(server.requests("/v1/thing") > 1, "a 502 is retried");
}

#[tokio::test]
async fn an_html_200_page_from_the_api_is_an_unexpected_response() {
    let server = api_server(|_| Some(response("200 OK", "text/html", PROXY_PAGE))).await;

    let error = get_thing(&server.client())
        .await
        .expect_err("an HTML page is no answer");

    assert!(
        matches!(&error, Error::UnexpectedResponse { status: 200, excerpt, .. }
            if excerpt.contains("Bad Gateway")),
        "{error:?}"
    );
    assert_eq!(server.requests("/v1/thing"), 1, "a 200 is not retried");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_a_clear_message() {
    let server = api_server(|_| None).await;
    let client = server.client().with_timeout(Duration::from_secs(1));

    let started = Instant::now();
    let error = get_thing(&client).await.expect_err("no answer");
    let took = started.elapsed();

    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    let Error::Token(TokenError::Timeout { url, timeout }) = &error else {
        panic!("not a timeout: {error:?}");
    };
    assert_eq!(url, &format!("{}/v1/thing", server.url));
    assert_eq!(*timeout, Duration::from_secs(1));
    let message = error.to_string();
    assert!(message.contains("did not answer within 1s"), "{message}");
    assert!(message.contains(&server.url), "{message}");
}

#[tokio::test]
async fn a_token_endpoint_that_never_answers_times_out_too() {
    let server = FakeServer::start(|_, _| None).await;
    let client = server.client().with_timeout(Duration::from_secs(1));

    let error = get_thing(&client).await.expect_err("no token");

    assert!(
        matches!(&error, Error::Token(TokenError::Timeout { url, .. }) if url.ends_with(TOKEN_PATH)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_503_then_a_200_is_retried_and_succeeds() {
    let server = api_server(|n| {
        Some(if n == 0 {
            json(
                "503 Service Unavailable",
                r#"{"message":"busy","error":"unavailable"}"#,
            )
        } else {
            json("200 OK", r#"{"data":{"ok":true}}"#)
        })
    })
    .await;

    let answer = get_thing(&server.client())
        .await
        .expect("the retry succeeds");

    assert_eq!(answer, serde_json::json!({"ok": true}));
    assert_eq!(server.requests("/v1/thing"), 2);
}

#[tokio::test]
async fn a_400_is_not_retried_and_carries_the_servers_words() {
    let server = api_server(|_| {
        Some(json(
            "400 Bad Request",
            r#"{"message":"The name is empty.","error":"invalid_name","requestId":"req-42"}"#,
        ))
    })
    .await;

    let error = get_thing(&server.client()).await.expect_err("a 400");

    let Error::Api {
        status,
        message,
        code,
        request_id,
    } = &error
    else {
        panic!("not an API error: {error:?}");
    };
    assert_eq!(*status, 400);
    assert_eq!(message, "The name is empty.");
    assert_eq!(code, "invalid_name");
    assert_eq!(request_id.as_deref(), Some("req-42"));
    assert_eq!(server.requests("/v1/thing"), 1, "a 400 is never retried");
    assert_eq!(server.requests(TOKEN_PATH), 1);
}
