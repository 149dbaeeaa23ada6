//! Who may do what: tenancy, roles, and the one permission decision every handler asks.
//!
//! [`decide`] is a pure function of (principal, action, resource). The order of its
//! checks fixes which reason a refusal gives when several apply: another
//! organization's resource is [`Denial::NotFound`] (never a hint that it exists), then a
//! credential's workspace limit, then its scopes, then the person's role.

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
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::ReadWorkspace,
        Action::WriteWorkspace,
        Action::ManageWorkspaceMembers,
        Action::ReadOrganization,
        Action::ManageOrganization,
        Action::ManagePlatform,
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
        }
    }

    /// The scope a credential needs for this action.
    pub fn required_scope(self) -> Scope {
        match self {
            Action::ReadWorkspace | Action::ReadOrganization => Scope::ApiRead,
            Action::WriteWorkspace
            | Action::ManageWorkspaceMembers
            | Action::ManageOrganization
            | Action::ManagePlatform => Scope::ApiWrite,
        }
    }

    /// The least workspace role that allows this action, for workspace actions.
    fn required_workspace_role(self) -> Option<WorkspaceRole> {
        match self {
            Action::ReadWorkspace => Some(WorkspaceRole::Viewer),
            Action::WriteWorkspace => Some(WorkspaceRole::Developer),
            Action::ManageWorkspaceMembers => Some(WorkspaceRole::Admin),
            Action::ReadOrganization | Action::ManageOrganization | Action::ManagePlatform => None,
        }
    }
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
}

impl Resource<'_> {
    fn organization_id(&self) -> Option<i64> {
        match self {
            Resource::Platform => None,
            Resource::Organization { id } => Some(*id),
            Resource::Workspace {
                organization_id, ..
            } => Some(*organization_id),
        }
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
        }
    }
}

/// The permission decision. Every handler asks it before acting.
pub fn decide(principal: &Principal, action: Action, resource: Resource<'_>) -> Result<(), Denial> {
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
            };
            if !reachable {
                return Err(Denial::WorkspaceNotAllowed {
                    allowed: allowed.clone(),
                });
            }
        }
        let required = action.required_scope();
        if !limits.scopes.contains(required) {
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
        Resource::Platform => Err(Denial::MissingRole {
            required: RequiredRole::Operator,
            held: None,
        }),
    }
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
