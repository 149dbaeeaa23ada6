//! `/v1/me` and `/v1/credentials`.

use latchkey_types::{Envelope, ErrorBody, Me};

use crate::harness::{ADMIN_EMAIL, TestApp};

#[tokio::test]
async fn a_generated_credential_gets_a_token_that_says_who_the_caller_is() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("ci-upload").await;

    let token = app.token(&file).await;
    let response = app.get_with_token("/v1/me", &token.access_token).await;

    assert_eq!(response.status(), 200);
    let me = response.json::<Envelope<Me>>().await.expect("me").data;
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

    let response = app.get_with_token("/v1/me", &token.access_token).await;
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
