//! Asking the permission decision, and turning its refusals into 403s that explain
//! themselves.
//!
//! Handlers name what they are about to do ([`Action`]), to what ([`Target`]) and in
//! words (`"creating a batch"`); [`Caller::authorize`] answers with `Ok` or an
//! [`AppError`] whose body names the caller, the resource, the missing permission and
//! what would grant it. A resource of another organization gets the same 404 as one
//! that does not exist, through [`not_found`].

use latchkey_core::access::{
    Action, CredentialFacts, Denial, Principal, RequiredRole, Resource, WorkspaceRole, decide,
};
use latchkey_store::{OrganizationRow, WorkspaceRow};
use latchkey_types::{CREDENTIALS_MENU_ITEM, PrincipalRef, ResourceRef};

use crate::auth::Caller;
use crate::error::{AppError, Denied};
use crate::state::AppState;

/// What an action is done to, with the names a message needs.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Platform,
    Organization(&'a OrganizationRow),
    Workspace(&'a WorkspaceRow),
    /// A person's own account.
    Account {
        user_id: i64,
        email: &'a str,
    },
    /// A credential, or one about to be generated.
    Credential(CredentialTarget<'a>),
}

/// A credential as a decision and its message need it.
#[derive(Debug, Clone, Copy)]
pub struct CredentialTarget<'a> {
    /// `None` for a credential about to be generated.
    pub client_id: Option<&'a str>,
    pub name: &'a str,
    pub owner_email: &'a str,
    /// Who disabled it and why, when an organization admin did.
    pub disabled_by: Option<(&'a str, Option<&'a str>)>,
    pub facts: CredentialFacts<'a>,
}

impl CredentialTarget<'_> {
    fn described(&self) -> String {
        match self.client_id {
            Some(id) => format!("the credential '{}' ({id})", self.name),
            None => format!("the new credential '{}'", self.name),
        }
    }

    /// What the credential reaches, in words.
    fn reach(&self) -> String {
        let workspaces = match self.facts.workspaces {
            None => "every workspace of its owner".to_owned(),
            Some(ids) => format!(
                "the workspaces {}",
                ids.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        format!("the scopes `{}` in {workspaces}", self.facts.scopes)
    }
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
            Target::Account { user_id, .. } => Resource::Account { user_id: *user_id },
            Target::Credential(credential) => Resource::Credential(credential.facts),
        }
    }

    pub(crate) fn reference(&self) -> ResourceRef {
        let (kind, id, name) = match self {
            Target::Platform => ("platform", None, None),
            Target::Organization(o) => ("organization", Some(o.id.to_string()), Some(&*o.name)),
            Target::Workspace(w) => ("workspace", Some(w.id.clone()), Some(&*w.name)),
            Target::Account { user_id, email } => ("user", Some(user_id.to_string()), Some(*email)),
            Target::Credential(c) => ("credential", c.client_id.map(str::to_owned), Some(c.name)),
        };
        ResourceRef {
            kind: kind.to_owned(),
            id,
            name: name.map(str::to_owned),
        }
    }

    fn described(&self) -> String {
        match self {
            Target::Platform => "the platform".to_owned(),
            Target::Organization(o) => format!("organization '{}'", o.name),
            Target::Workspace(w) => format!("workspace '{}' ({})", w.name, w.id),
            Target::Account { email, .. } => format!("the account {email}"),
            Target::Credential(c) => c.described(),
        }
    }

    /// Whether it is a person's own account or a credential: a refusal for a missing
    /// scope then says how to get a credential that has it.
    fn is_personal(&self) -> bool {
        matches!(self, Target::Account { .. } | Target::Credential(_))
    }
}

/// How a route finds what it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Find {
    /// The caller's own account.
    Own,
    /// A credential the caller would generate: at most as wide as the token asking.
    NewCredential,
    /// The credential whose client id is the path's `{client_id}`.
    Credential,
    /// A list filtered to what the caller may see: allowed for every token.
    Listed,
    /// The whole platform (creating organizations).
    Platform,
    /// The organization `organizationId` of the body (or the query).
    Organization,
    /// The organization whose id is the path's `{organization_id}`.
    OrganizationInPath,
    /// `GET /v1/users`: the organizations of `organizationIds`, or the caller's own.
    Users,
    /// The workspace whose id is the path's `{id}`.
    WorkspaceInPath,
    /// The workspace `workspaceId` of the body (or the query).
    WorkspaceInBody,
    /// The workspace `workspaceId` of the query.
    WorkspaceInQuery,
    /// The project `{project}` of the path; with `true`, its batch `{batch}` must exist.
    Project { batch_exists: bool },
    /// A new scene of type `{scene_type}` in the query's workspace, perhaps placed in the
    /// project `{project}`.
    NewScene { in_project: bool },
    /// The scene `{uuid}` of the path.
    Scene,
    /// The scenes `sceneUuids` of the body.
    Scenes,
    /// An input: the scene `sceneUuid` and the project `project`/`projectExtId` of the
    /// body.
    Input,
    /// An input query: the body's `project` (and `batch`) if named, else a list.
    InputQuery,
    /// `GET /v1/calibrations`: the calibration `id` of the query, else a list.
    Calibrations,
}

/// Who may call a route: what it asks the permission decision ([`Action`]), how it
/// finds what it acts on ([`Find`]) and what its messages call it. Declared once per
/// route, beside its handler (or, for the credential routes, beside the service the API
/// and the pages share); the handler asks the decision with it and
/// `POST /v1/access/check` answers from it, so the two cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAccess {
    pub action: Action,
    pub find: Find,
    /// What the messages call the call: "creating a batch".
    pub doing: &'static str,
}

impl RouteAccess {
    pub const fn new(action: Action, find: Find, doing: &'static str) -> RouteAccess {
        RouteAccess {
            action,
            find,
            doing,
        }
    }
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

/// Whether `principal` may do `action` to `target`; `doing` describes the call for the
/// message ("creating a batch"). The one way a refusal of [`decide`] becomes an answer.
pub fn authorize(
    principal: &Principal,
    action: Action,
    target: Target<'_>,
    doing: &str,
) -> Result<(), AppError> {
    let Err(denial) = decide(principal, action, target.resource()) else {
        return Ok(());
    };
    let credential_described = match &principal.credential {
        Some(credential) => format!("'{}' ({})", credential.name, credential.client_id),
        None => "session".to_owned(),
    };
    let message = match &denial {
        Denial::NotFound => {
            return Err(match target {
                Target::Platform => not_found("resource", ""),
                Target::Organization(o) => not_found("organization", &o.id.to_string()),
                Target::Workspace(w) => not_found("workspace", &w.id),
                Target::Account { user_id, .. } => not_found("user", &user_id.to_string()),
                Target::Credential(c) => credential_not_found(c.client_id.unwrap_or_default()),
            });
        }
        Denial::WorkspaceNotAllowed { allowed } => format!(
            "Your credential {credential_described} is limited to the workspaces {}; {doing} \
             in {} is outside them. Use a credential for that workspace.",
            allowed.iter().cloned().collect::<Vec<_>>().join(", "),
            target.described()
        ),
        Denial::MissingScope { required } => {
            let held = match &principal.credential {
                Some(credential) if credential.scopes.to_string() == "api:read" => {
                    "is read-only (scope api:read)".to_owned()
                }
                Some(credential) => format!("has the scopes `{}`", credential.scopes),
                None => "lacks it".to_owned(),
            };
            if target.is_personal() {
                format!(
                    "Your credential {credential_described} {held}; {doing} needs the scope \
                     {required}. A credential's scopes are fixed when it is generated: \
                     generate one with {required} under {CREDENTIALS_MENU_ITEM}."
                )
            } else {
                format!("Your credential {credential_described} {held}; {doing} needs {required}.")
            }
        }
        Denial::WiderThanToken { scope, allowed } => {
            let token_reach = match (scope, allowed) {
                (Some(scope), _) => format!("lacks the scope {scope}"),
                (None, Some(allowed)) => format!(
                    "is limited to the workspaces {}",
                    allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                (None, None) => "reaches less".to_owned(),
            };
            format!(
                "Your credential {credential_described} {token_reach}; {doing} would act on {}. \
                 A token never creates, changes or unlocks a credential wider than itself: use \
                 a credential that covers it, or the web app.",
                match target {
                    Target::Credential(credential) => format!(
                        "{}, which has {}",
                        credential.described(),
                        credential.reach()
                    ),
                    other => other.described(),
                }
            )
        }
        Denial::OwnerOnly => {
            let owner = match target {
                Target::Credential(credential) => format!(" ({})", credential.owner_email),
                _ => String::new(),
            };
            format!(
                "Only its owner{owner} can roll or renew {}: the new secret is shown to whoever \
                 asks. You can disable or delete it.",
                target.described()
            )
        }
        Denial::DisabledByAdmin => {
            let (who, why) = match target {
                Target::Credential(credential) => credential.disabled_by,
                _ => None,
            }
            .unwrap_or(("an administrator", None));
            format!(
                "{} was disabled by {who}{}; only an administrator of your organization can \
                 enable it or give it a new secret. Ask them, or generate a new credential.",
                target.described(),
                why.map(|why| format!(" ({why})")).unwrap_or_default()
            )
        }
        Denial::MissingRole { required, held } => {
            let you = format!("You ({})", principal.email);
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
            user_id: principal.user_id,
            email: principal.email.clone(),
            client_id: principal.credential.as_ref().map(|c| c.client_id.clone()),
        },
    })))
}

/// The 404 of a credential that does not exist, was deleted, or is not the caller's
/// to see.
pub fn credential_not_found(client_id: &str) -> AppError {
    AppError::not_found(format!(
        "There is no credential with the client id {}, or you cannot manage it.",
        client_id.chars().take(64).collect::<String>()
    ))
}

impl Caller {
    /// Whether the caller may make the route `access` to `target`.
    pub fn authorize_route(
        &self,
        access: &RouteAccess,
        target: Target<'_>,
    ) -> Result<(), AppError> {
        authorize(&self.principal, access.action, target, access.doing)
    }

    /// Whether the caller may make the route `access` on their own account.
    pub fn authorize_own(&self, access: &RouteAccess) -> Result<(), AppError> {
        self.authorize_route(
            access,
            Target::Account {
                user_id: self.user_id,
                email: &self.email,
            },
        )
    }

    /// The workspace `id`, if the caller may make the route `access` in it.
    pub async fn workspace(
        &self,
        state: &AppState,
        id: &str,
        access: &RouteAccess,
    ) -> Result<WorkspaceRow, AppError> {
        let workspace = state
            .store
            .workspace(id)
            .await?
            .ok_or_else(|| not_found("workspace", id))?;
        self.authorize_route(access, Target::Workspace(&workspace))?;
        Ok(workspace)
    }

    /// The organization `id`, if the caller may make the route `access` in it.
    pub async fn organization(
        &self,
        state: &AppState,
        id: i64,
        access: &RouteAccess,
    ) -> Result<OrganizationRow, AppError> {
        let organization = state
            .store
            .organization(id)
            .await?
            .ok_or_else(|| not_found("organization", &id.to_string()))?;
        self.authorize_route(access, Target::Organization(&organization))?;
        Ok(organization)
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}", first.to_uppercase(), chars.as_str())
    })
}
