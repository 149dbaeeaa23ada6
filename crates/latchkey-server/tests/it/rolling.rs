//! Rolling secrets with an overlap, and leaked-secret reports (issue 5).

use chrono::Duration;
use latchkey_client::Error;
use latchkey_server::clock::Clock;
use latchkey_types::lifecycle::SecretScanningReport;
use latchkey_types::{CredentialsFile, OAuthErrorBody};
use serde_json::json;

use crate::harness::{PageClient, TestApp, jwt_part};

/// A credential that covers the default ones, so it may roll and renew them.
async fn manager(person: &PageClient) -> CredentialsFile {
    person
        .create_credentials_with(json!({
            "name": "manager",
            "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await
}

fn api_status(error: &Error) -> (u16, String) {
    match error {
        Error::Api { status, code, .. } => (*status, code.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn a_rolled_secret_works_during_the_overlap_and_stops_after_it() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let sdk = app.client(&manager(&person).await);

    let rolled = sdk
        .roll_secret(&worker.client_id, 3600)
        .await
        .expect("roll with an hour of overlap");
    assert_eq!(rolled.client_id, worker.client_id);
    assert_ne!(rolled.client_secret, worker.client_secret);
    assert_eq!(rolled.name, worker.name);

    // Both work during the overlap; the old secret's tokens end with it.
    let old = app.token_response(&worker).await;
    let exp = jwt_part(&old.access_token, 1)["exp"].as_i64().expect("exp");
    assert!(exp <= (clock.now() + Duration::seconds(3600)).timestamp());
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 200);
    let listed = sdk.credentials().await.expect("list");
    let secrets = &listed
        .iter()
        .find(|c| c.client_id == worker.client_id)
        .expect("listed")
        .secrets;
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert!(rolled.client_secret.starts_with(&secrets[0].prefix));
    assert!(worker.client_secret.starts_with(&secrets[1].prefix));
    assert!(secrets[0].expires.is_none());
    assert!(secrets[1].expires.is_some());
    assert!(secrets[1].last_used.is_some(), "the old secret was used");

    clock.advance(Duration::seconds(3601));
    let refused = app.token_request(&worker, &[]).await;
    assert_eq!(refused.status(), 401);
    let body: OAuthErrorBody = refused.json().await.expect("OAuth error");
    assert_eq!(body.error, "invalid_client");
    assert!(body.error_description.contains("rolled"), "{body:?}");
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 200);

    // Rolling with no overlap retires the current secret at once.
    let again = sdk.roll_secret(&worker.client_id, 0).await.expect("roll");
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 401);
    assert_eq!(app.token_request(&again, &[]).await.status(), 200);
}

#[tokio::test]
async fn bad_overlaps_and_other_peoples_credentials_change_nothing() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let expires = (clock.now() + Duration::hours(2)).to_rfc3339();
    let short = person
        .create_credentials_with(json!({ "name": "short", "expires": expires }))
        .await;
    let sdk = app.client(&manager(&person).await);

    for overlap in [-1, 31 * 86_400] {
        let error = sdk
            .roll_secret(&short.client_id, overlap)
            .await
            .expect_err("out of range");
        assert_eq!(api_status(&error), (400, "invalid_overlap".to_owned()));
    }
    let error = sdk
        .roll_secret(&short.client_id, 3 * 3600)
        .await
        .expect_err("beyond the credential's life");
    assert_eq!(api_status(&error), (400, "invalid_overlap".to_owned()));
    let error = sdk
        .roll_secret("lkc_0000000000000000000000", 0)
        .await
        .expect_err("unknown");
    assert_eq!(api_status(&error).0, 404);
    let listed = sdk.credentials().await.expect("list");
    let short_listed = listed
        .iter()
        .find(|c| c.client_id == short.client_id)
        .expect("listed");
    assert_eq!(short_listed.secrets.len(), 1, "nothing changed");
    assert_eq!(app.token_request(&short, &[]).await.status(), 200);

    // At most five working secrets.
    for _ in 0..4 {
        sdk.roll_secret(&short.client_id, 3600).await.expect("roll");
    }
    let error = sdk
        .roll_secret(&short.client_id, 3600)
        .await
        .expect_err("a sixth working secret");
    assert_eq!(api_status(&error), (409, "conflict".to_owned()));
}

#[tokio::test]
async fn a_reported_leak_revokes_the_credential_and_reveals_nothing_else() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let leaked = person.create_credentials("leaked").await;
    let gone = person.create_credentials("gone").await;
    assert_eq!(
        person.delete_credentials(&gone.client_id).await.status(),
        204
    );
    let sdk = app.client(&manager(&person).await);
    let mut broken_checksum = leaked.client_secret.clone();
    let last = broken_checksum.pop().expect("non-empty");
    broken_checksum.push(if last == 'A' { 'B' } else { 'A' });

    let report = |token: &str| SecretScanningReport {
        token: token.to_owned(),
        token_type: "latchkey_client_secret".to_owned(),
        url: "https://github.com/example/repo/blob/main/config.json".to_owned(),
        source: "content".to_owned(),
    };
    // Well-formed, with a valid checksum, but never issued.
    let never_issued = latchkey_core::ClientSecret::generate();
    let verdicts = sdk
        .report_leaked_secrets(&[
            report(&leaked.client_secret),
            report(&gone.client_secret),
            report(&broken_checksum),
            report("not a secret at all"),
            report(never_issued.expose()),
        ])
        .await
        .expect("report");
    let labels: Vec<&str> = verdicts.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "true_positive",
            "false_positive",
            "false_positive",
            "false_positive",
            "false_positive"
        ]
    );
    assert_eq!(verdicts[0].token_raw, leaked.client_secret);
    let refused = app.token_request(&leaked, &[]).await;
    assert_eq!(refused.status(), 401, "the leaked credential is revoked");
    assert!(
        sdk.credentials()
            .await
            .expect("list")
            .iter()
            .all(|c| c.client_id != leaked.client_id)
    );
    // Reported again: no longer live, so nothing tells it ever existed.
    let again = sdk
        .report_leaked_secrets(&[report(&leaked.client_secret)])
        .await
        .expect("report");
    assert_eq!(again[0].label, "false_positive");

    let http = reqwest::Client::new();
    let url = app.url("/v1/secret-scanning/reports");
    let huge: Vec<_> = (0..1001).map(|_| json!({ "token": "x" })).collect();
    let too_many = http.post(&url).json(&huge).send().await.expect("post");
    assert_eq!(too_many.status(), 400);
    let junk = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"token\": 1}")
        .send()
        .await
        .expect("post");
    assert_eq!(junk.status(), 400);
}
