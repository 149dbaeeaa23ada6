//! Two replicas on one database: what one replica changes, the other enforces within a
//! second, with no coordination but the database.

use std::time::{Duration, Instant};

use crate::harness::{Replica, TestApp};

impl Replica {
    async fn me_status(&self, token: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/v1/me", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /v1/me on the replica")
            .status()
            .as_u16()
    }

    /// How long until the replica refuses `token`, polling every 20 ms for at most 3 s.
    async fn time_until_refused(&self, token: &str) -> Duration {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            if self.me_status(token).await == 401 {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the replica still accepts the token after 3 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_deleted_on_one_replica_is_refused_by_the_other_within_a_second() {
    let app = TestApp::spawn().await;
    let replica = Replica::of(&app).await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("fleet").await;
    let token = app.token(&file).await;
    // The replica verifies the first replica's token and caches the credential.
    assert_eq!(replica.me_status(&token).await, 200);
    // And it serves the SDK on its own: a token of its own, then `GET /v1/me`.
    let through_replica = latchkey_client::Client::new(latchkey_client::Credentials::new(
        &file.client_id,
        secrecy::SecretString::from(file.client_secret.clone()),
        &replica.base_url,
    ));
    let me = through_replica
        .me()
        .await
        .expect("GET /v1/me on the replica");
    assert_eq!(me.credential.expect("credential").client_id, file.client_id);

    let deleted = person
        .client
        .delete(person.url(&format!("/v1/credentials/{}", file.client_id)))
        .header("x-csrf-token", &person.csrf_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);

    let took = replica.time_until_refused(&token).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_replica_is_refused_by_the_other_within_a_second() {
    let app = TestApp::spawn().await;
    let replica = Replica::of(&app).await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("revocable")
        .await;
    let token = app.token(&file).await;
    assert_eq!(replica.me_status(&token).await, 200);

    let revoked = app
        .http
        .post(app.url("/v1/auth/oauth/revoke"))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);

    let took = replica.time_until_refused(&token).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_revoked_on_one_replica_is_refused_by_the_other_within_a_second() {
    let app = TestApp::spawn().await;
    let replica = Replica::of(&app).await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("grant")
        .await;
    let token = app.token_response(&file).await;
    assert_eq!(replica.me_status(&token.access_token).await, 200);

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

    let took = replica.time_until_refused(&token.access_token).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    replica.stop().await;
}
