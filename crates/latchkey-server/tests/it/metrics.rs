//! `/metrics` (issue 10, item 7): served only on its own address, in a format a real
//! Prometheus text parser reads, with requests by route template, token grants by
//! outcome, limit refusals, the database pool, the outbox, the credential cache's hits
//! and misses, and how long changes take to reach another replica.

use std::net::{SocketAddr, TcpListener};

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

use crate::harness::{Replica, TestApp};

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// The samples named `name` whose labels include every pair of `labels`.
fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .collect()
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, name, labels)
        .iter()
        .map(|sample| match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_and_parse() {
    let metrics_address = free_address();
    let app = TestApp::spawn_with(|config| config.metrics_listen = Some(metrics_address)).await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({ "name": "metered", "rateLimitPerMinute": 2 }))
        .await;
    let token = app.token(&file).await;
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 429);
    let wrong = app
        .post_form(
            "/v1/auth/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &file.client_id),
                ("client_secret", "lksk_not_the_secret"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let unknown_path = format!("/v1/nothing/{}", file.client_id);
    assert_eq!(
        app.get_with_token(&unknown_path, &token).await.status(),
        404
    );

    let public = app.http.get(app.url("/metrics")).send().await.expect("GET");
    assert_eq!(public.status(), 404, "never on the public address");

    let response = app
        .http
        .get(format!("http://{metrics_address}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");

    let me = [("route", "/v1/me"), ("method", "GET")];
    assert_eq!(
        value(
            &scrape,
            "latchkey_http_requests_total",
            &[me[0], me[1], ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "latchkey_http_requests_total",
            &[me[0], me[1], ("status", "429")]
        ),
        1.0
    );
    assert!(value(&scrape, "latchkey_http_request_duration_seconds_count", &me) >= 2.0);
    assert_eq!(
        value(
            &scrape,
            "latchkey_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        2.0,
        "the unknown path and /metrics on the public address"
    );
    assert!(
        !text.contains(&file.client_id),
        "labels are route templates, never what a client sent"
    );
    let grants = |outcome| {
        value(
            &scrape,
            "latchkey_token_grants_total",
            &[("grant_type", "client_credentials"), ("outcome", outcome)],
        )
    };
    assert_eq!(grants("issued"), 1.0);
    assert_eq!(grants("invalid_client"), 1.0);
    assert_eq!(
        value(
            &scrape,
            "latchkey_rate_limit_refusals_total",
            &[("limit", "credential")]
        ),
        1.0
    );
    assert!(
        !samples(
            &scrape,
            "latchkey_db_pool_connections",
            &[("state", "idle")]
        )
        .is_empty()
    );
    assert_eq!(
        value(
            &scrape,
            "latchkey_outbox_pending",
            &[("outbox", "webhooks")]
        ),
        0.0
    );
    assert!(!samples(&scrape, "latchkey_limits_counted_in_redis", &[]).is_empty());
    let lookups = |result| {
        value(
            &scrape,
            "latchkey_credential_cache_lookups_total",
            &[("result", result)],
        )
    };
    assert_eq!(lookups("miss"), 1.0, "the one credential is read once");
    assert_eq!(
        lookups("hit"),
        2.0,
        "both calls answered from memory (the malformed secret never gets to a lookup)"
    );
}

async fn scrape(http: &reqwest::Client, address: SocketAddr) -> Scrape {
    let text = http
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses")
}

#[tokio::test]
async fn a_replica_measures_how_long_a_change_took_to_reach_it() {
    let app = TestApp::spawn().await;
    let replica_metrics = free_address();
    let mut config = app.replica_config();
    config.metrics_listen = Some(replica_metrics);
    let replica = Replica::start(config).await;
    let lag = "latchkey_revocation_propagation_seconds_count";
    assert_eq!(
        value(&scrape(&app.http, replica_metrics).await, lag, &[]),
        0.0
    );

    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("short-lived").await;
    assert!(
        person
            .delete_credentials(&file.client_id)
            .await
            .status()
            .is_success()
    );
    // Applied within a poll interval (500 ms) at worst; asked until it shows, for at
    // most 5 s.
    let started = std::time::Instant::now();
    let scraped = loop {
        let scraped = scrape(&app.http, replica_metrics).await;
        if value(&scraped, lag, &[]) >= 1.0 {
            break scraped;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the deletion never reached the replica's metrics"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let seconds = value(&scraped, "latchkey_revocation_propagation_seconds_sum", &[]);
    assert!(
        (0.0..5.0).contains(&seconds),
        "one replica's clock, so the lag is what the feed took: {seconds} s"
    );
    replica.stop().await;
}
