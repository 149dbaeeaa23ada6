//! The OAuth endpoints: token (RFC 6749), introspection (RFC 7662), revocation
//! (RFC 7009), discovery and the JWKS, and the bearer check's view of forged tokens.
//!
//! Over 800 lines: the OAuth endpoints are one surface, tested RFC by RFC.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use latchkey_server::{Clock, TokenRateLimit};
use latchkey_types::{
    CredentialsFile, Envelope, ErrorBody, IntrospectionResponse, Me, OAuthErrorBody, TokenResponse,
};
use serde_json::{Value, json};

use crate::harness::{ADMIN_EMAIL, TestApp, jwt_part, sign_jwt};

const TOKEN_PATH: &str = "/v1/auth/oauth/token";

/// Asserts an RFC 6749 §5.2 error response and returns its body.
async fn oauth_error(response: reqwest::Response, status: u16, error: &str) -> OAuthErrorBody {
    assert_eq!(response.status(), status, "status of an `{error}` answer");
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "error answers are not cached either"
    );
    let body = response
        .json::<OAuthErrorBody>()
        .await
        .expect("OAuth error body");
    assert_eq!(body.error, error, "{}", body.error_description);
    assert!(!body.error_description.is_empty());
    body
}

/// Asserts a 401 in our API shape with the bearer challenge and returns its body.
async fn unauthorized(response: reqwest::Response) -> ErrorBody {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii challenge")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    let body = response.json::<ErrorBody>().await.expect("error body");
    assert!(!body.message.is_empty());
    assert!(body.request_id.is_some());
    body
}

/// A server, its administrator's session and one credential with the default scopes.
async fn app_with_credential(name: &str) -> (TestApp, crate::harness::PageClient, CredentialsFile) {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials(name).await;
    (app, person, file)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims the server would issue for `file`, for forging variations of them; the
/// secret and grant are those of a token the server issued.
async fn claims_for(app: &TestApp, file: &CredentialsFile, exp: i64) -> Value {
    let issued = jwt_part(&app.token_response(file).await.access_token, 1);
    json!({
        "iss": app.base_url,
        "sub": file.client_id,
        "aud": app.base_url,
        "exp": exp,
        "iat": now_secs() - 10,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "client_id": file.client_id,
        "scope": "api:read api:write",
        "user_id": file.user_id,
        "sid": issued["sid"],
        "gid": issued["gid"],
    })
}

// --- client_credentials ----------------------------------------------------------------

#[tokio::test]
async fn client_credentials_with_form_fields_issue_an_uncacheable_bearer_token() {
    let (app, _person, file) = app_with_credential("form-auth").await;

    let response = app.token_request(&file, &[]).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let token = response.json::<TokenResponse>().await.expect("token");
    assert_eq!(token.token_type, "bearer");
    assert!(token.expires_in > 60, "expires_in {}", token.expires_in);
    assert!(token.refresh_token.is_some());
    assert_eq!(token.scope, "api:read api:write");
    let me = app.get_with_token("/v1/me", &token.access_token).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn the_request_kognic_auth_sends_is_accepted_as_captured() {
    // CONTRACT.md §2.1: charset parameter, field order, scope before the client fields.
    let (app, _person, file) = app_with_credential("python").await;
    let body = format!(
        "grant_type=client_credentials&scope=api%3Aread+api%3Awrite&client_id={}&client_secret={}",
        file.client_id, file.client_secret
    );

    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .header("accept", "application/json")
        .header("user-agent", "python-requests/2.34.2")
        .body(body)
        .send()
        .await
        .expect("token request");

    assert_eq!(response.status(), 200);
    let raw = response.json::<Value>().await.expect("JSON");
    assert!(
        raw.get("error").is_none(),
        "a body with `error` is an error to authlib"
    );
    let token: TokenResponse = serde_json::from_value(raw).expect("token response");
    assert_eq!(token.scope, "api:read api:write");
}

#[tokio::test]
async fn client_credentials_with_http_basic_are_accepted() {
    let (app, _person, file) = app_with_credential("basic-auth").await;

    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let token = response.json::<TokenResponse>().await.expect("token");
    let me = app.get_with_token("/v1/me", &token.access_token).await;
    let me = me.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.credential.expect("credential").client_id, file.client_id);
}

#[tokio::test]
async fn access_token_payload_decodes_with_the_standard_alphabet_and_carries_the_claims() {
    let (app, _person, file) = app_with_credential("claims").await;

    for _ in 0..10 {
        let token = app.token_response(&file).await;
        let payload = token.access_token.split('.').nth(1).expect("payload");
        // kognic-auth decodes with the standard alphabet, which drops `-` and `_`
        // (CONTRACT.md §2.6).
        assert!(!payload.contains(['-', '_']), "{payload}");
        let claims: Value =
            serde_json::from_slice(&STANDARD_NO_PAD.decode(payload).expect("standard base64"))
                .expect("JSON claims");
        assert_eq!(claims["iss"], app.base_url);
        assert_eq!(claims["aud"], app.base_url);
        assert_eq!(claims["sub"], file.client_id);
        assert_eq!(claims["client_id"], file.client_id);
        assert_eq!(claims["scope"], "api:read api:write");
        let iat = claims["iat"].as_i64().expect("iat");
        let exp = claims["exp"].as_i64().expect("exp");
        assert!((iat - now_secs()).abs() < 60, "iat {iat}");
        let lifetime = exp - iat;
        assert!(
            lifetime.abs_diff(i64::try_from(token.expires_in).expect("small")) <= 1,
            "exp - iat = {lifetime}, expires_in = {}",
            token.expires_in
        );
        assert!(!claims["jti"].as_str().expect("jti").is_empty());
    }
}

#[tokio::test]
async fn payload_stays_free_of_dash_and_underscore_when_the_issuer_contains_risky_characters() {
    // `>`, `?` and `~` are the ASCII characters whose base64url encoding can be `-` or
    // `_`; an issuer full of them at every offset would leak one into the payload.
    let issuer = "http://auth.example.test/~a?b>~c??d>>~~e>?~";
    let app = TestApp::spawn_with(|config| config.public_url = Some(issuer.to_owned())).await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("risky-issuer").await;

    let token = app.token_response(&file).await;

    let payload = token.access_token.split('.').nth(1).expect("payload");
    assert!(!payload.contains(['-', '_']), "{payload}");
    let claims: Value =
        serde_json::from_slice(&STANDARD_NO_PAD.decode(payload).expect("standard base64"))
            .expect("JSON claims");
    assert_eq!(claims["iss"], issuer);
    let refresh = token.refresh_token.expect("refresh token");
    assert!(
        !refresh
            .split('.')
            .nth(1)
            .expect("payload")
            .contains(['-', '_'])
    );
    let me = app.get_with_token("/v1/me", &token.access_token).await;
    assert_eq!(me.status(), 200, "the escaped claims still verify");
}

// --- refresh_token ---------------------------------------------------------------------

#[tokio::test]
async fn a_refresh_token_gets_a_new_working_access_token() {
    let (app, _person, file) = app_with_credential("refresher").await;
    let first = app.token_response(&file).await;
    let refresh = first.refresh_token.expect("refresh token");

    let response = app
        .token_request(
            &file,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second = response.json::<TokenResponse>().await.expect("token");
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.scope, first.scope);
    let me = app.get_with_token("/v1/me", &second.access_token).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused_with_invalid_token() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let owner = person.create_credentials("owner").await;
    let thief = person.create_credentials("thief").await;
    let refresh = app
        .token_response(&owner)
        .await
        .refresh_token
        .expect("refresh token");

    let response = app
        .token_request(
            &thief,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;

    oauth_error(response, 401, "invalid_token").await;
}

#[tokio::test]
async fn an_expired_or_garbage_refresh_token_is_refused_with_invalid_token() {
    let (app, _person, file) = app_with_credential("stale-refresh").await;
    let (kid, key) = app.signing_key().await;
    let expired = sign_jwt(
        &key,
        &json!({ "alg": "EdDSA", "typ": "rt+jwt", "kid": kid }),
        &claims_for(&app, &file, now_secs() - 60).await,
    );
    let access = app.token_response(&file).await.access_token;

    for refresh in [expired.as_str(), "garbage", "a.b.c", access.as_str()] {
        let response = app
            .token_request(
                &file,
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await;
        // 401 invalid_token makes the Python clients fall back to client_credentials
        // (CONTRACT.md §2.3); invalid_grant would surface as an error instead.
        let body = oauth_error(response, 401, "invalid_token").await;
        assert!(
            body.error_description.contains("refresh token"),
            "{}",
            body.error_description
        );
    }
}

#[tokio::test]
async fn a_refresh_token_grant_without_the_token_is_invalid_request() {
    let (app, _person, file) = app_with_credential("no-refresh").await;

    let response = app
        .token_request(&file, &[("grant_type", "refresh_token")])
        .await;

    oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn refresh_fails_after_the_credential_is_deleted() {
    let (app, person, file) = app_with_credential("doomed").await;
    let refresh = app
        .token_response(&file)
        .await
        .refresh_token
        .expect("refresh token");
    assert_eq!(
        person.delete_credentials(&file.client_id).await.status(),
        204
    );

    let response = app
        .token_request(
            &file,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;

    let body = oauth_error(response, 401, "invalid_client").await;
    assert!(body.error_description.contains("deleted"));
}

// --- scopes ----------------------------------------------------------------------------

#[tokio::test]
async fn requesting_a_narrower_scope_gives_a_token_with_only_that_scope() {
    let (app, _person, file) = app_with_credential("narrow").await;

    let response = app.token_request(&file, &[("scope", "api:read")]).await;

    assert_eq!(response.status(), 200);
    let token = response.json::<TokenResponse>().await.expect("token");
    assert_eq!(token.scope, "api:read");
    assert_eq!(jwt_part(&token.access_token, 1)["scope"], "api:read");
    let me = app.get_with_token("/v1/me", &token.access_token).await;
    let me = me.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.credential.expect("credential").scopes, ["api:read"]);

    // The refresh token carries the narrowed scope, not the credential's.
    let refresh = token.refresh_token.expect("refresh token");
    let refreshed = app
        .token_request(
            &file,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await
        .json::<TokenResponse>()
        .await
        .expect("token");
    assert_eq!(refreshed.scope, "api:read");
    let widened = app
        .token_request(
            &file,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "api:read api:write"),
            ],
        )
        .await;
    oauth_error(widened, 400, "invalid_scope").await;
}

#[tokio::test]
async fn requesting_a_scope_the_credential_lacks_is_invalid_scope() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person
        .create_credentials_with(json!({ "name": "reader", "scopes": ["api:read"] }))
        .await;

    let response = app
        .token_request(&file, &[("scope", "api:read api:write")])
        .await;

    let body = oauth_error(response, 400, "invalid_scope").await;
    assert!(body.error_description.contains("api:write"));
    let manage = app
        .token_request(&file, &[("scope", "credentials:manage")])
        .await;
    oauth_error(manage, 400, "invalid_scope").await;
}

#[tokio::test]
async fn requesting_an_unknown_or_wrongly_cased_scope_is_invalid_scope() {
    let (app, _person, file) = app_with_credential("unknown-scope").await;

    for scope in ["admin", "API:READ", "api:read  api:writ"] {
        let response = app.token_request(&file, &[("scope", scope)]).await;
        oauth_error(response, 400, "invalid_scope").await;
    }
}

// --- bad input -------------------------------------------------------------------------

#[tokio::test]
async fn a_json_body_is_invalid_request() {
    let (app, _person, file) = app_with_credential("json-body").await;

    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": file.client_id,
            "client_secret": file.client_secret,
        }))
        .send()
        .await
        .expect("token request");

    let body = oauth_error(response, 400, "invalid_request").await;
    assert!(body.error_description.contains("x-www-form-urlencoded"));
}

#[tokio::test]
async fn a_missing_grant_type_is_invalid_request() {
    let (app, _person, file) = app_with_credential("no-grant").await;

    let response = app
        .post_form(
            TOKEN_PATH,
            &[
                ("client_id", &file.client_id),
                ("client_secret", &file.client_secret),
            ],
        )
        .await;

    let body = oauth_error(response, 400, "invalid_request").await;
    assert!(body.error_description.contains("grant_type"));
}

#[tokio::test]
async fn an_unsupported_grant_type_is_refused() {
    let (app, _person, file) = app_with_credential("odd-grant").await;

    for grant in ["password", "authorization_code", "CLIENT_CREDENTIALS"] {
        let response = app.token_request(&file, &[("grant_type", grant)]).await;
        let body = oauth_error(response, 400, "unsupported_grant_type").await;
        assert!(body.error_description.contains(grant));
    }
}

#[tokio::test]
async fn a_repeated_form_field_is_invalid_request() {
    let (app, _person, file) = app_with_credential("repeated").await;

    for repeated in ["grant_type", "client_id", "scope"] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
            ("scope", "api:read"),
        ];
        let value = form.iter().find(|(k, _)| *k == repeated).expect("field").1;
        form.push((repeated, value));
        let response = app.post_form(TOKEN_PATH, &form).await;
        let body = oauth_error(response, 400, "invalid_request").await;
        assert!(body.error_description.contains(repeated));
    }
}

#[tokio::test]
async fn http_basic_with_a_body_secret_or_another_client_id_is_invalid_request() {
    let (app, _person, file) = app_with_credential("both-auth").await;

    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", file.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");

    oauth_error(response, 400, "invalid_request").await;
    let other = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(&file.client_id, Some(&file.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "lkc_0000000000000000000000"),
        ])
        .send()
        .await
        .expect("token request");
    oauth_error(other, 400, "invalid_request").await;
}

#[tokio::test]
async fn missing_client_authentication_is_invalid_client() {
    let (app, _person, file) = app_with_credential("anonymous").await;

    let nothing = app
        .post_form(TOKEN_PATH, &[("grant_type", "client_credentials")])
        .await;
    let no_secret = app
        .post_form(
            TOKEN_PATH,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &file.client_id),
            ],
        )
        .await;
    let empty_secret = app
        .post_form(
            TOKEN_PATH,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &file.client_id),
                ("client_secret", ""),
            ],
        )
        .await;

    for response in [nothing, no_secret, empty_secret] {
        assert!(response.headers().contains_key("www-authenticate"));
        oauth_error(response, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn a_malformed_basic_header_is_invalid_client() {
    let (app, _person, _file) = app_with_credential("bad-basic").await;

    for header in ["Basic !!!", "Basic bm9jb2xvbg==", "Bearer x"] {
        let response = app
            .http
            .post(app.url(TOKEN_PATH))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        oauth_error(response, 401, "invalid_client").await;
    }
}

/// The secret with one character of its random part changed, checksum left alone.
fn mistyped(secret: &str) -> String {
    let position = "lksk_".len() + 7;
    let original = secret.as_bytes()[position];
    let replacement = if original == b'x' { "y" } else { "x" };
    let mut typo = secret.to_owned();
    typo.replace_range(position..=position, replacement);
    typo
}

#[tokio::test]
async fn a_secret_with_a_broken_checksum_is_invalid_client_naming_the_checksum() {
    let (app, _person, file) = app_with_credential("typo").await;
    let typo = CredentialsFile {
        client_secret: mistyped(&file.client_secret),
        ..file.clone()
    };

    let response = app.token_request(&typo, &[]).await;

    let body = oauth_error(response, 401, "invalid_client").await;
    assert!(
        body.error_description.contains("checksum"),
        "{}",
        body.error_description
    );
    assert!(!body.error_description.contains(&typo.client_secret));
}

#[tokio::test]
async fn the_secret_of_another_client_is_invalid_client() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let mine = person.create_credentials("mine").await;
    let theirs = person.create_credentials("theirs").await;
    let swapped = CredentialsFile {
        client_secret: theirs.client_secret.clone(),
        ..mine.clone()
    };

    let response = app.token_request(&swapped, &[]).await;

    let body = oauth_error(response, 401, "invalid_client").await;
    assert!(!body.error_description.contains(&theirs.client_secret));
    let basic = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(&mine.client_id, Some(&theirs.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    oauth_error(basic, 401, "invalid_client").await;
}

#[tokio::test]
async fn an_unknown_client_id_is_invalid_client() {
    let (app, _person, file) = app_with_credential("known").await;

    for client_id in [
        "lkc_0000000000000000000000",
        "lkc_short",
        "' OR 1=1 --",
        &"x".repeat(5000),
    ] {
        let unknown = CredentialsFile {
            client_id: client_id.to_owned(),
            ..file.clone()
        };
        let response = app.token_request(&unknown, &[]).await;
        let body = oauth_error(response, 401, "invalid_client").await;
        assert!(
            body.error_description.len() < 1000,
            "input is not echoed whole"
        );
    }
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_with_413() {
    let (app, _person, file) = app_with_credential("huge").await;
    let mut body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&pad=",
        file.client_id, file.client_secret
    );
    body.push_str(&"a".repeat(10 * 1024 * 1024));

    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token request");

    assert_eq!(response.status(), 413);
    let body = response.json::<OAuthErrorBody>().await.expect("error body");
    assert_eq!(body.error, "invalid_request");
}

#[tokio::test]
async fn a_deleted_credential_cannot_get_a_token() {
    let (app, person, file) = app_with_credential("deleted").await;
    app.token_response(&file).await;
    assert_eq!(
        person.delete_credentials(&file.client_id).await.status(),
        204
    );

    let response = app.token_request(&file, &[]).await;

    let body = oauth_error(response, 401, "invalid_client").await;
    assert!(
        body.error_description.contains("deleted"),
        "{}",
        body.error_description
    );
    assert!(
        body.error_description.contains("'deleted'"),
        "names the credential"
    );
}

#[tokio::test]
async fn an_expired_credential_cannot_get_a_token_and_its_tokens_stop_working() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let expires = clock.now() + chrono::Duration::seconds(2);
    let file = person
        .create_credentials_with(json!({
            "name": "brief",
            "expires": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }))
        .await;
    let token = app.token_response(&file).await;
    assert!(
        token.expires_in <= 2,
        "a token never outlives its credential"
    );
    assert_eq!(
        app.get_with_token("/v1/me", &token.access_token)
            .await
            .status(),
        200
    );

    // Past the credential's expiry by the server's clock, without waiting for it.
    clock.advance(chrono::Duration::seconds(3));

    let response = app.token_request(&file, &[]).await;
    let body = oauth_error(response, 401, "invalid_client").await;
    assert!(
        body.error_description.contains("expired"),
        "{}",
        body.error_description
    );
    let me = unauthorized(app.get_with_token("/v1/me", &token.access_token).await).await;
    assert_eq!(me.error, "token_expired");
}

#[tokio::test]
async fn a_client_hammering_the_token_endpoint_gets_429_with_an_explanation() {
    let app = TestApp::spawn_with(|config| {
        config.token_rate_limit = Some(TokenRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(2).expect("non-zero"),
        });
    })
    .await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("hammer").await;
    let other = person.create_credentials("bystander").await;

    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
    let response = app.token_request(&file, &[]).await;

    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let body = response.json::<Value>().await.expect("JSON body");
    assert!(body["error"].is_string());
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.contains("Too many token requests"),
        "{description}"
    );
    assert!(description.contains(&file.client_id));
    // The limit is per client: another credential is unaffected.
    assert_eq!(app.token_request(&other, &[]).await.status(), 200);
}

/// A credential that was deleted is told so, even by a server that would otherwise
/// tell it to slow down: retrying cannot help it.
#[tokio::test]
async fn a_deleted_credential_hears_that_it_was_deleted_before_it_hears_to_slow_down() {
    let app = TestApp::spawn_with(|config| {
        config.token_rate_limit = Some(TokenRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
        });
    })
    .await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("gone").await;
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
    assert_eq!(app.token_request(&file, &[]).await.status(), 429);
    assert_eq!(
        person.delete_credentials(&file.client_id).await.status(),
        204
    );
    let body = oauth_error(app.token_request(&file, &[]).await, 401, "invalid_client").await;
    assert!(
        body.error_description.contains("was deleted"),
        "{}",
        body.error_description
    );
}

#[tokio::test]
async fn wrong_secrets_sent_by_someone_else_do_not_throttle_the_owner() {
    let app = TestApp::spawn_with(|config| {
        config.token_rate_limit = Some(TokenRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(2).expect("non-zero"),
        });
    })
    .await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("victim").await;
    let mut forged = file.clone();
    forged.client_secret = latchkey_core::ClientSecret::generate().expose().to_owned();

    for _ in 0..5 {
        assert_eq!(app.token_request(&forged, &[]).await.status(), 401);
    }

    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
}

#[tokio::test]
async fn the_token_url_with_a_trailing_slash_base_still_works() {
    // `BASE_URL=http://x/` makes the clients post to `//v1/auth/oauth/token`
    // (CONTRACT.md §0); a redirect would turn the POST into a GET.
    let (app, _person, file) = app_with_credential("slashes").await;

    let response = app
        .http
        .post(format!("{}//v1/auth/oauth/token", app.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");

    assert_eq!(response.status(), 200);
}

// --- introspection (RFC 7662) ----------------------------------------------------------

async fn introspect(app: &TestApp, caller: &CredentialsFile, token: &str) -> reqwest::Response {
    app.post_form(
        "/v1/auth/oauth/introspect",
        &[
            ("client_id", &caller.client_id),
            ("client_secret", &caller.client_secret),
            ("token", token),
        ],
    )
    .await
}

#[tokio::test]
async fn introspecting_an_own_token_reports_it_active_with_its_claims() {
    let (app, _person, file) = app_with_credential("introspected").await;
    let token = app.token_response(&file).await;

    let response = introspect(&app, &file, &token.access_token).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = response
        .json::<IntrospectionResponse>()
        .await
        .expect("json");
    let claims = jwt_part(&token.access_token, 1);
    assert!(answer.active);
    assert_eq!(answer.client_id.as_deref(), Some(file.client_id.as_str()));
    assert_eq!(answer.sub.as_deref(), Some(file.client_id.as_str()));
    assert_eq!(answer.scope.as_deref(), Some("api:read api:write"));
    assert_eq!(answer.token_type.as_deref(), Some("access_token"));
    assert_eq!(answer.username.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(answer.iss.as_deref(), Some(app.base_url.as_str()));
    assert_eq!(answer.aud.as_deref(), Some(app.base_url.as_str()));
    assert_eq!(answer.exp, claims["exp"].as_i64());
    assert_eq!(answer.iat, claims["iat"].as_i64());
    assert_eq!(answer.jti.as_deref(), claims["jti"].as_str());

    let refresh = token.refresh_token.expect("refresh token");
    let answer = introspect(&app, &file, &refresh)
        .await
        .json::<IntrospectionResponse>()
        .await
        .expect("json");
    assert!(answer.active);
    assert_eq!(answer.token_type.as_deref(), Some("refresh_token"));
}

#[tokio::test]
async fn introspecting_another_clients_or_a_garbage_token_reveals_only_inactive() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let mine = person.create_credentials("mine").await;
    let theirs = person.create_credentials("theirs").await;
    let their_token = app.token_response(&theirs).await.access_token;

    for token in [their_token.as_str(), "garbage", "a.b.c"] {
        let response = introspect(&app, &mine, token).await;
        assert_eq!(response.status(), 200);
        let body = response.json::<Value>().await.expect("json");
        assert_eq!(body, json!({ "active": false }), "for {token}");
    }
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let (app, _person, file) = app_with_credential("introspector").await;
    let token = app.token_response(&file).await.access_token;

    let anonymous = app
        .post_form("/v1/auth/oauth/introspect", &[("token", &token)])
        .await;
    oauth_error(anonymous, 401, "invalid_client").await;
    let wrong_secret = CredentialsFile {
        client_secret: mistyped(&file.client_secret),
        ..file.clone()
    };
    oauth_error(
        introspect(&app, &wrong_secret, &token).await,
        401,
        "invalid_client",
    )
    .await;
}

// --- revocation (RFC 7009) -------------------------------------------------------------

async fn revoke(app: &TestApp, caller: &CredentialsFile, token: &str) -> reqwest::Response {
    app.post_form(
        "/v1/auth/oauth/revoke",
        &[
            ("client_id", &caller.client_id),
            ("client_secret", &caller.client_secret),
            ("token", token),
        ],
    )
    .await
}

#[tokio::test]
async fn a_revoked_access_token_is_refused_with_token_revoked() {
    let (app, _person, file) = app_with_credential("revoked-access").await;
    let token = app.token_response(&file).await;
    let survivor = app.token_response(&file).await;

    let response = revoke(&app, &file, &token.access_token).await;

    assert_eq!(response.status(), 200);
    let body = unauthorized(app.get_with_token("/v1/me", &token.access_token).await).await;
    assert_eq!(body.error, "token_revoked");
    let answer = introspect(&app, &file, &token.access_token)
        .await
        .json::<IntrospectionResponse>()
        .await
        .expect("json");
    assert!(!answer.active);
    // Only that token: the credential and its other tokens keep working.
    let me = app.get_with_token("/v1/me", &survivor.access_token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_refused_with_invalid_token() {
    let (app, _person, file) = app_with_credential("revoked-refresh").await;
    let refresh = app
        .token_response(&file)
        .await
        .refresh_token
        .expect("refresh token");

    assert_eq!(revoke(&app, &file, &refresh).await.status(), 200);

    let response = app
        .token_request(
            &file,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    let body = oauth_error(response, 401, "invalid_token").await;
    assert!(body.error_description.contains("revoked"));
}

#[tokio::test]
async fn revoking_garbage_answers_200() {
    let (app, _person, file) = app_with_credential("revoker").await;

    for token in ["garbage", "a.b.c", ""] {
        let response = revoke(&app, &file, token).await;
        if token.is_empty() {
            // An empty value counts as absent (RFC 6749 §3.1).
            oauth_error(response, 400, "invalid_request").await;
        } else {
            assert_eq!(response.status(), 200, "for {token}");
        }
    }
}

#[tokio::test]
async fn revoking_another_clients_token_answers_200_and_leaves_it_working() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let mine = person.create_credentials("mine").await;
    let theirs = person.create_credentials("theirs").await;
    let their_token = app.token_response(&theirs).await.access_token;

    let response = revoke(&app, &mine, &their_token).await;

    assert_eq!(response.status(), 200);
    let me = app.get_with_token("/v1/me", &their_token).await;
    assert_eq!(me.status(), 200, "RFC 7009 §2.1: only the owner may revoke");
}

#[tokio::test]
async fn revocation_requires_client_authentication() {
    let (app, _person, file) = app_with_credential("anonymous-revoker").await;
    let token = app.token_response(&file).await.access_token;

    let response = app
        .post_form("/v1/auth/oauth/revoke", &[("token", &token)])
        .await;

    oauth_error(response, 401, "invalid_client").await;
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
}

// --- discovery and the key set ---------------------------------------------------------

#[tokio::test]
async fn discovery_names_the_issuer_and_a_key_set_that_verifies_issued_tokens() {
    let (app, _person, file) = app_with_credential("discovered").await;
    let token = app.token_response(&file).await.access_token;

    let discovery = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json::<Value>()
        .await
        .expect("JSON");

    assert_eq!(discovery["issuer"], app.base_url);
    assert_eq!(discovery["token_endpoint"], app.url(TOKEN_PATH));
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    assert!(jwks_uri.starts_with(&app.base_url), "{jwks_uri}");
    let jwks = app
        .http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json::<Value>()
        .await
        .expect("JSON");
    let header = jwt_part(&token, 0);
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["kid"] == kid)
        .expect("the token's kid is in the key set");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk.get("d").is_none(), "no private part is published");

    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("base64url x")
        .try_into()
        .expect("32 bytes");
    let public = VerifyingKey::from_bytes(&x).expect("Ed25519 key");
    let (input, signature) = token.rsplit_once('.').expect("signature");
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("b64"))
        .expect("signature bytes");
    public
        .verify(input.as_bytes(), &signature)
        .expect("the published key verifies the token");
}

// --- forged tokens ---------------------------------------------------------------------

#[tokio::test]
async fn a_token_signed_by_another_key_with_our_kid_is_refused_as_invalid_signature() {
    let (app, _person, file) = app_with_credential("forged").await;
    let kid = jwt_part(&app.token_response(&file).await.access_token, 0)["kid"].clone();
    let stranger = SigningKey::generate(&mut rand::rngs::OsRng);

    let forged = sign_jwt(
        &stranger,
        &json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid }),
        &claims_for(&app, &file, now_secs() + 3600).await,
    );
    let body = unauthorized(app.get_with_token("/v1/me", &forged).await).await;

    assert_eq!(body.error, "invalid_signature");
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let (app, _person, file) = app_with_credential("unsigned").await;
    let real = app.token_response(&file).await.access_token;
    let payload = real.split('.').nth(1).expect("payload");

    for alg in ["none", "None", "NONE"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": jwt_part(&real, 0)["kid"] });
        for signature in ["", "AAAA"] {
            let forged = format!(
                "{}.{payload}.{signature}",
                URL_SAFE_NO_PAD.encode(header.to_string())
            );
            let body = unauthorized(app.get_with_token("/v1/me", &forged).await).await;
            assert!(
                matches!(body.error.as_str(), "invalid_signature" | "malformed_token"),
                "alg {alg}: {}",
                body.error
            );
        }
    }
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // The classic algorithm confusion: HS256 with the published key as the secret.
    let (app, _person, file) = app_with_credential("confused").await;
    let real = app.token_response(&file).await.access_token;
    let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": jwt_part(&real, 0)["kid"] });
    let (_, key) = app.signing_key().await;
    let public = key.verifying_key().to_bytes();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        real.split('.').nth(1).expect("payload")
    );
    let mac = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(&public),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("hmac");
    let forged = format!("{input}.{mac}");

    let body = unauthorized(app.get_with_token("/v1/me", &forged).await).await;

    assert_eq!(body.error, "invalid_signature");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_with_token_expired() {
    let (app, _person, file) = app_with_credential("expired-token").await;
    let (kid, key) = app.signing_key().await;
    let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
    let fresh = sign_jwt(
        &key,
        &header,
        &claims_for(&app, &file, now_secs() + 3600).await,
    );
    assert_eq!(
        app.get_with_token("/v1/me", &fresh).await.status(),
        200,
        "a token forged with the server's key is accepted while it is fresh"
    );

    let expired = sign_jwt(
        &key,
        &header,
        &claims_for(&app, &file, now_secs() - 1).await,
    );
    let body = unauthorized(app.get_with_token("/v1/me", &expired).await).await;

    assert_eq!(body.error, "token_expired");
}

#[tokio::test]
async fn a_validly_signed_token_for_another_issuer_or_of_the_refresh_kind_is_refused() {
    let (app, _person, file) = app_with_credential("misdirected").await;
    let (kid, key) = app.signing_key().await;
    let access = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
    let exp = now_secs() + 3600;

    let mut other_issuer = claims_for(&app, &file, exp).await;
    other_issuer["iss"] = json!("https://evil.example");
    let mut other_audience = claims_for(&app, &file, exp).await;
    other_audience["aud"] = json!("https://evil.example");
    let mut no_subject = claims_for(&app, &file, exp).await;
    no_subject.as_object_mut().expect("object").remove("sub");
    for claims in [other_issuer, other_audience, no_subject] {
        let token = sign_jwt(&key, &access, &claims);
        unauthorized(app.get_with_token("/v1/me", &token).await).await;
    }

    let refresh = app
        .token_response(&file)
        .await
        .refresh_token
        .expect("refresh token");
    let body = unauthorized(app.get_with_token("/v1/me", &refresh).await).await;
    assert_eq!(body.error, "wrong_token_type");
}

#[tokio::test]
async fn a_token_for_a_credential_that_never_existed_is_refused() {
    let (app, _person, file) = app_with_credential("real").await;
    let (kid, key) = app.signing_key().await;
    let mut claims = claims_for(&app, &file, now_secs() + 3600).await;
    claims["client_id"] = json!("lkc_0000000000000000000000");
    claims["sub"] = claims["client_id"].clone();

    let token = sign_jwt(
        &key,
        &json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid }),
        &claims,
    );
    let body = unauthorized(app.get_with_token("/v1/me", &token).await).await;

    assert_eq!(body.error, "unknown_credential");
}
