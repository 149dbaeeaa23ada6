//! Tenants for tests: organizations, people with roles, workspaces — made through the
//! management API as an operator and organization admins would.

use latchkey_types::Envelope;
use latchkey_types::tenancy::{Organization, User, Workspace};
use serde_json::json;

use crate::harness::{PageClient, TestApp};

pub const PASSWORD: &str = "a good long password";

impl PageClient {
    /// A JSON call with the session and its CSRF token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("x-csrf-token", &self.csrf_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }
}

/// One organization with an admin, a workspace and people in each role.
pub struct Tenant {
    pub organization_id: i64,
    pub workspace_id: String,
    pub admin: PageClient,
    pub developer: PageClient,
    pub developer_id: i64,
    pub viewer: PageClient,
    pub viewer_id: i64,
    /// A member of the organization with no role in the workspace.
    pub outsider: PageClient,
    pub outsider_id: i64,
}

async fn data<T: serde::de::DeserializeOwned>(response: reqwest::Response, status: u16) -> T {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{text}");
    serde_json::from_str::<Envelope<T>>(&text)
        .expect("enveloped JSON")
        .data
}

/// Adds a user with a password to an organization, as `by` (an org admin or operator).
pub async fn add_person(by: &PageClient, organization_id: i64, email: &str, role: &str) -> i64 {
    let user: User = data(
        by.call(
            reqwest::Method::POST,
            "/v1/users",
            Some(json!({
                "email": email, "name": email.split('@').next().unwrap_or(email),
                "password": PASSWORD, "organizationId": organization_id, "role": role,
            })),
        )
        .await,
        201,
    )
    .await;
    user.id
}

pub async fn set_role(by: &PageClient, workspace_id: &str, user_id: i64, role: &str) {
    let response = by
        .call(
            reqwest::Method::PUT,
            &format!("/v1/workspaces/{workspace_id}/members/{user_id}"),
            Some(json!({ "role": role })),
        )
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

pub async fn create_workspace(by: &PageClient, organization_id: i64, name: &str) -> String {
    let workspace: Workspace = data(
        by.call(
            reqwest::Method::POST,
            "/v1/workspaces",
            Some(json!({ "name": name, "organizationId": organization_id })),
        )
        .await,
        201,
    )
    .await;
    workspace.id
}

impl Tenant {
    /// Creates the organization `name` (as the operator) and its people; emails are
    /// `<role>@<name>.test`.
    pub async fn create(app: &TestApp, name: &str) -> Tenant {
        let operator = app.sign_in_as_admin().await;
        let organization: Organization = data(
            operator
                .call(
                    reqwest::Method::POST,
                    "/v1/organizations",
                    Some(json!({ "name": name })),
                )
                .await,
            201,
        )
        .await;
        let id = organization.id;
        let domain = format!("{}.test", name.to_lowercase().replace(' ', "-"));
        add_person(&operator, id, &format!("admin@{domain}"), "admin").await;
        let admin = app.sign_in(&format!("admin@{domain}"), PASSWORD).await;
        let workspace_id = create_workspace(&admin, id, &format!("{name} workspace")).await;
        let mut people = Vec::new();
        for role in ["developer", "viewer", "outsider"] {
            let email = format!("{role}@{domain}");
            let user_id = add_person(&admin, id, &email, "member").await;
            if role != "outsider" {
                set_role(&admin, &workspace_id, user_id, role).await;
            }
            people.push((app.sign_in(&email, PASSWORD).await, user_id));
        }
        let mut people = people.into_iter();
        let mut next = || people.next().expect("three people");
        let (developer, developer_id) = next();
        let (viewer, viewer_id) = next();
        let (outsider, outsider_id) = next();
        Tenant {
            organization_id: id,
            workspace_id,
            admin,
            developer,
            developer_id,
            viewer,
            viewer_id,
            outsider,
            outsider_id,
        }
    }
}
