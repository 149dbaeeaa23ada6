//! Organizations, users, workspaces and members, and the 403s that explain themselves.

use latchkey_types::tenancy::{Member, Organization, User, Workspace};
use latchkey_types::{Envelope, ErrorBody};
use reqwest::Method;
use serde_json::json;

use crate::fixtures::{PASSWORD, Tenant, create_workspace, set_role};
use crate::harness::TestApp;

async fn error(response: reqwest::Response, status: u16, code: &str) -> ErrorBody {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{text}");
    let body: ErrorBody = serde_json::from_str(&text).expect("error body");
    assert_eq!(body.error, code, "{text}");
    assert!(body.request_id.is_some());
    body
}

async fn data<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> T {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str::<Envelope<T>>(&text)
        .expect("envelope")
        .data
}

#[tokio::test]
async fn only_the_operator_creates_organizations_and_each_member_sees_only_their_own() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let globex = Tenant::create(&app, "Globex").await;

    let refused = acme
        .admin
        .call(
            Method::POST,
            "/v1/organizations",
            Some(json!({ "name": "Mine" })),
        )
        .await;
    let body = error(refused, 403, "missing_role").await;
    assert_eq!(body.required_permission.as_deref(), Some("platform:manage"));

    let viewer = app.client(&acme.viewer.create_credentials("viewer-bot").await);
    let seen = viewer.organizations().await.expect("GET /v1/organizations");
    assert_eq!(
        seen.iter().map(|o| o.id).collect::<Vec<_>>(),
        [acme.organization_id]
    );
    let operator = app.sign_in_as_admin().await;
    let all: Vec<Organization> =
        data(operator.call(Method::GET, "/v1/organizations", None).await).await;
    assert!(all.iter().any(|o| o.id == globex.organization_id));

    let duplicate = operator
        .call(
            Method::POST,
            "/v1/organizations",
            Some(json!({ "name": "Acme" })),
        )
        .await;
    error(duplicate, 409, "conflict").await;
}

#[tokio::test]
async fn the_workspace_query_of_kognic_io_finds_exactly_the_developer_workspace() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let second = create_workspace(&acme.admin, acme.organization_id, "Second").await;
    set_role(&acme.admin, &second, acme.developer_id, "viewer").await;
    Tenant::create(&app, "Globex").await;

    let file = acme.developer.create_credentials("kognic-io").await;
    let token = app.token(&file).await;
    let response = app
        .get_with_token("/v1/workspaces?anyRoleIn=developer", &token)
        .await;
    let text = response.text().await.expect("body");
    let workspaces: Envelope<Vec<Workspace>> = serde_json::from_str(&text).expect("json");
    assert_eq!(workspaces.data.len(), 1, "{text}");
    assert_eq!(workspaces.data[0].id, acme.workspace_id);
    assert_eq!(workspaces.data[0].organization.name, "Acme");
    // The strict format of the Python client: %Y-%m-%dT%H:%M:%S.%fZ.
    let raw: serde_json::Value = serde_json::from_str(&text).expect("json");
    let created = raw["data"][0]["created"].as_str().expect("created");
    assert!(created.ends_with('Z') && created.contains('.'), "{created}");

    let all = app
        .client(&file)
        .workspaces(&[])
        .await
        .expect("GET /v1/workspaces");
    assert_eq!(all.len(), 2);
    let filtered = app
        .get_with_token(
            &format!(
                "/v1/workspaces?anyRoleIn=viewer&anyRoleIn=admin&organizationIds={}",
                acme.organization_id
            ),
            &token,
        )
        .await;
    let filtered: Vec<Workspace> = data(filtered).await;
    assert_eq!(
        filtered.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        [second.as_str()]
    );

    let bad = app
        .get_with_token("/v1/workspaces?anyRoleIn=Developer", &token)
        .await;
    error(bad, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_viewer_cannot_manage_members_and_is_told_why() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let file = acme.viewer.create_credentials("viewer-bot").await;
    let token = app.token(&file).await;

    let response = app
        .http
        .put(app.url(&format!(
            "/v1/workspaces/{}/members/{}",
            acme.workspace_id, acme.outsider_id
        )))
        .bearer_auth(&token)
        .json(&json!({ "role": "developer" }))
        .send()
        .await
        .expect("put");
    let body = error(response, 403, "missing_role").await;
    assert!(
        body.message.contains("viewer@acme.test"),
        "{}",
        body.message
    );
    assert!(body.message.contains("are a viewer"), "{}", body.message);
    assert!(body.message.contains("admin role"), "{}", body.message);
    assert_eq!(
        body.required_permission.as_deref(),
        Some("workspace:members")
    );
    let resource = body.resource.expect("resource");
    assert_eq!(resource.kind, "workspace");
    assert_eq!(resource.id.as_deref(), Some(acme.workspace_id.as_str()));
    let principal = body.principal.expect("principal");
    assert_eq!(principal.user_id, acme.viewer_id);
    assert_eq!(
        principal.client_id.as_deref(),
        Some(file.client_id.as_str())
    );
}

#[tokio::test]
async fn a_read_only_credential_is_refused_writes_with_missing_scope() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let file = acme
        .admin
        .create_credentials_with(json!({ "name": "ci-upload", "scopes": ["api:read"] }))
        .await;
    let token = app.token(&file).await;

    let response = app
        .http
        .put(app.url(&format!(
            "/v1/workspaces/{}/members/{}",
            acme.workspace_id, acme.outsider_id
        )))
        .bearer_auth(&token)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .expect("put");
    let body = error(response, 403, "missing_scope").await;
    assert!(
        body.message.starts_with("Your credential 'ci-upload'")
            && body.message.contains("is read-only (scope api:read)")
            && body.message.contains("needs api:write"),
        "{}",
        body.message
    );
    let members: Vec<Member> = data(
        acme.admin
            .call(
                Method::GET,
                &format!("/v1/workspaces/{}/members", acme.workspace_id),
                None,
            )
            .await,
    )
    .await;
    assert!(members.iter().all(|m| m.user_id != acme.outsider_id));
}

#[tokio::test]
async fn another_organizations_workspace_and_users_are_not_found() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let globex = Tenant::create(&app, "Globex").await;

    let foreign = acme
        .admin
        .call(
            Method::GET,
            &format!("/v1/workspaces/{}/members", globex.workspace_id),
            None,
        )
        .await;
    let missing = acme
        .admin
        .call(
            Method::GET,
            "/v1/workspaces/00000000-0000-0000-0000-000000000000/members",
            None,
        )
        .await;
    let foreign = error(foreign, 404, "not_found").await;
    let missing = error(missing, 404, "not_found").await;
    assert_eq!(
        foreign.message.replace(&globex.workspace_id, "ID"),
        missing
            .message
            .replace("00000000-0000-0000-0000-000000000000", "ID"),
        "a foreign workspace must be indistinguishable from a missing one"
    );

    let cross = acme
        .admin
        .call(
            Method::PUT,
            &format!(
                "/v1/workspaces/{}/members/{}",
                acme.workspace_id, globex.developer_id
            ),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    error(cross, 404, "not_found").await;
    let users = acme
        .admin
        .call(
            Method::GET,
            &format!("/v1/users?organizationId={}", globex.organization_id),
            None,
        )
        .await;
    error(users, 404, "not_found").await;
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_call_and_removal_revokes_access() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let file = acme.outsider.create_credentials("outsider-bot").await;
    let token = app.token(&file).await;
    let members_path = format!("/v1/workspaces/{}/members", acme.workspace_id);
    let admin = app.client(&acme.admin.create_credentials("admin-bot").await);

    let before = app.get_with_token(&members_path, &token).await;
    error(before, 403, "missing_role").await;

    let member = admin
        .set_member(&acme.workspace_id, acme.outsider_id, "viewer")
        .await
        .expect("PUT the member");
    assert_eq!(member.user_id, acme.outsider_id);
    let after = app
        .client(&file)
        .members(&acme.workspace_id)
        .await
        .expect("the viewer reads the members");
    assert!(after.iter().any(|m| m.user_id == acme.outsider_id));

    admin
        .remove_member(&acme.workspace_id, acme.outsider_id)
        .await
        .expect("DELETE the member");
    let gone = app.get_with_token(&members_path, &token).await;
    error(gone, 403, "missing_role").await;
    let again = acme
        .admin
        .call(
            Method::DELETE,
            &format!("{members_path}/{}", acme.outsider_id),
            None,
        )
        .await;
    error(again, 404, "not_found").await;
}

#[tokio::test]
async fn a_credential_limited_to_one_workspace_sees_and_reaches_only_it() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let second = create_workspace(&acme.admin, acme.organization_id, "Second").await;
    let file = acme
        .admin
        .create_credentials_with(json!({ "name": "limited", "workspaces": [acme.workspace_id] }))
        .await;
    assert_eq!(
        file.workspaces.as_deref(),
        Some(&[acme.workspace_id.clone()][..])
    );
    let token = app.token(&file).await;

    let listed = app
        .client(&file)
        .workspaces(&[])
        .await
        .expect("GET /v1/workspaces");
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        [acme.workspace_id.as_str()]
    );
    let outside = app
        .get_with_token(&format!("/v1/workspaces/{second}/members"), &token)
        .await;
    let body = error(outside, 403, "workspace_not_allowed").await;
    assert!(
        body.message.contains(&acme.workspace_id),
        "{}",
        body.message
    );

    for bad in [json!([]), json!(["no-such-workspace"])] {
        let response = acme
            .admin
            .call(
                Method::POST,
                "/v1/credentials",
                Some(json!({ "name": "x", "workspaces": bad })),
            )
            .await;
        error(response, 400, "invalid_workspaces").await;
    }
    let developer_cannot_limit_to_unreachable = acme
        .outsider
        .call(
            Method::POST,
            "/v1/credentials",
            Some(json!({ "name": "x", "workspaces": [second] })),
        )
        .await;
    error(
        developer_cannot_limit_to_unreachable,
        400,
        "invalid_workspaces",
    )
    .await;
}

#[tokio::test]
async fn a_user_added_without_a_password_sets_it_once_through_the_link() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let created: User = data(
        acme.admin
            .call(
                Method::POST,
                "/v1/users",
                Some(json!({ "email": "new@acme.test", "name": "New Person", "organizationId": acme.organization_id })),
            )
            .await,
    )
    .await;
    let link = created.set_password_url.expect("a set-password link");
    assert!(link.starts_with(&app.base_url));

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(&link)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("new@acme.test"));
    let csrf = crate::harness::hidden_field(&page, "form_csrf").expect("form_csrf");
    let set = client
        .post(&link)
        .form(&[("form_csrf", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("set");
    assert_eq!(set.status(), 303);
    app.sign_in("new@acme.test", PASSWORD).await;

    let reused = client
        .post(&link)
        .form(&[
            ("form_csrf", csrf.as_str()),
            ("password", "another password"),
        ])
        .send()
        .await
        .expect("reuse");
    assert_eq!(reused.status(), 404);
    app.sign_in("new@acme.test", PASSWORD).await;
}

#[tokio::test]
async fn management_calls_refuse_bad_input_and_change_nothing() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let members = format!(
        "/v1/workspaces/{}/members/{}",
        acme.workspace_id, acme.outsider_id
    );
    for (body, code) in [
        (json!({ "role": "Developer" }), "invalid_role"),
        (json!({ "role": "owner" }), "invalid_role"),
    ] {
        let response = acme.admin.call(Method::PUT, &members, Some(body)).await;
        error(response, 400, code).await;
    }
    let missing_field = acme
        .admin
        .call(Method::PUT, &members, Some(json!({})))
        .await;
    error(missing_field, 400, "invalid_body").await;
    let unknown_user = acme
        .admin
        .call(
            Method::PUT,
            &format!("/v1/workspaces/{}/members/999999", acme.workspace_id),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    error(unknown_user, 404, "not_found").await;
    for body in [
        json!({ "email": "not-an-email", "name": "X", "organizationId": acme.organization_id }),
        json!({ "email": "x@acme.test", "name": "", "organizationId": acme.organization_id }),
        json!({ "email": "x@acme.test", "name": "X", "password": "short", "organizationId": acme.organization_id }),
        json!({ "email": "x@acme.test", "name": "X", "organizationId": acme.organization_id, "role": "owner" }),
    ] {
        let response = acme.admin.call(Method::POST, "/v1/users", Some(body)).await;
        assert_eq!(response.status(), 400);
    }
    let duplicate = acme
        .admin
        .call(
            Method::POST,
            "/v1/users",
            Some(json!({ "email": "DEVELOPER@acme.test", "name": "Dup", "organizationId": acme.organization_id })),
        )
        .await;
    error(duplicate, 409, "conflict").await;
    let admin = app.client(&acme.admin.create_credentials("admin-bot").await);
    let users = admin.users().await.expect("GET /v1/users");
    assert_eq!(users.len(), 4);
    let by_developer = acme
        .developer
        .call(
            Method::POST,
            "/v1/workspaces",
            Some(json!({ "name": "Mine", "organizationId": acme.organization_id })),
        )
        .await;
    error(by_developer, 403, "missing_role").await;
}
