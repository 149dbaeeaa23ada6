//! `latchkey bench`: throughput and latency of the two hot paths, token issuance
//! (`POST /v1/auth/oauth/token`, `client_credentials`) and the bearer check
//! (`GET /v1/me`), each at a fixed concurrency — against one server, or spread round
//! robin over the replicas of a cluster (`--url` once per replica;
//! `scripts/bench-replicas` starts them).
//!
//! This module owns the load generator and its report. It talks to the server over HTTP
//! only, like any client would; the in-process server is started through the public
//! [`Application`] API and is otherwise a black box. Figures are only meaningful from a
//! release build.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use latchkey_server::{AdminBootstrap, Application, Config};
use latchkey_types::{CredentialsFile, Envelope, TokenResponse};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use report::Report;

mod report;

/// How a request that never got an answer is cut off; it then counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The administrator the in-process server is seeded with.
const BENCH_ADMIN_EMAIL: &str = "bench@latchkey.local";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Requests in flight at once: one worker task per slot, each on a kept-alive
    /// connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    concurrency: u16,
    /// How long each phase is measured, after its warmup (e.g. 500ms, 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Measure this many requests per phase instead of a fixed duration.
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Unmeasured load before each phase, so connections, caches and the CPU's clock
    /// are warm (0s to skip).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Base URL of a running server to measure instead of an in-process one. Give it
    /// once per replica of a cluster: the requests go to them in turn.
    #[arg(long, requires = "credentials")]
    url: Vec<Url>,
    /// Credentials file (the JSON of Download) for the server given by --url.
    #[arg(long, requires = "url")]
    credentials: Option<PathBuf>,
    /// `table` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

/// Parses `250ms`, `10s`, `2m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s or 1m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit `{other}`: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; its figures say little about the service. \
             Run `cargo run --release -p latchkey -- bench`."
        );
    }
    let client = http_client(args.concurrency)?;
    match (args.url.is_empty(), &args.credentials) {
        (false, Some(path)) => {
            let credentials = read_credentials_file(path)?;
            let target = Target {
                base_urls: args
                    .url
                    .iter()
                    .map(|url| url.as_str().trim_end_matches('/').to_owned())
                    .collect(),
                in_process: false,
            };
            measure(&args, &client, &target, &credentials).await
        }
        _ => {
            let server = InProcessServer::start().await?;
            // Measure first, stop the server either way, then report the outcome.
            let outcome = async {
                let credentials = server.create_credentials().await?;
                let target = Target {
                    base_urls: vec![server.base_url.clone()],
                    in_process: true,
                };
                measure(&args, &client, &target, &credentials).await
            }
            .await;
            server.stop().await?;
            outcome
        }
    }
}

/// One client for the whole run: its pool keeps one connection per worker alive, so
/// the figures measure requests, not TCP handshakes.
fn http_client(concurrency: u16) -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(usize::from(concurrency))
        .timeout(REQUEST_TIMEOUT)
        // A benchmark measures the server, never a proxy from the environment.
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

fn read_credentials_file(path: &Path) -> anyhow::Result<CredentialsFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the credentials file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a Latchkey credentials file (the JSON of Download)",
            path.display()
        )
    })
}

/// The servers being measured: one, or the replicas of a cluster.
#[derive(Debug)]
struct Target {
    /// Without a trailing slash; never empty.
    base_urls: Vec<String>,
    in_process: bool,
}

impl Target {
    /// `path` on each server, in order.
    fn urls(&self, path: &str) -> anyhow::Result<Vec<Url>> {
        self.base_urls
            .iter()
            .map(|base| {
                let url = format!("{base}{path}");
                Url::parse(&url).with_context(|| format!("`{url}` is not a valid URL"))
            })
            .collect()
    }
}

/// A server in this process, with its database in a temporary directory that is
/// removed when the server has stopped.
struct InProcessServer {
    base_url: String,
    admin_password: SecretString,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    data_dir: tempfile::TempDir,
}

impl InProcessServer {
    async fn start() -> anyhow::Result<InProcessServer> {
        let data_dir = tempfile::tempdir().context("creating a temporary data directory")?;
        let admin_password = SecretString::from(latchkey_core::random::base62(24));
        // A folder the server creates itself, private, as it requires.
        let mut config = Config::new(data_dir.path().join("data"));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin = Some(AdminBootstrap {
            email: BENCH_ADMIN_EMAIL.to_owned(),
            password: admin_password.clone(),
        });
        // The flood protection allows one client id far fewer requests than a
        // benchmark makes with its single credential.
        config.token_rate_limit = None;
        let app = Application::build(config)
            .await
            .context("starting the in-process server")?;
        let base_url = app.public_url().to_owned();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            // An error only means the sender is gone, which also means: stop.
            let _ = stopped.await;
        }));
        Ok(InProcessServer {
            base_url,
            admin_password,
            shutdown,
            task,
            data_dir,
        })
    }

    /// Signs in through the pages, as a person would, and generates a credential with
    /// the API behind them.
    async fn create_credentials(&self) -> anyhow::Result<CredentialsFile> {
        let browser = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .context("building the sign-in client")?;
        let url = |path: &str| format!("{}{path}", self.base_url);

        let login_page = fetch_page(&browser, &url("/login")).await?;
        let login_csrf = hidden_field(&login_page, "login_csrf")
            .context("the sign-in page has no login_csrf field")?;
        let response = browser
            .post(url("/login"))
            .form(&[
                ("login_csrf", login_csrf.as_str()),
                ("email", BENCH_ADMIN_EMAIL),
                ("password", self.admin_password.expose_secret()),
            ])
            .send()
            .await
            .context("POST /login")?;
        ensure!(
            response.status() == reqwest::StatusCode::SEE_OTHER,
            "signing in answered {} instead of a redirect",
            response.status()
        );

        let credentials_page = fetch_page(&browser, &url("/credentials")).await?;
        let csrf_token = hidden_field(&credentials_page, "csrf_token")
            .context("the credentials page has no csrf_token field")?;
        let response = browser
            .post(url("/v1/credentials"))
            .header("x-csrf-token", csrf_token)
            .json(&serde_json::json!({ "name": "latchkey bench" }))
            .send()
            .await
            .context("POST /v1/credentials")?;
        ensure!(
            response.status() == reqwest::StatusCode::CREATED,
            "creating credentials answered {}",
            response.status()
        );
        let file: Envelope<CredentialsFile> = response
            .json()
            .await
            .context("reading the created credentials")?;
        Ok(file.data)
    }

    /// Stops the server gracefully, then removes its data.
    async fn stop(self) -> anyhow::Result<()> {
        // An error means the server already stopped; joining below says why.
        let _ = self.shutdown.send(());
        self.task
            .await
            .context("the in-process server panicked")?
            .context("the in-process server failed")?;
        self.data_dir
            .close()
            .context("removing the temporary data directory")
    }
}

async fn fetch_page(client: &Client, url: &str) -> anyhow::Result<String> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    ensure!(
        response.status().is_success(),
        "GET {url} answered {}",
        response.status()
    );
    response.text().await.with_context(|| format!("GET {url}"))
}

/// The value of the first hidden input named `name` in a page.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Runs both phases and reports them; fails when any measured request failed.
async fn measure(
    args: &BenchArgs,
    client: &Client,
    target: &Target,
    credentials: &CredentialsFile,
) -> anyhow::Result<()> {
    let token_requests = token_requests(target, credentials)?;
    let access_token = fetch_access_token(client, &token_requests[0]).await?;
    let phases = [
        ("token", token_requests),
        ("me", me_requests(target, &access_token)?),
    ];
    let plan = Plan::from_args(args);
    let mut results = Vec::with_capacity(phases.len());
    for (name, request) in phases {
        results.push(run_phase(client, name, request, &plan).await);
    }
    let report = Report::new(args, target, results);
    match args.output {
        OutputFormat::Table => report.print_table(),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding the report")?
        ),
    }
    let errors: u64 = report.phases.iter().map(|p| p.errors).sum();
    let requests: u64 = report.phases.iter().map(|p| p.requests).sum();
    if errors > 0 {
        eprintln!("\n!!! BENCHMARK FAILED: {errors} of {requests} measured requests failed !!!\n");
        bail!("{errors} of {requests} measured requests failed; the figures are not valid");
    }
    Ok(())
}

/// One request, replayed by every worker; building a copy cannot fail.
#[derive(Debug, Clone)]
struct RequestTemplate {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<String>,
}

impl RequestTemplate {
    fn build(&self) -> reqwest::Request {
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        *request.headers_mut() = self.headers.clone();
        *request.body_mut() = self.body.clone().map(reqwest::Body::from);
        request
    }
}

/// `client_credentials` with the secret in the form body (RFC 6749 §2.3.1, §4.4.2), to
/// each server.
fn token_requests(
    target: &Target,
    credentials: &CredentialsFile,
) -> anyhow::Result<Vec<RequestTemplate>> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &credentials.client_id)
        .append_pair("client_secret", &credentials.client_secret)
        .finish();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Ok(target
        .urls("/v1/auth/oauth/token")?
        .into_iter()
        .map(|url| RequestTemplate {
            method: Method::POST,
            url,
            headers: headers.clone(),
            body: Some(body.clone()),
        })
        .collect())
}

/// The same token presented to each server: any replica accepts any replica's token.
fn me_requests(target: &Target, access_token: &str) -> anyhow::Result<Vec<RequestTemplate>> {
    let mut headers = HeaderMap::new();
    let mut authorization = HeaderValue::from_str(&format!("Bearer {access_token}"))
        .context("the access token is not a valid header value")?;
    authorization.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, authorization);
    Ok(target
        .urls("/v1/me")?
        .into_iter()
        .map(|url| RequestTemplate {
            method: Method::GET,
            url,
            headers: headers.clone(),
            body: None,
        })
        .collect())
}

/// The one token every `GET /v1/me` of the second phase presents.
async fn fetch_access_token(client: &Client, request: &RequestTemplate) -> anyhow::Result<String> {
    let response = client
        .execute(request.build())
        .await
        .context("requesting an access token")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("requesting an access token answered {status}: {body}");
    }
    let token: TokenResponse = response
        .json()
        .await
        .context("reading the token response")?;
    Ok(token.access_token)
}

/// How long or how much each phase runs.
#[derive(Debug, Clone, Copy)]
struct Plan {
    concurrency: u16,
    warmup: Duration,
    measure: Amount,
}

#[derive(Debug, Clone, Copy)]
enum Amount {
    For(Duration),
    Requests(u64),
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Plan {
        Plan {
            concurrency: args.concurrency,
            warmup: args.warmup,
            measure: args
                .requests
                .map_or(Amount::For(args.duration), Amount::Requests),
        }
    }
}

/// When a worker stops taking new requests; requests in flight always finish.
#[derive(Debug, Clone)]
enum Stop {
    At(Instant),
    /// Shared by all workers: how many requests are still to be started.
    AfterCount(Arc<AtomicU64>),
}

impl Stop {
    fn new(amount: Amount) -> Stop {
        match amount {
            Amount::For(duration) => Stop::At(Instant::now() + duration),
            Amount::Requests(count) => Stop::AfterCount(Arc::new(AtomicU64::new(count))),
        }
    }

    /// Claims the next request, or says the phase is over.
    fn claim(&self) -> bool {
        match self {
            Stop::At(deadline) => Instant::now() < *deadline,
            Stop::AfterCount(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// What one worker (or, merged, a whole phase) saw.
#[derive(Debug, Default)]
struct Log {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, ErrorKind>,
}

#[derive(Debug, Serialize)]
struct ErrorKind {
    count: u64,
    /// The first such answer, to show what went wrong.
    sample: String,
}

impl Log {
    fn error(&mut self, kind: String, sample: impl FnOnce() -> String) {
        self.errors
            .entry(kind)
            .or_insert_with(|| ErrorKind {
                count: 0,
                sample: sample(),
            })
            .count += 1;
    }

    fn merge(&mut self, other: Log) {
        self.latencies.extend(other.latencies);
        for (kind, theirs) in other.errors {
            let ours = self.errors.entry(kind).or_insert(ErrorKind {
                count: 0,
                sample: theirs.sample,
            });
            ours.count += theirs.count;
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }
}

/// An unmeasured warmup, then the measured run.
async fn run_phase(
    client: &Client,
    name: &'static str,
    requests: Vec<RequestTemplate>,
    plan: &Plan,
) -> PhaseResult {
    let requests = Arc::new(requests);
    if !plan.warmup.is_zero() {
        drive(
            client,
            &requests,
            plan.concurrency,
            Amount::For(plan.warmup),
        )
        .await;
    }
    let started = Instant::now();
    let log = drive(client, &requests, plan.concurrency, plan.measure).await;
    PhaseResult {
        name,
        elapsed: started.elapsed(),
        log,
    }
}

/// Keeps `concurrency` requests in flight until `amount` is done, each worker sending
/// the requests (one per server) in turn.
async fn drive(
    client: &Client,
    requests: &Arc<Vec<RequestTemplate>>,
    concurrency: u16,
    amount: Amount,
) -> Log {
    let stop = Stop::new(amount);
    let workers: Vec<_> = (0..concurrency)
        .map(|slot| {
            // Workers start on different servers, so each takes its share at once.
            let first = usize::from(slot) % requests.len();
            tokio::spawn(worker(
                client.clone(),
                Arc::clone(requests),
                first,
                stop.clone(),
            ))
        })
        .collect();
    let mut merged = Log::default();
    for worker in workers {
        match worker.await {
            Ok(log) => merged.merge(log),
            Err(error) => merged.error("worker task failed".to_owned(), || error.to_string()),
        }
    }
    merged
}

/// Sends the requests in turn from `next`, reads each whole answer and records how long
/// that took.
async fn worker(
    client: Client,
    requests: Arc<Vec<RequestTemplate>>,
    mut next: usize,
    stop: Stop,
) -> Log {
    let mut log = Log::default();
    while stop.claim() {
        let request = &requests[next];
        next = (next + 1) % requests.len();
        let started = Instant::now();
        let outcome = send(&client, request).await;
        log.latencies.push(started.elapsed());
        if let Err((kind, sample)) = outcome {
            log.error(kind, || sample);
        }
    }
    log
}

/// `Ok` for a 2xx whose body arrived in full; otherwise the error's kind and details.
async fn send(client: &Client, request: &RequestTemplate) -> Result<(), (String, String)> {
    let transport = |error: reqwest::Error| {
        let kind = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        (kind.to_owned(), format!("{:#}", anyhow::Error::from(error)))
    };
    let response = client.execute(request.build()).await.map_err(transport)?;
    let status = response.status();
    // Reading the body is part of the request, and it frees the connection for reuse.
    let body = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        Ok(())
    } else {
        Err((
            format!("HTTP {status}"),
            String::from_utf8_lossy(&body).chars().take(300).collect(),
        ))
    }
}

#[derive(Debug)]
struct PhaseResult {
    name: &'static str,
    elapsed: Duration,
    log: Log,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_count_stop_hands_out_exactly_that_many_requests() {
        let stop = Stop::new(Amount::Requests(3));
        let claimed = (0..10).filter(|_| stop.claim()).count();
        assert_eq!(claimed, 3);
    }

    #[test]
    fn hidden_fields_are_found_by_name() {
        let html = r#"<input type="hidden" name="login_csrf" value="abc123">"#;
        assert_eq!(hidden_field(html, "login_csrf").as_deref(), Some("abc123"));
        assert_eq!(hidden_field(html, "csrf_token"), None);
    }
}
