//! The audit log: every state-changing request leaves an event, with who, what, when,
//! from where and the request id; each caller reads only their part of it; the log
//! pages, exports and cannot be changed.
//!
//! [`every_state_changing_operation_is_recorded`] is the guard against a new route
//! escaping the log: it calls every non-GET operation of the live OpenAPI description
//! and requires an event for each.

use std::collections::BTreeSet;

use latchkey_client::AuditEventsQuery;
use latchkey_types::audit::{AuditEvent, AuditEventPage};
use latchkey_types::{CredentialsFile, ErrorBody};
use serde_json::{Value, json};

use crate::fixtures::Tenant;
use crate::harness::{ADMIN_EMAIL, PageClient, TestApp, hidden_field, set_password_through};

/// Writes the server does not record, on purpose: see `audit.rs` in the server.
const EXEMPT: [(&str, &str); 2] = [
    ("POST", "/v1/auth/oauth/token"),
    ("POST", "/v1/auth/oauth/introspect"),
];
/// Writes recorded only when they changed something, which the placeholder calls below
/// do not (`leak_reports.rs` checks that a revoking report is recorded).
const RECORDED_WHEN_CHANGED: [(&str, &str); 1] = [("POST", "/v1/secret-scanning/reports")];

/// Every event `who` may see, through the SDK's export.
async fn events_of(app: &TestApp, who: &PageClient) -> Vec<AuditEvent> {
    let file = who.create_credentials("audit reader").await;
    app.client(&file)
        .export_audit_events(&AuditEventsQuery::default())
        .await
        .expect("the export should succeed")
}

/// `GET /v1/audit-events?{query}` with the session; status and body.
async fn get_page(who: &PageClient, query: &str) -> (u16, Value) {
    let response = who
        .client
        .get(who.url(&format!("/v1/audit-events{query}")))
        .send()
        .await
        .expect("GET /v1/audit-events");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn every_state_changing_operation_is_recorded() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json")
        .json()
        .await
        .expect("description");

    let mut called = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let method = method.to_uppercase();
            if EXEMPT.contains(&(method.as_str(), template.as_str()))
                || RECORDED_WHEN_CHANGED.contains(&(method.as_str(), template.as_str()))
            {
                continue;
            }
            let operation_id = operation["operationId"]
                .as_str()
                .expect("operationId")
                .to_owned();
            // Placeholder path parameters: the handler refuses them, and that answer is
            // recorded like any other.
            let path: String = template
                .split('/')
                .map(|s| if s.starts_with('{') { "0" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let response = operator
                .call(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                    &path,
                    Some(json!({})),
                )
                .await;
            let request_id = response.headers()["x-request-id"]
                .to_str()
                .expect("request id")
                .to_owned();
            // A signed URL's token never reaches the log.
            let recorded_path = if template.contains("{token}") {
                template.clone()
            } else {
                path
            };
            called.push((operation_id, method, recorded_path, request_id));
        }
    }
    assert!(called.len() > 20, "the description has many writes");

    let events = events_of(&app, &operator).await;
    let missing: Vec<_> = called
        .iter()
        .filter(|(action, method, path, request_id)| {
            !events.iter().any(|e| {
                e.action == *action
                    && e.method.as_deref() == Some(method)
                    && e.path.as_deref() == Some(path)
                    && e.request_id.as_deref() == Some(request_id)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "operations without an audit event: {missing:#?}"
    );
    // And the exempt ones are indeed left out.
    assert!(
        !events
            .iter()
            .any(|e| e.path.as_deref() == Some("/v1/auth/oauth/token")),
        "the token endpoint is not recorded"
    );
}

#[tokio::test]
async fn the_log_cannot_be_edited_or_deleted() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
        reqwest::Method::POST,
    ] {
        let response = operator
            .call(method.clone(), "/v1/audit-events", Some(json!({})))
            .await;
        assert_eq!(response.status(), 405, "{method}");
    }
    let (status, _) = get_page(&operator, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sign_ins_are_recorded_and_a_failed_one_names_the_email_but_never_the_password() {
    let app = TestApp::spawn().await;
    let wrong_password = "not the password at all";
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("page");
    let failed = client
        .post(app.url("/login"))
        .header("user-agent", "audit-test/1.0")
        .form(&[
            (
                "login_csrf",
                hidden_field(&login, "login_csrf").expect("csrf").as_str(),
            ),
            ("email", ADMIN_EMAIL),
            ("password", wrong_password),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(failed.status(), 401);
    let failed_id = failed.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let operator = app.sign_in_as_admin().await;

    let (status, body) = get_page(&operator, "?action=sign_in").await;
    assert_eq!(status, 200);
    assert!(
        !body.to_string().contains(wrong_password),
        "the password is never recorded"
    );
    let page: AuditEventPage = serde_json::from_value(body).expect("a page");
    let failure = page
        .data
        .iter()
        .find(|e| e.request_id.as_deref() == Some(failed_id.as_str()))
        .expect("the failed sign-in is recorded");
    assert_eq!(failure.outcome, "failure");
    assert_eq!(failure.detail["email"], ADMIN_EMAIL);
    assert_eq!(failure.detail["via"], "page");
    assert_eq!(failure.actor.user_id, None);
    assert_eq!(failure.status, Some(401));
    assert_eq!(failure.user_agent.as_deref(), Some("audit-test/1.0"));
    let success = page
        .data
        .iter()
        .find(|e| e.outcome == "success")
        .expect("the sign-in is recorded");
    assert_eq!(success.actor.email.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(success.method.as_deref(), Some("POST"));
    assert_eq!(success.path.as_deref(), Some("/login"));
    assert_eq!(success.status, Some(303));
    assert!(
        page.data.iter().all(|e| e.action == "sign_in"),
        "the filter holds"
    );

    let sign_out = operator
        .client
        .post(operator.url("/logout"))
        .form(&[("csrf_token", operator.csrf_token.as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(sign_out.status(), 303);
    let again = app.sign_in_as_admin().await;
    let (_, body) = get_page(&again, "?action=sign_out").await;
    let page: AuditEventPage = serde_json::from_value(body).expect("a page");
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].actor.email.as_deref(), Some(ADMIN_EMAIL));
}

/// The one event with this request id, read as the operator.
async fn event_with_request_id(operator: &PageClient, request_id: &str) -> AuditEvent {
    let (status, body) = get_page(operator, "?limit=1000").await;
    assert_eq!(status, 200);
    let page: AuditEventPage = serde_json::from_value(body).expect("a page");
    page.data
        .into_iter()
        .find(|e| e.request_id.as_deref() == Some(request_id))
        .unwrap_or_else(|| panic!("no event with request id {request_id}"))
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn credential_changes_are_recorded_with_who_when_where_and_the_request_id() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    let manager: CredentialsFile = operator
        .create_credentials_with(json!({
            "name": "manager", "scopes": ["api:read", "credentials:manage"],
        }))
        .await;
    let token = app.token(&manager).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);

    let created = app
        .http
        .post(app.url("/v1/credentials"))
        .bearer_auth(&token)
        .header("user-agent", "audit-test/1.0")
        .json(&json!({ "name": "made by a program", "scopes": ["api:read"] }))
        .send()
        .await
        .expect("POST /v1/credentials");
    assert_eq!(created.status(), 201);
    let created_id = request_id(&created);
    let file = created
        .json::<latchkey_types::Envelope<CredentialsFile>>()
        .await
        .expect("file")
        .data;
    let disabled = app
        .http
        .post(app.url(&format!("/v1/credentials/{}/disable", file.client_id)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("disable");
    assert_eq!(disabled.status(), 204);
    let deleted = operator
        .client
        .post(operator.url(&format!("/credentials/{}/delete", file.client_id)))
        .form(&[("csrf_token", operator.csrf_token.as_str())])
        .send()
        .await
        .expect("POST delete form");
    assert_eq!(deleted.status(), 303);
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);

    let event = event_with_request_id(&operator, &created_id).await;
    assert_eq!(event.action, "create_credential");
    assert_eq!(event.outcome, "success");
    assert_eq!(event.actor.email.as_deref(), Some(ADMIN_EMAIL));
    assert!(event.actor.user_id.is_some());
    assert_eq!(
        event.actor.client_id.as_deref(),
        Some(manager.client_id.as_str())
    );
    assert!(event.occurred_at.0 >= before && event.occurred_at.0 <= after);
    assert_eq!(event.source_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.user_agent.as_deref(), Some("audit-test/1.0"));
    assert_eq!(event.method.as_deref(), Some("POST"));
    assert_eq!(event.path.as_deref(), Some("/v1/credentials"));
    assert_eq!(event.status, Some(201));
    assert!(
        event.detail.get("via").is_none(),
        "an API call is not a page"
    );

    let event = event_with_request_id(&operator, &request_id(&disabled)).await;
    assert_eq!(event.action, "disable_credential");
    assert_eq!(
        event.path,
        Some(format!("/v1/credentials/{}/disable", file.client_id))
    );
    assert_eq!(
        event.actor.client_id.as_deref(),
        Some(manager.client_id.as_str())
    );

    let event = event_with_request_id(&operator, &request_id(&deleted)).await;
    assert_eq!(event.action, "delete_credential");
    assert_eq!(event.detail["via"], "page");
    assert_eq!(event.actor.email.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(
        event.actor.client_id, None,
        "a page acts through the session"
    );
    assert_eq!(event.status, Some(303));

    // A refused call is recorded as `denied`, without an actor it could not prove.
    let refused = app
        .http
        .delete(app.url(&format!("/v1/credentials/{}", manager.client_id)))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(refused.status(), 401);
    let event = event_with_request_id(&operator, &request_id(&refused)).await;
    assert_eq!(event.outcome, "denied");
    assert_eq!(event.actor.user_id, None);
}

#[tokio::test]
async fn each_caller_sees_only_their_part_of_the_log() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let globex = Tenant::create(&app, "Globex").await;
    acme.developer.create_credentials("dev script").await;
    globex.developer.create_credentials("their script").await;

    // A member: events where they act or are acted on, nothing else.
    let own = events_of(&app, &acme.developer).await;
    assert!(
        own.iter()
            .all(|e| e.actor.user_id == Some(acme.developer_id)
                || e.subject_user_id == Some(acme.developer_id)),
        "{own:#?}"
    );
    assert!(
        own.iter().any(|e| e.action == "create_credential"),
        "their own change"
    );
    assert!(
        own.iter().any(|e| e.action == "set_member"
            && e.subject_user_id == Some(acme.developer_id)
            && e.target == Some(format!("workspace/{}", acme.workspace_id))
            && e.detail["role"] == "developer"),
        "the admin giving them a role"
    );
    assert!(own.iter().any(|e| e.action == "sign_in"));

    // An organization admin: their organization's events, none of another's.
    let organization = events_of(&app, &acme.admin).await;
    assert!(
        organization
            .iter()
            .all(|e| e.organization_id == Some(acme.organization_id)),
        "{organization:#?}"
    );
    assert!(
        organization
            .iter()
            .any(|e| e.actor.user_id == Some(acme.developer_id)),
        "a member's events"
    );
    assert!(
        organization
            .iter()
            .any(|e| e.action == "create_user" && e.subject_user_id == Some(acme.viewer_id)),
        "people added"
    );

    // The operator: every organization's.
    let operator = app.sign_in_as_admin().await;
    let all = events_of(&app, &operator).await;
    for organization in [acme.organization_id, globex.organization_id] {
        assert!(
            all.iter().any(|e| e.organization_id == Some(organization)),
            "organization {organization}"
        );
    }
    assert!(all.len() > organization.len());

    // A page of the API answers the same as the export for the same caller.
    let (status, body) = get_page(&acme.viewer, "?limit=1000").await;
    assert_eq!(status, 200);
    let page: AuditEventPage = serde_json::from_value(body).expect("a page");
    assert!(
        page.data
            .iter()
            .all(|e| e.actor.user_id == Some(acme.viewer_id)
                || e.subject_user_id == Some(acme.viewer_id))
    );
}

#[tokio::test]
async fn cursor_pages_walk_the_whole_log_newest_first_without_repeats() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    for n in 0..7 {
        operator.create_credentials(&format!("c{n}")).await;
    }
    let reader = operator.create_credentials("reader").await;
    let client = app.client(&reader);
    let everything = client
        .export_audit_events(&AuditEventsQuery::default())
        .await
        .expect("export");
    assert!(everything.len() >= 9, "sign-in and eight credentials");

    let mut seen = Vec::new();
    let mut query = AuditEventsQuery {
        limit: Some(3),
        ..AuditEventsQuery::default()
    };
    loop {
        let page = client.audit_events(&query).await.expect("page");
        assert!(page.data.len() <= 3);
        seen.extend(page.data.iter().map(|e| e.id));
        match page.metadata.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let expected: Vec<i64> = everything.iter().map(|e| e.id).collect();
    assert_eq!(seen, expected, "every event once, newest first");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    // Filters through the SDK.
    let created = client
        .export_audit_events(&AuditEventsQuery {
            action: Some("create_credential".to_owned()),
            outcome: Some("success".to_owned()),
            ..AuditEventsQuery::default()
        })
        .await
        .expect("filtered export");
    assert_eq!(created.len(), 8);
    let future = client
        .audit_events(&AuditEventsQuery {
            since: latchkey_types::Timestamp::parse("2999-01-01T00:00:00Z"),
            ..AuditEventsQuery::default()
        })
        .await
        .expect("page");
    assert!(future.data.is_empty());
    assert_eq!(future.metadata.next_cursor, None);
}

#[tokio::test]
async fn bad_queries_are_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    for (query, code) in [
        ("?cursor=not-a-cursor", "invalid_cursor"),
        ("?cursor=", "invalid_cursor"),
        ("?limit=0", "invalid_limit"),
        ("?limit=1001", "invalid_limit"),
        ("?limit=many", "invalid_limit"),
        ("?since=yesterday", "invalid_query"),
        ("?outcome=perhaps", "invalid_query"),
        ("?actor=alice", "invalid_query"),
        ("?format=xml", "invalid_query"),
    ] {
        let (status, body) = get_page(&operator, query).await;
        assert_eq!(status, 400, "{query}");
        let body: ErrorBody = serde_json::from_value(body).expect("our error shape");
        assert_eq!(body.error, code, "{query}");
        assert!(body.request_id.is_some());
    }
    // Through the SDK, the code arrives as such.
    let reader = operator.create_credentials("reader").await;
    let error = app
        .client(&reader)
        .audit_events(&AuditEventsQuery {
            cursor: Some("junk".to_owned()),
            ..AuditEventsQuery::default()
        })
        .await
        .expect_err("a malformed cursor");
    assert_eq!(error.code(), Some("invalid_cursor"));
    assert_eq!(error.status(), Some(400));
}

#[tokio::test]
async fn the_jsonl_export_is_a_download_with_one_event_per_line() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    for n in 0..3 {
        operator.create_credentials(&format!("c{n}")).await;
    }
    let response = operator
        .client
        .get(operator.url("/v1/audit-events?format=jsonl"))
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    let text = response.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "the sign-in and three credentials: {text}");
    for line in &lines {
        let event: Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(event.is_object());
        assert!(event["occurredAt"].is_string());
        assert!(event["actor"]["email"].is_string());
    }
}

#[tokio::test]
async fn a_token_needs_api_read_to_read_the_log() {
    let app = TestApp::spawn().await;
    let operator = app.sign_in_as_admin().await;
    let writer = operator
        .create_credentials_with(json!({ "name": "writer", "scopes": ["api:write"] }))
        .await;
    let token = app.token(&writer).await;
    let response = app.get_with_token("/v1/audit-events", &token).await;
    assert_eq!(response.status(), 403);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.error, "missing_scope");
}

#[tokio::test]
async fn the_audit_page_lists_events_with_a_next_page_link() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    for n in 0..50 {
        acme.developer.create_credentials(&format!("c{n}")).await;
    }
    let page = acme
        .developer
        .client
        .get(acme.developer.url("/audit"))
        .send()
        .await
        .expect("GET /audit")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Audit log"));
    assert!(page.contains("create_credential"));
    assert!(page.contains("developer@acme.test"));
    assert!(!page.contains("viewer@acme.test"), "only their own events");
    let marker = "href=\"/audit?cursor=";
    let start = page.find(marker).expect("a next page link") + marker.len();
    let cursor = &page[start..start + page[start..].find('"').expect("end")];
    let next = acme
        .developer
        .client
        .get(acme.developer.url(&format!("/audit?cursor={cursor}")))
        .send()
        .await
        .expect("next page");
    assert_eq!(next.status(), 200);
    let next = next.text().await.expect("page");
    assert!(next.contains("sign_in"), "the oldest events come last");

    let junk = acme
        .developer
        .client
        .get(acme.developer.url("/audit?cursor=junk"))
        .send()
        .await
        .expect("junk cursor");
    assert_eq!(junk.status(), 400);

    // The menu links to it.
    assert!(page.contains("href=\"/audit\""));
}

#[tokio::test]
async fn setting_a_password_is_recorded_without_the_links_token() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let operator = app.sign_in_as_admin().await;
    let created = acme
        .admin
        .call(
            reqwest::Method::POST,
            "/v1/users",
            Some(json!({
                "email": "new@acme.test", "name": "New Person",
                "organizationId": acme.organization_id,
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: latchkey_types::Envelope<latchkey_types::tenancy::User> =
        created.json().await.expect("user");
    let link = created.data.set_password_url.expect("a set-password link");
    let token = link.rsplit('/').next().expect("token").to_owned();
    let set = set_password_through(&link, "a new long password").await;
    assert_eq!(set.status(), 303);

    let event = event_with_request_id(&operator, &request_id(&set)).await;
    assert_eq!(event.action, "set_password");
    assert_eq!(event.outcome, "success");
    assert_eq!(event.path.as_deref(), Some("/set-password/{token}"));
    assert_eq!(event.detail["via"], "page");
    let everything = events_of(&app, &operator).await;
    assert!(
        !serde_json::to_string(&everything)
            .expect("json")
            .contains(&token),
        "a capability never reaches the log"
    );
    let added = everything
        .iter()
        .find(|e| e.action == "create_user" && e.subject_user_id == Some(created.data.id))
        .expect("the user was added");
    assert_eq!(added.organization_id, Some(acme.organization_id));
    assert_eq!(added.subject_user_id, Some(created.data.id));
    assert_eq!(added.target, Some(format!("user/{}", created.data.id)));
}
