//! Organizations, workspaces and workspace members: the rules `/v1/organizations`,
//! `/v1/workspaces…` and the organization pages share. Handlers authorize with their
//! route's declaration, then call these; a page can therefore never allow, word or audit
//! a change differently from the API. Adding a person is [`crate::users::add_member`].

use latchkey_core::DisplayName;
use latchkey_core::access::WorkspaceRole;
use latchkey_store::{NewWorkspace, OrganizationRow, StoreError, UserRow, WorkspaceRow};

use crate::access::not_found;
use crate::audit::AuditSlot;
use crate::error::{AppError, sentence};
use crate::state::AppState;

/// Creates the organization `name`; names are unique.
pub async fn create_organization(
    state: &AppState,
    audit: &AuditSlot,
    name: &str,
) -> Result<OrganizationRow, AppError> {
    let name = DisplayName::parse(name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let row = match state
        .store
        .create_organization(name.as_str(), state.now())
        .await
    {
        Ok(row) => row,
        Err(StoreError::Conflict) => {
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
    Ok(row)
}

/// Creates a workspace named `name` in `organization`, with the id the customer's own
/// systems know it by, if any (blank is none).
pub async fn create_workspace(
    state: &AppState,
    audit: &AuditSlot,
    organization: &OrganizationRow,
    name: &str,
    external_id: Option<&str>,
) -> Result<WorkspaceRow, AppError> {
    let name = DisplayName::parse(name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let external_id = external_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            DisplayName::parse(id)
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
    Ok(row)
}

/// Gives the person `user_id` of the workspace's organization `role` in `workspace`
/// (adding them when they are not a member yet).
pub async fn set_member(
    state: &AppState,
    audit: &AuditSlot,
    workspace: &WorkspaceRow,
    user_id: &str,
    role: &str,
) -> Result<(UserRow, WorkspaceRole), AppError> {
    let role = WorkspaceRole::parse(role).ok_or_else(|| {
        AppError::bad_request(
            "invalid_role",
            "The role must be `viewer`, `developer` or `admin`.",
        )
    })?;
    let user = member_candidate(state, workspace, user_id).await?;
    state
        .store
        .set_workspace_member(&workspace.id, user.id, role.as_str(), state.now())
        .await?;
    state.access.invalidate(user.id);
    tracing::info!(workspace.id = %workspace.id, user.id = user.id, role = role.as_str(), "member role set");
    note_member_change(audit, workspace, user.id, Some(role));
    Ok((user, role))
}

/// Takes the person `user_id` out of `workspace`.
pub async fn remove_member(
    state: &AppState,
    audit: &AuditSlot,
    workspace: &WorkspaceRow,
    user_id: &str,
) -> Result<UserRow, AppError> {
    let user = member_candidate(state, workspace, user_id).await?;
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
    note_member_change(audit, workspace, user.id, None);
    Ok(user)
}

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

/// For the audit log: whose role in which workspace changed, and to what (`None`:
/// removed). The workspace's organization is the event's, so its admins see what the
/// operator did there.
fn note_member_change(
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
