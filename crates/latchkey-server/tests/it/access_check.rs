//! `POST /v1/access/check` agrees with the real call, word for word, for a sample of
//! routes × callers, and changes nothing; `GET /v1/me` lists the caller's workspaces
//! with their role and the permissions their credential's scopes and limit leave.

use latchkey_types::content::Project;
use latchkey_types::{AccessCheck, Envelope, ErrorBody, Me};
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{Tenant, create_workspace};
use crate::harness::{PageClient, TestApp};

/// A caller with an access token.
struct Bearer {
    name: &'static str,
    token: String,
}

async fn bearer(app: &TestApp, name: &'static str, person: &PageClient, body: Value) -> Bearer {
    let file = person.create_credentials_with(body).await;
    Bearer {
        name,
        token: app.token(&file).await,
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    dryrun: bool,
) -> (u16, String) {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    if dryrun {
        request = request.header("x-dryrun", "");
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn check(
    app: &TestApp,
    token: &str,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> AccessCheck {
    let mut request = json!({ "method": method.as_str(), "path": path });
    if let Some(body) = body {
        request["body"] = body.clone();
    }
    let (status, text) = send(
        app,
        token,
        Method::POST,
        "/v1/access/check",
        Some(&request),
        false,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Envelope<AccessCheck>>(&text)
        .expect("an access check")
        .data
}

async fn me(app: &TestApp, token: &str) -> Me {
    let (status, text) = send(app, token, Method::GET, "/v1/me", None, false).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Envelope<Me>>(&text)
        .expect("me")
        .data
}

#[tokio::test]
async fn the_check_agrees_with_the_real_call_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let globex = Tenant::create(&app, "Globex").await;
    let side = create_workspace(&acme.admin, acme.organization_id, "Side").await;
    let created = acme
        .developer
        .call(
            Method::POST,
            "/v1/projects",
            Some(json!({ "project": "p1", "title": "P1", "workspaceId": acme.workspace_id })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let batch = acme
        .developer
        .call(Method::POST, "/v1/projects/p1/batches/b1", None)
        .await;
    assert_eq!(batch.status(), 201);

    let callers = [
        bearer(&app, "viewer", &acme.viewer, json!({ "name": "v" })).await,
        bearer(&app, "developer", &acme.developer, json!({ "name": "d" })).await,
        bearer(
            &app,
            "read-only",
            &acme.admin,
            json!({ "name": "ro", "scopes": ["api:read"] }),
        )
        .await,
        bearer(
            &app,
            "limited",
            &acme.admin,
            json!({ "name": "lim", "workspaces": [side] }),
        )
        .await,
        bearer(&app, "other-org", &globex.admin, json!({ "name": "g" })).await,
    ];
    let ws = acme.workspace_id.as_str();
    let viewer_id = acme.viewer_id;
    // (method, path, body, sent with X-Dryrun so an allowed call changes nothing).
    let rows: Vec<(Method, String, Option<Value>, bool)> = vec![
        (
            Method::POST,
            "/v1/projects".to_owned(),
            Some(json!({ "project": "p-new", "title": "New", "workspaceId": ws })),
            true,
        ),
        (
            Method::GET,
            "/v1/projects/p1/batches".to_owned(),
            None,
            false,
        ),
        (
            Method::GET,
            "/v1/projects/p1/batches/b1".to_owned(),
            None,
            false,
        ),
        (
            Method::GET,
            "/v1/projects/p1/batches/nope".to_owned(),
            None,
            false,
        ),
        (
            Method::POST,
            "/v1/projects/p1/batches/b2".to_owned(),
            Some(json!({})),
            true,
        ),
        (
            Method::POST,
            "/v1/projects/p1/batches/b1/publish".to_owned(),
            None,
            true,
        ),
        (
            Method::POST,
            format!("/v1/calibrations?workspaceId={ws}"),
            Some(json!({ "externalId": "c", "calibration": {} })),
            true,
        ),
        (
            Method::GET,
            format!("/v1/workspaces/{ws}/members"),
            None,
            false,
        ),
        (
            Method::PUT,
            format!("/v1/workspaces/{ws}/members/{viewer_id}"),
            Some(json!({ "role": "viewer" })),
            false,
        ),
        (
            Method::POST,
            "/v1/workspaces".to_owned(),
            Some(json!({ "name": "Another", "organizationId": acme.organization_id })),
            false,
        ),
        (
            Method::POST,
            "/v1/organizations".to_owned(),
            Some(json!({ "name": "Initech" })),
            false,
        ),
        (
            Method::GET,
            "/v2/scenes/00000000-0000-4000-8000-000000000001".to_owned(),
            None,
            false,
        ),
        (Method::GET, "/v1/projects".to_owned(), None, false),
        (
            Method::GET,
            format!("/v1/organizations/{}/webhooks", acme.organization_id),
            None,
            false,
        ),
        (Method::GET, "/v1/notifications".to_owned(), None, false),
    ];
    let mut mismatches = Vec::new();
    for caller in &callers {
        for (method, path, body, dryrun) in &rows {
            let verdict = check(&app, &caller.token, method, path, body.as_ref()).await;
            let (status, text) = send(
                &app,
                &caller.token,
                method.clone(),
                path,
                body.as_ref(),
                *dryrun,
            )
            .await;
            let refused = matches!(status, 403 | 404);
            let cell = format!("{} {method} {path}", caller.name);
            if verdict.allowed == refused {
                mismatches.push(format!(
                    "{cell}: check allowed={} but the call answered {status} {text}",
                    verdict.allowed
                ));
                continue;
            }
            if refused {
                let error: ErrorBody = serde_json::from_str(&text).expect("error body");
                if verdict.error.as_deref() != Some(error.error.as_str())
                    || verdict.message.as_deref() != Some(error.message.as_str())
                {
                    mismatches.push(format!(
                        "{cell}: check said {:?} {:?}, the call {} {}",
                        verdict.error, verdict.message, error.error, error.message
                    ));
                }
                if error.required_permission.is_some()
                    && verdict.required_permission != error.required_permission
                {
                    mismatches.push(format!(
                        "{cell}: permission {:?} vs {:?}",
                        verdict.required_permission, error.required_permission
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // The refusals say what would allow the call.
    let viewer = &callers[0].token;
    let refused = check(
        &app,
        viewer,
        &Method::POST,
        "/v1/projects/p1/batches/b2",
        None,
    )
    .await;
    assert!(!refused.allowed);
    assert_eq!(refused.error.as_deref(), Some("missing_role"));
    assert_eq!(refused.required_role.as_deref(), Some("developer"));
    assert_eq!(
        refused.required_permission.as_deref(),
        Some("workspace:write")
    );
    assert_eq!(
        refused.resource.as_ref().and_then(|r| r.id.as_deref()),
        Some(ws)
    );
    let read_only = &callers[2].token;
    let refused = check(
        &app,
        read_only,
        &Method::POST,
        &format!("/v1/imu?workspaceId={ws}"),
        None,
    )
    .await;
    assert_eq!(refused.error.as_deref(), Some("missing_scope"));
    assert_eq!(refused.required_scope.as_deref(), Some("api:write"));

    // Nothing the allowed checks describe was made.
    let developer = &callers[1].token;
    let allowed = check(
        &app,
        developer,
        &Method::POST,
        &format!("/v1/projects?workspaceId={ws}"),
        None,
    )
    .await;
    assert!(allowed.allowed, "{allowed:?}");
    let admin = bearer(&app, "admin", &acme.admin, json!({ "name": "a" })).await;
    let allowed = check(
        &app,
        &admin.token,
        &Method::POST,
        "/v1/workspaces",
        Some(&json!({ "name": "X", "organizationId": acme.organization_id })),
    )
    .await;
    assert!(allowed.allowed, "{allowed:?}");
    let (_, text) = send(&app, developer, Method::GET, "/v1/projects", None, false).await;
    let projects: Envelope<Vec<Project>> = serde_json::from_str(&text).expect("projects");
    assert_eq!(
        projects
            .data
            .iter()
            .map(|p| p.project.as_str())
            .collect::<Vec<_>>(),
        ["p1"]
    );
    let (_, text) = send(
        &app,
        developer,
        Method::GET,
        "/v1/projects/p1/batches",
        None,
        false,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("batches")["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(me(&app, &admin.token).await.workspaces.len(), 2);
}

#[tokio::test]
async fn unknown_routes_are_a_400_that_says_what_was_understood() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let token = bearer(&app, "viewer", &acme.viewer, json!({ "name": "v" }))
        .await
        .token;
    let (status, text) = send(
        &app,
        &token,
        Method::POST,
        "/v1/access/check",
        Some(&json!({ "method": "PATCH", "path": "/v1/projects?x=1" })),
        false,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let error: ErrorBody = serde_json::from_str(&text).expect("error");
    assert_eq!(error.error, "unknown_route");
    assert!(
        error.message.contains("PATCH /v1/projects") && error.message.contains("GET, POST"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn me_lists_workspaces_with_roles_and_permissions_narrowed_by_the_credential() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let side = create_workspace(&acme.admin, acme.organization_id, "Side").await;
    let ws = acme.workspace_id.as_str();

    let permissions = |me: &Me, id: &str| -> Option<(String, Vec<String>)> {
        me.workspaces
            .iter()
            .find(|w| w.id == id)
            .map(|w| (w.role.clone(), w.permissions.clone()))
    };
    let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let viewer = bearer(&app, "viewer", &acme.viewer, json!({ "name": "v" })).await;
    let seen = me(&app, &viewer.token).await;
    assert!(!seen.is_operator);
    let organization = seen.organization.as_ref().expect("organization");
    assert_eq!(
        (
            organization.id,
            organization.name.as_str(),
            organization.role.as_str()
        ),
        (acme.organization_id, "Acme", "member")
    );
    assert_eq!(
        permissions(&seen, ws),
        Some(("viewer".to_owned(), strings(&["workspace:read"])))
    );
    assert_eq!(permissions(&seen, &side), None);

    let developer = bearer(&app, "developer", &acme.developer, json!({ "name": "d" })).await;
    assert_eq!(
        permissions(&me(&app, &developer.token).await, ws),
        Some((
            "developer".to_owned(),
            strings(&["workspace:read", "workspace:write"])
        ))
    );

    let admin = bearer(&app, "admin", &acme.admin, json!({ "name": "a" })).await;
    let seen = me(&app, &admin.token).await;
    assert_eq!(
        seen.organization.as_ref().map(|o| o.role.as_str()),
        Some("admin")
    );
    let all = strings(&["workspace:read", "workspace:write", "workspace:members"]);
    assert_eq!(
        permissions(&seen, ws),
        Some(("admin".to_owned(), all.clone()))
    );
    assert_eq!(permissions(&seen, &side), Some(("admin".to_owned(), all)));

    // The role is the person's; the permissions are what this credential leaves.
    let read_only = bearer(
        &app,
        "read-only",
        &acme.admin,
        json!({ "name": "ro", "scopes": ["api:read"] }),
    )
    .await;
    assert_eq!(
        permissions(&me(&app, &read_only.token).await, ws),
        Some(("admin".to_owned(), strings(&["workspace:read"])))
    );
    let limited = bearer(
        &app,
        "limited",
        &acme.admin,
        json!({ "name": "lim", "workspaces": [side] }),
    )
    .await;
    let seen = me(&app, &limited.token).await;
    assert_eq!(
        seen.workspaces
            .iter()
            .map(|w| w.id.as_str())
            .collect::<Vec<_>>(),
        [side.as_str()]
    );
    assert_eq!(
        seen.credential.and_then(|c| c.workspaces),
        Some(vec![side.clone()])
    );

    let operator = app.sign_in_as_admin().await;
    let file = operator.create_credentials("op").await;
    let seen = me(&app, &app.token(&file).await).await;
    assert!(seen.is_operator);
    assert!(seen.workspaces.iter().any(|w| w.id == ws));
}
