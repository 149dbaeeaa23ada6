//! Tokens stop with the secret and the grant that produced them (issue 9): a roll ends
//! the old secret's tokens, refresh tokens rotate and work once, a reused one revokes
//! its whole grant, and revoking a refresh token revokes its access tokens.

use chrono::Duration;
use latchkey_server::clock::Clock;
use latchkey_types::TokenResponse;
use latchkey_types::{CredentialsFile, ErrorBody, IntrospectionResponse, OAuthErrorBody};
use serde_json::json;

use crate::harness::{PageClient, TestApp, jwt_part, sign_jwt};

/// A credential allowed to roll others' secrets through the SDK.
async fn manager(person: &PageClient) -> CredentialsFile {
    person
        .create_credentials_with(json!({
            "name": "manager",
            "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await
}

async fn refresh(app: &TestApp, file: &CredentialsFile, token: &str) -> reqwest::Response {
    app.token_request(
        file,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn refreshed(app: &TestApp, file: &CredentialsFile, token: &str) -> TokenResponse {
    let response = refresh(app, file, token).await;
    assert_eq!(response.status(), 200, "the refresh should succeed");
    response.json().await.expect("token response")
}

/// The refresh token grant's refusal, which must stay 401 `invalid_token` for the
/// kognic-auth clients to fall back to client credentials.
async fn refused_refresh(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 401);
    let body: OAuthErrorBody = response.json().await.expect("OAuth error");
    assert_eq!(body.error, "invalid_token", "{body:?}");
    body.error_description
}

/// `GET /v1/me`'s refusal of `token`.
async fn refused_call(app: &TestApp, token: &str) -> ErrorBody {
    let response = app.get_with_token("/v1/me", token).await;
    assert_eq!(response.status(), 401);
    response.json().await.expect("error body")
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get_with_token("/v1/me", token).await.status().as_u16()
}

async fn active(app: &TestApp, caller: &CredentialsFile, token: &str) -> bool {
    let response = app
        .http
        .post(app.url("/v1/auth/oauth/introspect"))
        .basic_auth(&caller.client_id, Some(&caller.client_secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(response.status(), 200);
    response
        .json::<IntrospectionResponse>()
        .await
        .expect("introspection")
        .active
}

fn refresh_token(token: &TokenResponse) -> &str {
    token.refresh_token.as_deref().expect("refresh token")
}

#[tokio::test]
async fn tokens_stop_when_their_secret_is_rolled_without_overlap() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let before = app.token_response(&worker).await;
    assert_eq!(me_status(&app, &before.access_token).await, 200);

    let rolled = app
        .client(&manager(&person).await)
        .roll_secret(&worker.client_id, 0)
        .await
        .expect("roll without overlap");

    let body = refused_call(&app, &before.access_token).await;
    assert_eq!(body.error, "secret_rolled");
    assert!(body.message.contains("rolled"), "{}", body.message);
    assert!(body.message.contains("current secret"), "{}", body.message);
    assert!(!active(&app, &rolled, &before.access_token).await);
    assert!(!active(&app, &rolled, refresh_token(&before)).await);
    let description = refused_refresh(refresh(&app, &rolled, refresh_token(&before)).await).await;
    assert!(description.contains("rolled"), "{description}");
    // The new secret's tokens work.
    let after = app.token_response(&rolled).await;
    assert_eq!(me_status(&app, &after.access_token).await, 200);
    assert!(active(&app, &rolled, &after.access_token).await);
}

#[tokio::test]
async fn tokens_of_the_old_secret_work_during_the_overlap_and_stop_after_it() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let before = app.token_response(&worker).await;

    // Ten minutes of overlap, well within the access token's hour.
    let rolled = app
        .client(&manager(&person).await)
        .roll_secret(&worker.client_id, 600)
        .await
        .expect("roll with overlap");
    assert_eq!(me_status(&app, &before.access_token).await, 200);
    assert!(active(&app, &rolled, &before.access_token).await);

    clock.advance(Duration::seconds(601));
    assert_eq!(
        refused_call(&app, &before.access_token).await.error,
        "secret_rolled"
    );
    assert!(!active(&app, &rolled, &before.access_token).await);
    refused_refresh(refresh(&app, &rolled, refresh_token(&before)).await).await;
}

#[tokio::test]
async fn refresh_token_rotates_on_every_use() {
    let app = TestApp::spawn().await;
    let worker = app
        .sign_in_as_admin()
        .await
        .create_credentials("rotating")
        .await;
    let first = app.token_response(&worker).await;
    let grant = jwt_part(&first.access_token, 1)["gid"].clone();
    assert!(grant.is_string(), "tokens name their grant");

    let mut current = first.clone();
    let mut seen = vec![refresh_token(&first).to_owned()];
    for _ in 0..3 {
        let next = refreshed(&app, &worker, refresh_token(&current)).await;
        let token = refresh_token(&next).to_owned();
        assert!(
            !seen.contains(&token),
            "every refresh returns a new refresh token"
        );
        assert_eq!(jwt_part(&next.access_token, 1)["gid"], grant);
        assert_eq!(jwt_part(&token, 1)["gid"], grant);
        // Rotation does not lengthen the grant.
        assert_eq!(
            jwt_part(&token, 1)["exp"],
            jwt_part(refresh_token(&first), 1)["exp"]
        );
        assert_eq!(me_status(&app, &next.access_token).await, 200);
        seen.push(token);
        current = next;
    }

    assert!(!active(&app, &worker, refresh_token(&first)).await, "spent");
    assert!(active(&app, &worker, refresh_token(&current)).await);
    let description = refused_refresh(refresh(&app, &worker, refresh_token(&first)).await).await;
    assert!(description.contains("already used"), "{description}");
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_grant() {
    let app = TestApp::spawn().await;
    let worker = app
        .sign_in_as_admin()
        .await
        .create_credentials("stolen")
        .await;
    let first = app.token_response(&worker).await;
    let other_grant = app.token_response(&worker).await;
    let legitimate = refreshed(&app, &worker, refresh_token(&first)).await;
    assert_eq!(me_status(&app, &legitimate.access_token).await, 200);

    // Someone replays the spent refresh token.
    refused_refresh(refresh(&app, &worker, refresh_token(&first)).await).await;

    for token in [&first.access_token, &legitimate.access_token] {
        assert_eq!(refused_call(&app, token).await.error, "grant_revoked");
        assert!(!active(&app, &worker, token).await);
    }
    let description =
        refused_refresh(refresh(&app, &worker, refresh_token(&legitimate)).await).await;
    assert!(description.contains("revoked"), "{description}");
    // Other grants of the same credential are untouched, and it still gets new tokens.
    assert_eq!(me_status(&app, &other_grant.access_token).await, 200);
    refreshed(&app, &worker, refresh_token(&other_grant)).await;
    assert_eq!(me_status(&app, &app.token(&worker).await).await, 200);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let app = TestApp::spawn().await;
    let worker = app
        .sign_in_as_admin()
        .await
        .create_credentials("revoked")
        .await;
    let first = app.token_response(&worker).await;
    let second = refreshed(&app, &worker, refresh_token(&first)).await;
    let other_grant = app.token_response(&worker).await;

    let revoked = app
        .http
        .post(app.url("/v1/auth/oauth/revoke"))
        .basic_auth(&worker.client_id, Some(&worker.client_secret))
        .form(&[("token", refresh_token(&second))])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);

    for token in [&first.access_token, &second.access_token] {
        assert_eq!(refused_call(&app, token).await.error, "grant_revoked");
        assert!(!active(&app, &worker, token).await);
    }
    refused_refresh(refresh(&app, &worker, refresh_token(&second)).await).await;
    assert_eq!(me_status(&app, &other_grant.access_token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_of_one_refresh_token_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let worker = app
        .sign_in_as_admin()
        .await
        .create_credentials("racing")
        .await;
    let first = app.token_response(&worker).await;
    let form = [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token(&first).to_owned()),
        ("client_id", worker.client_id.clone()),
        ("client_secret", worker.client_secret.clone()),
    ];

    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = app.http.post(app.url("/v1/auth/oauth/token")).form(&form);
        racers.spawn(async move {
            let response = request.send().await.expect("token request");
            let status = response.status().as_u16();
            let error = if status == 200 {
                None
            } else {
                let body = response.json::<OAuthErrorBody>().await;
                Some(body.expect("OAuth error").error)
            };
            (status, error)
        });
    }
    let mut winners = 0;
    for (status, error) in racers.join_all().await {
        match status {
            200 => winners += 1,
            401 => assert_eq!(error.as_deref(), Some("invalid_token")),
            other => panic!("unexpected status {other}: {error:?}"),
        }
    }
    assert_eq!(winners, 1, "exactly one redemption wins");
}

#[tokio::test]
async fn a_token_issued_without_a_secret_id_is_refused_with_a_clear_401() {
    let app = TestApp::spawn().await;
    let worker = app
        .sign_in_as_admin()
        .await
        .create_credentials("old client")
        .await;
    let (kid, key) = app.signing_key().await;
    let now = chrono::Utc::now().timestamp();
    // The claims tokens had before they named their secret and grant.
    let claims = json!({
        "iss": app.base_url,
        "sub": worker.client_id,
        "aud": app.base_url,
        "exp": now + 3600,
        "iat": now,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "client_id": worker.client_id,
        "scope": "api:read",
        "user_id": worker.user_id,
    });
    let access = sign_jwt(
        &key,
        &json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid }),
        &claims,
    );
    let refresh_old = sign_jwt(
        &key,
        &json!({ "alg": "EdDSA", "typ": "rt+jwt", "kid": kid }),
        &claims,
    );

    let body = refused_call(&app, &access).await;
    assert_eq!(body.error, "token_outdated");
    assert!(
        body.message.contains("Request a new one"),
        "{}",
        body.message
    );
    assert!(!active(&app, &worker, &access).await);
    refused_refresh(refresh(&app, &worker, &refresh_old).await).await;
}
