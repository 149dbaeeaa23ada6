//! The lifecycle forms of the pages, as a browser posts them: limits, the reminder lead
//! time, rolling with a custom overlap, the organization's policy, an admin's action on
//! a member's credential and the member's notification of it (issue 5).

use serde_json::Value;

use crate::fixtures::Tenant;
use crate::harness::{PageClient, TestApp};

/// Posts a page form with the session's CSRF token and `fields`.
async fn post_form(person: &PageClient, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut form = vec![("csrf_token", person.csrf_token.as_str())];
    form.extend_from_slice(fields);
    let response = person
        .client
        .post(person.url(path))
        .form(&form)
        .send()
        .await
        .expect("POST form");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

async fn page(person: &PageClient, path: &str) -> String {
    let response = person
        .client
        .get(person.url(path))
        .send()
        .await
        .expect("GET page");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("page")
}

#[tokio::test]
async fn limits_and_reminders_are_set_through_their_forms() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let path = format!("/credentials/{}/limits", worker.client_id);

    let (status, _) = post_form(
        &person,
        &path,
        &[
            ("allowed_networks", "127.0.0.1, 10.0.0.0/8"),
            ("rate_limit", "120"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let listed = person.list_credentials().await;
    assert_eq!(
        listed[0].allowed_networks,
        Some(vec!["127.0.0.1/32".to_owned(), "10.0.0.0/8".to_owned()])
    );
    assert_eq!(listed[0].rate_limit_per_minute, Some(120));
    let html = page(&person, &format!("/credentials/{}", worker.client_id)).await;
    assert!(
        html.contains("Only from 127.0.0.1/32, 10.0.0.0/8"),
        "{html}"
    );

    let (status, html) = post_form(
        &person,
        &path,
        &[("allowed_networks", "10.0.0.0/99"), ("rate_limit", "")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("10.0.0.0/99"), "the page names the bad entry");
    assert_eq!(
        person.list_credentials().await[0].rate_limit_per_minute,
        Some(120)
    );
    let without_csrf = person
        .client
        .post(person.url(&path))
        .form(&[("allowed_networks", ""), ("rate_limit", "")])
        .send()
        .await
        .expect("POST");
    assert_eq!(without_csrf.status(), 403);

    let (status, _) = post_form(
        &person,
        "/credentials/reminders",
        &[("reminder_days", "30")],
    )
    .await;
    assert_eq!(status, 303);
    let preferences: Value = person
        .client
        .get(person.url("/v1/me/preferences"))
        .send()
        .await
        .expect("GET preferences")
        .json()
        .await
        .expect("JSON");
    assert_eq!(preferences["data"]["expiryReminderDays"], 30);
    let (status, _) = post_form(&person, "/credentials/reminders", &[("reminder_days", "0")]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn rolling_through_the_form_shows_the_new_secret_once() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let path = format!("/credentials/{}/roll", worker.client_id);

    let (status, html) = post_form(
        &person,
        &path,
        &[("overlap", "custom"), ("custom_hours", "2")],
    )
    .await;
    assert_eq!(status, 303, "{html}");
    let html = page(&person, "/credentials").await;
    assert!(html.contains("Your new secret"), "{html}");
    assert!(html.contains("keeps working until"), "{html}");
    let reloaded = page(&person, "/credentials").await;
    assert!(!reloaded.contains("Your new secret"), "shown once");
    let listed = person.list_credentials().await;
    assert_eq!(listed[0].secrets.len(), 2);
    let new_prefix = &listed[0].secrets[0].prefix;
    assert!(html.contains(new_prefix.as_str()));
    assert_eq!(app.token_request(&worker, &[]).await.status(), 200);

    let (status, _) = post_form(
        &person,
        &path,
        &[("overlap", "custom"), ("custom_hours", "9999")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(person.list_credentials().await[0].secrets.len(), 2);
}

#[tokio::test]
async fn the_policy_form_bounds_the_generate_dialog_and_admins_act_on_members() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Forms Org").await;
    let (status, _) = post_form(
        &tenant.admin,
        "/organization/credential-policy",
        &[
            ("default_days", "14"),
            ("max_days", "30"),
            ("idle_days", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (status, html) = post_form(
        &tenant.admin,
        "/organization/credential-policy",
        &[
            ("default_days", "60"),
            ("max_days", "30"),
            ("idle_days", ""),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("longer than the maximum"), "{html}");
    let (status, _) = post_form(
        &tenant.developer,
        "/organization/credential-policy",
        &[("default_days", ""), ("max_days", ""), ("idle_days", "")],
    )
    .await;
    assert_eq!(status, 403, "a member cannot change the policy");

    // The dialog offers nothing beyond the maximum, and says why.
    let html = page(&tenant.developer, "/credentials").await;
    assert!(html.contains("at most 30 days"), "{html}");
    assert!(!html.contains("value=\"never\""));
    assert!(!html.contains("value=\"90\""));
    let (status, html) = post_form(
        &tenant.developer,
        "/credentials",
        &[
            ("name", "forever"),
            ("expiry", "never"),
            ("expires_on", ""),
            ("scopes", "api:read"),
            ("allowed_networks", ""),
            ("rate_limit", ""),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("at most 30 days"), "{html}");
    let member = tenant.developer.create_credentials("member's").await;
    assert!(member.expires.is_some(), "the default lifetime applies");

    // The admin disables it from the organization's page; the member is told.
    let html = page(&tenant.admin, "/organization/credentials").await;
    assert!(html.contains(&member.client_id));
    let (status, _) = post_form(
        &tenant.developer,
        &format!("/organization/credentials/{}/disable", member.client_id),
        &[],
    )
    .await;
    assert_eq!(
        status, 303,
        "the owner may act on their own credential here too"
    );
    let (status, _) = post_form(
        &tenant.viewer,
        &format!("/organization/credentials/{}/enable", member.client_id),
        &[],
    )
    .await;
    assert_eq!(status, 404, "another member cannot");
    let (status, _) = post_form(
        &tenant.admin,
        &format!("/organization/credentials/{}/enable", member.client_id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = post_form(
        &tenant.admin,
        &format!("/organization/credentials/{}/disable", member.client_id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(app.token_request(&member, &[]).await.status(), 401);
    let html = page(&tenant.developer, "/credentials").await;
    assert!(html.contains("disabled"), "{html}");
    let id = html
        .split("/notifications/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a notification with a Dismiss form")
        .to_owned();
    let (status, _) = post_form(&tenant.viewer, &format!("/notifications/{id}/dismiss"), &[]).await;
    assert_eq!(status, 404, "not theirs");
    let (status, _) = post_form(
        &tenant.developer,
        &format!("/notifications/{id}/dismiss"),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let html = page(&tenant.developer, "/credentials").await;
    assert!(!html.contains(&format!("/notifications/{id}/dismiss")));
}

#[tokio::test]
async fn a_reminders_renew_link_offers_renew_for_that_credential_only() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let far = person
        .create_credentials_with(serde_json::json!({
            "name": "far off",
            "expires": "2099-01-31T12:00:00Z",
        }))
        .await;
    let renew_form = format!("/credentials/{}/renew", far.client_id);

    let html = page(&person, "/credentials").await;
    assert!(
        !html.contains("class=\"banner banner-warning reminder\""),
        "not due yet"
    );
    let html = page(&person, &format!("/credentials?renew={}", far.client_id)).await;
    assert!(
        html.contains("class=\"banner banner-warning reminder\"") && html.contains(&renew_form),
        "the link from the reminder email offers Renew: {html}"
    );
    let html = page(&person, "/credentials?renew=lkc_0000000000000000000000").await;
    assert!(!html.contains("class=\"banner banner-warning reminder\""));
}

#[tokio::test]
async fn a_credentials_page_shows_it_to_its_owner_only() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Detail Org").await;
    let file = tenant.developer.create_credentials("nightly export").await;
    let path = format!("/credentials/{}", file.client_id);

    let html = page(&tenant.developer, &path).await;
    assert!(html.contains("nightly export"), "{html}");
    for form in ["roll", "limits", "disable", "delete"] {
        let action = format!("action=\"/credentials/{}/{form}\"", file.client_id);
        assert!(html.contains(&action), "the page offers {form}: {html}");
    }
    assert!(
        html.matches("name=\"csrf_token\"").count() >= 4,
        "every form carries the CSRF token"
    );
    assert!(!html.contains(&file.client_secret[..12]), "no secret");
    let list = page(&tenant.developer, "/credentials").await;
    assert!(
        list.contains(&format!("href=\"{path}\"")),
        "the list links it"
    );

    for (who, person) in [
        ("another member", &tenant.viewer),
        ("an admin", &tenant.admin),
    ] {
        let response = person
            .client
            .get(person.url(&path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 404, "{who} does not see it");
    }
    let response = tenant
        .developer
        .client
        .get(tenant.developer.url("/credentials/not-a-client-id"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
}
