//! Replicas on one database: what one replica changes, every other one enforces at
//! once — through the change feed, woken by PostgreSQL's notifications, or by polling
//! on SQLite — also when their clocks disagree; and they agree on one issuer.

use std::time::{Duration, Instant};

use latchkey_server::{Application, Clock};
use latchkey_types::ErrorBody;

use crate::fixtures::Tenant;
use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, PageClient, Replica, TestApp, sign_in_at};

async fn me(http: &reqwest::Client, base_url: &str, token: &str) -> reqwest::Response {
    http.get(format!("{base_url}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /v1/me")
}

/// How long until the server at `base_url` refuses `token`, asking every 2 ms; at most
/// 3 s.
async fn time_until_refused(base_url: String, token: String, since: Instant) -> Duration {
    let http = reqwest::Client::new();
    loop {
        let status = me(&http, &base_url, &token).await.status();
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200, "{base_url} answers {status}");
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "{base_url} still accepts the token after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The three changes that must stop a token everywhere.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Delete,
    Disable,
    Revoke,
}

/// Makes `change` to the credential of `file` and `token` through `writer`.
async fn stop_through(
    writer: &PageClient,
    change: Stop,
    file: &latchkey_types::CredentialsFile,
    token: &str,
) {
    let id = &file.client_id;
    let response = match change {
        Stop::Delete => writer.delete_credentials(id).await,
        Stop::Disable => writer
            .client
            .post(writer.url(&format!("/v1/credentials/{id}/disable")))
            .header("x-csrf-token", &writer.csrf_token)
            .send()
            .await
            .expect("disable"),
        Stop::Revoke => writer
            .client
            .post(writer.url("/v1/auth/oauth/revoke"))
            .basic_auth(id, Some(&file.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revoke"),
    };
    assert!(
        response.status().is_success(),
        "{change:?}: {}",
        response.status()
    );
}

fn percentile(sorted: &[Duration], at: f64) -> Duration {
    // Nearest rank: the smallest sample with at least `at` of them at or below it.
    let rank = (at * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_disabling_or_revocation_through_any_replica_is_refused_by_every_other_at_once()
{
    let app = TestApp::spawn().await;
    let second = Replica::of(&app).await;
    // Its clock stands a minute behind the others'.
    let mut skewed = app.replica_config();
    skewed.clock = Clock::manual(chrono::Utc::now() - chrono::Duration::seconds(60));
    let third = Replica::start(skewed).await;
    let urls = [
        app.base_url.clone(),
        second.base_url.clone(),
        third.base_url.clone(),
    ];
    let mut sessions = Vec::new();
    for url in &urls {
        sessions.push(sign_in_at(url, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    }
    let http = reqwest::Client::new();
    let on_postgres = app.database.url.is_some();

    let mut samples = Vec::new();
    for round in 0..2 {
        for change in [Stop::Delete, Stop::Disable, Stop::Revoke] {
            for (writer, session) in sessions.iter().enumerate() {
                let file = sessions[0]
                    .create_credentials(&format!("fleet-{round}-{change:?}-{writer}"))
                    .await;
                let token = app.token(&file).await;
                // Every replica accepts the token (and caches the credential).
                for url in &urls {
                    assert_eq!(me(&http, url, &token).await.status(), 200, "{url}");
                }
                stop_through(session, change, &file, &token).await;
                let stopped = Instant::now();
                let observers: Vec<_> = (0..urls.len())
                    .filter(|observer| *observer != writer)
                    .map(|observer| {
                        tokio::spawn(time_until_refused(
                            urls[observer].clone(),
                            token.clone(),
                            stopped,
                        ))
                    })
                    .collect();
                for observer in observers {
                    samples.push(observer.await.expect("observer"));
                }
            }
        }
    }

    samples.sort();
    let (min, median, max) = (
        samples[0],
        percentile(&samples, 0.5),
        samples[samples.len() - 1],
    );
    println!(
        "revocation reached the other replicas ({}, {} samples, one clock 60 s behind): \
         min {min:?}, median {median:?}, max {max:?}",
        if on_postgres {
            "PostgreSQL, notified"
        } else {
            "SQLite, polled"
        },
        samples.len()
    );
    if on_postgres {
        assert!(median <= Duration::from_millis(100), "median {median:?}");
        assert!(max <= Duration::from_millis(500), "max {max:?}");
    } else {
        // Polled every 500 ms.
        assert!(max < Duration::from_secs(1), "max {max:?}");
    }
    second.stop().await;
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_revoked_on_one_replica_is_refused_by_the_other() {
    let app = TestApp::spawn().await;
    let replica = Replica::of(&app).await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("grant")
        .await;
    let token = app.token_response(&file).await;
    let http = reqwest::Client::new();
    assert_eq!(
        me(&http, &replica.base_url, &token.access_token)
            .await
            .status(),
        200
    );

    // Revoking the refresh token revokes the access token of its grant (RFC 7009 §2.1).
    let revoked = app
        .http
        .post(app.url("/v1/auth/oauth/revoke"))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[("token", token.refresh_token.as_deref().expect("refresh"))])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);

    let took = time_until_refused(
        replica.base_url.clone(),
        token.access_token.clone(),
        Instant::now(),
    )
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_another_public_url_refuses_tokens_as_wrong_issuer() {
    let app = TestApp::spawn().await;
    let mut config = app.replica_config();
    config.public_url = Some("https://elsewhere.example".to_owned());
    let replica = Replica::start(config).await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("issuer")
        .await;
    let token = app.token(&file).await;

    let response = me(&reqwest::Client::new(), &replica.base_url, &token).await;

    assert_eq!(response.status(), 401);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.error, "wrong_issuer");
    assert!(body.message.contains(&app.base_url), "{}", body.message);
    assert!(
        body.message.contains("LATCHKEY_PUBLIC_URL"),
        "{}",
        body.message
    );
    replica.stop().await;
}

#[tokio::test]
async fn a_replica_without_a_public_url_starts_only_on_sqlite() {
    let app = TestApp::spawn().await;
    let mut config = app.replica_config();
    config.public_url = None;

    let started = Application::build(config).await;

    if app.database.url.is_some() {
        let message = format!("{:#}", started.expect_err("refused on PostgreSQL"));
        assert!(message.contains("LATCHKEY_PUBLIC_URL"), "{message}");
        assert!(message.contains("issuer"), "{message}");
    } else {
        let replica = started.expect("SQLite needs no public URL");
        let address = replica.local_addr().expect("address");
        assert_eq!(replica.public_url(), format!("http://{address}"));
    }
}

/// How many connections to the test database wait on the change feed's `LISTEN`.
async fn listeners(database_url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url)
        .await
        .expect("connect to the test database");
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count listeners")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_listens_again_after_its_listener_connection_is_cut() {
    let app = TestApp::spawn().await;
    // Only PostgreSQL has notifications; on SQLite the feed is polled (tested above).
    let Some(database_url) = app.database.url.clone() else {
        return;
    };
    // It does not poll: only a notification can tell it of a revocation.
    let mut config = app.replica_config();
    config.revocation_poll_interval = Duration::from_secs(3600);
    let replica = Replica::start(config).await;
    let file = app.sign_in_as_admin().await.create_credentials("cut").await;
    let token = app.token(&file).await;
    let http = reqwest::Client::new();
    assert_eq!(me(&http, &replica.base_url, &token).await.status(), 200);
    let started = Instant::now();
    while listeners(&database_url).await < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "not listening");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&database_url)
            .await
            .expect("connect to the test database");
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("cut the listeners");
        assert_eq!(cut, [true, true]);
    }
    let cut_at = Instant::now();
    while listeners(&database_url).await < 2 {
        assert!(
            cut_at.elapsed() < Duration::from_secs(5),
            "no listener is back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("the listeners were back after {:?}", cut_at.elapsed());

    let revoked = app
        .http
        .post(app.url("/v1/auth/oauth/revoke"))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let took = time_until_refused(replica.base_url.clone(), token, Instant::now()).await;
    assert!(took < Duration::from_millis(500), "took {took:?}");
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_on_one_replica_loses_the_workspace_on_the_other() {
    let app = TestApp::spawn().await;
    let replica = Replica::of(&app).await;
    let tenant = Tenant::create(&app, "Feed").await;
    let file = tenant.developer.create_credentials("member").await;
    let token = app.token(&file).await;
    let http = reqwest::Client::new();
    let workspace = format!(
        "{}/v1/workspaces/{}/members",
        replica.base_url, tenant.workspace_id
    );
    let status = |token: String| {
        let (http, workspace) = (http.clone(), workspace.clone());
        async move {
            http.get(&workspace)
                .bearer_auth(token)
                .send()
                .await
                .expect("GET the workspace's members")
                .status()
        }
    };
    // The replica reads (and caches) the developer's roles.
    assert_eq!(status(token.clone()).await, 200);

    let removed = tenant
        .admin
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/v1/workspaces/{}/members/{}",
                tenant.workspace_id, tenant.developer_id
            ),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);

    let since = Instant::now();
    loop {
        let now = status(token.clone()).await;
        if now != 200 {
            // Still in the organization, no longer in the workspace.
            assert_eq!(now, 403);
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "the replica still lets the removed member in"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    replica.stop().await;
}
