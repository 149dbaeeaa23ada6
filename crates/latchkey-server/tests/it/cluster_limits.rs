//! Limits counted once for the cluster (issue 10): two replicas on one database and one
//! Redis allow together what one replica allows — the per-credential rate limit, the
//! token endpoint's flood limit and the sign-in throttle — and a replica whose Redis is
//! unreachable keeps serving with its own counts and says so in `/readyz`.
//!
//! They need Redis: `LATCHKEY_TEST_REDIS_URL`, or one on 127.0.0.1:6379 (`.ci/run`
//! starts it). Without one they say so and pass.

use std::num::NonZeroU32;

use chrono::Duration;
use latchkey_server::Config;
use latchkey_server::clock::Clock;
use latchkey_server::config::TokenRateLimit;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, Replica, TestApp, browser_client, post_sign_in};

/// The Redis the tests count in, if one answers.
async fn redis_url() -> Option<String> {
    let url = std::env::var("LATCHKEY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).ok()?;
    match client.get_multiplexed_async_connection().await {
        Ok(_) => Some(url),
        Err(error) => {
            eprintln!("SKIPPED: no Redis at {url} ({error}); set LATCHKEY_TEST_REDIS_URL");
            None
        }
    }
}

/// Two replicas counting in `redis`, with one manual clock so a test never straddles
/// a rate-limit window.
async fn cluster(redis: &str, adjust: impl FnOnce(&mut Config)) -> (TestApp, Replica) {
    let clock = Clock::manual(chrono::Utc::now());
    let redis = redis.to_owned();
    let app = TestApp::spawn_with(move |config| {
        config.clock = clock;
        config.redis_url = Some(redis);
        adjust(config);
    })
    .await;
    let replica = Replica::of(&app).await;
    (app, replica)
}

async fn token_status(http: &reqwest::Client, base_url: &str, id: &str, secret: &str) -> u16 {
    http.post(format!("{base_url}/v1/auth/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token request")
        .status()
        .as_u16()
}

/// One sign-in through the real form; its status (303 signed in, 401, 429).
async fn sign_in_status(base_url: &str, password: &str) -> StatusCode {
    post_sign_in(&browser_client(), base_url, ADMIN_EMAIL, password)
        .await
        .status()
}

#[tokio::test]
async fn a_credentials_rate_limit_holds_across_replicas() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let (app, replica) = cluster(&redis, |_| {}).await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({ "name": "fleet", "rateLimitPerMinute": 4 }))
        .await;
    let (id, secret) = (file.client_id.as_str(), file.client_secret.as_str());
    let mut statuses = Vec::new();
    for base in [&app.base_url, &replica.base_url].repeat(3) {
        statuses.push(token_status(&app.http, base, id, secret).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429],
        "four a minute for the cluster, not for each replica"
    );
    replica.stop().await;
}

#[tokio::test]
async fn the_token_flood_limit_holds_across_replicas() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let (app, replica) = cluster(&redis, |config| {
        config.token_rate_limit = Some(TokenRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN),
        });
    })
    .await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("busy").await;
    let (id, secret) = (file.client_id.as_str(), file.client_secret.as_str());
    let mut statuses = Vec::new();
    for base in [&app.base_url, &replica.base_url].repeat(3) {
        statuses.push(token_status(&app.http, base, id, secret).await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    replica.stop().await;
}

#[tokio::test]
async fn password_guesses_spread_over_replicas_count_together() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let (app, replica) = cluster(&redis, |config| {
        config.max_failed_logins = 3;
    })
    .await;
    // A success forgets this address's failures on the account, left by nothing else
    // than an earlier run of this test on the same port within the window.
    app.sign_in_as_admin().await;
    assert_eq!(
        sign_in_status(&app.base_url, "wrong one").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_status(&replica.base_url, "wrong two").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_status(&app.base_url, "wrong three").await,
        StatusCode::UNAUTHORIZED
    );
    // Each replica alone has seen fewer than three; together they have seen three.
    assert_eq!(
        sign_in_status(&replica.base_url, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let ready: Value = app
        .http
        .get(format!("{}/readyz", replica.base_url))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["limits"], "cluster");
    replica.stop().await;
}

#[tokio::test]
async fn without_redis_a_replica_serves_with_its_own_limits_and_says_so() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| {
        config.clock = clock.clone();
        // Nothing listens on port 1.
        config.redis_url = Some("redis://127.0.0.1:1".to_owned());
    })
    .await;
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["limits"], "replica: Redis is unreachable");

    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({ "name": "alone", "rateLimitPerMinute": 2 }))
        .await;
    let (id, secret) = (file.client_id.as_str(), file.client_secret.as_str());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(token_status(&app.http, &app.base_url, id, secret).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the replica's own count still holds"
    );
    clock.advance(Duration::seconds(61));
    assert_eq!(
        token_status(&app.http, &app.base_url, id, secret).await,
        200
    );
}
