//! The platform's organization pages: organization administration (people, workspaces,
//! members and their roles). Browsing workspaces → projects → scenes is
//! `browse_pages.rs`.
//!
//! Every page asks the same permission decision as the API, through a [`Caller`] built
//! for the signed-in person ([`Caller::of_session`]), and calls the same store functions;
//! a refusal becomes the error page with the API's explanatory message ([`page_error`]).
//! Reading pages hide what the person cannot read behind the same 404 as a missing item,
//! so another organization's ids reveal nothing. Every form carries the session's CSRF
//! token ([`SessionForm`]); after a change the browser is redirected (post/redirect/get),
//! except when the answer shows a one-time set-password link, which is rendered once
//! with `Cache-Control: no-store`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_core::DisplayName;
use latchkey_core::access::{Action, OrganizationRole, Resource, WorkspaceRole, decide};
use latchkey_store::{NewWorkspace, OrganizationRow, StoreError, UserRow, WorkspaceRow};
use secrecy::SecretString;
use serde::Deserialize;

use crate::access::{Find, RouteAccess, Target, not_found};
use crate::audit::AuditSlot;
use crate::auth::{Caller, PageSession, Session};
use crate::error::{AppError, sentence};
use crate::routes::tenancy;
use crate::routes::tenancy::note_member_change;
use crate::routes::web::{FormFields, Nav, SessionForm, display_time, page_error, render};
use crate::state::AppState;
use crate::users::{AddUserError, add_user, create_password_link};

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
        .route("/workspaces/{id}/members", post(add_member))
        .route("/workspaces/{id}/members/{user_id}", post(set_member))
        .route(
            "/workspaces/{id}/members/{user_id}/remove",
            post(remove_member),
        )
}

// --- errors --------------------------------------------------------------------------

/// For reading pages: whatever the person may not read is "not found", exactly like a
/// missing item.
pub(crate) fn hidden(error: AppError, kind: &str, id: &str) -> AppError {
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
    if let Err(error) = caller.authorize_route(&ORGANIZATIONS_PAGE, Target::Platform) {
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
    if let Err(error) = caller.authorize_route(&tenancy::CREATE_ORGANIZATION, Target::Platform) {
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

/// Who may open the organizations page: the platform operator.
const ORGANIZATIONS_PAGE: RouteAccess = RouteAccess::new(
    Action::ManagePlatform,
    Find::Platform,
    "managing organizations",
);

/// Who may open an organization's page of people and workspaces: its admins.
pub(crate) const ORGANIZATION_PAGE: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::OrganizationInPath,
    "managing the organization's people and workspaces",
);

/// The organization `id`, if the signed-in person may manage it.
async fn managed_organization(
    state: &AppState,
    caller: &Caller,
    id: i64,
    access: &RouteAccess,
) -> Result<OrganizationRow, AppError> {
    caller.organization(state, id, access).await
}

async fn organization_page(
    state: &AppState,
    session: &Session,
    id: i64,
    query: &OrganizationQuery,
    mut extras: OrganizationExtras,
) -> Result<Response, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let organization = managed_organization(state, &caller, id, &ORGANIZATION_PAGE).await?;
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
    let organization = managed_organization(state, &caller, id, &tenancy::ADD_USER).await?;
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
    let organization = managed_organization(state, &caller, id, &tenancy::CREATE_WORKSPACE).await?;
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
    let to = if decide(&caller.principal, ORGANIZATION_PAGE.action, organization).is_ok() {
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
    let access = if role.is_some() {
        &tenancy::SET_MEMBER
    } else {
        &tenancy::REMOVE_MEMBER
    };
    let workspace = caller.workspace(state, id, access).await?;
    let user = member_candidate(state, &workspace, user_id).await?;
    let Some(role) = role else {
        if !state
            .store
            .remove_workspace_member(&workspace.id, user.id, state.now())
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
        .set_workspace_member(&workspace.id, user.id, role.as_str(), state.now())
        .await?;
    state.access.invalidate(user.id);
    tracing::info!(workspace.id = %workspace.id, user.id = user.id, role = role.as_str(), "member role set");
    note_member_change(audit, &workspace, user.id, Some(role));
    Ok(after_member_change(&caller, &workspace, "role", user.id))
}
