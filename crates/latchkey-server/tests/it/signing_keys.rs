//! Signing-key rotation (issue 10, item 6): a new key reaches every replica's JWKS
//! without a restart, signs only after its activation delay, and the key before it
//! verifies until the last token it signed has expired; the schedule rotates by itself.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use latchkey_server::clock::Clock;
use latchkey_server::signing_keys;
use latchkey_store::Store;

use crate::harness::{Replica, TestApp, jwt_part};

/// The key ids in the JWKS at `base_url`.
async fn published(http: &reqwest::Client, base_url: &str) -> BTreeSet<String> {
    let jwks: serde_json::Value = http
        .get(format!("{base_url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET jwks")
        .json()
        .await
        .expect("JWKS JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect()
}

/// Waits, at most 3 s, until `base_url` publishes exactly `kids`.
async fn until_published(http: &reqwest::Client, base_url: &str, kids: &[&str]) {
    let expected: BTreeSet<String> = kids.iter().map(|kid| (*kid).to_owned()).collect();
    let started = Instant::now();
    loop {
        let now = published(http, base_url).await;
        if now == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{base_url} publishes {now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().expect("kid").to_owned()
}

async fn me_status(http: &reqwest::Client, base_url: &str, token: &str) -> u16 {
    http.get(format!("{base_url}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /v1/me")
        .status()
        .as_u16()
}

async fn spawn(clock: &Clock) -> TestApp {
    let clock = clock.clone();
    TestApp::spawn_with(move |config| {
        config.clock = clock;
        config.signing_key_reload_interval = Duration::from_millis(50);
    })
    .await
}

#[tokio::test]
async fn a_rotation_reaches_every_replica_and_the_old_key_verifies_until_its_tokens_expire() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn(&clock).await;
    let replica = Replica::of(&app).await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("rotating").await;
    let before = app.token(&file).await;
    let old = kid(&before);

    // Two operators (or replicas) rotating at once make one key.
    let store = Store::connect(&app.database_url()).await.expect("store");
    let kek = app.key_encryption_key();
    let (first, second) = tokio::join!(
        signing_keys::rotate(&store, &kek, clock.now()),
        signing_keys::rotate(&store, &kek, clock.now()),
    );
    let rotation = first.expect("rotate");
    assert_eq!(second.expect("rotate").new_kid, rotation.new_kid);
    assert_eq!(rotation.previous_kid, old);
    let new = rotation.new_kid.as_str();
    for base_url in [&app.base_url, &replica.base_url] {
        until_published(&app.http, base_url, &[&old, new]).await;
    }

    // Published, but not signing yet: some replica may not have loaded it.
    assert_eq!(kid(&app.token(&file).await), old);
    assert!(rotation.signs_from >= clock.now() + chrono::Duration::minutes(2));
    clock.set(rotation.signs_from - chrono::Duration::milliseconds(1));
    assert_eq!(kid(&app.token(&file).await), old);
    clock.set(rotation.signs_from);
    let after = app.token(&file).await;
    assert_eq!(
        kid(&after),
        new,
        "signs once its activation delay has passed"
    );
    for base_url in [&app.base_url, &replica.base_url] {
        assert_eq!(me_status(&app.http, base_url, &before).await, 200);
        assert_eq!(me_status(&app.http, base_url, &after).await, 200);
    }

    // A day later the old key still verifies refresh tokens it signed (30 days)...
    clock.advance(chrono::Duration::days(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(published(&app.http, &app.base_url).await.len(), 2);
    // ...and once the longest of them has expired, it is gone everywhere.
    clock.advance(chrono::Duration::days(30));
    for base_url in [&app.base_url, &replica.base_url] {
        until_published(&app.http, base_url, &[new]).await;
    }
    replica.stop().await;
}

#[tokio::test]
async fn keys_rotate_every_ninety_days_by_themselves() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn(&clock).await;
    let first = published(&app.http, &app.base_url).await;
    assert_eq!(first.len(), 1);
    clock.advance(chrono::Duration::days(89));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        published(&app.http, &app.base_url).await,
        first,
        "not due yet"
    );
    clock.advance(chrono::Duration::days(1));
    let started = Instant::now();
    while published(&app.http, &app.base_url).await.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no scheduled rotation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
