//! The credential lifecycle in headless Chromium: an expiry reminder with Renew, rolling
//! a secret (the new file downloaded, the old secret working through the overlap and
//! refused after it), and the organization admin disabling a member's credential.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Duration;
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use latchkey_server::clock::Clock;
use latchkey_types::CredentialsFile;
use serde_json::Value;

use crate::browser_kit::{
    click_and_wait_for_new_page, clickable, credential_row, current_path, displayed,
    generate_credentials, save_screenshot, sign_in, wait_for_download, with_browser,
};
use crate::fixtures::{PASSWORD, Tenant};
use crate::harness::TestApp;

#[tokio::test]
async fn a_person_renews_and_rolls_and_an_admin_disables_in_the_browser() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let tenant = Tenant::create(&app, "Browser Org").await;
    with_browser(|client, downloads| async move {
        lifecycle_flow(&app, &clock, &tenant, &client, &downloads).await;
    })
    .await;
}

async fn lifecycle_flow(
    app: &TestApp,
    clock: &Clock,
    tenant: &Tenant,
    client: &Client,
    downloads: &Path,
) {
    let mut seen = BTreeSet::new();
    sign_in(app, client, "developer@browser-org.test", PASSWORD).await;
    client
        .goto(&app.url("/credentials"))
        .await
        .expect("open /credentials");

    // A credential that expires in 7 days is within the default 7-day reminder.
    generate_credentials(client, "Exporter", Some("7")).await;
    let original = download_and_close(client, downloads, &mut seen, "Your new credentials").await;
    assert!(original.expires.is_some());

    // The reminder names it and renews it in one click.
    let reminder = displayed(
        client,
        Locator::XPath("//div[contains(@class,'reminder')][contains(., 'Exporter')]"),
        "the expiry reminder",
    )
    .await;
    save_screenshot(client, "expiry-reminder.png").await;
    let renew = reminder
        .find(Locator::XPath(".//button[normalize-space()='Renew']"))
        .await
        .expect("the reminder has a Renew button");
    click_and_wait_for_new_page(client, &renew).await;
    let renewed =
        download_and_close(client, downloads, &mut seen, "Your renewed credentials").await;
    assert_ne!(renewed.client_id, original.client_id);
    assert_eq!(renewed.name, "Exporter");
    assert_eq!(renewed.scopes, original.scopes);
    assert_eq!(app.token_request(&renewed, &[]).await.status(), 200);

    // Roll the renewed credential's secret with an hour of overlap, on its own page.
    let manage = in_row(
        &credential_row(client, &renewed.client_id).await,
        ".//a[normalize-space()='Manage']",
    )
    .await;
    click_and_wait_for_new_page(client, &manage).await;
    assert_eq!(
        current_path(client).await,
        format!("/credentials/{}", renewed.client_id)
    );
    displayed(
        client,
        Locator::XPath("//select[@id=//label[normalize-space()='Old secret keeps working']/@for]"),
        "the overlap choice",
    )
    .await
    .select_by_value("3600")
    .await
    .expect("1 hour");
    let submit = displayed(
        client,
        Locator::XPath(
            "//form[contains(@class,'roll-form')]//button[normalize-space()='Roll secret']",
        ),
        "Roll secret",
    )
    .await;
    click_and_wait_for_new_page(client, &submit).await;
    let rolled = download_and_close(client, downloads, &mut seen, "Your new secret").await;
    assert_eq!(rolled.client_id, renewed.client_id);
    assert_ne!(rolled.client_secret, renewed.client_secret);
    client
        .goto(&app.url(&format!("/credentials/{}", rolled.client_id)))
        .await
        .expect("open the credential's page");
    let secrets = displayed(
        client,
        Locator::Css("ul.secret-list"),
        "the credential's secrets",
    )
    .await
    .text()
    .await
    .expect("secrets text");
    assert!(
        secrets.contains(&rolled.client_secret[..9])
            && secrets.contains(&renewed.client_secret[..9]),
        "both secrets are listed by prefix during the overlap: {secrets}"
    );
    assert_eq!(app.token_request(&renewed, &[]).await.status(), 200);
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 200);
    clock.advance(Duration::minutes(61));
    assert_eq!(
        app.token_request(&renewed, &[]).await.status(),
        401,
        "the old secret stops after the overlap"
    );
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 200);

    // The organization admin sees the member's credentials and disables one.
    client.delete_all_cookies().await.expect("sign out");
    sign_in(app, client, "admin@browser-org.test", PASSWORD).await;
    client
        .goto(&app.url("/organization"))
        .await
        .expect("open /organization");
    let link = clickable(client, "Credentials and policy").await;
    click_and_wait_for_new_page(client, &link).await;
    assert_eq!(
        current_path(client).await,
        format!("/organizations/{}/credentials", tenant.organization_id)
    );
    let row = credential_row(client, &rolled.client_id).await;
    let text = row.text().await.expect("row text");
    assert!(text.contains("developer@browser-org.test"), "{text}");
    save_screenshot(client, "organization-credentials.png").await;
    in_row(&row, ".//summary[normalize-space()='Disable…']")
        .await
        .click()
        .await
        .expect("open the Disable form");
    in_row(&row, ".//input[@name='reason']")
        .await
        .send_keys("rotated after the CI incident")
        .await
        .expect("type the reason");
    save_screenshot(client, "organization-credentials-disable.png").await;
    client.set_window_size(390, 844).await.expect("phone size");
    save_screenshot(client, "organization-credentials-disable-390.png").await;
    client
        .set_window_size(1280, 800)
        .await
        .expect("laptop size");
    let disable = in_row(&row, ".//button[normalize-space()='Disable']").await;
    click_and_wait_for_new_page(client, &disable).await;
    let text = credential_row(client, &rolled.client_id)
        .await
        .text()
        .await
        .expect("row text");
    assert!(text.contains("Disabled"), "{text}");
    assert_eq!(
        app.token_request(&rolled, &[]).await.status(),
        401,
        "a disabled credential gets no token"
    );

    // Its owner sees who disabled it and why, and cannot enable it themselves.
    client.delete_all_cookies().await.expect("sign out");
    sign_in(app, client, "developer@browser-org.test", PASSWORD).await;
    client
        .goto(&app.url("/credentials"))
        .await
        .expect("open /credentials");
    let row = credential_row(client, &rolled.client_id).await;
    let text = row.text().await.expect("row text");
    assert!(text.contains("Disabled"), "the list says so: {text}");
    let manage = in_row(&row, ".//a[normalize-space()='Manage']").await;
    click_and_wait_for_new_page(client, &manage).await;
    let text = displayed(client, Locator::Css("main"), "the credential's page")
        .await
        .text()
        .await
        .expect("page text");
    assert!(
        text.contains("Disabled by admin@browser-org.test: rotated after the CI incident"),
        "{text}"
    );
    save_screenshot(client, "credential-disabled-by-admin.png").await;
    client.set_window_size(390, 844).await.expect("phone size");
    save_screenshot(client, "credential-disabled-by-admin-390.png").await;
    client
        .set_window_size(1280, 800)
        .await
        .expect("laptop size");
    let enable = clickable(client, "Enable").await;
    click_and_wait_for_new_page(client, &enable).await;
    let page = client.source().await.expect("page source");
    assert!(
        page.contains("only an administrator"),
        "the refusal explains itself"
    );
    assert_eq!(app.token_request(&rolled, &[]).await.status(), 401);
}

async fn in_row(row: &Element, xpath: &str) -> Element {
    row.find(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|error| panic!("{xpath}: {error}"))
}

/// In the one-time view titled `title`: Download, check the file, Close.
async fn download_and_close(
    client: &Client,
    downloads: &Path,
    seen: &mut BTreeSet<String>,
    title: &str,
) -> CredentialsFile {
    displayed(
        client,
        Locator::XPath(&format!(
            "//dialog[@open][.//*[normalize-space()='{title}']]"
        )),
        title,
    )
    .await;
    clickable(client, "Download")
        .await
        .click()
        .await
        .expect("click Download");
    let (_, json): (String, Value) = wait_for_download(&PathBuf::from(downloads), seen).await;
    let file: CredentialsFile = serde_json::from_value(json).expect("a credentials file");
    let close = clickable(client, "Close").await;
    click_and_wait_for_new_page(client, &close).await;
    file
}
