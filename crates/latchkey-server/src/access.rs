//! Asking the permission decision, and turning its refusals into 403s that explain
//! themselves.
//!
//! Handlers name what they are about to do ([`Action`]), to what ([`Target`]) and in
//! words (`"creating a batch"`); [`Caller::authorize`] answers with `Ok` or an
//! [`AppError`] whose body names the caller, the resource, the missing permission and
//! what would grant it. A resource of another organization gets the same 404 as one
//! that does not exist, through [`not_found`].

use latchkey_core::Scope;
use latchkey_core::access::{
    Action, Denial, Principal, RequiredRole, Resource, WorkspaceRole, decide,
};
use latchkey_store::{OrganizationRow, WorkspaceRow};
use latchkey_types::{PrincipalRef, ResourceRef};

use crate::auth::{Caller, Via};
use crate::error::{AppError, Denied};
use crate::state::AppState;

/// What an action is done to, with the names a message needs.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Platform,
    Organization(&'a OrganizationRow),
    Workspace(&'a WorkspaceRow),
}

impl Target<'_> {
    fn resource(&self) -> Resource<'_> {
        match self {
            Target::Platform => Resource::Platform,
            Target::Organization(organization) => Resource::Organization {
                id: organization.id,
            },
            Target::Workspace(workspace) => Resource::Workspace {
                id: &workspace.id,
                organization_id: workspace.organization_id,
            },
        }
    }

    pub(crate) fn reference(&self) -> ResourceRef {
        let (kind, id, name) = match self {
            Target::Platform => ("platform", None, None),
            Target::Organization(o) => ("organization", Some(o.id.to_string()), Some(&o.name)),
            Target::Workspace(w) => ("workspace", Some(w.id.clone()), Some(&w.name)),
        };
        ResourceRef {
            kind: kind.to_owned(),
            id,
            name: name.cloned(),
        }
    }

    fn described(&self) -> String {
        match self {
            Target::Platform => "the platform".to_owned(),
            Target::Organization(o) => format!("organization '{}'", o.name),
            Target::Workspace(w) => format!("workspace '{}' ({})", w.name, w.id),
        }
    }
}

/// A refusal concerning the caller's own account (their credentials), explained like
/// every other 403: the permission, the account as the resource, and the caller.
pub fn own_account_denial(
    principal: &Principal,
    code: &'static str,
    required_permission: &'static str,
    message: String,
) -> AppError {
    AppError::Denied(Box::new(Denied {
        code,
        message,
        required_permission,
        resource: ResourceRef {
            kind: "user".to_owned(),
            id: Some(principal.user_id.to_string()),
            name: Some(principal.email.clone()),
        },
        principal: PrincipalRef {
            user_id: principal.user_id,
            email: principal.email.clone(),
            client_id: principal.credential.as_ref().map(|c| c.client_id.clone()),
        },
    }))
}

/// The 404 of a missing resource, identical for one that exists in another
/// organization.
pub fn not_found(kind: &str, id: &str) -> AppError {
    AppError::not_found(format!(
        "There is no {kind} with the id `{}`, or you cannot see it.",
        id.chars().take(64).collect::<String>()
    ))
}

/// Every workspace `principal` may read, with their role there: in their organization
/// (every organization for the operator), narrowed by a credential's workspace limit.
pub async fn readable_workspaces(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<(WorkspaceRow, WorkspaceRole)>, AppError> {
    let organization = match (principal.is_operator, principal.organization) {
        (true, _) => None,
        (false, Some((id, _))) => Some(id),
        (false, None) => return Ok(Vec::new()),
    };
    Ok(state
        .store
        .workspaces(organization)
        .await?
        .into_iter()
        .filter_map(|w| {
            let resource = Resource::Workspace {
                id: &w.id,
                organization_id: w.organization_id,
            };
            decide(principal, Action::ReadWorkspace, resource).ok()?;
            let role = principal.effective_role(&w.id, w.organization_id)?;
            Some((w, role))
        })
        .collect())
}

impl Caller {
    /// Whether the caller may do `action` to `target`; `doing` describes the call for
    /// the message ("creating a batch").
    pub fn authorize(
        &self,
        action: Action,
        target: Target<'_>,
        doing: &str,
    ) -> Result<(), AppError> {
        let Err(denial) = decide(&self.principal, action, target.resource()) else {
            return Ok(());
        };
        let message = match &denial {
            Denial::NotFound => {
                let (kind, id) = match target {
                    Target::Platform => ("resource", String::new()),
                    Target::Organization(o) => ("organization", o.id.to_string()),
                    Target::Workspace(w) => ("workspace", w.id.clone()),
                };
                return Err(not_found(kind, &id));
            }
            Denial::WorkspaceNotAllowed { allowed } => format!(
                "Your credential {} is limited to the workspaces {}; {doing} in {} is \
                 outside them. Use a credential for that workspace.",
                self.credential_described(),
                allowed.iter().cloned().collect::<Vec<_>>().join(", "),
                target.described()
            ),
            Denial::MissingScope { required } => {
                let held = match &self.via {
                    Via::Token(credential) if credential.scopes.to_string() == "api:read" => {
                        "is read-only (scope api:read)".to_owned()
                    }
                    Via::Token(credential) => format!("has the scopes `{}`", credential.scopes),
                    Via::Session => "lacks it".to_owned(),
                };
                format!(
                    "Your credential {} {held}; {doing} needs {required}.",
                    self.credential_described()
                )
            }
            Denial::MissingRole { required, held } => {
                let you = format!("You ({})", self.email);
                match (required, held) {
                    (RequiredRole::Workspace(required), Some(held)) => format!(
                        "{you} are a {held} in {}; {doing} needs the {required} role. Ask an \
                         admin of the workspace for it.",
                        target.described()
                    ),
                    (RequiredRole::Workspace(required), None) => format!(
                        "{you} are not a member of {}; {doing} needs the {required} role. Ask \
                         an admin of the workspace to add you.",
                        target.described()
                    ),
                    (RequiredRole::OrganizationAdmin, _) => format!(
                        "{you} are not an administrator of the organization; {doing} in {} \
                         needs one.",
                        target.described()
                    ),
                    (RequiredRole::OrganizationMember, _) => format!(
                        "{you} are not a member of {}; {doing} needs membership.",
                        target.described()
                    ),
                    (RequiredRole::Operator, _) => {
                        format!("{doing} is reserved for the platform operator.")
                    }
                }
            }
        };
        Err(AppError::Denied(Box::new(Denied {
            code: denial.code(),
            message: capitalised(&message),
            required_permission: action.permission(),
            resource: target.reference(),
            principal: PrincipalRef {
                user_id: self.user_id,
                email: self.email.clone(),
                client_id: match &self.via {
                    Via::Token(credential) => Some(credential.client_id.clone()),
                    Via::Session => None,
                },
            },
        })))
    }

    /// A credential must carry `scope` to act on its owner's account this way; a
    /// signed-in person has every scope over their own account.
    pub fn require_scope(&self, scope: Scope, doing: &str) -> Result<(), AppError> {
        match &self.via {
            Via::Token(credential) if !credential.scopes.contains(scope) => {
                Err(own_account_denial(
                    &self.principal,
                    "missing_scope",
                    scope.as_str(),
                    format!(
                        "Your credential {} has the scopes `{}`; {doing} needs the scope \
                         {scope}. Generate a credential with {scope} under API Credentials...",
                        self.credential_described(),
                        credential.scopes
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    fn credential_described(&self) -> String {
        match &self.via {
            Via::Token(credential) => format!("'{}' ({})", credential.name, credential.client_id),
            Via::Session => "session".to_owned(),
        }
    }

    /// The workspace `id`, if the caller may do `action` in it.
    pub async fn workspace(
        &self,
        state: &AppState,
        id: &str,
        action: Action,
        doing: &str,
    ) -> Result<WorkspaceRow, AppError> {
        let workspace = state
            .store
            .workspace(id)
            .await?
            .ok_or_else(|| not_found("workspace", id))?;
        self.authorize(action, Target::Workspace(&workspace), doing)?;
        Ok(workspace)
    }

    /// The organization `id`, if the caller may do `action` in it.
    pub async fn organization(
        &self,
        state: &AppState,
        id: i64,
        action: Action,
        doing: &str,
    ) -> Result<OrganizationRow, AppError> {
        let organization = state
            .store
            .organization(id)
            .await?
            .ok_or_else(|| not_found("organization", &id.to_string()))?;
        self.authorize(action, Target::Organization(&organization), doing)?;
        Ok(organization)
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}", first.to_uppercase(), chars.as_str())
    })
}
