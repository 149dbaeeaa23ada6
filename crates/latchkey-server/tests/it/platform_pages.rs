//! The platform's pages over plain HTTP: the organization admin page (people,
//! workspaces, roles), browsing workspaces → projects → scenes, and the Generate
//! dialog's workspace limit. Every action goes through the API's permission decision,
//! so the tests check the person's API access after each change.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_types::Envelope;
use latchkey_types::tenancy::Workspace;
use serde_json::{Value, json};

use crate::fixtures::{PASSWORD, Tenant, create_workspace, set_role};
use crate::harness::{PageClient, TestApp, hidden_field};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really an image, but bytes";

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

/// Posts a page form with the session's CSRF token.
async fn post(person: &PageClient, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("csrf_token", person.csrf_token.as_str())];
    form.extend_from_slice(fields);
    person
        .client
        .post(person.url(path))
        .form(&form)
        .send()
        .await
        .expect("POST")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// Undoes the HTML escaping of an attribute or text value.
fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#43;", "+")
        .replace("&#61;", "=")
        .replace("&#58;", ":")
        .replace("&amp;", "&")
}

/// How the pages escape `text` in HTML (askama: `&#60;` and friends).
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The text of the element whose opening tag ends with `marker`.
fn text_after(page: &str, marker: &str) -> Option<String> {
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('<')? + start;
    Some(unescape(&page[start..end]))
}

/// The workspaces a bearer token's caller can list, with their role.
async fn api_workspaces(app: &TestApp, token: &str) -> Vec<Workspace> {
    let response = app.get_with_token("/v1/workspaces", token).await;
    assert_eq!(response.status(), 200);
    response
        .json::<Envelope<Vec<Workspace>>>()
        .await
        .expect("workspaces")
        .data
}

async fn role_in(app: &TestApp, token: &str, workspace_id: &str) -> Option<String> {
    api_workspaces(app, token)
        .await
        .into_iter()
        .find(|w| w.id == workspace_id)
        .and_then(|w| w.role)
}

/// A fresh access token for `person`'s new default credential.
async fn token_of(app: &TestApp, person: &PageClient, name: &str) -> String {
    let file = person.create_credentials(name).await;
    app.token(&file).await
}

/// A project `p1` with batch `b1` in `workspace_id` and a cameras scene in it, created
/// through the API with `person`'s session; answers the scene's uuid, view link and
/// signed upload URL.
async fn cameras_scene(person: &PageClient, workspace_id: &str) -> (String, String, String) {
    let response = person
        .call(
            reqwest::Method::POST,
            "/v1/projects",
            Some(json!({"project": "p1", "title": "Project <one>", "workspaceId": workspace_id})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = person
        .call(
            reqwest::Method::POST,
            "/v1/projects/p1/batches/b1",
            Some(json!({"publishPreviousBatches": false})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = person
        .call(
            reqwest::Method::POST,
            "/v1/inputs/initialize",
            Some(json!({"workspaceId": workspace_id})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let uuid = body["data"]["sceneUuid"].as_str().expect("uuid").to_owned();
    let response = person.call(
        reqwest::Method::POST,
        &format!("/v1/inputs/project/p1/batch/b1/cameras?workspaceId={workspace_id}"),
        Some(json!({
            "externalId": "cam-<1>",
            "frame": {"images": [{"filename": "/data/cam.front.png", "resourceId": "/data/cam_front.png",
                                  "sensorName": "CAM"}]},
            "sensorSpecification": {"sensorToPrettyName": {"CAM": "Front"}, "sensorOrder": ["CAM"]},
            "metadata": {"region": "eu", "note": "<i>markup</i>"},
            "internalId": uuid,
        })),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("JSON");
    let upload = created["data"]["files"]["/data/cam_front.png"]
        .as_str()
        .expect("signed url")
        .to_owned();
    let scenes: Value = person
        .call(
            reqwest::Method::POST,
            "/v2/scenes/query",
            Some(json!({"sceneUuids": [uuid]})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let view_link = scenes["data"][0]["viewLink"]
        .as_str()
        .unwrap_or_else(|| panic!("viewLink: {scenes}"))
        .to_owned();
    (uuid, view_link, upload)
}

#[tokio::test]
async fn an_organization_admin_adds_people_with_a_password_or_a_one_time_link() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let path = format!("/organizations/{}/people", tenant.organization_id);

    let with_password = post(
        &tenant.admin,
        &path,
        &[
            ("name", "Grace Hopper"),
            ("email", "grace@acme.test"),
            ("password", PASSWORD),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(with_password.status(), 303);
    let (status, page) = get(&tenant.admin, &location(&with_password)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Added Grace Hopper (grace@acme.test)"),
        "{page}"
    );
    app.sign_in("grace@acme.test", PASSWORD).await;

    let without = post(
        &tenant.admin,
        &path,
        &[
            ("name", "Alan Turing"),
            ("email", "alan@acme.test"),
            ("password", ""),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(without.status(), 201);
    assert_eq!(without.headers()["cache-control"], "no-store");
    let page = without.text().await.expect("page");
    assert!(page.contains("alan@acme.test"), "{page}");
    let link = text_after(&page, "id=\"password-link\" class=\"secret-value\">")
        .expect("the one-time link");
    assert!(link.starts_with(&app.url("/set-password/")), "{link}");
    assert!(
        page.contains("data-copy-target=\"password-link\""),
        "a Copy button"
    );
    // The link is shown once: the page afterwards does not have it.
    let (_, again) = get(&tenant.admin, "/organization").await;
    assert!(!again.contains("password-link"));

    let visitor = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = visitor
        .get(&link)
        .send()
        .await
        .expect("GET link")
        .text()
        .await
        .expect("page");
    let form_csrf = hidden_field(&form, "form_csrf").expect("form_csrf");
    let set = visitor
        .post(&link)
        .form(&[
            ("form_csrf", form_csrf.as_str()),
            ("password", "turing machine 42"),
        ])
        .send()
        .await
        .expect("POST link");
    assert_eq!(set.status(), 303);
    app.sign_in("alan@acme.test", "turing machine 42").await;

    // The same email twice is refused with the reason, keeping what was typed.
    let twice = post(
        &tenant.admin,
        &path,
        &[
            ("name", "Alan again"),
            ("email", "alan@acme.test"),
            ("password", ""),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(twice.status(), 409);
    let page = twice.text().await.expect("page");
    assert!(
        page.contains("already belongs to a member of Acme"),
        "{page}"
    );
    assert!(page.contains("value=\"Alan again\""), "{page}");
}

#[tokio::test]
async fn an_organization_admin_creates_a_workspace_and_sets_and_removes_roles() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let token = token_of(&app, &tenant.outsider, "outsider script").await;

    let created = post(
        &tenant.admin,
        &format!("/organizations/{}/workspaces", tenant.organization_id),
        &[("name", "Night shift"), ("external_id", "ns-1")],
    )
    .await;
    assert_eq!(created.status(), 303);
    let to = location(&created);
    let workspace_id = to
        .split("workspace=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '#']).next())
        .expect("workspace id in the redirect")
        .to_owned();
    let (status, page) = get(&tenant.admin, &to).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Created the workspace Night shift."),
        "{page}"
    );
    assert!(page.contains(&format!("id=\"workspace-{workspace_id}\"")));
    assert_eq!(role_in(&app, &token, &workspace_id).await, None);

    let outsider = tenant.outsider_id.to_string();
    let added = post(
        &tenant.admin,
        &format!("/workspaces/{workspace_id}/members"),
        &[("user_id", outsider.as_str()), ("role", "viewer")],
    )
    .await;
    assert_eq!(added.status(), 303);
    assert_eq!(
        role_in(&app, &token, &workspace_id).await.as_deref(),
        Some("viewer")
    );

    let changed = post(
        &tenant.admin,
        &format!("/workspaces/{workspace_id}/members/{outsider}"),
        &[("role", "developer")],
    )
    .await;
    assert_eq!(changed.status(), 303);
    let (_, page) = get(&tenant.admin, &location(&changed)).await;
    assert!(
        page.contains("outsider is now developer in Night shift."),
        "{page}"
    );
    assert_eq!(
        role_in(&app, &token, &workspace_id).await.as_deref(),
        Some("developer")
    );
    let project = app
        .http
        .post(app.url("/v1/projects"))
        .bearer_auth(&token)
        .json(&json!({"project": "night", "title": "Night", "workspaceId": workspace_id}))
        .send()
        .await
        .expect("POST");
    assert_eq!(project.status(), 201, "a developer may start a project");

    let removed = post(
        &tenant.admin,
        &format!("/workspaces/{workspace_id}/members/{outsider}/remove"),
        &[],
    )
    .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(role_in(&app, &token, &workspace_id).await, None);
    let (_, page) = get(&tenant.admin, &location(&removed)).await;
    assert!(
        page.contains("no longer has a role in Night shift"),
        "{page}"
    );

    // A role that does not exist changes nothing.
    let bad = post(
        &tenant.admin,
        &format!(
            "/workspaces/{}/members/{}",
            tenant.workspace_id, tenant.viewer_id
        ),
        &[("role", "owner")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let viewer_token = token_of(&app, &tenant.viewer, "viewer script").await;
    assert_eq!(
        role_in(&app, &viewer_token, &tenant.workspace_id)
            .await
            .as_deref(),
        Some("viewer")
    );
}

#[tokio::test]
async fn developers_and_viewers_are_refused_the_organization_page_with_the_reason() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;

    for person in [&tenant.developer, &tenant.viewer] {
        let (status, page) = get(person, "/organization").await;
        assert_eq!(status, 403);
        assert!(
            page.contains("are not an administrator of the organization"),
            "{page}"
        );
        assert!(page.contains(&escaped("organization 'Acme'")), "{page}");
        let (status, page) = get(
            person,
            &format!("/organizations/{}", tenant.organization_id),
        )
        .await;
        assert_eq!(status, 403, "{page}");
        let (status, _) = get(person, "/organizations").await;
        assert_eq!(status, 403);

        let refused = post(
            person,
            &format!("/organizations/{}/people", tenant.organization_id),
            &[
                ("name", "Mallory"),
                ("email", "mallory@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(refused.status(), 403);
        let refused = post(
            person,
            &format!(
                "/workspaces/{}/members/{}",
                tenant.workspace_id, tenant.outsider_id
            ),
            &[("role", "admin")],
        )
        .await;
        assert_eq!(refused.status(), 403);
        let page = refused.text().await.expect("page");
        assert!(page.contains("needs the admin role"), "{page}");
    }
    let (status, page) = get(&tenant.admin, "/organization").await;
    assert_eq!(status, 200);
    assert!(!page.contains("mallory@acme.test"), "nobody was added");

    // The avatar menu: API Credentials... first, then what the person may open.
    let (_, page) = get(&tenant.admin, "/workspaces").await;
    let credentials = page.find(">API Credentials...</a>").expect("menu item");
    let workspaces = page.find(">Workspaces</a>").expect("menu item");
    let organization = page.find("href=\"/organization\"").expect("menu item");
    assert!(credentials < workspaces && workspaces < organization);
    let (_, page) = get(&tenant.developer, "/workspaces").await;
    assert!(page.contains(">Workspaces</a>"));
    assert!(!page.contains("href=\"/organization\""));
    let operator = app.sign_in_as_admin().await;
    let (_, page) = get(&operator, "/credentials").await;
    assert!(page.contains("href=\"/organizations\""));
    let (status, page) = get(&operator, "/organizations").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!(
        "href=\"/organizations/{}\"",
        tenant.organization_id
    )));
}

#[tokio::test]
async fn another_organizations_or_an_unreadable_workspace_and_scene_are_not_found() {
    let app = TestApp::spawn().await;
    let acme = Tenant::create(&app, "Acme").await;
    let other = Tenant::create(&app, "Other").await;
    let (uuid, _, _) = cameras_scene(&acme.developer, &acme.workspace_id).await;

    let missing_workspace = "00000000-0000-4000-8000-000000000000";
    let (status, missing) = get(&other.admin, &format!("/workspaces/{missing_workspace}")).await;
    assert_eq!(status, 404);
    let (status, foreign) = get(&other.admin, &format!("/workspaces/{}", acme.workspace_id)).await;
    assert_eq!(status, 404);
    assert_eq!(
        foreign.replace(&acme.workspace_id, "ID"),
        missing.replace(missing_workspace, "ID"),
        "the same page as a missing workspace"
    );
    for path in [
        format!("/scenes/{uuid}"),
        format!("/workspaces/{}/projects/p1", acme.workspace_id),
        format!("/organizations/{}", acme.organization_id),
    ] {
        let (status, page) = get(&other.admin, &path).await;
        assert_eq!(status, 404, "{path}: {page}");
        assert!(!page.contains("cam-"), "{page}");
    }
    let (status, missing_scene) = get(&other.admin, "/scenes/not-a-scene").await;
    assert_eq!(status, 404);
    assert!(
        missing_scene.contains("There is no scene"),
        "{missing_scene}"
    );
    // A member of the same organization without a role in the workspace sees nothing.
    for path in [
        format!("/scenes/{uuid}"),
        format!("/workspaces/{}", acme.workspace_id),
    ] {
        let (status, _) = get(&acme.outsider, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, list) = get(&acme.outsider, "/workspaces").await;
    assert!(!list.contains(&acme.workspace_id));
    assert!(list.contains("No workspaces yet"));
}

#[tokio::test]
async fn every_scene_view_link_opens_its_page_with_the_files() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let (uuid, view_link, upload) = cameras_scene(&tenant.developer, &tenant.workspace_id).await;
    assert_eq!(view_link, app.url(&format!("/scenes/{uuid}")));

    let (status, page) = get(&tenant.viewer, &format!("/scenes/{uuid}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("/data/cam_front.png"), "{page}");
    assert!(page.contains("<code>cameras</code>"));
    assert!(page.contains(">pending<"));
    assert!(page.contains(">No<"), "not uploaded yet");
    assert!(page.contains("0 of 1 uploaded"), "{page}");
    assert!(
        page.contains(&escaped("cam-<1>")),
        "the external id, escaped"
    );
    assert!(
        page.contains(&escaped("<i>markup</i>")),
        "metadata, escaped"
    );
    assert!(page.contains("<code>b1</code>"), "its batch");

    let response = reqwest::Client::new()
        .put(&upload)
        .header("content-type", "image/png")
        .body(PNG)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    let commit = tenant
        .developer
        .call(
            reqwest::Method::POST,
            &format!("/v1/inputs/{uuid}/actions/commit"),
            None,
        )
        .await;
    assert!(commit.status().is_success(), "{}", commit.status());

    let (_, page) = get(&tenant.viewer, &format!("/scenes/{uuid}")).await;
    assert!(page.contains(">Yes<"), "{page}");
    assert!(page.contains(&format!("{} bytes", PNG.len())), "{page}");
    assert!(page.contains(">created<"), "{page}");

    // The workspace and project pages lead to it.
    let (status, page) = get(
        &tenant.viewer,
        &format!("/workspaces/{}", tenant.workspace_id),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("href=\"/scenes/{uuid}\"")), "{page}");
    assert!(page.contains("href=\"/workspaces/"));
    assert!(page.contains("b1 · open"), "{page}");
    let (status, page) = get(
        &tenant.viewer,
        &format!("/workspaces/{}/projects/p1", tenant.workspace_id),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&escaped("Project <one>")), "{page}");
    assert!(page.contains(&format!("href=\"/scenes/{uuid}\"")));
    let (_, page) = get(&tenant.viewer, "/workspaces").await;
    assert!(page.contains(&format!("href=\"/workspaces/{}\"", tenant.workspace_id)));
    assert!(page.contains(">viewer<"), "{page}");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let before = get(&tenant.admin, "/organization")
        .await
        .1
        .matches("id=\"workspace-")
        .count();

    let viewer = tenant.viewer_id.to_string();
    for (path, fields) in [
        (
            format!("/organizations/{}/workspaces", tenant.organization_id),
            vec![("name", "Sneaky")],
        ),
        (
            format!("/organizations/{}/people", tenant.organization_id),
            vec![("name", "Sneaky"), ("email", "sneaky@acme.test")],
        ),
        (
            format!("/workspaces/{}/members/{viewer}", tenant.workspace_id),
            vec![("role", "admin")],
        ),
        (
            format!(
                "/workspaces/{}/members/{viewer}/remove",
                tenant.workspace_id
            ),
            vec![],
        ),
        ("/organizations".to_owned(), vec![("name", "Sneaky Org")]),
    ] {
        let response = tenant
            .admin
            .client
            .post(tenant.admin.url(&path))
            .form(&fields)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 403, "{path}");
        let page = response.text().await.expect("page");
        assert!(page.contains("This form has expired"), "{path}: {page}");
    }
    let (_, page) = get(&tenant.admin, "/organization").await;
    assert_eq!(page.matches("id=\"workspace-").count(), before);
    assert!(!page.contains("sneaky@acme.test"));
    let token = token_of(&app, &tenant.viewer, "viewer").await;
    assert_eq!(
        role_in(&app, &token, &tenant.workspace_id).await.as_deref(),
        Some("viewer")
    );
}

#[tokio::test]
async fn names_with_markup_are_shown_as_text() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let added = post(
        &tenant.admin,
        &format!("/organizations/{}/people", tenant.organization_id),
        &[
            ("name", "<script>alert(1)</script>"),
            ("email", "xss@acme.test"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let workspace = post(
        &tenant.admin,
        &format!("/organizations/{}/workspaces", tenant.organization_id),
        &[("name", "<img src=x onerror=alert(2)>")],
    )
    .await;
    assert_eq!(workspace.status(), 303);

    for path in ["/organization", "/workspaces"] {
        let (status, page) = get(&tenant.admin, path).await;
        assert_eq!(status, 200);
        assert!(!page.contains("<script>alert"), "{path}");
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(
            page.contains(&escaped("<img src=x onerror=alert(2)>")),
            "{path}: {page}"
        );
    }
    let (_, page) = get(&tenant.admin, "/organization").await;
    assert!(
        page.contains(&escaped("<script>alert(1)</script>")),
        "{page}"
    );
}

/// The credentials file behind the one-time view's Download link.
fn downloaded_file(page: &str) -> Value {
    let marker = "href=\"data:application/json;base64,";
    let start = page.find(marker).expect("download link") + marker.len();
    let end = page[start..].find('"').expect("end of link") + start;
    let json = STANDARD
        .decode(unescape(&page[start..end]))
        .expect("base64 file");
    serde_json::from_slice(&json).expect("JSON credentials file")
}

#[tokio::test]
async fn the_generate_dialog_limits_a_credential_to_the_chosen_workspaces() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Acme").await;
    let second = create_workspace(&tenant.admin, tenant.organization_id, "Second").await;
    set_role(&tenant.admin, &second, tenant.developer_id, "developer").await;

    let (_, page) = get(&tenant.developer, "/credentials").await;
    assert!(page.contains("Limit to workspaces"), "{page}");
    assert!(page.contains(&format!("name=\"workspaces\" value=\"{second}\"")));
    assert!(page.contains(&format!(
        "name=\"workspaces\" value=\"{}\"",
        tenant.workspace_id
    )));

    let csrf = tenant.developer.csrf_token.clone();
    let response = tenant
        .developer
        .client
        .post(tenant.developer.url("/credentials"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "second only"),
            ("expiry", "never"),
            ("scopes", "api:read"),
            ("scopes", "api:write"),
            ("workspaces", second.as_str()),
        ])
        .send()
        .await
        .expect("POST /credentials");
    assert_eq!(response.status(), 303, "post/redirect/get");
    let page = tenant
        .developer
        .client
        .get(tenant.developer.url("/credentials"))
        .send()
        .await
        .expect("GET /credentials")
        .text()
        .await
        .expect("page");
    let file = downloaded_file(&page);
    assert_eq!(file["workspaces"], json!([second]));
    let file: latchkey_types::CredentialsFile = serde_json::from_value(file).expect("file");
    let token = app.token(&file).await;
    let workspaces = api_workspaces(&app, &token).await;
    assert_eq!(
        workspaces.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        [second.as_str()]
    );
    let refused = app
        .get_with_token(
            &format!("/v1/workspaces/{}/members", tenant.workspace_id),
            &token,
        )
        .await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "workspace_not_allowed");

    // Without a choice the credential is not limited; each one's page says which.
    let everywhere = tenant.developer.create_credentials("everywhere").await;
    let (_, page) = get(
        &tenant.developer,
        &format!("/credentials/{}", file.client_id),
    )
    .await;
    assert!(page.contains("<li class=\"badge\">Second</li>"), "{page}");
    let (_, page) = get(
        &tenant.developer,
        &format!("/credentials/{}", everywhere.client_id),
    )
    .await;
    assert!(page.contains("All of yours"), "{page}");

    // A workspace the person has no role in is refused, with the form kept.
    let response = tenant
        .viewer
        .client
        .post(tenant.viewer.url("/credentials"))
        .form(&[
            ("csrf_token", tenant.viewer.csrf_token.as_str()),
            ("name", "sneaky"),
            ("expiry", "never"),
            ("scopes", "api:read"),
            ("workspaces", second.as_str()),
        ])
        .send()
        .await
        .expect("POST /credentials");
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(page.contains("You have no workspace with the id"), "{page}");
}
