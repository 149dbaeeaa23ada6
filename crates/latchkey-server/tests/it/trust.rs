//! One authorization model (issue 9): a narrowed token never acts on a credential
//! wider than itself, an organization admin's disabling sticks, and a workspace limit
//! narrows management and the audit log too. Each test is named after a hole it pins.

use latchkey_types::{Credential, CredentialsFile};
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{Tenant, add_person};
use crate::harness::{PageClient, TestApp};

/// A call with a bearer token; the status and the JSON body (or `null`).
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn listed(person: &PageClient, client_id: &str) -> Credential {
    person
        .list_credentials()
        .await
        .into_iter()
        .find(|c| c.client_id == client_id)
        .expect("listed")
}

/// Every credential-changing call a token could make on `client_id`.
fn changes(client_id: &str) -> Vec<(Method, String, Option<Value>)> {
    let path = format!("/v1/credentials/{client_id}");
    vec![
        (
            Method::POST,
            format!("{path}/roll"),
            Some(json!({ "overlapSeconds": 0 })),
        ),
        (Method::POST, format!("{path}/renew"), None),
        (Method::PUT, format!("{path}/limits"), Some(json!({}))),
        (Method::POST, format!("{path}/disable"), None),
        (Method::POST, format!("{path}/enable"), None),
        (Method::DELETE, path, None),
    ]
}

#[tokio::test]
async fn a_narrowed_token_cannot_roll_renew_limit_or_delete_a_wider_credential() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Narrow").await;
    let person = &tenant.developer;
    let wide = person
        .create_credentials_with(json!({
            "name": "wide",
            "scopes": ["api:read", "api:write", "credentials:manage"],
            "allowedNetworks": ["127.0.0.0/8"],
        }))
        .await;
    let narrow = person
        .create_credentials_with(json!({
            "name": "narrow manager",
            "scopes": ["credentials:manage"],
            "workspaces": [tenant.workspace_id],
        }))
        .await;
    let token = app.token(&narrow).await;

    for (method, path, body) in changes(&wide.client_id) {
        let (status, answer) = call(&app, &token, method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "credential_wider_than_token", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(&wide.client_id) && m.contains("wider")),
            "{answer}"
        );
        assert_eq!(answer["principal"]["clientId"], narrow.client_id.as_str());
    }
    // Nothing changed: the wide credential keeps its secret, allowlist and life.
    let after = listed(person, &wide.client_id).await;
    assert_eq!(after.secrets.len(), 1);
    assert_eq!(
        after.allowed_networks.as_deref(),
        Some(&["127.0.0.0/8".to_owned()][..])
    );
    assert!(!after.disabled);
    assert_eq!(app.token_request(&wide, &[]).await.status(), 200);

    // What the narrow token covers, it may manage: a credential no wider than itself.
    let (status, answer) = call(
        &app,
        &token,
        Method::POST,
        "/v1/credentials",
        Some(json!({
            "name": "narrower",
            "scopes": ["credentials:manage"],
            "workspaces": [tenant.workspace_id],
        })),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let narrower: CredentialsFile =
        serde_json::from_value(answer["data"].clone()).expect("credentials file");
    for (method, path, body) in changes(&narrower.client_id) {
        let (status, answer) = call(&app, &token, method.clone(), &path, body).await;
        assert!(
            [200, 201, 204].contains(&status),
            "{method} {path}: {status} {answer}"
        );
    }
}

#[tokio::test]
async fn a_narrowed_token_cannot_create_a_credential_beyond_its_workspaces() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Reach").await;
    let narrow = tenant
        .developer
        .create_credentials_with(json!({
            "name": "limited",
            "scopes": ["api:read", "credentials:manage"],
            "workspaces": [tenant.workspace_id],
        }))
        .await;
    let token = app.token(&narrow).await;
    for body in [
        json!({ "name": "everywhere", "scopes": ["api:read"] }),
        json!({ "name": "writer", "scopes": ["api:write"], "workspaces": [tenant.workspace_id] }),
    ] {
        let (status, answer) =
            call(&app, &token, Method::POST, "/v1/credentials", Some(body)).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"], "credential_wider_than_token", "{answer}");
    }
}

#[tokio::test]
async fn an_admins_disabling_sticks_until_an_admin_enables_it() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Sticky").await;
    let owner = &tenant.developer;
    let file = owner.create_credentials("ci job").await;
    let disable = format!("/v1/credentials/{}/disable", file.client_id);
    let enable = format!("/v1/credentials/{}/enable", file.client_id);

    let response = tenant
        .admin
        .call(
            Method::POST,
            &disable,
            Some(json!({ "reason": "key seen in a public gist" })),
        )
        .await;
    assert_eq!(response.status(), 204);
    let shown = listed(owner, &file.client_id).await;
    assert!(shown.disabled);
    assert_eq!(shown.disabled_by.as_deref(), Some("admin@sticky.test"));
    assert_eq!(
        shown.disabled_reason.as_deref(),
        Some("key seen in a public gist")
    );

    let page = owner
        .client
        .get(owner.url(&format!("/credentials/{}", file.client_id)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Disabled by admin@sticky.test: key seen in a public gist"),
        "the owner's page says who disabled it and why"
    );
    // The page's Enable form is refused like the API.
    let response = owner
        .client
        .post(owner.url(&format!("/credentials/{}/enable", file.client_id)))
        .form(&[("csrf_token", owner.csrf_token.as_str())])
        .send()
        .await
        .expect("enable form");
    let html = response.text().await.expect("html");
    assert!(html.contains("only an administrator"), "{html}");
    assert!(listed(owner, &file.client_id).await.disabled);

    // The owner can neither enable it nor get a working copy or a new secret.
    for path in [
        enable.clone(),
        format!("/v1/credentials/{}/renew", file.client_id),
    ] {
        let response = owner.call(Method::POST, &path, None).await;
        assert_eq!(response.status(), 403, "{path}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["error"], "disabled_by_admin");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("admin@sticky.test") && message.contains("public gist"),
            "{message}"
        );
    }
    // Disabling it again as the owner does not make it theirs to enable.
    assert_eq!(owner.call(Method::POST, &disable, None).await.status(), 204);
    assert_eq!(owner.call(Method::POST, &enable, None).await.status(), 403);
    assert_eq!(app.token_request(&file, &[]).await.status(), 401);

    assert_eq!(
        tenant
            .admin
            .call(Method::POST, &enable, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);
    let shown = listed(owner, &file.client_id).await;
    assert!(!shown.disabled && shown.disabled_by.is_none());

    // A credential its owner disabled, the owner enables.
    assert_eq!(owner.call(Method::POST, &disable, None).await.status(), 204);
    assert_eq!(owner.call(Method::POST, &enable, None).await.status(), 204);
}

#[tokio::test]
async fn a_disable_reason_is_checked() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("reasons").await;
    let path = format!("/v1/credentials/{}/disable", file.client_id);
    for body in [
        json!({ "reason": "x".repeat(501) }),
        json!({ "reason": "two\nlines" }),
        json!({ "reason": 5 }),
    ] {
        let response = person.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert!(answer["requestId"].is_string(), "{answer}");
    }
    assert!(!listed(&person, &file.client_id).await.disabled);
}

#[tokio::test]
async fn a_workspace_limited_admin_token_manages_and_audits_only_within_its_limit() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Limited").await;
    let everywhere = tenant.developer.create_credentials("everywhere").await;
    let here = tenant
        .developer
        .create_credentials_with(json!({ "name": "here", "workspaces": [tenant.workspace_id] }))
        .await;
    let admin_limited = tenant
        .admin
        .create_credentials_with(json!({
            "name": "admin, one workspace",
            "scopes": ["api:read", "api:write", "credentials:manage"],
            "workspaces": [tenant.workspace_id],
        }))
        .await;
    let admin_full = tenant
        .admin
        .create_credentials_with(json!({
            "name": "admin",
            "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await;
    let limited = app.token(&admin_limited).await;
    let full = app.token(&admin_full).await;

    let disable = |id: &str| format!("/v1/credentials/{id}/disable");
    let (status, answer) = call(
        &app,
        &limited,
        Method::POST,
        &disable(&everywhere.client_id),
        None,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "credential_wider_than_token");
    let (status, answer) = call(
        &app,
        &limited,
        Method::POST,
        &disable(&here.client_id),
        None,
    )
    .await;
    assert_eq!(status, 204, "{answer}");

    let organization_list = format!("/v1/organizations/{}/credentials", tenant.organization_id);
    let (status, answer) = call(&app, &limited, Method::GET, &organization_list, None).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "workspace_not_allowed");
    let (status, _) = call(&app, &full, Method::GET, &organization_list, None).await;
    assert_eq!(status, 200);

    // The organization's log (the developer's own credential events among it) is the
    // unlimited token's to read; the limited one sees only its holder's events.
    let developer_events = |page: &Value| {
        page["data"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["actor"]["email"] == "developer@limited.test")
            .count()
    };
    let (status, page) = call(&app, &full, Method::GET, "/v1/audit-events", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(developer_events(&page) > 0, "{page}");
    let (status, page) = call(&app, &limited, Method::GET, "/v1/audit-events", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(developer_events(&page), 0, "{page}");
}

#[tokio::test]
async fn only_an_owner_rolls_and_an_admin_of_another_organization_sees_nothing() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Owners").await;
    let stranger = Tenant::create(&app, "Strangers").await;
    let file = tenant.developer.create_credentials("mine").await;
    let roll = format!("/v1/credentials/{}/roll", file.client_id);
    let response = tenant
        .admin
        .call(Method::POST, &roll, Some(json!({ "overlapSeconds": 0 })))
        .await;
    assert_eq!(response.status(), 403);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error"], "not_credential_owner");

    for (method, path, body) in changes(&file.client_id) {
        let response = stranger.admin.call(method.clone(), &path, body).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["error"], "not_found");
    }
}

/// Finding 10c: adding a person says when an address already has an account, which
/// tells an organization admin that someone exists in another tenant. The answer names
/// no organization, and after a budget of such answers the organization's additions
/// pause — every one, so a pause says nothing about the address tried.
#[tokio::test]
async fn an_admin_cannot_list_another_tenants_people_by_adding_them() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Prober").await;
    let other = Tenant::create(&app, "Hidden Corp").await;
    let add = |email: &str| json!({ "email": email, "name": "Probe", "organizationId": tenant.organization_id });

    let response = tenant
        .admin
        .call(
            Method::POST,
            "/v1/users",
            Some(add("developer@prober.test")),
        )
        .await;
    assert_eq!(response.status(), 409);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer["message"],
        "The address developer@prober.test already belongs to a member of Prober."
    );

    // The budget POST /v1/users documents: 10 such answers an hour.
    for attempt in 0..10 {
        let email = if attempt == 0 {
            "developer@hidden-corp.test".to_owned()
        } else {
            format!("nobody{attempt}@hidden-corp.test")
        };
        if attempt > 0 {
            add_person(&other.admin, other.organization_id, &email, "member").await;
        }
        let response = tenant
            .admin
            .call(Method::POST, "/v1/users", Some(add(&email)))
            .await;
        assert_eq!(response.status(), 409, "attempt {attempt}");
        let text = response.text().await.expect("body");
        assert!(
            text.contains("already has an account on this service"),
            "{text}"
        );
        assert!(!text.contains("Hidden"), "names no organization: {text}");
    }

    let fresh = tenant
        .admin
        .call(Method::POST, "/v1/users", Some(add("new@prober.test")))
        .await;
    assert_eq!(fresh.status(), 429, "additions pause for new addresses too");
    assert!(fresh.headers().contains_key("retry-after"));
    let answer: Value = fresh.json().await.expect("json");
    assert_eq!(answer["error"], "rate_limited");

    let operator = app.sign_in_as_admin().await;
    let id = add_person(
        &operator,
        tenant.organization_id,
        "new@prober.test",
        "member",
    )
    .await;
    assert!(id > 0, "the operator is not paused");
    let response = other
        .admin
        .call(
            Method::POST,
            "/v1/users",
            Some(json!({ "email": "fresh@hidden-corp.test", "name": "Fresh", "organizationId": other.organization_id })),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "another organization has its own budget"
    );
}
