//! The whole credentials flow in headless Chromium, the way a person meets it: sign in,
//! the avatar menu, API Credentials..., Generate Credentials, the one-time view with
//! Download and Close, the list, and Delete; then the downloaded file used over HTTP.
//! Elements are found the way a person finds them: by label, by visible text, by the
//! avatar button's id (see `browser_kit.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use fantoccini::{Client, Locator};
use latchkey_types::{CredentialsFile, Envelope, Me};
use serde_json::Value;

use crate::browser_kit::{
    answer_confirmation, assert_no_confirmation, click_and_wait_for_new_page, clickable,
    confirmation, credential_row, current_path, displayed, generate_credentials, mark_page,
    one_time_value, row_selector, save_screenshot, sign_in, wait_for_download, wait_for_new_page,
    with_browser,
};
use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// The dialog `app.js` shows when the one-time view is closed with the secret unsaved.
const UNSAVED_SECRET_PROMPT: &str = "You have not copied or downloaded the client secret.";

#[tokio::test]
async fn a_person_generates_downloads_uses_and_deletes_credentials_in_the_browser() {
    let app = TestApp::spawn().await;
    with_browser(|client, downloads| async move {
        credentials_flow(&app, &client, &downloads).await;
    })
    .await;
}

async fn credentials_flow(app: &TestApp, client: &Client, downloads: &Path) {
    sign_in(app, client, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Avatar → API Credentials...
    displayed(client, Locator::Id("avatar-button"), "the avatar button")
        .await
        .click()
        .await
        .expect("click the avatar button");
    let menu_item = displayed(
        client,
        Locator::XPath("//*[@role='menuitem'][normalize-space()='API Credentials...']"),
        "the menu item API Credentials...",
    )
    .await;
    click_and_wait_for_new_page(client, &menu_item).await;
    assert_eq!(current_path(client).await, "/credentials");

    // The first credential: download it, then Close does not ask.
    let name = "Nightly upload job";
    generate_credentials(client, name, None).await;
    let shown_client_id = one_time_value(client, "Client ID").await;
    let shown_secret = one_time_value(client, "Client secret").await;
    save_screenshot(client, "one-time-view.png").await;

    clickable(client, "Download")
        .await
        .click()
        .await
        .expect("click Download");
    let (file_name, json) = wait_for_download(downloads, &mut BTreeSet::new()).await;
    assert_eq!(file_name, "latchkey-nightly-upload-job.json");
    let keys: BTreeSet<&str> = json
        .as_object()
        .expect("the file is a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "clientId",
            "clientSecret",
            "created",
            "email",
            "expires",
            "issuer",
            "name",
            "scopes",
            "userId",
        ]),
        "the credentials file has exactly the documented fields"
    );
    assert_eq!(json["expires"], Value::Null, "no expiry was chosen");
    let file: CredentialsFile =
        serde_json::from_value(json.clone()).expect("the file parses as a credentials file");
    assert_eq!(file.client_id, shown_client_id);
    assert!(
        file.client_secret.starts_with("lksk_"),
        "secret has the fixed prefix"
    );
    assert_eq!(file.client_secret, shown_secret);
    assert_eq!(file.email, ADMIN_EMAIL);
    assert!(file.user_id > 0);
    assert_eq!(file.issuer, app.base_url);
    assert_eq!(file.name, name);
    let age = chrono::Utc::now() - file.created.0;
    assert!(
        age >= chrono::Duration::seconds(-5) && age < chrono::Duration::minutes(5),
        "created is about now: {}",
        file.created
    );
    assert_eq!(file.expires, None);
    assert_eq!(file.scopes, ["api:read", "api:write"]);

    let close = clickable(client, "Close").await;
    mark_page(client).await;
    close.click().await.expect("click Close");
    assert_no_confirmation(client, "Close after Download must not ask").await;
    wait_for_new_page(client).await;
    assert_eq!(current_path(client).await, "/credentials");
    assert!(
        client
            .find_all(Locator::Id("created-dialog"))
            .await
            .expect("look for the one-time view")
            .is_empty(),
        "the one-time view is gone after Close"
    );
    let row = credential_row(client, &file.client_id).await;
    let row_text = row.text().await.expect("row text");
    assert!(
        row_text.contains(name),
        "row names the credential: {row_text}"
    );
    assert!(
        row_text.contains(&file.client_id),
        "row shows the client id: {row_text}"
    );

    // The second credential: Close without saving asks; dismissing keeps the secret on
    // screen, accepting closes it.
    let scratch = "Scratch credential";
    generate_credentials(client, scratch, None).await;
    let scratch_client_id = one_time_value(client, "Client ID").await;
    clickable(client, "Close")
        .await
        .click()
        .await
        .expect("click Close");
    let prompt = confirmation(client).await;
    assert!(
        prompt.contains(UNSAVED_SECRET_PROMPT),
        "Close without saving explains the risk: {prompt}"
    );
    save_screenshot(client, "one-time-view-unsaved.png").await;
    answer_confirmation(client, "Keep it open").await;
    assert_no_confirmation(client, "one prompt per Close").await;
    assert_eq!(
        one_time_value(client, "Client ID").await,
        scratch_client_id,
        "dismissing keeps the one-time view open"
    );
    let close = clickable(client, "Close").await;
    mark_page(client).await;
    close.click().await.expect("click Close again");
    let prompt = confirmation(client).await;
    assert!(
        prompt.contains(UNSAVED_SECRET_PROMPT),
        "asks again: {prompt}"
    );
    answer_confirmation(client, "Close anyway").await;
    wait_for_new_page(client).await;
    assert_eq!(current_path(client).await, "/credentials");
    let row_text = credential_row(client, &scratch_client_id)
        .await
        .text()
        .await
        .expect("row text");
    assert!(row_text.contains(scratch), "row names it: {row_text}");

    // The downloaded file works over HTTP.
    let token = app.token(&file).await;
    let response = app.get_with_token("/v1/me", &token).await;
    assert_eq!(response.status(), 200);
    let me = response.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.user.id, file.user_id);
    assert_eq!(me.user.email, ADMIN_EMAIL);
    let credential = me.credential.expect("called with a credential");
    assert_eq!(credential.client_id, file.client_id);
    assert_eq!(credential.name, name);

    // Delete it from the list, confirming in the dialog that names it.
    let delete = credential_row(client, &file.client_id)
        .await
        .find(Locator::XPath(".//button[normalize-space()='Delete']"))
        .await
        .expect("the row has a Delete button");
    mark_page(client).await;
    delete.click().await.expect("click Delete");
    let prompt = confirmation(client).await;
    assert!(
        prompt.contains(name),
        "the dialog names the credential: {prompt}"
    );
    answer_confirmation(client, "Delete credential").await;
    wait_for_new_page(client).await;
    assert!(
        client
            .find_all(Locator::Css(&row_selector(&file.client_id)))
            .await
            .expect("look for the deleted row")
            .is_empty(),
        "the deleted credential is no longer listed"
    );
    credential_row(client, &scratch_client_id).await;

    // Both the file and the token it already got are refused.
    let refused = app
        .http
        .post(app.url("/v1/auth/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(refused.status(), 401, "a deleted credential gets no token");
    let refused = app.get_with_token("/v1/me", &token).await;
    assert_eq!(refused.status(), 401, "its access tokens stop working");

    // Reloading the one-time view shows the list: no second credential, no secret.
    let before = app.sign_in_as_admin().await.list_credentials().await.len();
    generate_credentials(client, "Reloaded", None).await;
    mark_page(client).await;
    client.refresh().await.expect("reload the page");
    wait_for_new_page(client).await;
    assert!(
        client
            .find_all(Locator::Id("created-dialog"))
            .await
            .expect("look for the one-time view")
            .is_empty(),
        "a reload does not show the secret again"
    );
    let after = app.sign_in_as_admin().await.list_credentials().await.len();
    assert_eq!(after, before + 1, "a reload makes no second credential");
}
