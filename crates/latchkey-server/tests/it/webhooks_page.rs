//! The organization's webhooks page (issue 5, item 9 "in the pages"): the form flow
//! through the real server, the refusals the API gives, and a bad URL explained like
//! the API explains it, with nothing stored.

use std::time::Duration;

use chrono::Utc;
use latchkey_types::Envelope;
use latchkey_types::audit::AuditEvent;
use latchkey_types::events::Webhook;
use serde_json::json;

use crate::events::{Receiver, verify};
use crate::fixtures::Tenant;
use crate::harness::{PageClient, TestApp};

const PAGE: &str = "/organization/webhooks";

async fn get(person: &PageClient, path: &str) -> (u16, String) {
    let response = person
        .client
        .get(person.url(path))
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

/// Posts a page form; `csrf` adds the session's token, as the page's forms do.
async fn post(
    person: &PageClient,
    path: &str,
    fields: &[(&str, &str)],
    csrf: bool,
) -> reqwest::Response {
    let mut form = Vec::new();
    if csrf {
        form.push(("csrf_token", person.csrf_token.as_str()));
    }
    form.extend_from_slice(fields);
    person
        .client
        .post(person.url(path))
        .form(&form)
        .send()
        .await
        .expect("POST")
}

/// How the pages escape `text` in HTML (askama: `&#60;` and friends).
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The organization's endpoints, as the API lists them to `person`.
async fn api_webhooks(person: &PageClient, organization_id: i64) -> Vec<Webhook> {
    let response = person
        .call(
            reqwest::Method::GET,
            &format!("/v1/organizations/{organization_id}/webhooks"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    response
        .json::<Envelope<Vec<Webhook>>>()
        .await
        .expect("webhooks")
        .data
}

/// The status and message of the API's refusal of `person`'s call.
async fn api_refusal(
    person: &PageClient,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let response = person.call(method, path, body).await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("error body");
    (
        status,
        body["message"].as_str().expect("message").to_owned(),
    )
}

/// The first value of `attribute="…"` in `html`.
fn attribute(html: &str, attribute: &str) -> Option<String> {
    let marker = format!("{attribute}=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Polls the page until `done` holds (ten seconds at most).
async fn page_until(person: &PageClient, done: impl Fn(&str) -> bool) -> String {
    let mut page = String::new();
    for _ in 0..200 {
        page = get(person, PAGE).await.1;
        if done(&page) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never got there: {page}");
}

#[tokio::test]
async fn an_admin_registers_sees_deliveries_retries_and_deletes_a_webhook_on_the_page() {
    let app = TestApp::spawn_with(|config| {
        config.webhooks_allow_private_targets = true;
        config.outbox_poll_interval = Duration::from_millis(50);
    })
    .await;
    let tenant = Tenant::create(&app, "Hooks").await;
    let receiver = Receiver::start(200).await;

    let (status, page) = get(&tenant.admin, PAGE).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No webhook endpoints"), "{page}");

    let response = post(
        &tenant.admin,
        PAGE,
        &[
            ("url", receiver.url.as_str()),
            ("events", "credential.deleted"),
            ("events", "credential.created"),
        ],
        true,
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("page");
    let start = page.find("whsec_").expect("the signing secret is shown");
    let end = page[start..].find('<').expect("end of the secret") + start;
    let secret = page[start..end].to_owned();

    let (_, listed) = get(&tenant.admin, PAGE).await;
    assert!(listed.contains(&escaped(&receiver.url)), "{listed}");
    assert!(
        !listed.contains("whsec_"),
        "the signing secret is shown only once"
    );
    let stored = api_webhooks(&tenant.admin, tenant.organization_id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].events.as_deref(),
        Some(
            &[
                "credential.created".to_owned(),
                "credential.deleted".to_owned()
            ][..]
        )
    );
    let webhook_id = stored[0].id.clone();

    // A credential event of the organization becomes a delivery, signed with the
    // secret the page showed.
    let _ = tenant.developer.create_credentials("ci").await;
    let received = receiver.wait_for(1).await;
    let payload = verify(&secret, &received[0], Utc::now());
    assert_eq!(payload["type"], "credential.created");
    let page = page_until(&tenant.admin, |page| page.contains(">delivered<")).await;
    let delivery_id = attribute(&page, "data-delivery-id").expect("a delivery row");
    assert!(page.contains("credential.created"), "{page}");

    let retry = format!("{PAGE}/{webhook_id}/deliveries/{delivery_id}/retry");
    let response = post(&tenant.admin, &retry, &[], true).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/organization/webhooks?done=retried"
    );
    let again = receiver.wait_for(2).await;
    assert_eq!(
        verify(&secret, &again[1], Utc::now())["id"],
        payload["id"],
        "a retry sends the same event again"
    );
    let (_, page) = get(&tenant.admin, "/organization/webhooks?done=retried").await;
    assert!(page.contains("queued again"), "{page}");

    let response = post(
        &tenant.admin,
        &format!("{PAGE}/{webhook_id}/delete"),
        &[],
        true,
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(
        api_webhooks(&tenant.admin, tenant.organization_id)
            .await
            .is_empty()
    );
    let (_, page) = get(&tenant.admin, "/organization/webhooks?done=deleted").await;
    assert!(page.contains("No webhook endpoints"), "{page}");
    assert!(page.contains("was deleted"), "{page}");

    // The forms are recorded under the operations they mirror.
    let response = tenant
        .admin
        .call(reqwest::Method::GET, "/v1/audit-events", None)
        .await;
    let events = response
        .json::<Envelope<Vec<AuditEvent>>>()
        .await
        .expect("audit events")
        .data;
    for action in ["create_webhook", "retry_delivery", "delete_webhook"] {
        let event = events
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action} is in the audit log"));
        assert_eq!(event.outcome, "success");
        assert_eq!(event.detail["via"], "page");
    }
}

#[tokio::test]
async fn members_are_refused_the_webhooks_page_with_the_apis_reason() {
    let app = TestApp::spawn_with(|config| config.webhooks_allow_private_targets = true).await;
    let tenant = Tenant::create(&app, "Refusals").await;
    let receiver = Receiver::start(200).await;
    let response = post(&tenant.admin, PAGE, &[("url", receiver.url.as_str())], true).await;
    assert_eq!(response.status(), 201);
    let webhook_id = api_webhooks(&tenant.admin, tenant.organization_id).await[0]
        .id
        .clone();

    let (_, admin_menu) = get(&tenant.admin, "/credentials").await;
    assert!(admin_menu.contains("href=\"/organization/webhooks\""));
    let (_, member_menu) = get(&tenant.developer, "/credentials").await;
    assert!(!member_menu.contains("href=\"/organization/webhooks\""));

    let (status, reason) = api_refusal(
        &tenant.developer,
        reqwest::Method::GET,
        &format!("/v1/organizations/{}/webhooks", tenant.organization_id),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, page) = get(&tenant.developer, PAGE).await;
    assert_eq!(status, 403);
    assert!(page.contains(&escaped(&reason)), "{reason}\n{page}");
    assert!(!page.contains(&escaped(&receiver.url)), "{page}");

    let response = post(
        &tenant.developer,
        PAGE,
        &[("url", receiver.url.as_str())],
        true,
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = post(
        &tenant.developer,
        &format!("{PAGE}/{webhook_id}/delete"),
        &[],
        true,
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        api_webhooks(&tenant.admin, tenant.organization_id)
            .await
            .len(),
        1,
        "nothing was added or deleted"
    );

    // The operator belongs to no organization: there is nothing to manage here.
    let operator = app.sign_in_as_admin().await;
    let (status, page) = get(&operator, PAGE).await;
    assert_eq!(status, 404);
    assert!(page.contains("do not belong to an organization"), "{page}");
}

#[tokio::test]
async fn a_webhook_form_without_its_csrf_token_is_refused() {
    let app = TestApp::spawn_with(|config| config.webhooks_allow_private_targets = true).await;
    let tenant = Tenant::create(&app, "Forgery").await;
    let receiver = Receiver::start(200).await;

    let response = post(
        &tenant.admin,
        PAGE,
        &[("url", receiver.url.as_str())],
        false,
    )
    .await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("This form has expired")
    );
    assert!(
        api_webhooks(&tenant.admin, tenant.organization_id)
            .await
            .is_empty()
    );

    let response = post(&tenant.admin, PAGE, &[("url", receiver.url.as_str())], true).await;
    assert_eq!(response.status(), 201);
    let webhook_id = api_webhooks(&tenant.admin, tenant.organization_id).await[0]
        .id
        .clone();
    let response = post(
        &tenant.admin,
        &format!("{PAGE}/{webhook_id}/delete"),
        &[],
        false,
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        api_webhooks(&tenant.admin, tenant.organization_id)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_bad_webhook_url_is_explained_like_the_api_explains_it_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Targets").await;

    for url in [
        "ftp://hooks.example.com/latchkey",
        "not a url",
        "http://127.0.0.1:9/hook",
        app.url("/hook").as_str(),
    ] {
        let (status, reason) = api_refusal(
            &tenant.admin,
            reqwest::Method::POST,
            &format!("/v1/organizations/{}/webhooks", tenant.organization_id),
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 400, "{url}: {reason}");
        let response = post(
            &tenant.admin,
            PAGE,
            &[("url", url), ("events", "credential.leaked")],
            true,
        )
        .await;
        assert_eq!(response.status(), 400, "{url}");
        let page = response.text().await.expect("page");
        assert!(page.contains(&escaped(&reason)), "{reason}\n{page}");
        assert!(!page.contains("whsec_"), "{page}");
        assert!(
            page.contains(&format!("value=\"{}\"", escaped(url))),
            "the URL stays in the form to correct: {page}"
        );
        assert!(
            page.contains("value=\"credential.leaked\" id=\"webhook-event-8\" checked"),
            "the chosen event types stay ticked: {page}"
        );
    }
    let response = post(
        &tenant.admin,
        PAGE,
        &[
            ("url", "https://hooks.example.com/x"),
            ("events", "credential.nonsense"),
        ],
        true,
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("is not an event type")
    );
    assert!(
        api_webhooks(&tenant.admin, tenant.organization_id)
            .await
            .is_empty()
    );
}
