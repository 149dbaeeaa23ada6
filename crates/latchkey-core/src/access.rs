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
mod tests {
    use super::*;

    const ORG: i64 = 1;
    const OTHER_ORG: i64 = 2;
    const WS: &str = "ws-a";
    const OTHER_WS: &str = "ws-b";

    fn person(org_role: Option<OrganizationRole>, ws_role: Option<WorkspaceRole>) -> Principal {
        Principal {
            user_id: 7,
            email: "p@example.com".into(),
            is_operator: false,
            organization: org_role.map(|r| (ORG, r)),
            workspace_roles: ws_role.map(|r| (WS.to_owned(), r)).into_iter().collect(),
            credential: None,
        }
    }

    fn with_credential(mut p: Principal, scopes: &str, workspaces: Option<&[&str]>) -> Principal {
        p.credential = Some(CredentialLimits {
            client_id: "lkc_x".into(),
            name: "ci".into(),
            scopes: Scopes::parse(scopes).expect("scopes"),
            workspaces: workspaces.map(|w| w.iter().map(|s| (*s).to_owned()).collect()),
        });
        p
    }

    fn operator() -> Principal {
        Principal {
            is_operator: true,
            organization: None,
            ..person(None, None)
        }
    }

    /// A principal's expected outcome for each action, on the workspace WS of ORG.
    fn expect_on_workspace(principal: &Principal, expected: [&str; 6]) {
        // The first six actions are the tenancy and content ones.
        for (action, want) in Action::ALL.into_iter().zip(expected) {
            let got = decide(
                principal,
                action,
                Resource::Workspace {
                    id: WS,
                    organization_id: ORG,
                },
            )
            .map_or_else(|d| d.code(), |()| "ok");
            assert_eq!(got, want, "{action:?} for {principal:?}");
        }
    }

    #[test]
    fn the_workspace_table() {
        use OrganizationRole::{Admin as OrgAdmin, Member};
        use WorkspaceRole::{Admin, Developer, Viewer};
        // Columns: ReadWorkspace, WriteWorkspace, ManageWorkspaceMembers,
        //          ReadOrganization, ManageOrganization, ManagePlatform (on a workspace).
        let rows: Vec<(Principal, [&str; 6])> = vec![
            (
                person(Some(Member), None),
                [
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                person(Some(Member), Some(Viewer)),
                [
                    "ok",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                person(Some(Member), Some(Developer)),
                [
                    "ok",
                    "ok",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                person(Some(Member), Some(Admin)),
                [
                    "ok",
                    "ok",
                    "ok",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                person(Some(OrgAdmin), None),
                ["ok", "ok", "ok", "ok", "ok", "missing_role"],
            ),
            (operator(), ["ok", "ok", "ok", "ok", "ok", "ok"]),
            (person(None, Some(Admin)), ["not_found"; 6]),
            (
                with_credential(person(Some(Member), Some(Admin)), "api:read", None),
                [
                    "ok",
                    "missing_scope",
                    "missing_scope",
                    "missing_role",
                    "missing_scope",
                    "missing_scope",
                ],
            ),
            (
                with_credential(
                    person(Some(Member), Some(Viewer)),
                    "api:read api:write",
                    None,
                ),
                [
                    "ok",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                with_credential(
                    person(Some(Member), Some(Developer)),
                    "api:read api:write",
                    Some(&[OTHER_WS]),
                ),
                ["workspace_not_allowed"; 6],
            ),
            (
                with_credential(
                    person(Some(Member), Some(Developer)),
                    "api:read api:write",
                    Some(&[WS]),
                ),
                [
                    "ok",
                    "ok",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                    "missing_role",
                ],
            ),
            (
                with_credential(
                    person(Some(Member), Some(Developer)),
                    "credentials:manage",
                    None,
                ),
                ["missing_scope"; 6],
            ),
        ];
        for (principal, expected) in &rows {
            expect_on_workspace(principal, *expected);
        }
    }

    #[test]
    fn another_organizations_resources_are_not_found_for_every_action() {
        let admin = person(Some(OrganizationRole::Admin), Some(WorkspaceRole::Admin));
        for action in Action::ALL {
            for resource in [
                Resource::Organization { id: OTHER_ORG },
                Resource::Workspace {
                    id: WS,
                    organization_id: OTHER_ORG,
                },
            ] {
                assert_eq!(decide(&admin, action, resource), Err(Denial::NotFound));
            }
        }
    }

    #[test]
    fn the_organization_and_platform_table() {
        use OrganizationRole::{Admin, Member};
        let org = Resource::Organization { id: ORG };
        let cases: Vec<(Principal, Action, Resource<'_>, &str)> = vec![
            (
                person(Some(Member), None),
                Action::ReadOrganization,
                org,
                "ok",
            ),
            (
                person(Some(Member), None),
                Action::ManageOrganization,
                org,
                "missing_role",
            ),
            (
                person(Some(Admin), None),
                Action::ManageOrganization,
                org,
                "ok",
            ),
            (
                person(Some(Admin), None),
                Action::ManagePlatform,
                Resource::Platform,
                "missing_role",
            ),
            (operator(), Action::ManagePlatform, Resource::Platform, "ok"),
            (operator(), Action::ManageOrganization, org, "ok"),
            (
                with_credential(operator(), "api:read", None),
                Action::ManagePlatform,
                Resource::Platform,
                "missing_scope",
            ),
            (
                with_credential(person(Some(Admin), None), "api:read api:write", Some(&[WS])),
                Action::ManageOrganization,
                org,
                "workspace_not_allowed",
            ),
            (
                with_credential(person(Some(Member), None), "api:read", Some(&[WS])),
                Action::ReadOrganization,
                org,
                "ok",
            ),
            (
                with_credential(operator(), "api:read api:write", Some(&[WS])),
                Action::ManagePlatform,
                Resource::Platform,
                "workspace_not_allowed",
            ),
        ];
        for (principal, action, resource, want) in cases {
            let got = decide(&principal, action, resource).map_or_else(|d| d.code(), |()| "ok");
            assert_eq!(got, want, "{action:?} on {resource:?} for {principal:?}");
        }
    }

    fn facts<'a>(
        owner_user_id: i64,
        scopes: &'a Scopes,
        workspaces: Option<&'a BTreeSet<String>>,
    ) -> CredentialFacts<'a> {
        CredentialFacts {
            owner_user_id,
            organization_id: Some(ORG),
            scopes,
            workspaces,
            disabled_by_admin: false,
        }
    }

    const PERSONAL: [Action; 7] = [
        Action::ReadAccount,
        Action::ManageAccount,
        Action::ReadOwnAuditLog,
        Action::CreateCredential,
        Action::ManageCredential,
        Action::EnableCredential,
        Action::IssueSecret,
    ];

    /// Every non-empty set of scopes.
    fn every_scope_set() -> Vec<Scopes> {
        (1..8u8)
            .map(|bits| {
                let names: Vec<&str> = Scope::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, s)| s.as_str())
                    .collect();
                Scopes::from_names(names).expect("scopes")
            })
            .collect()
    }

    fn every_workspace_limit() -> Vec<Option<BTreeSet<String>>> {
        vec![
            None,
            Some([WS.to_owned()].into()),
            Some([OTHER_WS.to_owned()].into()),
            Some([WS.to_owned(), OTHER_WS.to_owned()].into()),
        ]
    }

    /// The narrowing rule, exhaustively: for every token (scopes × workspace limit),
    /// every credential it might act on (scopes × workspace limit) and every credential
    /// action, the action is allowed only if the token covers the credential.
    #[test]
    fn a_token_never_acts_on_a_credential_wider_than_itself() {
        let admin = person(Some(OrganizationRole::Admin), Some(WorkspaceRole::Admin));
        for token_scopes in every_scope_set() {
            for token_limit in every_workspace_limit() {
                let mut principal = admin.clone();
                principal.credential = Some(CredentialLimits {
                    client_id: "lkc_t".into(),
                    name: "t".into(),
                    scopes: token_scopes.clone(),
                    workspaces: token_limit.clone(),
                });
                for target_scopes in every_scope_set() {
                    for target_limit in every_workspace_limit() {
                        for owner in [principal.user_id, 99] {
                            for action in PERSONAL {
                                let resource = Resource::Credential(facts(
                                    owner,
                                    &target_scopes,
                                    target_limit.as_ref(),
                                ));
                                let allowed = decide(&principal, action, resource).is_ok();
                                let scopes_covered =
                                    target_scopes.iter().all(|s| token_scopes.contains(s));
                                let workspaces_covered = match (&token_limit, &target_limit) {
                                    (None, _) => true,
                                    (Some(_), None) => false,
                                    (Some(token), Some(target)) => target.is_subset(token),
                                };
                                if allowed {
                                    assert!(
                                        scopes_covered
                                            && workspaces_covered
                                            && token_scopes.contains(Scope::CredentialsManage),
                                        "{action:?} by {token_scopes} {token_limit:?} on \
                                         {target_scopes} {target_limit:?} (owner {owner})"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_credential_table() {
        use OrganizationRole::{Admin, Member};
        let wide = Scopes::parse("api:read api:write credentials:manage").expect("scopes");
        let read = Scopes::parse("api:read").expect("scopes");
        let manage = Scopes::parse("credentials:manage").expect("scopes");
        let ws: BTreeSet<String> = [WS.to_owned()].into();
        let me = 7;
        let member = 8;
        let admin = person(Some(Admin), None);
        let owner = person(Some(Member), Some(WorkspaceRole::Developer));
        let disabled_by_admin = CredentialFacts {
            disabled_by_admin: true,
            ..facts(me, &read, None)
        };
        let other_org = CredentialFacts {
            organization_id: Some(OTHER_ORG),
            ..facts(member, &read, None)
        };
        #[rustfmt::skip]
        let cases: Vec<(Principal, Action, CredentialFacts<'_>, &str)> = vec![
            // A person signed in manages their own credentials, whatever they reach.
            (owner.clone(), Action::CreateCredential, facts(me, &wide, None), "ok"),
            (owner.clone(), Action::ManageCredential, facts(me, &wide, None), "ok"),
            (owner.clone(), Action::IssueSecret, facts(me, &wide, None), "ok"),
            (owner.clone(), Action::EnableCredential, facts(me, &wide, None), "ok"),
            // Nobody sees another member's credential but an admin of their organization.
            (owner.clone(), Action::ManageCredential, facts(member, &read, None), "not_found"),
            (admin.clone(), Action::ManageCredential, facts(member, &wide, None), "ok"),
            (admin.clone(), Action::EnableCredential, facts(member, &wide, None), "ok"),
            (admin.clone(), Action::ManageCredential, other_org, "not_found"),
            (operator(), Action::ManageCredential, facts(member, &read, None), "not_found"),
            // Nobody creates a credential for someone else; only the owner sees a new secret.
            (admin.clone(), Action::CreateCredential, facts(member, &read, None), "not_found"),
            (admin.clone(), Action::IssueSecret, facts(member, &read, None), "not_credential_owner"),
            // An admin's disabling sticks: the owner can delete, not enable or renew.
            (owner.clone(), Action::EnableCredential, disabled_by_admin, "disabled_by_admin"),
            (owner.clone(), Action::IssueSecret, disabled_by_admin, "disabled_by_admin"),
            (owner.clone(), Action::ManageCredential, disabled_by_admin, "ok"),
            (admin.clone(), Action::EnableCredential, CredentialFacts { owner_user_id: member, ..disabled_by_admin }, "ok"),
            // A token needs credentials:manage, then covers the credential.
            (with_credential(owner.clone(), "api:read api:write", None), Action::ManageCredential, facts(me, &read, None), "missing_scope"),
            (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::IssueSecret, facts(me, &wide, None), "credential_wider_than_token"),
            (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::ManageCredential, facts(me, &manage, None), "credential_wider_than_token"),
            (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::ManageCredential, facts(me, &manage, Some(&ws)), "ok"),
            (with_credential(owner.clone(), "credentials:manage", None), Action::CreateCredential, facts(me, &read, None), "credential_wider_than_token"),
            (with_credential(owner.clone(), "api:read credentials:manage", None), Action::CreateCredential, facts(me, &read, Some(&ws)), "ok"),
            // A workspace-limited admin token manages only credentials within its limit.
            (with_credential(admin.clone(), "api:read api:write credentials:manage", Some(&[WS])), Action::ManageCredential, facts(member, &read, None), "credential_wider_than_token"),
            (with_credential(admin.clone(), "api:read api:write credentials:manage", Some(&[WS])), Action::ManageCredential, facts(member, &read, Some(&ws)), "ok"),
        ];
        for (principal, action, facts, want) in cases {
            let got = decide(&principal, action, Resource::Credential(facts))
                .map_or_else(|d| d.code(), |()| "ok");
            assert_eq!(got, want, "{action:?} on {facts:?} for {principal:?}");
        }
    }

    #[test]
    fn the_account_table() {
        let me = person(Some(OrganizationRole::Member), None);
        let mine = Resource::Account {
            user_id: me.user_id,
        };
        let theirs = Resource::Account { user_id: 99 };
        let read_only = with_credential(me.clone(), "api:read", None);
        let cases = [
            (&me, Action::ReadAccount, mine, "ok"),
            (&me, Action::ManageAccount, mine, "ok"),
            (&me, Action::ReadAccount, theirs, "not_found"),
            (&read_only, Action::ReadAccount, mine, "ok"),
            (&read_only, Action::ManageAccount, mine, "missing_scope"),
            (&read_only, Action::ReadOwnAuditLog, mine, "ok"),
            (
                &with_credential(me.clone(), "credentials:manage", None),
                Action::ReadOwnAuditLog,
                mine,
                "missing_scope",
            ),
        ];
        for (principal, action, resource, want) in cases {
            let got = decide(principal, action, resource).map_or_else(|d| d.code(), |()| "ok");
            assert_eq!(got, want, "{action:?} on {resource:?}");
        }
    }

    /// Personal actions act only on accounts and credentials, and the tenancy and
    /// content actions never on them: a mismatch is nothing to act on.
    #[test]
    fn actions_and_resources_of_different_kinds_never_meet() {
        let operator = operator();
        let scopes = Scopes::parse("api:read").expect("scopes");
        for action in Action::ALL {
            let personal = PERSONAL.contains(&action);
            let resources = [
                Resource::Platform,
                Resource::Organization { id: ORG },
                Resource::Workspace {
                    id: WS,
                    organization_id: ORG,
                },
                Resource::Account {
                    user_id: operator.user_id,
                },
                Resource::Credential(facts(operator.user_id, &scopes, None)),
            ];
            for resource in resources {
                if personal != resource.is_personal() {
                    assert_eq!(
                        decide(&operator, action, resource),
                        Err(Denial::NotFound),
                        "{action:?} on {resource:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_organization_audit_is_for_its_admins_and_not_for_a_workspace_limited_token() {
        use OrganizationRole::{Admin, Member};
        let org = Resource::Organization { id: ORG };
        let cases = [
            (person(Some(Admin), None), "ok"),
            (
                person(Some(Member), Some(WorkspaceRole::Admin)),
                "missing_role",
            ),
            (
                with_credential(person(Some(Admin), None), "api:read", None),
                "ok",
            ),
            (
                with_credential(person(Some(Admin), None), "api:read", Some(&[WS])),
                "workspace_not_allowed",
            ),
            (
                with_credential(person(Some(Admin), None), "credentials:manage", None),
                "missing_scope",
            ),
        ];
        for (principal, want) in cases {
            let got = decide(&principal, Action::AuditOrganization, org)
                .map_or_else(|d| d.code(), |()| "ok");
            assert_eq!(got, want, "{principal:?}");
        }
    }

    #[test]
    fn roles_parse_only_their_lower_case_names() {
        assert_eq!(
            WorkspaceRole::parse("developer"),
            Some(WorkspaceRole::Developer)
        );
        assert_eq!(WorkspaceRole::parse("Developer"), None);
        assert_eq!(WorkspaceRole::parse("owner"), None);
    }
}
