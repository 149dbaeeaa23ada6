//! The credential lifecycle beyond create and delete: disable and enable (issue 5).

use latchkey_client::Error;
use latchkey_types::{Credential, CredentialsFile, ErrorBody, OAuthErrorBody};
use serde_json::json;

use crate::harness::{PageClient, TestApp};

/// A credential with `scopes`, made through the session.
async fn credential(person: &PageClient, name: &str, scopes: &[&str]) -> CredentialsFile {
    person
        .create_credentials_with(json!({ "name": name, "scopes": scopes }))
        .await
}

/// `POST /v1/credentials/{client_id}/{action}` with the session and, when given, a CSRF
/// token.
async fn post_by_session(
    person: &PageClient,
    client_id: &str,
    action: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut request = person
        .client
        .post(person.url(&format!("/v1/credentials/{client_id}/{action}")));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    request.send().await.expect("POST disable/enable")
}

async fn listed(person: &PageClient, client_id: &str) -> Credential {
    person
        .list_credentials()
        .await
        .into_iter()
        .find(|c| c.client_id == client_id)
        .expect("the credential is listed")
}

fn api_status(error: &Error) -> (u16, &str) {
    match error {
        Error::Api { status, code, .. } => (*status, code.as_str()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn a_disabled_credential_gets_no_token_and_its_tokens_are_refused_until_enabled() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let manager = credential(
        &person,
        "manager",
        &["api:read", "api:write", "credentials:manage"],
    )
    .await;
    let sdk = app.client(&manager);
    let token = app.token(&worker).await;

    sdk.disable_credentials(&worker.client_id)
        .await
        .expect("disable");

    let refused = app.token_request(&worker, &[]).await;
    assert_eq!(refused.status(), 401);
    let body = refused.json::<OAuthErrorBody>().await.expect("OAuth error");
    assert_eq!(body.error, "invalid_client");
    assert!(
        body.error_description.contains("disabled")
            && body
                .error_description
                .contains(&format!("/v1/credentials/{}/enable", worker.client_id)),
        "{}",
        body.error_description
    );
    let me = app.get_with_token("/v1/me", &token).await;
    assert_eq!(me.status(), 401);
    let body = me.json::<ErrorBody>().await.expect("error body");
    assert_eq!(body.error, "credential_disabled");
    assert!(body.message.contains("enable"), "{}", body.message);
    let listed_by_sdk = sdk.credentials().await.expect("list");
    let entry = listed_by_sdk
        .iter()
        .find(|c| c.client_id == worker.client_id)
        .expect("a disabled credential is still listed");
    assert!(entry.disabled);
    assert!(!listed(&person, &manager.client_id).await.disabled);

    // Disabling twice changes nothing and is not an error.
    sdk.disable_credentials(&worker.client_id)
        .await
        .expect("disable again");

    sdk.enable_credentials(&worker.client_id)
        .await
        .expect("enable");

    assert_eq!(app.token_request(&worker, &[]).await.status(), 200);
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
    assert!(!listed(&person, &worker.client_id).await.disabled);
}

#[tokio::test]
async fn disabling_or_enabling_another_users_credential_is_404_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    let added = admin
        .add_user("grace@example.com", "Grace Hopper", "cobol forever")
        .await;
    assert_eq!(added.status(), 303);
    let grace = app.sign_in("grace@example.com", "cobol forever").await;
    let hers = grace.create_credentials("grace's").await;
    let also_hers = grace.create_credentials("grace's, disabled").await;
    let disabled = post_by_session(
        &grace,
        &also_hers.client_id,
        "disable",
        Some(&grace.csrf_token),
    )
    .await;
    assert_eq!(disabled.status(), 204);
    let manager = credential(&admin, "manager", &["api:read", "credentials:manage"]).await;
    let sdk = app.client(&manager);

    let by_session =
        post_by_session(&admin, &hers.client_id, "disable", Some(&admin.csrf_token)).await;
    assert_eq!(by_session.status(), 404);
    let by_token = sdk
        .disable_credentials(&hers.client_id)
        .await
        .expect_err("another user's credential");
    assert_eq!(api_status(&by_token), (404, "not_found"));
    let enable = sdk
        .enable_credentials(&also_hers.client_id)
        .await
        .expect_err("another user's credential");
    assert_eq!(api_status(&enable), (404, "not_found"));
    let garbage = sdk
        .disable_credentials("not-a-client-id")
        .await
        .expect_err("no such credential");
    assert_eq!(api_status(&garbage), (404, "not_found"));

    assert_eq!(app.token_request(&hers, &[]).await.status(), 200);
    assert!(!listed(&grace, &hers.client_id).await.disabled);
    assert_eq!(app.token_request(&also_hers, &[]).await.status(), 401);
    assert!(listed(&grace, &also_hers.client_id).await.disabled);
}

#[tokio::test]
async fn a_token_without_credentials_manage_cannot_disable_or_enable() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let reader = credential(&person, "reader", &["api:read", "api:write"]).await;
    let target = person.create_credentials("target").await;
    let sdk = app.client(&reader);

    for error in [
        sdk.disable_credentials(&target.client_id)
            .await
            .expect_err("missing scope"),
        sdk.enable_credentials(&target.client_id)
            .await
            .expect_err("missing scope"),
    ] {
        assert_eq!(api_status(&error), (403, "missing_scope"));
    }
    assert!(!listed(&person, &target.client_id).await.disabled);
    assert_eq!(app.token_request(&target, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_session_call_without_the_csrf_token_cannot_disable() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("guarded").await;

    let response = post_by_session(&person, &file.client_id, "disable", None).await;

    assert_eq!(response.status(), 403);
    assert!(!listed(&person, &file.client_id).await.disabled);
}

#[tokio::test]
async fn the_page_forms_disable_and_enable_with_csrf_and_show_a_badge() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("paged").await;
    let disable_url = person.url(&format!("/credentials/{}/disable", file.client_id));
    let enable_url = person.url(&format!("/credentials/{}/enable", file.client_id));

    let without_csrf = person
        .client
        .post(&disable_url)
        .form(&[("csrf_token", "")])
        .send()
        .await
        .expect("POST disable");
    assert_eq!(without_csrf.status(), 403);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);

    let disabled = person
        .client
        .post(&disable_url)
        .form(&[("csrf_token", person.csrf_token.as_str())])
        .send()
        .await
        .expect("POST disable");
    assert_eq!(disabled.status(), 303);
    assert_eq!(
        disabled.headers()["location"],
        format!("/credentials/{}?done=disabled", file.client_id).as_str()
    );
    assert_eq!(app.token_request(&file, &[]).await.status(), 401);
    let page = person
        .client
        .get(person.url(&format!("/credentials/{}?done=disabled", file.client_id)))
        .send()
        .await
        .expect("GET the credential's page")
        .text()
        .await
        .expect("page");
    assert!(page.contains(">Disabled</span>"), "no Disabled badge");
    assert!(page.contains(&format!("/credentials/{}/enable", file.client_id)));
    assert!(page.contains("was disabled"));

    let enabled = person
        .client
        .post(&enable_url)
        .form(&[("csrf_token", person.csrf_token.as_str())])
        .send()
        .await
        .expect("POST enable");
    assert_eq!(enabled.status(), 303);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
    let page = person
        .client
        .get(person.url(&format!("/credentials/{}", file.client_id)))
        .send()
        .await
        .expect("GET /credentials")
        .text()
        .await
        .expect("page");
    assert!(!page.contains(">Disabled</span>"));
    assert!(page.contains(&format!("/credentials/{}/disable", file.client_id)));
}

#[test]
fn a_credential_listed_by_an_older_server_decodes_as_enabled() {
    let credential: Credential = serde_json::from_value(json!({
        "clientId": "lkc_0123456789abcdefghijkl",
        "name": "old",
        "created": "2026-01-01T00:00:00.000Z",
        "lastUsed": null,
        "expires": null,
        "scopes": ["api:read"],
        "workspaces": null,
    }))
    .expect("an answer without `disabled`");
    assert!(!credential.disabled);
}
