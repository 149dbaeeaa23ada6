//! Who may do what: tenancy, roles, and the one permission decision every handler asks.
//!
//! [`decide`] is a pure function of (principal, action, resource). The order of its
//! checks fixes which reason a refusal gives when several apply: another
//! organization's resource is [`Denial::NotFound`] (never a hint that it exists), then a
//! credential's workspace limit, then its scopes, then the person's role.
//!
//! A token acts with the intersection of its credential's scopes and workspace limit and
//! its holder's roles, and on credentials only where it covers them: a token never
//! creates, rolls, renews, limits, disables, enables or deletes a credential wider than
//! itself ([`Denial::WiderThanToken`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::scope::{Scope, Scopes};

/// A person's role in one workspace, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkspaceRole {
    /// Reads everything in the workspace.
    Viewer,
    /// Also writes: scenes, batches, calibrations, inputs, projects.
    Developer,
    /// Also manages the workspace's members.
    Admin,
}

impl WorkspaceRole {
    pub const ALL: [WorkspaceRole; 3] = [
        WorkspaceRole::Viewer,
        WorkspaceRole::Developer,
        WorkspaceRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Viewer => "viewer",
            WorkspaceRole::Developer => "developer",
            WorkspaceRole::Admin => "admin",
        }
    }

    /// Role names are lower case, as on the wire; anything else is refused.
    pub fn parse(text: &str) -> Option<WorkspaceRole> {
        WorkspaceRole::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for WorkspaceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's role in their organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrganizationRole {
    Member,
    /// Manages the organization's users and workspaces, and acts as admin in each of
    /// its workspaces.
    Admin,
}

impl OrganizationRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationRole::Member => "member",
            OrganizationRole::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<OrganizationRole> {
        [OrganizationRole::Member, OrganizationRole::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// What a credential narrows its user to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialLimits {
    pub client_id: String,
    pub name: String,
    /// The access token's scopes.
    pub scopes: Scopes,
    /// `None`: every workspace its user can reach.
    pub workspaces: Option<BTreeSet<String>>,
}

/// Who is asking, with everything a decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    /// The platform operator manages organizations and can act in every one.
    pub is_operator: bool,
    pub organization: Option<(i64, OrganizationRole)>,
    pub workspace_roles: BTreeMap<String, WorkspaceRole>,
    /// Present when the caller is a program with an access token, absent for a person
    /// signed in to the pages.
    pub credential: Option<CredentialLimits>,
}

impl Principal {
    fn organization_id(&self) -> Option<i64> {
        self.organization.map(|(id, _)| id)
    }

    fn is_organization_admin(&self, organization_id: i64) -> bool {
        self.organization == Some((organization_id, OrganizationRole::Admin))
    }

    /// The role the person holds in a workspace of `organization_id`: their membership,
    /// or admin for an organization admin.
    pub fn effective_role(
        &self,
        workspace_id: &str,
        organization_id: i64,
    ) -> Option<WorkspaceRole> {
        if self.is_operator || self.is_organization_admin(organization_id) {
            return Some(WorkspaceRole::Admin);
        }
        if self.organization_id() != Some(organization_id) {
            return None;
        }
        self.workspace_roles.get(workspace_id).copied()
    }

    /// Whether a credential's workspace limit lets it reach `workspace_id`.
    pub fn credential_reaches(&self, workspace_id: &str) -> bool {
        self.credential
            .as_ref()
            .and_then(|c| c.workspaces.as_ref())
            .is_none_or(|allowed| allowed.contains(workspace_id))
    }
}

/// Something one may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read a workspace and everything in it.
    ReadWorkspace,
    /// Create or change content of a workspace: projects, batches, scenes, inputs,
    /// calibrations.
    WriteWorkspace,
    /// Add, change or remove a workspace's members.
    ManageWorkspaceMembers,
    /// See an organization: its name, users and workspaces.
    ReadOrganization,
    /// Add workspaces and users to an organization.
    ManageOrganization,
    /// Create organizations.
    ManagePlatform,
    /// Read one's own account: who one is, one's credentials (never a secret), one's
    /// notifications (and mark them read) and preferences.
    ReadAccount,
    /// Change one's own account settings (the reminder preference).
    ManageAccount,
    /// Read the audit events one is the actor or subject of.
    ReadOwnAuditLog,
    /// Generate a credential for oneself.
    CreateCredential,
    /// Disable, limit or delete a credential: its owner, or an admin of its owner's
    /// organization.
    ManageCredential,
    /// Enable a disabled credential: as [`Action::ManageCredential`], but one that an
    /// organization admin disabled only an admin may enable.
    EnableCredential,
    /// Get a new secret for a credential (roll) or a copy of it (renew): its owner only,
    /// since the secret is shown to whoever asks.
    IssueSecret,
    /// Read an organization's audit log and every member's credentials.
    AuditOrganization,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::ReadWorkspace,
        Action::WriteWorkspace,
        Action::ManageWorkspaceMembers,
        Action::ReadOrganization,
        Action::ManageOrganization,
        Action::ManagePlatform,
        Action::ReadAccount,
        Action::ManageAccount,
        Action::ReadOwnAuditLog,
        Action::CreateCredential,
        Action::ManageCredential,
        Action::EnableCredential,
        Action::IssueSecret,
        Action::AuditOrganization,
    ];

    /// The permission's stable name, as reported in `requiredPermission`.
    pub fn permission(self) -> &'static str {
        match self {
            Action::ReadWorkspace => "workspace:read",
            Action::WriteWorkspace => "workspace:write",
            Action::ManageWorkspaceMembers => "workspace:members",
            Action::ReadOrganization => "organization:read",
            Action::ManageOrganization => "organization:manage",
            Action::ManagePlatform => "platform:manage",
            Action::ReadAccount => "account:read",
            Action::ManageAccount => "account:manage",
            Action::ReadOwnAuditLog => "account:audit",
            Action::CreateCredential => "credentials:create",
            Action::ManageCredential => "credentials:manage",
            Action::EnableCredential => "credentials:enable",
            Action::IssueSecret => "credentials:secret",
            Action::AuditOrganization => "organization:audit",
        }
    }

    /// The scope a credential needs for this action; `None`: any token may (reading
    /// its own account is how a program learns who it is).
    pub fn required_scope(self) -> Option<Scope> {
        match self {
            Action::ReadAccount => None,
            Action::ReadWorkspace
            | Action::ReadOrganization
            | Action::AuditOrganization
            | Action::ReadOwnAuditLog => Some(Scope::ApiRead),
            Action::WriteWorkspace
            | Action::ManageWorkspaceMembers
            | Action::ManageOrganization
            | Action::ManagePlatform => Some(Scope::ApiWrite),
            Action::ManageAccount
            | Action::CreateCredential
            | Action::ManageCredential
            | Action::EnableCredential
            | Action::IssueSecret => Some(Scope::CredentialsManage),
        }
    }

    /// The least workspace role that allows this action, for workspace actions.
    fn required_workspace_role(self) -> Option<WorkspaceRole> {
        match self {
            Action::ReadWorkspace => Some(WorkspaceRole::Viewer),
            Action::WriteWorkspace => Some(WorkspaceRole::Developer),
            Action::ManageWorkspaceMembers => Some(WorkspaceRole::Admin),
            Action::ReadOrganization
            | Action::ManageOrganization
            | Action::ManagePlatform
            | Action::AuditOrganization
            | Action::ReadAccount
            | Action::ManageAccount
            | Action::ReadOwnAuditLog
            | Action::CreateCredential
            | Action::ManageCredential
            | Action::EnableCredential
            | Action::IssueSecret => None,
        }
    }

    /// Actions on a person's own account and credentials rather than on tenancy or
    /// content.
    fn is_personal(self) -> bool {
        matches!(
            self,
            Action::ReadAccount
                | Action::ManageAccount
                | Action::ReadOwnAuditLog
                | Action::CreateCredential
                | Action::ManageCredential
                | Action::EnableCredential
                | Action::IssueSecret
        )
    }
}

/// What a decision about one credential needs to know of it: whose it is and how wide
/// it reaches. For a credential about to be generated, what it would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialFacts<'a> {
    pub owner_user_id: i64,
    /// The owner's organization.
    pub organization_id: Option<i64>,
    pub scopes: &'a Scopes,
    /// `None`: every workspace its owner can reach.
    pub workspaces: Option<&'a BTreeSet<String>>,
    /// Disabled by someone other than its owner (an organization admin): only an
    /// admin may enable it or give it a new secret.
    pub disabled_by_admin: bool,
}

/// What an action is done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The whole platform (creating organizations).
    Platform,
    Organization {
        id: i64,
    },
    Workspace {
        id: &'a str,
        organization_id: i64,
    },
    /// A person's own account.
    Account {
        user_id: i64,
    },
    /// One credential, existing or about to be generated.
    Credential(CredentialFacts<'a>),
}

impl Resource<'_> {
    fn organization_id(&self) -> Option<i64> {
        match self {
            Resource::Platform | Resource::Account { .. } => None,
            Resource::Organization { id } => Some(*id),
            Resource::Workspace {
                organization_id, ..
            } => Some(*organization_id),
            Resource::Credential(facts) => facts.organization_id,
        }
    }

    fn is_personal(&self) -> bool {
        matches!(self, Resource::Account { .. } | Resource::Credential(_))
    }
}

/// Why [`decide`] refused, with what would have allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The resource is in another organization: answer exactly as if it did not exist.
    NotFound,
    /// The credential is limited to other workspaces.
    WorkspaceNotAllowed { allowed: BTreeSet<String> },
    /// The credential lacks a scope its user would need.
    MissingScope { required: Scope },
    /// The person lacks a role. `held` is their role in the workspace, if any.
    MissingRole {
        required: RequiredRole,
        held: Option<WorkspaceRole>,
    },
    /// The credential is wider than the token acting on it: the token would do more
    /// than it was given. `scope` is a scope the credential has and the token lacks;
    /// `allowed` the token's workspace limit when the credential reaches beyond it.
    WiderThanToken {
        scope: Option<Scope>,
        allowed: Option<BTreeSet<String>>,
    },
    /// Only the credential's owner may do this (its new secret is shown to whoever
    /// asks).
    OwnerOnly,
    /// An organization admin disabled the credential: only an admin may enable it or
    /// give it a new secret.
    DisabledByAdmin,
}

/// The role that would allow an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredRole {
    Workspace(WorkspaceRole),
    OrganizationAdmin,
    OrganizationMember,
    Operator,
}

impl Denial {
    /// The stable error code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::NotFound => "not_found",
            Denial::WorkspaceNotAllowed { .. } => "workspace_not_allowed",
            Denial::MissingScope { .. } => "missing_scope",
            Denial::MissingRole { .. } => "missing_role",
            Denial::WiderThanToken { .. } => "credential_wider_than_token",
            Denial::OwnerOnly => "not_credential_owner",
            Denial::DisabledByAdmin => "disabled_by_admin",
        }
    }
}

/// The permission decision. Every handler asks it before acting.
pub fn decide(principal: &Principal, action: Action, resource: Resource<'_>) -> Result<(), Denial> {
    if action.is_personal() != resource.is_personal() {
        // Nothing of that kind to act on: answer as for a resource that does not exist.
        return Err(Denial::NotFound);
    }
    match resource {
        Resource::Account { user_id } => return decide_account(principal, action, user_id),
        Resource::Credential(facts) => return decide_credential(principal, action, &facts),
        Resource::Platform | Resource::Organization { .. } | Resource::Workspace { .. } => {}
    }
    if let Some(organization_id) = resource.organization_id()
        && !principal.is_operator
        && principal.organization_id() != Some(organization_id)
    {
        return Err(Denial::NotFound);
    }
    if let Some(limits) = &principal.credential {
        if let Some(allowed) = &limits.workspaces {
            let reachable = match resource {
                Resource::Workspace { id, .. } => allowed.contains(id),
                // A credential limited to some workspaces acts on nothing wider.
                Resource::Platform => false,
                Resource::Organization { .. } => action == Action::ReadOrganization,
                // Decided by `decide_account` and `decide_credential`.
                Resource::Account { .. } | Resource::Credential(_) => false,
            };
            if !reachable {
                return Err(Denial::WorkspaceNotAllowed {
                    allowed: allowed.clone(),
                });
            }
        }
        if let Some(required) = action.required_scope()
            && !limits.scopes.contains(required)
        {
            return Err(Denial::MissingScope { required });
        }
    }
    if action == Action::ManagePlatform || resource == Resource::Platform {
        return if principal.is_operator {
            Ok(())
        } else {
            Err(Denial::MissingRole {
                required: RequiredRole::Operator,
                held: None,
            })
        };
    }
    let allowed_by_organization = |organization_id: i64| {
        principal.is_operator || principal.is_organization_admin(organization_id)
    };
    match resource {
        Resource::Organization { id } => {
            let (allowed, required) = if action == Action::ReadOrganization {
                (
                    principal.is_operator || principal.organization_id() == Some(id),
                    RequiredRole::OrganizationMember,
                )
            } else {
                (allowed_by_organization(id), RequiredRole::OrganizationAdmin)
            };
            if allowed {
                Ok(())
            } else {
                Err(Denial::MissingRole {
                    required,
                    held: None,
                })
            }
        }
        Resource::Workspace {
            id,
            organization_id,
        } => {
            let held = principal.effective_role(id, organization_id);
            match action.required_workspace_role() {
                Some(required) if held.is_some_and(|role| role >= required) => Ok(()),
                Some(required) => Err(Denial::MissingRole {
                    required: RequiredRole::Workspace(required),
                    held,
                }),
                // Organization-level actions on a workspace need an organization admin.
                None if allowed_by_organization(organization_id) => Ok(()),
                None => Err(Denial::MissingRole {
                    required: RequiredRole::OrganizationAdmin,
                    held,
                }),
            }
        }
        // Handled above, before any role is looked at.
        Resource::Platform | Resource::Account { .. } | Resource::Credential(_) => {
            Err(Denial::MissingRole {
                required: RequiredRole::Operator,
                held: None,
            })
        }
    }
}

/// The scope a token needs for `action`, if it is a token.
fn token_scope(principal: &Principal, action: Action) -> Result<(), Denial> {
    match (&principal.credential, action.required_scope()) {
        (Some(limits), Some(required)) if !limits.scopes.contains(required) => {
            Err(Denial::MissingScope { required })
        }
        _ => Ok(()),
    }
}

/// One's own account: only one's own, and a token needs its action's scope.
fn decide_account(principal: &Principal, action: Action, user_id: i64) -> Result<(), Denial> {
    if user_id != principal.user_id
        || !matches!(
            action,
            Action::ReadAccount | Action::ManageAccount | Action::ReadOwnAuditLog
        )
    {
        return Err(Denial::NotFound);
    }
    token_scope(principal, action)
}

/// A credential: its owner's, or (to disable, enable, limit, delete) an admin of its
/// owner's organization's. A token acts only on credentials it covers — every scope
/// and workspace of the credential also its own — so it can neither mint nor
/// unlock nor free from its limits a credential wider than itself.
fn decide_credential(
    principal: &Principal,
    action: Action,
    facts: &CredentialFacts<'_>,
) -> Result<(), Denial> {
    let owner = facts.owner_user_id == principal.user_id;
    let admin = facts
        .organization_id
        .is_some_and(|id| principal.is_organization_admin(id));
    let related = match action {
        Action::CreateCredential => owner,
        Action::ManageCredential | Action::EnableCredential | Action::IssueSecret => owner || admin,
        // Account actions act on the account, not on one of its credentials.
        _ => false,
    };
    if !related {
        return Err(Denial::NotFound);
    }
    if let Some(limits) = &principal.credential {
        if let Some(allowed) = &limits.workspaces {
            let within = facts
                .workspaces
                .is_some_and(|reached| reached.is_subset(allowed));
            if !within {
                return Err(Denial::WiderThanToken {
                    scope: None,
                    allowed: Some(allowed.clone()),
                });
            }
        }
        token_scope(principal, action)?;
        if let Some(scope) = facts.scopes.iter().find(|s| !limits.scopes.contains(*s)) {
            return Err(Denial::WiderThanToken {
                scope: Some(scope),
                allowed: None,
            });
        }
    }
    if action == Action::IssueSecret && !owner {
        return Err(Denial::OwnerOnly);
    }
    if matches!(action, Action::EnableCredential | Action::IssueSecret)
        && facts.disabled_by_admin
        && !admin
    {
        return Err(Denial::DisabledByAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
