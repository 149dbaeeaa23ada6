//! Usage history (issue 12): per hour, the token grants, API calls and refusals by
//! reason of a credential, served at `GET /v1/credentials/{client_id}/usage` to its
//! owner only, kept in the database across a restart and drawn on its page.

use latchkey_types::Envelope;
use latchkey_types::lifecycle::{UsageHistory, UsageRefusals};
use reqwest::Method;
use serde_json::json;

use crate::fixtures::Tenant;
use crate::harness::{PageClient, TestApp};

async fn usage(person: &PageClient, client_id: &str) -> UsageHistory {
    let response = person
        .call(
            Method::GET,
            &format!("/v1/credentials/{client_id}/usage"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    response
        .json::<Envelope<UsageHistory>>()
        .await
        .expect("usage JSON")
        .data
}

/// The counts summed over the hours, so a test that crosses an hour still adds up.
fn totals(history: &UsageHistory) -> (i64, i64, UsageRefusals) {
    let mut refused = UsageRefusals {
        expired: 0,
        disabled: 0,
        address_not_allowed: 0,
        rate_limited: 0,
        missing_permission: 0,
    };
    let (mut grants, mut calls) = (0, 0);
    for hour in &history.hours {
        grants += hour.grants;
        calls += hour.calls;
        refused.expired += hour.refused.expired;
        refused.disabled += hour.refused.disabled;
        refused.address_not_allowed += hour.refused.address_not_allowed;
        refused.rate_limited += hour.refused.rate_limited;
        refused.missing_permission += hour.refused.missing_permission;
    }
    (grants, calls, refused)
}

#[tokio::test]
async fn grants_calls_and_refusals_are_counted_per_hour_and_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({ "name": "counted", "allowedNetworks": ["127.0.0.1"] }))
        .await;
    let untouched = person.create_credentials("untouched").await;
    let token = app.token(&file).await;
    for _ in 0..2 {
        assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
    }
    // The token has no `credentials:manage`: a missing permission.
    let refused = app
        .http
        .post(app.url("/v1/credentials"))
        .bearer_auth(&token)
        .json(&json!({ "name": "beyond the token" }))
        .send()
        .await
        .expect("POST /v1/credentials");
    assert_eq!(refused.status(), 403);
    let limits = person
        .call(
            Method::PUT,
            &format!("/v1/credentials/{}/limits", file.client_id),
            Some(json!({ "allowedNetworks": ["10.0.0.0/8"] })),
        )
        .await;
    assert!(limits.status().is_success(), "{}", limits.status());
    assert_eq!(app.token_request(&file, &[]).await.status(), 403);
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 403);
    let disabled = person
        .call(
            Method::POST,
            &format!("/v1/credentials/{}/disable", file.client_id),
            None,
        )
        .await;
    assert_eq!(disabled.status(), 204);
    assert_eq!(app.token_request(&file, &[]).await.status(), 401);
    // A wrong secret is not the credential's use: nothing proves who sent it.
    let mut wrong = file.clone();
    wrong.client_secret = untouched.client_secret.clone();
    assert_eq!(app.token_request(&wrong, &[]).await.status(), 401);

    let counted = usage(&person, &file.client_id).await;
    assert_eq!(counted.client_id, file.client_id);
    let expected = (
        1,
        2,
        UsageRefusals {
            expired: 0,
            disabled: 1,
            address_not_allowed: 2,
            rate_limited: 0,
            missing_permission: 1,
        },
    );
    assert_eq!(totals(&counted), expected);
    assert!(counted.hours.iter().all(|h| h.hour.0 >= counted.since.0));
    assert!(usage(&person, &untouched.client_id).await.hours.is_empty());

    // Counted in memory, written out at the latest when the server stops.
    app.restart().await;
    let after = usage(&person, &file.client_id).await;
    assert_eq!(totals(&after), expected);

    let page = person
        .client
        .get(person.url(&format!("/credentials/{}", file.client_id)))
        .send()
        .await
        .expect("GET the credential's page")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Last 30 days: 1 token grants, 2 API calls, 4 refused"),
        "{page}"
    );
    assert!(page.contains("class=\"series-address\""), "a refusal bar");
}

#[tokio::test]
async fn only_the_owner_reads_a_credentials_usage() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Usage Org").await;
    let file = tenant.developer.create_credentials("mine").await;
    let path = format!("/v1/credentials/{}/usage", file.client_id);
    for person in [&tenant.viewer, &tenant.admin] {
        let response = person.call(Method::GET, &path, None).await;
        assert_eq!(response.status(), 404);
    }
    let response = tenant
        .developer
        .call(Method::GET, "/v1/credentials/lkc_notaclientid/usage", None)
        .await;
    assert_eq!(response.status(), 404);
    let anonymous = app.http.get(app.url(&path)).send().await.expect("GET");
    assert_eq!(anonymous.status(), 401);
}
