//! The public leak-report endpoint under a flood (issue 9): limited per client address,
//! and only a report that revoked something reaches the audit log.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::harness::TestApp;

async fn report(app: &TestApp, address: &str, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/secret-scanning/reports"))
        .header("x-forwarded-for", address)
        .json(&json!([{ "token": token, "type": "latchkey_client_secret",
                        "url": "https://example.com/leak", "source": "test" }]))
        .send()
        .await
        .expect("POST /v1/secret-scanning/reports")
}

#[tokio::test]
async fn a_flood_of_leak_reports_is_limited_per_address_and_leaves_the_audit_log_alone() {
    let app = TestApp::spawn_with(|config| config.trust_forwarded_for = true).await;
    let operator = app.sign_in_as_admin().await;
    let leaked = operator.create_credentials("leaked").await;

    let flood = join_all((0..80).map(|_| report(&app, "203.0.113.7", "lksk_not_a_secret"))).await;
    let answered = flood.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<_> = flood.into_iter().filter(|r| r.status() == 429).collect();
    assert!(
        (60..=62).contains(&answered),
        "a burst of 60 (and what refilled meanwhile): {answered}"
    );
    assert_eq!(answered + limited.len(), 80, "only 200 and 429");
    let refused = limited.into_iter().next().expect("a refusal");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"], "rate_limited");
    assert!(body["requestId"].is_string(), "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Too many leak reports from your address")),
        "{body}"
    );

    // Another address is not limited, and its report revokes the live secret.
    let real = report(&app, "198.51.100.20", &leaked.client_secret).await;
    assert_eq!(real.status(), 200);
    let verdicts: Value = real.json().await.expect("verdicts");
    assert_eq!(verdicts[0]["label"], "true_positive");

    let page: Value = operator
        .client
        .get(app.url("/v1/audit-events?action=report_leaked_secrets&limit=1000"))
        .send()
        .await
        .expect("GET /v1/audit-events")
        .json()
        .await
        .expect("events");
    let events = page["data"].as_array().expect("events");
    assert_eq!(events.len(), 1, "only the report that revoked: {events:#?}");
    assert_eq!(events[0]["status"], 200);
    assert_eq!(events[0]["sourceAddress"], "198.51.100.20");
}
