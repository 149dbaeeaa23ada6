//! Organizations, users, workspaces and their members: `/v1/organizations`,
//! `/v1/users`, `/v1/workspaces`.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use latchkey_core::DisplayName;
use latchkey_core::access::{Action, OrganizationRole, Resource, WorkspaceRole, decide};
use latchkey_store::{MemberRow, NewWorkspace, OrganizationRow, UserRow, WorkspaceRow};
use latchkey_types::tenancy::{
    Member, MemberRole, NewOrganization, NewUser, NewWorkspace as NewWorkspaceBody, Organization,
    User, Workspace, WorkspaceOrganization,
};
use latchkey_types::{Envelope, Timestamp};
use secrecy::SecretString;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Find, RouteAccess, Target, not_found};
use crate::audit::AuditSlot;
use crate::auth::Caller;
use crate::error::{ApiJson, ApiPath, AppError, sentence};
use crate::openapi::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use crate::state::AppState;
use crate::users::{AddUserError, add_user};

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_ORGANIZATIONS: RouteAccess = RouteAccess::new(
    Action::ReadOrganization,
    Find::Listed,
    "listing organizations",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_ORGANIZATION: RouteAccess = RouteAccess::new(
    Action::ManagePlatform,
    Find::Platform,
    "creating an organization",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_USERS: RouteAccess =
    RouteAccess::new(Action::ReadOrganization, Find::Users, "listing users");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const ADD_USER: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::Organization,
    "adding a user",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_WORKSPACES: RouteAccess =
    RouteAccess::new(Action::ReadWorkspace, Find::Listed, "listing workspaces");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_WORKSPACE: RouteAccess = RouteAccess::new(
    Action::ManageOrganization,
    Find::Organization,
    "creating a workspace",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const LIST_MEMBERS: RouteAccess = RouteAccess::new(
    Action::ReadWorkspace,
    Find::WorkspaceInPath,
    "listing members",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const SET_MEMBER: RouteAccess = RouteAccess::new(
    Action::ManageWorkspaceMembers,
    Find::WorkspaceInPath,
    "changing members",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const REMOVE_MEMBER: RouteAccess = RouteAccess::new(
    Action::ManageWorkspaceMembers,
    Find::WorkspaceInPath,
    "removing members",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations, create_organization))
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_workspaces, create_workspace))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
}

fn organization_json(row: OrganizationRow) -> Organization {
    Organization {
        created: Timestamp(row.created_at()),
        id: row.id,
        name: row.name,
    }
}

fn user_json(row: &UserRow) -> User {
    User {
        id: row.id,
        email: row.email.clone(),
        name: row.name.clone(),
        organization_id: row.organization_id,
        organization_role: row.organization_role.clone(),
        created: Timestamp(row.created_at()),
        set_password_url: None,
    }
}

fn member_json(row: MemberRow) -> Member {
    Member {
        workspace_id: row.workspace_id,
        user_id: row.user_id,
        email: row.email,
        name: row.name,
        role: row.role,
    }
}

#[utoipa::path(
    get,
    path = "/v1/organizations",
    tag = "Organizations",
    summary = "List organizations",
    description = "The organizations the caller may see: their own, or every one for the \
        platform operator.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The organizations.", body = Envelope<Vec<Organization>>),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Envelope<Vec<Organization>>>, AppError> {
    let visible = state
        .store
        .organizations()
        .await?
        .into_iter()
        .filter(|o| {
            decide(
                &caller.principal,
                LIST_ORGANIZATIONS.action,
                Resource::Organization { id: o.id },
            )
            .is_ok()
        })
        .map(organization_json)
        .collect();
    Ok(Json(Envelope { data: visible }))
}

#[utoipa::path(
    post,
    path = "/v1/organizations",
    tag = "Organizations",
    summary = "Create an organization",
    description = "Only the platform operator creates organizations. Names are unique.",
    request_body = NewOrganization,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new organization.", body = Envelope<Organization>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
)]
async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<(StatusCode, Json<Envelope<Organization>>), AppError> {
    caller.authorize_route(&CREATE_ORGANIZATION, Target::Platform)?;
    let name = DisplayName::parse(&body.name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let row = match state
        .store
        .create_organization(name.as_str(), state.now())
        .await
    {
        Ok(row) => row,
        Err(latchkey_store::StoreError::Conflict) => {
            return Err(AppError::Conflict {
                message: format!("An organization named '{}' already exists.", name.as_str()),
            });
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(organization.id = row.id, "organization created");
    audit.note(|note| {
        note.organization_id = Some(row.id);
        note.target = Some(format!("organization/{}", row.id));
    });
    Ok((
        StatusCode::CREATED,
        Json(Envelope {
            data: organization_json(row),
        }),
    ))
}

/// The `organizationId` query parameter(s), parsed.
pub(crate) fn organization_ids(query: Option<&str>) -> Result<Vec<i64>, AppError> {
    query_values(query, "organizationIds")
        .into_iter()
        .chain(query_values(query, "organizationId"))
        .map(|v| {
            v.parse().map_err(|_| {
                AppError::bad_request("invalid_query", format!("`{v}` is not an organization id."))
            })
        })
        .collect()
}

/// Every value of a repeated query parameter (`?a=1&a=2`), as the Python clients send
/// lists.
fn query_values(query: Option<&str>, key: &str) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "Users",
    summary = "List users",
    description = "The users of the named organizations; of the caller's own organization \
        (every organization for the operator) when none is named.",
    params(
        ("organizationIds" = Option<Vec<i64>>, Query, description = "Organizations to list, \
            repeated (`?organizationIds=1&organizationIds=2`). `organizationId` is accepted \
            as well."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The users.", body = Envelope<Vec<User>>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<Vec<User>>>, AppError> {
    let requested = organization_ids(query.as_deref())?;
    let organizations = match (requested.is_empty(), caller.principal.organization) {
        (false, _) => requested,
        (true, Some((own, _))) => vec![own],
        (true, None) => state
            .store
            .organizations()
            .await?
            .iter()
            .map(|o| o.id)
            .collect(),
    };
    let mut users = Vec::new();
    for id in organizations {
        caller.organization(&state, id, &LIST_USERS).await?;
        users.extend(
            state
                .store
                .users_of_organization(id)
                .await?
                .iter()
                .map(user_json),
        );
    }
    Ok(Json(Envelope { data: users }))
}

#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "Users",
    summary = "Add a user",
    description = "An organization admin adds a user to their organization. Without a \
        `password`, the answer carries `setPasswordUrl`, a one-time link valid for 72 hours \
        at which the user chooses one.",
    request_body = NewUser,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new user.", body = Envelope<User>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<Envelope<User>>), AppError> {
    let organization = caller
        .organization(&state, body.organization_id, &ADD_USER)
        .await?;
    let role = match body.role.as_deref() {
        None => OrganizationRole::Member,
        Some(text) => OrganizationRole::parse(text).ok_or_else(|| {
            AppError::bad_request(
                "invalid_role",
                "The organization role must be `member` or `admin`.",
            )
        })?,
    };
    let password = body.password.map(SecretString::from);
    let user = add_user(
        &state.store,
        &body.email,
        &body.name,
        password.as_ref(),
        false,
        Some((organization.id, role)),
    )
    .await
    .map_err(|error| match error {
        AddUserError::Invalid(message) => AppError::bad_request("invalid_user", sentence(&message)),
        AddUserError::EmailTaken(_) => AppError::Conflict {
            message: sentence(&error.to_string()),
        },
        AddUserError::Store(error) => error.into(),
    })?;
    audit.note(|note| {
        note.subject_user_id = Some(user.id);
        note.organization_id = Some(organization.id);
        note.target = Some(format!("user/{}", user.id));
        note.detail.insert("role".to_owned(), role.as_str().into());
    });
    let mut answer = user_json(&user);
    if password.is_none() {
        answer.set_password_url = Some(
            crate::users::create_password_link(
                &state.store,
                &state.public_url,
                user.id,
                state.now(),
            )
            .await?,
        );
    }
    Ok((StatusCode::CREATED, Json(Envelope { data: answer })))
}

fn workspace_json(
    row: &WorkspaceRow,
    organization: &OrganizationRow,
    role: Option<WorkspaceRole>,
) -> Workspace {
    Workspace {
        id: row.id.clone(),
        external_id: row.external_id.clone(),
        name: row.name.clone(),
        created: Timestamp(row.created_at()),
        organization: WorkspaceOrganization {
            id: organization.id,
            name: organization.name.clone(),
        },
        role: role.map(|r| r.as_str().to_owned()),
    }
}

/// `GET /v1/workspaces?anyRoleIn=developer&organizationIds=1`: the workspaces the caller
/// can read, narrowed to those where their role is one of `anyRoleIn`.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    tag = "Workspaces",
    summary = "List workspaces",
    description = "The workspaces the caller can read (a credential limited to some \
        workspaces sees only those), each with the caller's `role`.",
    params(
        ("anyRoleIn" = Option<Vec<String>>, Query, description = "Only workspaces where the \
            caller's role is one of these (`viewer`, `developer`, `admin`), repeated."),
        ("organizationIds" = Option<Vec<i64>>, Query, description = "Only workspaces of these \
            organizations, repeated."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The workspaces.", body = Envelope<Vec<Workspace>>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<Vec<Workspace>>>, AppError> {
    let roles = query_values(query.as_deref(), "anyRoleIn")
        .into_iter()
        .map(|r| {
            WorkspaceRole::parse(&r).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    format!(
                        "`{}` is not a role; use viewer, developer or admin.",
                        r.chars().take(32).collect::<String>()
                    ),
                )
            })
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let organizations = organization_ids(query.as_deref())?;
    let all_organizations = state.store.organizations().await?;
    let mut listed = Vec::new();
    for workspace in state.store.workspaces(None).await? {
        if !organizations.is_empty() && !organizations.contains(&workspace.organization_id) {
            continue;
        }
        let resource = Resource::Workspace {
            id: &workspace.id,
            organization_id: workspace.organization_id,
        };
        if decide(&caller.principal, LIST_WORKSPACES.action, resource).is_err() {
            continue;
        }
        let role = caller
            .principal
            .effective_role(&workspace.id, workspace.organization_id);
        if !roles.is_empty() && !role.is_some_and(|r| roles.contains(&r)) {
            continue;
        }
        if let Some(organization) = all_organizations
            .iter()
            .find(|o| o.id == workspace.organization_id)
        {
            listed.push(workspace_json(&workspace, organization, role));
        }
    }
    Ok(Json(Envelope { data: listed }))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces",
    tag = "Workspaces",
    summary = "Create a workspace",
    description = "An organization admin creates a workspace in their organization.",
    request_body = NewWorkspaceBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The new workspace.", body = Envelope<Workspace>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiJson(body): ApiJson<NewWorkspaceBody>,
) -> Result<(StatusCode, Json<Envelope<Workspace>>), AppError> {
    let organization = caller
        .organization(&state, body.organization_id, &CREATE_WORKSPACE)
        .await?;
    let name = DisplayName::parse(&body.name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let external_id = body
        .external_id
        .map(|id| {
            DisplayName::parse(&id)
                .map(|id| id.as_str().to_owned())
                .map_err(|_| {
                    AppError::bad_request(
                        "invalid_external_id",
                        "The external id must be one line of at most 100 characters.",
                    )
                })
        })
        .transpose()?;
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
    audit.note(|note| {
        note.organization_id = Some(organization.id);
        note.target = Some(format!("workspace/{}", row.id));
    });
    let role = caller
        .principal
        .effective_role(&row.id, row.organization_id);
    Ok((
        StatusCode::CREATED,
        Json(Envelope {
            data: workspace_json(&row, &organization, role),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/members",
    tag = "Workspaces",
    summary = "List members",
    description = "The workspace's members and their roles.",
    params(("id" = String, Path, description = "The workspace id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The members.", body = Envelope<Vec<Member>>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Envelope<Vec<Member>>>, AppError> {
    let workspace = caller.workspace(&state, &id, &LIST_MEMBERS).await?;
    let members = state.store.workspace_members(&workspace.id).await?;
    Ok(Json(Envelope {
        data: members.into_iter().map(member_json).collect(),
    }))
}

/// The user `user_id` if they belong to the workspace's organization; otherwise the
/// same 404 as an unknown user.
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

/// For the audit log: whose role in which workspace changed, and to what (`None`:
/// removed). The workspace's organization is the event's, so its admins see what the
/// operator did there.
pub(crate) fn note_member_change(
    audit: &AuditSlot,
    workspace: &WorkspaceRow,
    user_id: i64,
    role: Option<WorkspaceRole>,
) {
    audit.note(|note| {
        note.subject_user_id = Some(user_id);
        note.organization_id = Some(workspace.organization_id);
        note.target = Some(format!("workspace/{}", workspace.id));
        if let Some(role) = role {
            note.detail.insert("role".to_owned(), role.as_str().into());
        }
    });
}

#[utoipa::path(
    put,
    path = "/v1/workspaces/{id}/members/{user_id}",
    tag = "Workspaces",
    summary = "Set a member's role",
    description = "Adds a user of the workspace's organization to the workspace, or changes \
        their role. Needs the workspace's `admin` role or an organization admin.",
    params(
        ("id" = String, Path, description = "The workspace id."),
        ("user_id" = i64, Path, description = "The user id."),
    ),
    request_body = MemberRole,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The membership.", body = Envelope<Member>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath((id, user_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<Json<Envelope<Member>>, AppError> {
    let workspace = caller.workspace(&state, &id, &SET_MEMBER).await?;
    let role = WorkspaceRole::parse(&body.role).ok_or_else(|| {
        AppError::bad_request(
            "invalid_role",
            "The role must be `viewer`, `developer` or `admin`.",
        )
    })?;
    let user = member_candidate(&state, &workspace, &user_id).await?;
    state
        .store
        .set_workspace_member(&workspace.id, user.id, role.as_str(), state.now())
        .await?;
    state.access.invalidate(user.id);
    tracing::info!(workspace.id = %workspace.id, user.id = user.id, role = role.as_str(), "member role set");
    note_member_change(&audit, &workspace, user.id, Some(role));
    Ok(Json(Envelope {
        data: Member {
            workspace_id: workspace.id,
            user_id: user.id,
            email: user.email,
            name: user.name,
            role: role.as_str().to_owned(),
        },
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}/members/{user_id}",
    tag = "Workspaces",
    summary = "Remove a member",
    description = "Removes a user from the workspace. Needs the workspace's `admin` role or \
        an organization admin.",
    params(
        ("id" = String, Path, description = "The workspace id."),
        ("user_id" = i64, Path, description = "The user id."),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath((id, user_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    let workspace = caller.workspace(&state, &id, &REMOVE_MEMBER).await?;
    let user = member_candidate(&state, &workspace, &user_id).await?;
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
    note_member_change(&audit, &workspace, user.id, None);
    Ok(StatusCode::NO_CONTENT)
}
