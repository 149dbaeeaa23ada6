//! Restart survival: users, sessions, credentials, signing keys, revocations and
//! "last used" times live in the database, not in the process.

use latchkey_types::{Envelope, ErrorBody, Me, OAuthErrorBody};
use serde_json::Value;

use crate::harness::{TestApp, jwt_part};

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET jwks")
        .json::<Value>()
        .await
        .expect("JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn credentials_tokens_and_the_signing_key_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let kept = person.create_credentials("kept").await;
    let deleted = person.create_credentials("deleted").await;
    let token = app.token_response(&kept).await;
    let deleted_token = app.token(&deleted).await;
    assert_eq!(
        person.delete_credentials(&deleted.client_id).await.status(),
        204
    );
    let kids_before = jwks_kids(&app).await;

    app.restart().await;

    // The access token issued before the restart still verifies.
    let me = app.get_with_token("/v1/me", &token.access_token).await;
    assert_eq!(me.status(), 200);
    let me = me.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.credential.expect("credential").client_id, kept.client_id);
    // So does its refresh token, and the credential still gets new tokens.
    let refreshed = app
        .token_request(
            &kept,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    token.refresh_token.as_deref().expect("refresh"),
                ),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let fresh = app.token(&kept).await;
    let me = app
        .client(&kept)
        .me()
        .await
        .expect("GET /v1/me after a restart");
    assert_eq!(me.credential.expect("credential").client_id, kept.client_id);
    // Same address, so the same issuer, and signed with the same key as before.
    let discovery = app
        .http
        .get(format!(
            "http://{}/.well-known/openid-configuration",
            app.address
        ))
        .send()
        .await
        .expect("discovery")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(discovery["issuer"], app.base_url);
    assert_eq!(jwt_part(&fresh, 1)["iss"], app.base_url);
    assert_eq!(jwks_kids(&app).await, kids_before);
    assert_eq!(
        jwt_part(&fresh, 0)["kid"],
        jwt_part(&token.access_token, 0)["kid"]
    );
    // The credential deleted before the restart stays refused.
    let refused = app.token_request(&deleted, &[]).await;
    assert_eq!(refused.status(), 401);
    let body = refused.json::<OAuthErrorBody>().await.expect("error body");
    assert!(body.error_description.contains("deleted"));
    let old = app.get_with_token("/v1/me", &deleted_token).await;
    assert_eq!(old.status(), 401);
    let body = old.json::<ErrorBody>().await.expect("error body");
    assert_eq!(body.error, "credential_deleted");
}

#[tokio::test]
async fn a_page_session_and_last_used_times_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("used before restart").await;
    app.token(&file).await;
    let listed = person.list_credentials().await;
    let last_used = listed[0].last_used.expect("last used");

    app.restart().await;

    // The same cookie jar and CSRF token still work: the session is in the database.
    let after = person.list_credentials().await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].client_id, file.client_id);
    // "Last used" is kept in memory between writes; stopping writes it out.
    assert_eq!(after[0].last_used, Some(last_used));
    let created = person.create_credentials("after restart").await;
    assert_eq!(app.token_request(&created, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_after_a_restart() {
    let mut app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("revoker").await;
    let token = app.token(&file).await;
    let revoked = app
        .post_form(
            "/v1/auth/oauth/revoke",
            &[
                ("client_id", &file.client_id),
                ("client_secret", &file.client_secret),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(revoked.status(), 200);

    app.restart().await;

    let response = app.get_with_token("/v1/me", &token).await;
    assert_eq!(response.status(), 401);
    let body = response.json::<ErrorBody>().await.expect("error body");
    assert_eq!(body.error, "token_revoked");
}
