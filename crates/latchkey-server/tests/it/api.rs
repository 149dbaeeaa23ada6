//! `/v1/me` and `/v1/credentials`.
//!
//! Over 800 lines: one surface, `/v1/me` and `/v1/credentials`, tested end to end.

use latchkey_client::Error;
use latchkey_types::{
    Credential, CredentialsFile, Envelope, ErrorBody, Me, NewCredential, TokenResponse,
};
use serde_json::{Value, json};

use crate::harness::{ADMIN_EMAIL, PageClient, TestApp};

#[tokio::test]
async fn a_generated_credential_gets_a_token_that_says_who_the_caller_is() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("ci-upload").await;

    let me = app.client(&file).me().await.expect("GET /v1/me");

    assert_eq!(me.user.email, ADMIN_EMAIL);
    let credential = me.credential.expect("credential");
    assert_eq!(credential.client_id, file.client_id);
    assert_eq!(credential.name, "ci-upload");
}

#[tokio::test]
async fn deleting_a_credential_stops_its_issued_access_tokens() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("short-lived").await;
    let token = app.token(&file).await;

    let deleted = person
        .client
        .delete(person.url(&format!("/v1/credentials/{}", file.client_id)))
        .header("x-csrf-token", &person.csrf_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);

    let response = app.get_with_token("/v1/me", &token).await;
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("challenge")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    let body = response.json::<ErrorBody>().await.expect("error body");
    assert_eq!(body.error, "credential_deleted");
    assert!(body.request_id.is_some());
}

/// Asserts our one error shape (`message`, `error`, `requestId`, the id echoed in
/// `X-Request-Id`) with `status` and `code`, and returns the body.
async fn api_error(response: reqwest::Response, status: u16, code: &str) -> ErrorBody {
    assert_eq!(response.status(), status, "status of a `{code}` answer");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let raw = response.json::<Value>().await.expect("JSON error body");
    for key in ["message", "error", "requestId"] {
        assert!(raw[key].is_string(), "`{key}` missing from {raw}");
    }
    let body: ErrorBody = serde_json::from_value(raw).expect("error body");
    assert_eq!(body.error, code, "{}", body.message);
    assert!(!body.message.is_empty());
    assert_eq!(body.request_id.as_deref(), Some(request_id.as_str()));
    body
}

/// Asserts a 401 with the bearer challenge of RFC 6750 §3 and our error body.
async fn unauthorized(response: reqwest::Response, code: &str) -> ErrorBody {
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii challenge")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    api_error(response, 401, code).await
}

/// A credential with `scopes` and a token for it.
async fn credential_with_token(
    app: &TestApp,
    person: &PageClient,
    name: &str,
    scopes: &[&str],
) -> (CredentialsFile, String) {
    let file = person
        .create_credentials_with(json!({ "name": name, "scopes": scopes }))
        .await;
    let token = app.token(&file).await;
    (file, token)
}

async fn post_with_token(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/credentials"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("POST /v1/credentials")
}

async fn delete_with_token(app: &TestApp, token: &str, client_id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/v1/credentials/{client_id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE /v1/credentials")
}

// --- /v1/me ------------------------------------------------------------------------------

#[tokio::test]
async fn me_without_a_token_is_401_missing_token_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;

    let response = app
        .http
        .get(app.url("/v1/me"))
        .send()
        .await
        .expect("GET /v1/me");

    let body = unauthorized(response, "missing_token").await;
    assert!(
        body.message.contains("Authorization: Bearer"),
        "{}",
        body.message
    );
}

#[tokio::test]
async fn malformed_authorization_headers_get_a_401_that_explains_itself() {
    let app = TestApp::spawn().await;

    for header in [
        "Basic x",
        "Bearer",
        "Bearer ",
        "Bearer not.a.jwt",
        "Bearer a.b",
        "Bearer ....",
        "Token abc",
    ] {
        let response = app
            .http
            .get(app.url("/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .expect("GET /v1/me");
        let body = unauthorized(response, "malformed_token").await;
        assert!(body.message.contains("JWT"), "{header}: {}", body.message);
    }
}

/// A client id or secret sent as the bearer token is named for what it is, with the
/// way to an access token, and the secret is never repeated back.
#[tokio::test]
async fn a_client_id_or_secret_sent_as_a_bearer_token_is_told_to_trade_it_for_a_token() {
    let app = TestApp::spawn().await;
    let file = app
        .sign_in_as_admin()
        .await
        .create_credentials("mixup")
        .await;
    for (sent, what) in [
        (&file.client_id, "This is a client id, not an access token"),
        (
            &file.client_secret,
            "This is a client secret, not an access token",
        ),
    ] {
        let response = app.get_with_token("/v1/me", sent).await;
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = unauthorized(response, "malformed_token").await;
        assert!(body.message.starts_with(what), "{}", body.message);
        assert!(
            body.message.contains("/v1/auth/oauth/token"),
            "{}",
            body.message
        );
        assert!(!body.message.contains(&file.client_secret));
        assert!(!challenge.contains(&file.client_secret), "{challenge}");
    }
}

#[tokio::test]
async fn a_deleted_credential_with_a_unicode_or_quoted_name_still_gets_the_bearer_challenge() {
    // The name is part of the message, and the message is echoed into the challenge,
    // whose error_description allows printable ASCII only (RFC 6750 §3).
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for name in ["Übersetzung 🚀", r#"say "hi" \ bye"#] {
        let file = person.create_credentials(name).await;
        let token = app.token(&file).await;
        assert_eq!(
            person.delete_credentials(&file.client_id).await.status(),
            204
        );

        let response = app.get_with_token("/v1/me", &token).await;

        let body = unauthorized(response, "credential_deleted").await;
        assert!(body.message.contains(name), "the body keeps the name as is");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let token = app.token(&person.create_credentials("cases").await).await;

    let response = app
        .http
        .get(app.url("/v1/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("GET /v1/me");

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn me_describes_the_user_and_the_credential_with_the_tokens_scopes() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({
            "name": "described",
            "expires": "2099-01-31T12:00:00.000Z",
            "scopes": ["api:read", "credentials:manage"],
        }))
        .await;

    let me = app.client(&file).me().await.expect("GET /v1/me");

    assert_eq!(me.user.id, file.user_id);
    assert_eq!(me.user.email, file.email);
    assert!(!me.user.name.is_empty());
    let credential = me.credential.expect("credential");
    assert_eq!(credential.name, "described");
    assert_eq!(credential.scopes, ["api:read", "credentials:manage"]);
    assert_eq!(
        credential.expires.map(|t| t.to_string()).as_deref(),
        Some("2099-01-31T12:00:00.000Z")
    );
}

#[tokio::test]
async fn me_with_the_page_session_describes_the_person_without_a_credential() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    let response = person
        .client
        .get(person.url("/v1/me"))
        .send()
        .await
        .expect("GET /v1/me");

    assert_eq!(response.status(), 200);
    let me = response.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.user.email, ADMIN_EMAIL);
    assert!(me.credential.is_none());
}

// --- listing -----------------------------------------------------------------------------

#[tokio::test]
async fn the_list_shows_every_field_and_last_used_only_after_a_token_grant() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let used = person
        .create_credentials_with(json!({
            "name": "used",
            "expires": "2099-01-31T12:00:00.000Z",
            "scopes": ["api:read"],
        }))
        .await;
    let unused = person.create_credentials("unused").await;

    let before = person.list_credentials().await;
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|c| c.last_used.is_none()));
    app.token(&used).await;

    let response = person
        .client
        .get(person.url("/v1/credentials"))
        .send()
        .await
        .expect("GET /v1/credentials");
    assert_eq!(response.status(), 200);
    let raw = response.text().await.expect("body");
    assert!(
        !raw.contains(&used.client_secret),
        "a secret was listed: {raw}"
    );
    assert!(
        !raw.contains(&used.client_secret[..16]),
        "only a secret's first characters are listed: {raw}"
    );
    let json: Value = serde_json::from_str(&raw).expect("JSON");
    for entry in json["data"].as_array().expect("list") {
        for key in [
            "name", "clientId", "created", "lastUsed", "expires", "scopes",
        ] {
            assert!(entry.get(key).is_some(), "`{key}` missing from {entry}");
        }
    }
    let listed: Vec<Credential> = serde_json::from_value::<Envelope<_>>(json)
        .expect("credential list")
        .data;
    let find = |id: &str| {
        listed
            .iter()
            .find(|c| c.client_id == id)
            .expect("listed")
            .clone()
    };
    let used_entry = find(&used.client_id);
    assert_eq!(used_entry.name, "used");
    assert_eq!(used_entry.scopes, ["api:read"]);
    assert_eq!(used_entry.created, used.created);
    assert_eq!(used_entry.expires, used.expires);
    let last_used = used_entry.last_used.expect("last used after a token grant");
    assert!(last_used >= used_entry.created);
    let unused_entry = find(&unused.client_id);
    assert_eq!(unused_entry.last_used, None);
    assert_eq!(unused_entry.expires, None);
    assert_eq!(unused_entry.scopes, ["api:read", "api:write"]);
}

#[tokio::test]
async fn the_list_needs_authentication() {
    let app = TestApp::spawn().await;

    let response = app
        .http
        .get(app.url("/v1/credentials"))
        .send()
        .await
        .expect("GET /v1/credentials");

    unauthorized(response, "missing_token").await;
}

// --- creating: bad input -----------------------------------------------------------------

#[tokio::test]
async fn names_that_are_empty_too_long_or_multi_line_are_refused_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for name in [
        String::new(),
        "   \t ".to_owned(),
        "x".repeat(101),
        "é".repeat(101),
        "first line\nsecond line".to_owned(),
        "nul\u{0}byte".to_owned(),
    ] {
        let response = person.post_credentials(&json!({ "name": name })).await;
        api_error(response, 400, "invalid_name").await;
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn a_name_of_one_hundred_characters_is_accepted_whatever_their_byte_length() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for name in ["x".repeat(100), "é".repeat(100), "🚀".repeat(100)] {
        let file = person.create_credentials(&name).await;
        assert_eq!(file.name, name);
    }
}

#[tokio::test]
async fn a_ten_megabyte_name_is_413_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    let response = person
        .post_credentials(&json!({ "name": "x".repeat(10 * 1024 * 1024) }))
        .await;

    api_error(response, 413, "payload_too_large").await;
    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = person
            .client
            .post(person.url("/v1/credentials"))
            .header("x-csrf-token", &person.csrf_token)
            .body(r#"{"name":"plain"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("POST /v1/credentials");
        let body = api_error(response, 415, "unsupported_media_type").await;
        assert!(body.message.contains("application/json"));
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for body in [
        r#"{"name": "#,
        "[]",
        "null",
        r#"{"nom": "missing name"}"#,
        r#"{"name": 42}"#,
        r#"{"name": "x", "scopes": "api:read"}"#,
    ] {
        let response = person
            .client
            .post(person.url("/v1/credentials"))
            .header("x-csrf-token", &person.csrf_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /v1/credentials");
        api_error(response, 400, "invalid_body").await;
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn an_expiry_in_the_past_or_without_a_time_zone_is_400() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    let past = person
        .post_credentials(&json!({ "name": "past", "expires": "2001-01-01T00:00:00.000Z" }))
        .await;
    let body = api_error(past, 400, "invalid_expiry").await;
    assert!(body.message.contains("future"));
    for expires in ["2099-01-01T00:00:00", "2099-01-01", "next tuesday"] {
        let response = person
            .post_credentials(&json!({ "name": "naive", "expires": expires }))
            .await;
        let body = api_error(response, 400, "invalid_body").await;
        assert!(body.message.contains("time zone"), "{}", body.message);
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn unknown_wrongly_cased_or_no_scopes_are_400() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for scopes in [
        json!(["admin"]),
        json!(["API:READ"]),
        json!(["api:read", "Api:Write"]),
        json!([]),
    ] {
        let response = person
            .post_credentials(&json!({ "name": "scoped", "scopes": scopes }))
            .await;
        api_error(response, 400, "invalid_scope").await;
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn names_with_markup_unicode_and_duplicates_are_kept_verbatim() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let names = [
        r#"<script>alert("x")</script> & 'friends'"#,
        "Übersetzung 🚀 名前 עברית",
        "twin",
        "twin",
    ];

    let mut files = Vec::new();
    for name in names {
        let file = person.create_credentials(name).await;
        assert_eq!(file.name, name);
        files.push(file);
    }

    let listed = person.list_credentials().await;
    assert_eq!(listed.len(), names.len());
    for file in &files {
        let entry = listed
            .iter()
            .find(|c| c.client_id == file.client_id)
            .expect("listed");
        assert_eq!(entry.name, file.name);
    }
    assert_ne!(files[2].client_id, files[3].client_id);
    let me = app.client(&files[1]).me().await.expect("GET /v1/me");
    assert_eq!(me.credential.expect("credential").name, names[1]);
}

// --- the credentials:manage scope --------------------------------------------------------

#[tokio::test]
async fn a_token_without_credentials_manage_cannot_create_or_delete_credentials() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let (file, token) =
        credential_with_token(&app, &person, "worker", &["api:read", "api:write"]).await;
    let victim = person.create_credentials("victim").await;

    let created = post_with_token(&app, &token, &json!({ "name": "minted" })).await;
    let body = api_error(created, 403, "missing_scope").await;
    assert!(body.message.contains("'worker'"), "{}", body.message);
    assert!(body.message.contains(&file.client_id));
    assert!(body.message.contains("credentials:manage"));

    let deleted = delete_with_token(&app, &token, &victim.client_id).await;
    let body = api_error(deleted, 403, "missing_scope").await;
    assert!(body.message.contains("credentials:manage"));

    let listed = person.list_credentials().await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.name != "minted"));
    assert_eq!(app.token_request(&victim, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_token_with_credentials_manage_can_create_and_delete_credentials() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let manager = person
        .create_credentials_with(json!({
            "name": "manager",
            "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await;
    let client = app.client(&manager);
    let old = person.create_credentials("old").await;

    let minted = client
        .create_credentials(&NewCredential {
            name: "minted".to_owned(),
            expires: None,
            scopes: Some(vec!["api:read".to_owned()]),
            workspaces: None,
            allowed_networks: None,
            rate_limit_per_minute: None,
        })
        .await
        .expect("POST /v1/credentials");
    assert_eq!(minted.email, ADMIN_EMAIL);
    assert_eq!(app.token_request(&minted, &[]).await.status(), 200);

    client
        .delete_credentials(&old.client_id)
        .await
        .expect("DELETE /v1/credentials/{id}");
    assert_eq!(app.token_request(&old, &[]).await.status(), 401);
    let listed = client.credentials().await.expect("GET /v1/credentials");
    assert!(listed.iter().any(|c| c.client_id == minted.client_id));
    assert!(listed.iter().all(|c| c.client_id != old.client_id));
}

#[tokio::test]
async fn a_credentials_file_created_with_a_token_is_not_cached() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let (_, token) = credential_with_token(
        &app,
        &person,
        "manager",
        &["api:read", "credentials:manage"],
    )
    .await;

    let created = post_with_token(
        &app,
        &token,
        &json!({ "name": "minted", "scopes": ["api:read"] }),
    )
    .await;

    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_credential_cannot_create_a_credential_with_scopes_it_lacks() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let manager = person
        .create_credentials_with(json!({
            "name": "read-only manager",
            "scopes": ["api:read", "credentials:manage"],
        }))
        .await;
    let client = app.client(&manager);
    let new = |name: &str, scopes: Option<&[&str]>| NewCredential {
        name: name.to_owned(),
        expires: None,
        scopes: scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect()),
        workspaces: None,
        allowed_networks: None,
        rate_limit_per_minute: None,
    };

    let widened = client
        .create_credentials(&new("escalated", Some(&["api:read", "api:write"])))
        .await
        .expect_err("api:write is more than the manager has");
    let Error::Api {
        status,
        code,
        message,
        ..
    } = widened
    else {
        panic!("an API error, not {widened}");
    };
    assert_eq!(status, 403);
    assert_eq!(code, "credential_wider_than_token");
    assert!(message.contains("api:write"), "{message}");
    // The default scopes include api:write, so leaving them out is no way around it.
    let defaulted = client
        .create_credentials(&new("default", None))
        .await
        .expect_err("the default scopes are more than the manager has");
    assert_eq!(defaulted.status(), Some(403));
    let names: Vec<String> = person
        .list_credentials()
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["read-only manager"]);
}

#[tokio::test]
async fn a_token_narrowed_below_credentials_manage_cannot_create_credentials() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({
            "name": "manager",
            "scopes": ["api:read", "credentials:manage"],
        }))
        .await;
    let narrowed = app
        .token_request(&file, &[("scope", "api:read")])
        .await
        .json::<TokenResponse>()
        .await
        .expect("token");

    let created = post_with_token(&app, &narrowed.access_token, &json!({ "name": "x" })).await;

    api_error(created, 403, "missing_scope").await;
    assert_eq!(person.list_credentials().await.len(), 1);
}

// --- CSRF and ownership -------------------------------------------------------------------

#[tokio::test]
async fn session_calls_without_the_csrf_header_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("kept").await;

    let no_header = person
        .client
        .post(person.url("/v1/credentials"))
        .json(&json!({ "name": "forged" }))
        .send()
        .await
        .expect("POST");
    api_error(no_header, 403, "csrf_failed").await;
    let wrong_header = person
        .client
        .post(person.url("/v1/credentials"))
        .header("x-csrf-token", "not-the-token")
        .json(&json!({ "name": "forged" }))
        .send()
        .await
        .expect("POST");
    api_error(wrong_header, 403, "csrf_failed").await;
    let delete = person
        .client
        .delete(person.url(&format!("/v1/credentials/{}", file.client_id)))
        .send()
        .await
        .expect("DELETE");
    api_error(delete, 403, "csrf_failed").await;

    let listed = person.list_credentials().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_id, file.client_id);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
}

#[tokio::test]
async fn deleting_another_users_credential_is_404_and_it_keeps_working() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    let added = admin
        .add_user("grace@example.com", "Grace Hopper", "cobol forever")
        .await;
    assert_eq!(added.status(), 303);
    let grace = app.sign_in("grace@example.com", "cobol forever").await;
    let hers = grace.create_credentials("grace's").await;
    let (_, manager) =
        credential_with_token(&app, &admin, "manager", &["api:read", "credentials:manage"]).await;

    let by_session = admin.delete_credentials(&hers.client_id).await;
    api_error(by_session, 404, "not_found").await;
    let by_token = delete_with_token(&app, &manager, &hers.client_id).await;
    api_error(by_token, 404, "not_found").await;

    assert_eq!(app.token_request(&hers, &[]).await.status(), 200);
    assert_eq!(grace.list_credentials().await.len(), 1);
    assert!(
        admin
            .list_credentials()
            .await
            .iter()
            .all(|c| c.client_id != hers.client_id),
        "one person never sees another's credentials"
    );
}

#[tokio::test]
async fn deleting_an_unknown_or_garbage_id_is_404() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("once").await;
    assert_eq!(
        person.delete_credentials(&file.client_id).await.status(),
        204
    );

    for id in [
        file.client_id.clone(),
        "lkc_0000000000000000000000".to_owned(),
        "garbage".to_owned(),
        "%27%20OR%201%3D1".to_owned(),
        "x".repeat(2000),
    ] {
        let response = person.delete_credentials(&id).await;
        let body = api_error(response, 404, "not_found").await;
        assert!(body.message.len() < 500, "input is not echoed whole");
    }
}

// --- routing -----------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_path_is_a_404_json_error() {
    let app = TestApp::spawn().await;

    for path in ["/v1/nope", "/v2/me", "/v1/credentials/a/b"] {
        let response = app.http.get(app.url(path)).send().await.expect("GET");
        api_error(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_json_error() {
    let app = TestApp::spawn().await;

    let put_me = app.http.put(app.url("/v1/me")).send().await.expect("PUT");
    // RFC 9110 §15.5.6: a 405 names the methods the resource does support.
    let allow = put_me
        .headers()
        .get("allow")
        .map(|v| v.to_str().expect("ascii").to_owned());
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "Allow: {allow:?}"
    );
    api_error(put_me, 405, "method_not_allowed").await;
    let get_token = app
        .http
        .get(app.url("/v1/auth/oauth/token"))
        .send()
        .await
        .expect("GET");
    api_error(get_token, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn double_and_trailing_slashes_route_to_the_same_endpoint() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("slashes").await;
    let token = app.token(&file).await;

    for path in ["//v1/me/", "/v1//me", "/v1/me/"] {
        let response = app.get_with_token(path, &token).await;
        assert_eq!(response.status(), 200, "{path}");
        let me = response.json::<Envelope<Me>>().await.expect("me").data;
        assert_eq!(me.credential.expect("credential").client_id, file.client_id);
    }
    let created = person
        .client
        .post(format!("{}//v1/credentials/", app.base_url))
        .header("x-csrf-token", &person.csrf_token)
        .json(&json!({ "name": "via-double-slash" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), 201);
}

// --- concurrency -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_token_requests_for_one_credential_all_succeed() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("parallel").await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let http = app.http.clone();
        let url = app.url("/v1/auth/oauth/token");
        let file = file.clone();
        requests.spawn(async move {
            let response = http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", file.client_id.as_str()),
                    ("client_secret", file.client_secret.as_str()),
                ])
                .send()
                .await
                .expect("token request");
            assert_eq!(response.status(), 200);
            response.json::<TokenResponse>().await.expect("token")
        });
    }
    let tokens = requests.join_all().await;

    assert_eq!(tokens.len(), 20);
    let mut distinct: Vec<_> = tokens.iter().map(|t| t.access_token.clone()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "every grant issues its own token");
    for token in &tokens[..3] {
        let me = app.get_with_token("/v1/me", &token.access_token).await;
        assert_eq!(me.status(), 200);
    }
}
