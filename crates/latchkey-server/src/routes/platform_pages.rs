//! The platform's pages: organization administration (people, workspaces, members and
//! their roles) and browsing workspaces → projects → batches → scenes with their files.
//!
//! Every page asks the same permission decision as the API, through a [`Caller`] built
//! for the signed-in person ([`Caller::of_session`]), and calls the same store functions;
//! a refusal becomes the error page with the API's explanatory message ([`page_error`]).
//! Reading pages hide what the person cannot read behind the same 404 as a missing item,
//! so another organization's ids reveal nothing. Every form carries the session's CSRF
//! token ([`SessionForm`]); after a change the browser is redirected (post/redirect/get),
//! except when the answer shows a one-time set-password link, which is rendered once
//! with `Cache-Control: no-store`.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_core::DisplayName;
use latchkey_core::access::{Action, OrganizationRole, Resource, WorkspaceRole, decide};
use latchkey_store::{NewWorkspace, OrganizationRow, SceneRow, StoreError, UserRow, WorkspaceRow};
use secrecy::SecretString;
use serde::Deserialize;

use crate::access::{Target, not_found, readable_workspaces};
use crate::audit::AuditSlot;
use crate::auth::{Caller, PageSession, Session};
use crate::error::{AppError, sentence};
use crate::routes::tenancy::note_member_change;
use crate::routes::web::{FormFields, Nav, SessionForm, display_time, page_error, render};
use crate::state::AppState;
use crate::users::{AddUserError, add_user, create_password_link};

/// Scenes a workspace or project page lists, newest first.
const RECENT_SCENES: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organization", get(show_own_organization))
        .route(
            "/organizations",
            get(show_organizations).post(create_organization),
        )
        .route("/organizations/{id}", get(show_organization))
        .route("/organizations/{id}/people", post(add_person))
        .route("/organizations/{id}/workspaces", post(create_workspace))
        .route("/workspaces", get(show_workspaces))
        .route("/workspaces/{id}", get(show_workspace))
        .route("/workspaces/{id}/members", post(add_member))
        .route("/workspaces/{id}/members/{user_id}", post(set_member))
        .route(
            "/workspaces/{id}/members/{user_id}/remove",
            post(remove_member),
        )
        .route("/workspaces/{id}/projects/{project}", get(show_project))
        .route("/scenes/{uuid}", get(show_scene))
}

// --- errors --------------------------------------------------------------------------

/// For reading pages: whatever the person may not read is "not found", exactly like a
/// missing item.
fn hidden(error: AppError, kind: &str, id: &str) -> AppError {
    match error {
        AppError::Denied(_) | AppError::NotFound { .. } => not_found(kind, id),
        other => other,
    }
}

fn repeated_field() -> AppError {
    AppError::bad_request("repeated_field", "A form field was sent more than once.")
}

/// The session's caller, or the page that explains why it could not be built.
async fn caller_of(state: &AppState, session: &Session) -> Result<Caller, Response> {
    Caller::of_session(state, session)
        .await
        .map_err(|error| page_error(session, error))
}

// --- view models (field names are the templates' contract) ----------------------------

/// A role as a `<select>` option.
struct RoleOption {
    value: &'static str,
    selected: bool,
}

fn role_options(current: Option<WorkspaceRole>) -> Vec<RoleOption> {
    WorkspaceRole::ALL
        .into_iter()
        .map(|role| RoleOption {
            value: role.as_str(),
            selected: Some(role) == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrganizationsPage {
    nav: Nav,
    organizations: Vec<OrganizationItem>,
    error: Option<String>,
    notice: Option<String>,
    form_name: String,
}

struct OrganizationItem {
    id: i64,
    name: String,
    created: String,
    people: usize,
    workspaces: usize,
}

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    nav: Nav,
    /// Operators reach this page from the list of organizations.
    from_list: bool,
    id: i64,
    name: String,
    people: Vec<PersonItem>,
    workspaces: Vec<WorkspaceAdminItem>,
    extras: OrganizationExtras,
}

struct PersonItem {
    id: i64,
    name: String,
    email: String,
    is_admin: bool,
    created: String,
}

struct WorkspaceAdminItem {
    id: String,
    name: String,
    external_id: Option<String>,
    created: String,
    members: Vec<MemberItem>,
    /// People of the organization who are not members yet.
    candidates: Vec<PersonOption>,
    new_member_roles: Vec<RoleOption>,
}

struct MemberItem {
    user_id: i64,
    name: String,
    email: String,
    roles: Vec<RoleOption>,
}

struct PersonOption {
    id: i64,
    label: String,
}

/// What an organization page shows besides the organization: messages, the one-time
/// link, and the forms' values after a refused submission.
#[derive(Default)]
struct OrganizationExtras {
    status: Option<StatusCode>,
    error: Option<String>,
    notice: Option<String>,
    password_link: Option<PasswordLink>,
    person_name: String,
    person_email: String,
    person_admin: bool,
    workspace_name: String,
    workspace_external_id: String,
}

/// A set-password link, shown once right after the person was added.
struct PasswordLink {
    name: String,
    email: String,
    url: String,
}

#[derive(Template)]
#[template(path = "workspaces.html")]
struct WorkspacesPage {
    nav: Nav,
    show_organization: bool,
    workspaces: Vec<WorkspaceItem>,
}

struct WorkspaceItem {
    id: String,
    organization_id: i64,
    name: String,
    external_id: Option<String>,
    organization: String,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "workspace.html")]
struct WorkspacePage {
    nav: Nav,
    workspace: WorkspaceItem,
    /// Where the person manages this workspace's members, if they may.
    manage_href: Option<String>,
    projects: Vec<ProjectItem>,
    scenes: Vec<SceneItem>,
}

struct ProjectItem {
    key: String,
    href: String,
    title: String,
    status: String,
    created: String,
    batches: Vec<BatchItem>,
}

struct BatchItem {
    batch: String,
    status: String,
    status_class: &'static str,
    created: String,
    updated: String,
    scenes: i64,
}

struct SceneItem {
    uuid: String,
    external_id: String,
    scene_type: String,
    status: String,
    status_class: &'static str,
    created: String,
    batch: Option<String>,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    nav: Nav,
    workspace: WorkspaceItem,
    project: ProjectItem,
    description: String,
    scenes: Vec<SceneItem>,
}

#[derive(Template)]
#[template(path = "scene.html")]
struct ScenePage {
    nav: Nav,
    workspace: WorkspaceItem,
    scene: SceneItem,
    error_message: Option<String>,
    calibration: Option<String>,
    project: Option<(String, String)>,
    batch: Option<BatchItem>,
    metadata: Vec<(String, String)>,
    files: Vec<FileItem>,
    uploaded: usize,
}

struct FileItem {
    resource_id: String,
    uploaded: Option<String>,
    size: Option<String>,
}

/// The badge class of a scene's or batch's status.
fn status_class(status: &str) -> &'static str {
    match status {
        "created" | "ready" => "badge-success",
        "pending" | "processing" | "open" => "badge-warning",
        "invalidated" | "failed" => "badge-danger",
        _ => "",
    }
}

/// A size for people, with the exact byte count beside it.
fn display_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "one decimal of a displayed size"
    )]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

fn workspace_item(row: &WorkspaceRow, organization: &str, role: WorkspaceRole) -> WorkspaceItem {
    WorkspaceItem {
        id: row.id.clone(),
        organization_id: row.organization_id,
        name: row.name.clone(),
        external_id: row.external_id.clone(),
        organization: organization.to_owned(),
        role: role.as_str(),
        created: display_time(row.created_at()),
    }
}

fn scene_item(row: &SceneRow, batches: &HashMap<i64, String>) -> SceneItem {
    SceneItem {
        uuid: row.uuid.clone(),
        external_id: row.external_id.clone(),
        scene_type: row.scene_type.clone(),
        status_class: status_class(&row.status),
        status: row.status.clone(),
        created: display_time(row.created_at()),
        batch: row.batch_id.and_then(|id| batches.get(&id).cloned()),
    }
}

// --- organizations (operator) --------------------------------------------------------

async fn show_organizations(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    organizations_page(&state, &session, StatusCode::OK, None, None, String::new()).await
}

async fn organizations_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    form_name: String,
) -> Response {
    let caller = match caller_of(state, session).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(error) = caller.authorize(
        Action::ManagePlatform,
        Target::Platform,
        "managing organizations",
    ) {
        return page_error(session, error);
    }
    let mut organizations = Vec::new();
    let rows = match state.store.organizations().await {
        Ok(rows) => rows,
        Err(error) => return page_error(session, error.into()),
    };
    for row in rows {
        let counts = async {
            Ok::<_, StoreError>((
                state.store.users_of_organization(row.id).await?.len(),
                state.store.workspaces(Some(row.id)).await?.len(),
            ))
        };
        let (people, workspaces) = match counts.await {
            Ok(counts) => counts,
            Err(error) => return page_error(session, error.into()),
        };
        organizations.push(OrganizationItem {
            id: row.id,
            created: display_time(row.created_at()),
            name: row.name,
            people,
            workspaces,
        });
    }
    render(
        status,
        &OrganizationsPage {
            nav: Nav::of(session),
            organizations,
            error,
            notice,
            form_name,
        },
    )
}

async fn create_organization(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let caller = match caller_of(&state, &session).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(error) = caller.authorize(
        Action::ManagePlatform,
        Target::Platform,
        "creating an organization",
    ) {
        return page_error(&session, error);
    }
    let Ok(name) = form.one("name") else {
        return page_error(&session, repeated_field());
    };
    let form_name: String = name.chars().take(100).collect();
    let retry = |status, message: String| {
        organizations_page(
            &state,
            &session,
            status,
            None,
            Some(message),
            form_name.clone(),
        )
    };
    let name = match DisplayName::parse(name) {
        Ok(name) => name,
        Err(error) => return retry(StatusCode::BAD_REQUEST, sentence(&error.to_string())).await,
    };
    match state
        .store
        .create_organization(name.as_str(), state.now())
        .await
    {
        Ok(row) => {
            tracing::info!(organization.id = row.id, "organization created");
            Redirect::to(&format!("/organizations/{}?done=created", row.id)).into_response()
        }
        Err(StoreError::Conflict) => {
            retry(
                StatusCode::CONFLICT,
                format!("An organization named '{}' already exists.", name.as_str()),
            )
            .await
        }
        Err(error) => page_error(&session, error.into()),
    }
}

// --- one organization --------------------------------------------------------------

/// What the organization page's notice is about, after a redirect.
#[derive(Debug, Default, Deserialize)]
struct OrganizationQuery {
    done: Option<String>,
    person: Option<i64>,
    workspace: Option<String>,
}

/// `/organization`: the signed-in person's own organization.
async fn show_own_organization(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<OrganizationQuery>,
) -> Response {
    match session.user.organization_id {
        Some(id) => organization_page(&state, &session, id, &query, OrganizationExtras::default())
            .await
            .unwrap_or_else(|error| page_error(&session, error)),
        None if session.user.is_admin() => Redirect::to("/organizations").into_response(),
        None => page_error(
            &session,
            AppError::not_found(
                "You do not belong to an organization. Ask the platform operator to add you to one.",
            ),
        ),
    }
}

async fn show_organization(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    Query(query): Query<OrganizationQuery>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return page_error(&session, not_found("organization", &id));
    };
    organization_page(&state, &session, id, &query, OrganizationExtras::default())
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

/// The organization `id`, if the signed-in person may manage it.
async fn managed_organization(
    state: &AppState,
    caller: &Caller,
    id: i64,
    doing: &str,
) -> Result<OrganizationRow, AppError> {
    caller
        .organization(state, id, Action::ManageOrganization, doing)
        .await
}

async fn organization_page(
    state: &AppState,
    session: &Session,
    id: i64,
    query: &OrganizationQuery,
    mut extras: OrganizationExtras,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let organization = managed_organization(
        state,
        &caller,
        id,
        "managing the organization's people and workspaces",
    )
    .await?;
    let users = state.store.users_of_organization(organization.id).await?;
    let mut workspaces = Vec::new();
    for workspace in state.store.workspaces(Some(organization.id)).await? {
        let members = state.store.workspace_members(&workspace.id).await?;
        let candidates = users
            .iter()
            .filter(|u| !members.iter().any(|m| m.user_id == u.id))
            .map(|u| PersonOption {
                id: u.id,
                label: format!("{} ({})", u.name, u.email),
            })
            .collect();
        workspaces.push(WorkspaceAdminItem {
            members: members
                .into_iter()
                .map(|m| MemberItem {
                    roles: role_options(WorkspaceRole::parse(&m.role)),
                    user_id: m.user_id,
                    name: m.name,
                    email: m.email,
                })
                .collect(),
            candidates,
            new_member_roles: role_options(Some(WorkspaceRole::Viewer)),
            id: workspace.id.clone(),
            created: display_time(workspace.created_at()),
            name: workspace.name,
            external_id: workspace.external_id,
        });
    }
    if extras.notice.is_none() {
        extras.notice = notice(query, &users, &workspaces);
    }
    let page = OrganizationPage {
        nav: Nav::of(session),
        from_list: caller.principal.is_operator,
        id: organization.id,
        name: organization.name,
        people: users
            .into_iter()
            .map(|u| PersonItem {
                is_admin: u.organization_role.as_deref() == Some(OrganizationRole::Admin.as_str()),
                created: display_time(u.created_at()),
                id: u.id,
                name: u.name,
                email: u.email,
            })
            .collect(),
        workspaces,
        extras,
    };
    Ok(render(page.extras.status.unwrap_or(StatusCode::OK), &page))
}

/// The sentence confirming what was just done, named from this organization's own data
/// (ids from the query string of another organization name nothing).
fn notice(
    query: &OrganizationQuery,
    users: &[UserRow],
    workspaces: &[WorkspaceAdminItem],
) -> Option<String> {
    let person = query
        .person
        .and_then(|id| users.iter().find(|u| u.id == id));
    let workspace = query
        .workspace
        .as_deref()
        .and_then(|id| workspaces.iter().find(|w| w.id == id));
    match (query.done.as_deref()?, person, workspace) {
        ("created", _, None) => {
            Some("The organization was created. Add its first people below.".to_owned())
        }
        ("added", Some(p), _) => Some(format!(
            "Added {} ({}). They can sign in with the password you chose.",
            p.name, p.email
        )),
        ("workspace", _, Some(w)) => Some(format!("Created the workspace {}.", w.name)),
        ("role", Some(p), Some(w)) => {
            let role = w
                .members
                .iter()
                .find(|m| m.user_id == p.id)
                .and_then(|m| m.roles.iter().find(|r| r.selected))
                .map_or("member", |r| r.value);
            Some(format!("{} is now {role} in {}.", p.name, w.name))
        }
        ("removed", Some(p), Some(w)) => {
            Some(format!("{} no longer has a role in {}.", p.name, w.name))
        }
        _ => None,
    }
}

async fn add_person(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    add_person_inner(&state, &session, &id, &form)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn add_person_inner(
    state: &AppState,
    session: &Session,
    id: &str,
    form: &FormFields,
) -> Result<Response, AppError> {
    let id: i64 = id.parse().map_err(|_| not_found("organization", id))?;
    let caller = Caller::of_session(state, session).await?;
    let organization = managed_organization(state, &caller, id, "adding a person").await?;
    let (Ok(email), Ok(name), Ok(password), Ok(role)) = (
        form.one("email"),
        form.one("name"),
        form.one("password"),
        form.one("role"),
    ) else {
        return Err(repeated_field());
    };
    let role = match role {
        "" | "member" => OrganizationRole::Member,
        "admin" => OrganizationRole::Admin,
        _ => {
            return Err(AppError::bad_request(
                "invalid_role",
                "The organization role must be member or admin.",
            ));
        }
    };
    let password = (!password.is_empty()).then(|| SecretString::from(password.to_owned()));
    let user = match add_user(
        &state.store,
        email,
        name,
        password.as_ref(),
        false,
        Some((organization.id, role)),
    )
    .await
    {
        Ok(user) => user,
        Err(AddUserError::Store(error)) => return Err(error.into()),
        Err(error) => {
            let status = match error {
                AddUserError::EmailTaken(_) => StatusCode::CONFLICT,
                AddUserError::Invalid(_) | AddUserError::Store(_) => StatusCode::BAD_REQUEST,
            };
            let extras = OrganizationExtras {
                status: Some(status),
                error: Some(sentence(&error.to_string())),
                person_name: name.chars().take(100).collect(),
                person_email: email.chars().take(254).collect(),
                person_admin: role == OrganizationRole::Admin,
                ..OrganizationExtras::default()
            };
            return organization_page(
                state,
                session,
                organization.id,
                &OrganizationQuery::default(),
                extras,
            )
            .await;
        }
    };
    if password.is_some() {
        return Ok(Redirect::to(&format!(
            "/organizations/{}?done=added&person={}",
            organization.id, user.id
        ))
        .into_response());
    }
    let url = create_password_link(&state.store, &state.public_url, user.id, state.now()).await?;
    tracing::info!(user.id = user.id, "set-password link issued");
    let extras = OrganizationExtras {
        status: Some(StatusCode::CREATED),
        notice: Some(format!(
            "Added {} ({}). Send them the link below so they can choose a password.",
            user.name, user.email
        )),
        password_link: Some(PasswordLink {
            name: user.name,
            email: user.email,
            url,
        }),
        ..OrganizationExtras::default()
    };
    organization_page(
        state,
        session,
        organization.id,
        &OrganizationQuery::default(),
        extras,
    )
    .await
}

async fn create_workspace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    create_workspace_inner(&state, &session, &id, &form)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn create_workspace_inner(
    state: &AppState,
    session: &Session,
    id: &str,
    form: &FormFields,
) -> Result<Response, AppError> {
    let id: i64 = id.parse().map_err(|_| not_found("organization", id))?;
    let caller = Caller::of_session(state, session).await?;
    let organization = managed_organization(state, &caller, id, "creating a workspace").await?;
    let (Ok(name), Ok(external_id)) = (form.one("name"), form.one("external_id")) else {
        return Err(repeated_field());
    };
    let parsed = DisplayName::parse(name)
        .map_err(|e| sentence(&e.to_string()))
        .and_then(|name| {
            let external_id = match external_id.trim() {
                "" => None,
                id => Some(
                    DisplayName::parse(id)
                        .map(|id| id.as_str().to_owned())
                        .map_err(|_| {
                            "The external id must be one line of at most 100 characters.".to_owned()
                        })?,
                ),
            };
            Ok((name, external_id))
        });
    let (name, external_id) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            let extras = OrganizationExtras {
                status: Some(StatusCode::BAD_REQUEST),
                error: Some(message),
                workspace_name: name.chars().take(100).collect(),
                workspace_external_id: external_id.chars().take(100).collect(),
                ..OrganizationExtras::default()
            };
            return organization_page(
                state,
                session,
                organization.id,
                &OrganizationQuery::default(),
                extras,
            )
            .await;
        }
    };
    let row = state
        .store
        .create_workspace(&NewWorkspace {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: organization.id,
            name: name.as_str().to_owned(),
            external_id,
            created_at: state.now(),
        })
        .await?;
    tracing::info!(workspace.id = %row.id, organization.id = organization.id, "workspace created");
    Ok(Redirect::to(&format!(
        "/organizations/{}?done=workspace&workspace={}#workspace-{}",
        organization.id, row.id, row.id
    ))
    .into_response())
}

// --- workspace members -------------------------------------------------------------

/// The person `user_id` if they belong to the workspace's organization; otherwise the
/// same 404 as an unknown person.
async fn member_candidate(
    state: &AppState,
    workspace: &WorkspaceRow,
    user_id: &str,
) -> Result<UserRow, AppError> {
    let missing = || not_found("user", user_id);
    let id: i64 = user_id.parse().map_err(|_| missing())?;
    state
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.organization_id == Some(workspace.organization_id))
        .ok_or_else(missing)
}

/// Where to go after changing a workspace's members: the organization page when the
/// person may manage the organization, else the workspace.
fn after_member_change(
    caller: &Caller,
    workspace: &WorkspaceRow,
    done: &str,
    user_id: i64,
) -> Response {
    let organization = Resource::Organization {
        id: workspace.organization_id,
    };
    let to = if decide(&caller.principal, Action::ManageOrganization, organization).is_ok() {
        format!(
            "/organizations/{}?done={done}&person={user_id}&workspace={}#workspace-{}",
            workspace.organization_id, workspace.id, workspace.id
        )
    } else {
        format!("/workspaces/{}", workspace.id)
    };
    Redirect::to(&to).into_response()
}

async fn add_member(
    State(state): State<AppState>,
    audit: AuditSlot,
    Path(id): Path<String>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let result = async {
        let user_id = form.one("user_id").map_err(|_| repeated_field())?;
        let role = form.one("role").map_err(|_| repeated_field())?;
        change_member(&state, &audit, &session, &id, user_id, Some(role)).await
    };
    result
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn set_member(
    State(state): State<AppState>,
    audit: AuditSlot,
    Path((id, user_id)): Path<(String, String)>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let result = async {
        let role = form.one("role").map_err(|_| repeated_field())?;
        change_member(&state, &audit, &session, &id, &user_id, Some(role)).await
    };
    result
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn remove_member(
    State(state): State<AppState>,
    audit: AuditSlot,
    Path((id, user_id)): Path<(String, String)>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    change_member(&state, &audit, &session, &id, &user_id, None)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

/// Gives `user_id` the `role` in workspace `id`, or removes them from it (`None`), as
/// `PUT`/`DELETE /v1/workspaces/{id}/members/{userId}` do.
async fn change_member(
    state: &AppState,
    audit: &AuditSlot,
    session: &Session,
    id: &str,
    user_id: &str,
    role: Option<&str>,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let doing = if role.is_some() {
        "changing members"
    } else {
        "removing members"
    };
    let workspace = caller
        .workspace(state, id, Action::ManageWorkspaceMembers, doing)
        .await?;
    let user = member_candidate(state, &workspace, user_id).await?;
    let Some(role) = role else {
        if !state
            .store
            .remove_workspace_member(&workspace.id, user.id)
            .await?
        {
            return Err(AppError::not_found(format!(
                "{} is not a member of workspace '{}'.",
                user.email, workspace.name
            )));
        }
        state.access.invalidate(user.id);
        tracing::info!(workspace.id = %workspace.id, user.id = user.id, "member removed");
        note_member_change(audit, &workspace, user.id, None);
        return Ok(after_member_change(&caller, &workspace, "removed", user.id));
    };
    let role = WorkspaceRole::parse(role).ok_or_else(|| {
        AppError::bad_request(
            "invalid_role",
            "The role must be viewer, developer or admin.",
        )
    })?;
    state
        .store
        .set_workspace_member(&workspace.id, user.id, role.as_str())
        .await?;
    state.access.invalidate(user.id);
    tracing::info!(workspace.id = %workspace.id, user.id = user.id, role = role.as_str(), "member role set");
    note_member_change(audit, &workspace, user.id, Some(role));
    Ok(after_member_change(&caller, &workspace, "role", user.id))
}

// --- browsing ------------------------------------------------------------------------

async fn show_workspaces(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let result = async {
        let caller = Caller::of_session(&state, &session).await?;
        let readable = readable_workspaces(&state, &caller.principal).await?;
        let organizations: HashMap<i64, String> = state
            .store
            .organizations()
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let workspaces = readable
            .iter()
            .map(|(w, role)| {
                let organization = organizations
                    .get(&w.organization_id)
                    .map_or("", String::as_str);
                workspace_item(w, organization, *role)
            })
            .collect();
        Ok::<_, AppError>(render(
            StatusCode::OK,
            &WorkspacesPage {
                nav: Nav::of(&session),
                show_organization: caller.principal.is_operator,
                workspaces,
            },
        ))
    };
    result
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

/// The workspace `id` if the person may read it, with their role; anything else is the
/// 404 of `kind` `shown_id`.
async fn readable_workspace(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
    shown_id: &str,
) -> Result<WorkspaceItem, AppError> {
    let workspace = caller
        .workspace(state, id, Action::ReadWorkspace, "reading the workspace")
        .await
        .map_err(|error| hidden(error, kind, shown_id))?;
    let role = caller
        .principal
        .effective_role(&workspace.id, workspace.organization_id)
        .ok_or_else(|| not_found(kind, shown_id))?;
    let organization = state
        .store
        .organization(workspace.organization_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(workspace_item(&workspace, &organization, role))
}

async fn show_workspace(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
) -> Response {
    workspace_page(&state, &session, &id)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn workspace_page(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let workspace = readable_workspace(state, &caller, id, "workspace", id).await?;
    let mut batch_names = HashMap::new();
    let mut projects = Vec::new();
    for project in state.store.workspace_projects(&workspace.id).await? {
        let batches = state.store.batches(project.id).await?;
        let counts: HashMap<i64, i64> = state
            .store
            .batch_scene_counts(project.id)
            .await?
            .into_iter()
            .collect();
        for batch in &batches {
            batch_names.insert(batch.id, format!("{} / {}", project.project, batch.batch));
        }
        projects.push(project_item(&workspace.id, &project, &batches, &counts));
    }
    let scenes = state
        .store
        .recent_workspace_scenes(&workspace.id, RECENT_SCENES)
        .await?
        .iter()
        .map(|s| scene_item(s, &batch_names))
        .collect();
    let organization = Resource::Organization {
        id: workspace.organization_id,
    };
    let manage_href = decide(&caller.principal, Action::ManageOrganization, organization)
        .is_ok()
        .then(|| {
            format!(
                "/organizations/{}#workspace-{}",
                workspace.organization_id, workspace.id
            )
        });
    Ok(render(
        StatusCode::OK,
        &WorkspacePage {
            nav: Nav::of(session),
            workspace,
            manage_href,
            projects,
            scenes,
        },
    ))
}

fn project_item(
    workspace_id: &str,
    project: &latchkey_store::ProjectRow,
    batches: &[latchkey_store::BatchRow],
    counts: &HashMap<i64, i64>,
) -> ProjectItem {
    ProjectItem {
        href: format!(
            "/workspaces/{workspace_id}/projects/{}",
            percent_encoding::utf8_percent_encode(
                &project.project,
                percent_encoding::NON_ALPHANUMERIC
            )
        ),
        key: project.project.clone(),
        title: project.title.clone(),
        status: project.status.clone(),
        created: display_time(project.created_at()),
        batches: batches
            .iter()
            .map(|b| BatchItem {
                batch: b.batch.clone(),
                status_class: status_class(&b.status),
                status: b.status.clone(),
                created: display_time(b.created_at()),
                updated: display_time(b.updated_at()),
                scenes: counts.get(&b.id).copied().unwrap_or(0),
            })
            .collect(),
    }
}

async fn show_project(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path((id, key)): Path<(String, String)>,
) -> Response {
    project_page(&state, &session, &id, &key)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn project_page(
    state: &AppState,
    session: &Session,
    id: &str,
    key: &str,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let workspace = readable_workspace(state, &caller, id, "project", key).await?;
    let project = state
        .store
        .workspace_project(&workspace.id, key)
        .await?
        .ok_or_else(|| not_found("project", key))?;
    let batches = state.store.batches(project.id).await?;
    let counts: HashMap<i64, i64> = state
        .store
        .batch_scene_counts(project.id)
        .await?
        .into_iter()
        .collect();
    let batch_names: HashMap<i64, String> =
        batches.iter().map(|b| (b.id, b.batch.clone())).collect();
    let scenes = state
        .store
        .recent_project_scenes(project.id, RECENT_SCENES)
        .await?
        .iter()
        .map(|s| scene_item(s, &batch_names))
        .collect();
    Ok(render(
        StatusCode::OK,
        &ProjectPage {
            nav: Nav::of(session),
            project: project_item(&workspace.id, &project, &batches, &counts),
            description: project.description,
            workspace,
            scenes,
        },
    ))
}

async fn show_scene(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(uuid): Path<String>,
) -> Response {
    scene_page(&state, &session, &uuid)
        .await
        .unwrap_or_else(|error| page_error(&session, error))
}

async fn scene_page(state: &AppState, session: &Session, uuid: &str) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let scene = state
        .store
        .scene(uuid)
        .await?
        .ok_or_else(|| not_found("scene", uuid))?;
    let workspace = readable_workspace(state, &caller, &scene.workspace_id, "scene", uuid).await?;
    let project = match scene.project_id {
        Some(id) => state.store.project_by_id(id).await?,
        None => None,
    };
    let batch = match scene.batch_id {
        Some(id) => state.store.batch_by_id(id).await?,
        None => None,
    };
    let calibration = match &scene.calibration_id {
        Some(id) => Some(
            state
                .store
                .calibration(id)
                .await?
                .map_or_else(|| id.clone(), |c| format!("{} ({})", c.external_id, c.id)),
        ),
        None => None,
    };
    let metadata =
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&scene.metadata) {
            Ok(map) => map
                .into_iter()
                .map(|(key, value)| {
                    let shown = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, shown)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
    let files: Vec<FileItem> = state
        .store
        .scene_files(&scene.uuid)
        .await?
        .into_iter()
        .map(|f| FileItem {
            uploaded: f.uploaded_at().map(display_time),
            size: f.size.map(display_size),
            resource_id: f.resource_id,
        })
        .collect();
    let batch_names = batch
        .iter()
        .map(|b| (b.id, b.batch.clone()))
        .collect::<HashMap<_, _>>();
    let page = ScenePage {
        nav: Nav::of(session),
        scene: scene_item(&scene, &batch_names),
        error_message: scene.error_message.clone(),
        calibration,
        batch: batch.as_ref().map(|b| BatchItem {
            batch: b.batch.clone(),
            status_class: status_class(&b.status),
            status: b.status.clone(),
            created: display_time(b.created_at()),
            updated: display_time(b.updated_at()),
            scenes: 0,
        }),
        project: project.map(|p| {
            let item = project_item(&workspace.id, &p, &[], &HashMap::new());
            (item.href, format!("{} — {}", p.project, p.title))
        }),
        metadata,
        uploaded: files.iter().filter(|f| f.uploaded.is_some()).count(),
        files,
        workspace,
    };
    Ok(render(StatusCode::OK, &page))
}
