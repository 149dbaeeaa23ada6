//! A person's credentials through their life: generating (within the organization's
//! policy and the operator's cap), listing, rolling secrets, renewing, limits,
//! disabling, enabling and deleting — the rules shared by the API and the pages.
//! Owners manage their own; organization admins may list, limit, disable, enable and
//! delete their members' too, never see or roll their secrets. Who may do which is
//! the permission decision's answer, asked with each route's `RouteAccess` declared
//! here (the API and the pages share them).
//!
//! Over 800 lines: one concern, a credential's life, whose rules API and pages share.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use latchkey_core::access::{Action, CredentialFacts, Principal};
use latchkey_core::{AllowedNetworks, ClientId, ClientSecret, CredentialName, Scopes};
use latchkey_store::{
    CredentialFilter, CredentialRow, Disabling, NewCredential, NewSecret, Roll, SecretRow, UserRow,
};
use latchkey_types::{
    Credential, CredentialOwner, CredentialSecret, CredentialUse, CredentialsFile, Timestamp,
};

use crate::access::{CredentialTarget, Find, RouteAccess, Target, authorize, credential_not_found};
use crate::audit::{self, AuditEntry, AuditSlot, Outcome};
use crate::credential_policy::{expiry_within_policy, never_within_policy, policy_of};
use crate::error::{AppError, sentence};
use crate::events::{self, CredentialEvent, CredentialEventKind};
use crate::state::AppState;

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const CREATE_CREDENTIAL: RouteAccess = RouteAccess::new(
    Action::CreateCredential,
    Find::NewCredential,
    "creating credentials",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const DELETE_CREDENTIAL: RouteAccess = RouteAccess::new(
    Action::ManageCredential,
    Find::Credential,
    "deleting credentials",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const DISABLE_CREDENTIAL: RouteAccess = RouteAccess::new(
    Action::ManageCredential,
    Find::Credential,
    "disabling credentials",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const ENABLE_CREDENTIAL: RouteAccess = RouteAccess::new(
    Action::EnableCredential,
    Find::Credential,
    "enabling credentials",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const ROLL_SECRET: RouteAccess =
    RouteAccess::new(Action::IssueSecret, Find::Credential, "rolling a secret");

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const RENEW_CREDENTIAL: RouteAccess = RouteAccess::new(
    Action::IssueSecret,
    Find::Credential,
    "renewing a credential",
);

/// Who may call this route (see [`RouteAccess`]).
pub(crate) const SET_LIMITS: RouteAccess = RouteAccess::new(
    Action::ManageCredential,
    Find::Credential,
    "setting a credential's limits",
);

/// Working secrets one credential may hold at once (Hydra allows 5).
pub const MAX_LIVE_SECRETS: i64 = 5;
/// The longest overlap a roll may give the old secrets.
pub const MAX_ROLL_OVERLAP: Duration = Duration::days(30);
const MAX_RATE_LIMIT_PER_MINUTE: i64 = 100_000;

/// What a person asks for when generating credentials.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    pub name: String,
    /// `None`: the organization's default lifetime, if it has one (else no expiry).
    pub expires_at: Option<DateTime<Utc>>,
    /// Asks for no expiry even when the organization has a default lifetime (never
    /// when it has a maximum).
    pub never_expires: bool,
    /// `None` means the default scopes.
    pub scopes: Option<Vec<String>>,
    /// Workspace ids to limit the credential to; `None`: no limit.
    pub workspaces: Option<Vec<String>>,
    pub allowed_networks: Option<Vec<String>>,
    pub rate_limit_per_minute: Option<i64>,
}

/// Creates a credential for `owner` and returns its file: the only time its secret
/// exists outside the caller's hands. When the owner acts through a credential (with
/// `credentials:manage`), the new one can have neither scopes nor workspaces that the
/// acting credential lacks.
pub async fn generate(
    state: &AppState,
    owner: &Principal,
    request: CredentialRequest,
    audit: &AuditSlot,
) -> Result<CredentialsFile, AppError> {
    let name = CredentialName::parse(&request.name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let scopes = match &request.scopes {
        None => Scopes::default_for_new_credential(),
        Some(names) => Scopes::from_names(names.iter().map(String::as_str))
            .map_err(|e| AppError::bad_request("invalid_scope", sentence(&e.to_string())))?,
    };
    let now = state.now();
    let expires_at = if request.never_expires {
        never_within_policy(state, owner).await?
    } else {
        expiry_within_policy(state, owner, request.expires_at, now).await?
    };
    let (allowed_networks, rate_limit_per_minute) =
        parse_limits(request.allowed_networks, request.rate_limit_per_minute)?;
    if let Some(cap) = state.config.max_credentials_per_user
        && state.store.count_live_credentials(owner.user_id).await? >= i64::from(cap)
    {
        return Err(AppError::Forbidden {
            code: "too_many_credentials",
            message: format!(
                "You already have {cap} credentials, the most this server allows one person \
                 (set by its operator). Delete one you no longer use, or renew one instead."
            ),
        });
    }
    let workspaces = match request.workspaces {
        None => None,
        Some(ids) => Some(reachable_workspaces(state, owner, ids).await?),
    };
    let reached: Option<BTreeSet<String>> =
        workspaces.as_ref().map(|ids| ids.iter().cloned().collect());
    authorize(
        owner,
        CREATE_CREDENTIAL.action,
        Target::Credential(CredentialTarget {
            client_id: None,
            name: name.as_str(),
            owner_email: &owner.email,
            disabled_by: None,
            facts: CredentialFacts {
                owner_user_id: owner.user_id,
                organization_id: owner.organization.map(|(id, _)| id),
                scopes: &scopes,
                workspaces: reached.as_ref(),
                disabled_by_admin: false,
            },
        }),
        CREATE_CREDENTIAL.doing,
    )?;
    let client_id = ClientId::generate();
    let (secret, new_secret) = new_secret(now);
    let row = state
        .store
        .create_credential(&NewCredential {
            client_id: client_id.as_str().to_owned(),
            user_id: owner.user_id,
            name: name.as_str().to_owned(),
            scopes: scopes.to_string(),
            created_at: now,
            expires_at,
            workspace_ids: workspaces.as_ref().map(|ids| ids.join(" ")),
            allowed_networks: allowed_networks.map(|n| n.to_string()),
            rate_limit_per_minute,
            secret: new_secret,
        })
        .await?;
    audit.note(|note| note.target = Some(format!("credential/{}", row.client_id)));
    announce(
        state,
        &row,
        CredentialEventKind::Created,
        "Created by its owner.",
        Cause::Person(owner.user_id),
    )
    .await?;
    Ok(credentials_file(state, owner, &row, &secret))
}

/// The file that carries a secret, the one time it exists outside the caller's hands.
fn credentials_file(
    state: &AppState,
    owner: &Principal,
    row: &CredentialRow,
    secret: &ClientSecret,
) -> CredentialsFile {
    CredentialsFile {
        client_id: row.client_id.clone(),
        client_secret: secret.expose().to_owned(),
        email: owner.email.clone(),
        user_id: owner.user_id,
        issuer: state.public_url.clone(),
        name: row.name.clone(),
        created: Timestamp(row.created_at()),
        expires: row.expires_at().map(Timestamp),
        scopes: row.scopes.split(' ').map(str::to_owned).collect(),
        workspaces: split_ids(row.workspace_ids.as_deref()),
    }
}

fn split_ids(ids: Option<&str>) -> Option<Vec<String>> {
    ids.map(|ids| ids.split(' ').map(str::to_owned).collect())
}

/// A fresh secret and what the database keeps of it.
fn new_secret(now: DateTime<Utc>) -> (ClientSecret, NewSecret) {
    let secret = ClientSecret::generate();
    let stored = NewSecret {
        id: format!("sec_{}", latchkey_core::random::base62(16)),
        digest: secret.digest().to_hex(),
        prefix: secret.prefix().to_owned(),
        created_at: now,
        expires_at: None,
    };
    (secret, stored)
}

/// Validated allowlist and rate limit.
fn parse_limits(
    allowed_networks: Option<Vec<String>>,
    rate_limit_per_minute: Option<i64>,
) -> Result<(Option<AllowedNetworks>, Option<i64>), AppError> {
    let networks = allowed_networks
        .map(|entries| AllowedNetworks::parse(entries.iter().map(String::as_str)))
        .transpose()
        .map_err(|e| AppError::bad_request("invalid_allowed_networks", sentence(&e.to_string())))?;
    if let Some(limit) = rate_limit_per_minute
        && !(1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&limit)
    {
        return Err(AppError::bad_request(
            "invalid_rate_limit",
            format!(
                "The rate limit must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE} requests \
                 per minute; leave it out for no limit. To stop a credential, disable it."
            ),
        ));
    }
    Ok((networks, rate_limit_per_minute))
}

/// The requested workspace ids, each checked to be one the owner (and the credential
/// they act through, if any) can reach.
async fn reachable_workspaces(
    state: &AppState,
    owner: &Principal,
    ids: Vec<String>,
) -> Result<Vec<String>, AppError> {
    if ids.is_empty() {
        return Err(AppError::bad_request(
            "invalid_workspaces",
            "List at least one workspace, or leave `workspaces` out to not limit the credential.",
        ));
    }
    let mut reachable = Vec::with_capacity(ids.len());
    for id in ids {
        let workspace = state.store.workspace(&id).await?;
        let usable = workspace.as_ref().is_some_and(|w| {
            owner.effective_role(&w.id, w.organization_id).is_some()
                && owner.credential_reaches(&w.id)
        });
        if !usable {
            return Err(AppError::bad_request(
                "invalid_workspaces",
                format!(
                    "You have no workspace with the id `{}`.",
                    id.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !reachable.contains(&id) {
            reachable.push(id);
        }
    }
    Ok(reachable)
}

/// Live credentials (a person's, or an organization's for its admins), newest first,
/// with their secrets and where they were last used, including uses this replica has
/// not written yet.
pub async fn list(state: &AppState, filter: CredentialFilter) -> Result<Vec<Credential>, AppError> {
    let rows = state.store.credentials(filter).await?;
    let mut secrets_by_credential: HashMap<String, Vec<SecretRow>> = HashMap::new();
    for secret in state.store.secrets_of_credentials(filter).await? {
        secrets_by_credential
            .entry(secret.client_id.clone())
            .or_default()
            .push(secret);
    }
    let now = state.now();
    // Owners, and the admins who disabled credentials.
    let mut people: Vec<UserRow> = Vec::new();
    let mut listed = Vec::with_capacity(rows.len());
    for row in rows {
        for id in [Some(row.user_id), row.disabled_by_user_id]
            .into_iter()
            .flatten()
        {
            if !people.iter().any(|p| p.id == id)
                && let Some(person) = state.store.user_by_id(id).await?
            {
                people.push(person);
            }
        }
        let owner = people.iter().find(|o| o.id == row.user_id);
        let disabled_by = row.disabled_at().map(|_| match row.disabled_by_user_id {
            None => "Latchkey".to_owned(),
            Some(id) => people
                .iter()
                .find(|p| p.id == id)
                .map_or_else(|| "a former member".to_owned(), |p| p.email.clone()),
        });
        let pending = state.usage.pending(&row.client_id).unwrap_or_default();
        let secrets = secrets_by_credential
            .remove(&row.client_id)
            .unwrap_or_default()
            .into_iter()
            .filter(|secret| secret.expires_at().is_none_or(|at| at > now))
            .map(|secret| {
                let unwritten = pending
                    .secrets
                    .iter()
                    .find(|(id, _)| *id == secret.id)
                    .map(|(_, at)| *at);
                CredentialSecret {
                    created: Timestamp(secret.created_at()),
                    last_used: secret.last_used_at().max(unwritten).map(Timestamp),
                    expires: secret.expires_at().or(row.expires_at()).map(Timestamp),
                    id: secret.id,
                    prefix: secret.prefix,
                }
            })
            .collect();
        let stored_use =
            |at: Option<DateTime<Utc>>, address: &Option<String>, agent: &Option<String>| {
                at.map(|at| CredentialUse {
                    at: Timestamp(at),
                    address: address.clone(),
                    user_agent: agent.clone(),
                })
            };
        let newest = |stored: Option<CredentialUse>, unwritten: Option<latchkey_store::Use>| match (
            stored, unwritten,
        ) {
            (stored, Some(used)) if stored.as_ref().is_none_or(|s| s.at.0 < used.at) => {
                Some(CredentialUse {
                    at: Timestamp(used.at),
                    address: used.address,
                    user_agent: used.user_agent,
                })
            }
            (stored, _) => stored,
        };
        let last_grant = newest(
            stored_use(
                row.last_grant_at(),
                &row.last_grant_address,
                &row.last_grant_user_agent,
            ),
            pending.grant,
        );
        let last_call = newest(
            stored_use(
                row.last_call_at(),
                &row.last_call_address,
                &row.last_call_user_agent,
            ),
            pending.call,
        );
        let last_used = [
            row.last_used_at(),
            last_grant.as_ref().map(|u| u.at.0),
            last_call.as_ref().map(|u| u.at.0),
        ]
        .into_iter()
        .flatten()
        .max();
        listed.push(Credential {
            disabled: row.disabled_at().is_some(),
            scopes: row.scopes.split(' ').map(str::to_owned).collect(),
            created: Timestamp(row.created_at()),
            last_used: last_used.map(Timestamp),
            expires: row.expires_at().map(Timestamp),
            workspaces: split_ids(row.workspace_ids.as_deref()),
            secrets,
            last_grant,
            last_call,
            allowed_networks: split_ids(row.allowed_networks.as_deref()),
            rate_limit_per_minute: row
                .rate_limit_per_minute
                .and_then(|l| u32::try_from(l).ok()),
            owner: owner.map(|o| CredentialOwner {
                id: o.id,
                email: o.email.clone(),
                name: o.name.clone(),
            }),
            disabled_by,
            disabled_reason: row.disabled_at().and(row.disabled_reason.clone()),
            client_id: row.client_id,
            name: row.name,
        });
    }
    Ok(listed)
}

/// A live credential with its owner and what it reaches: what decisions about it
/// need.
pub struct Subject {
    pub row: CredentialRow,
    pub owner: UserRow,
    scopes: Scopes,
    workspaces: Option<BTreeSet<String>>,
    /// Who disabled it (email) and why, when someone other than its owner did.
    disabled_by: Option<(String, Option<String>)>,
}

impl Subject {
    /// The live credential `client_id`, or `None` when it does not exist or was
    /// deleted.
    async fn load(state: &AppState, client_id: &str) -> Result<Option<Subject>, AppError> {
        let Some(client_id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        let Some(row) = state.store.credential(client_id.as_str()).await? else {
            return Ok(None);
        };
        let Some(owner) = state.store.user_by_id(row.user_id).await? else {
            return Ok(None);
        };
        if row.deleted_at().is_some() {
            return Ok(None);
        }
        let scopes = Scopes::parse(&row.scopes)
            .with_context(|| format!("stored scopes of {}", row.client_id))?;
        let workspaces = row
            .workspace_ids
            .as_deref()
            .map(|ids| ids.split(' ').map(str::to_owned).collect());
        let disabled_by = match row.disabled_by_user_id {
            Some(by) if by != owner.id => {
                let email = state
                    .store
                    .user_by_id(by)
                    .await?
                    .map_or_else(|| "an administrator".to_owned(), |admin| admin.email);
                Some((email, row.disabled_reason.clone()))
            }
            _ => None,
        };
        Ok(Some(Subject {
            row,
            owner,
            scopes,
            workspaces,
            disabled_by,
        }))
    }

    fn target(&self) -> Target<'_> {
        Target::Credential(CredentialTarget {
            client_id: Some(&self.row.client_id),
            name: &self.row.name,
            owner_email: &self.owner.email,
            disabled_by: self
                .disabled_by
                .as_ref()
                .map(|(who, why)| (who.as_str(), why.as_deref())),
            facts: CredentialFacts {
                owner_user_id: self.owner.id,
                organization_id: self.owner.organization_id,
                scopes: &self.scopes,
                workspaces: self.workspaces.as_ref(),
                disabled_by_admin: self.disabled_by.is_some(),
            },
        })
    }
}

/// The live credential `client_id`, if `actor` may do `action` to it (the permission
/// decision: its owner, or an admin of its owner's organization, through a token that
/// covers it). Anything else that is not theirs to see is the same 404 as a credential
/// that does not exist.
pub async fn subject(
    state: &AppState,
    actor: &Principal,
    client_id: &str,
    access: &RouteAccess,
    audit: &AuditSlot,
) -> Result<Subject, AppError> {
    let subject = Subject::load(state, client_id)
        .await?
        .ok_or_else(|| credential_not_found(client_id))?;
    authorize(actor, access.action, subject.target(), access.doing)?;
    // The owner sees in their audit log what an admin did to their credential.
    audit.note(|note| {
        note.target = Some(format!("credential/{}", subject.row.client_id));
        note.subject_user_id = Some(subject.owner.id);
        note.organization_id = subject.owner.organization_id;
    });
    Ok(subject)
}

/// Who did it, for event reasons: "its owner" or the admin's email.
fn by_whom(actor: &Principal, owner: &UserRow) -> String {
    if actor.user_id == owner.id {
        "its owner".to_owned()
    } else {
        actor.email.clone()
    }
}

/// Deletes a credential; its tokens stop working at once here and, through the change
/// feed, on every other replica.
pub async fn delete(
    state: &AppState,
    actor: &Principal,
    client_id: &str,
    audit: &AuditSlot,
) -> Result<(), AppError> {
    let Subject { row, owner, .. } =
        subject(state, actor, client_id, &DELETE_CREDENTIAL, audit).await?;
    if !state
        .store
        .delete_credential(&row.client_id, state.now())
        .await?
    {
        return Err(AppError::not_found(format!(
            "The credential {} was already deleted.",
            row.client_id
        )));
    }
    state.credentials.invalidate(&row.client_id);
    let reason = format!("Deleted by {}.", by_whom(actor, &owner));
    announce(
        state,
        &row,
        CredentialEventKind::Deleted,
        &reason,
        Cause::Person(actor.user_id),
    )
    .await
}

/// Disables a credential, or (`None`) enables it. A disabled credential gets no tokens
/// and its tokens are refused, at once here and, through the change feed, on every other
/// replica; enabling restores both. A credential an organization admin disabled stays
/// disabled until an admin enables it.
pub async fn set_disabled(
    state: &AppState,
    actor: &Principal,
    client_id: &str,
    disable: Option<DisableReason>,
    audit: &AuditSlot,
) -> Result<(), AppError> {
    let access = match disable {
        Some(_) => &DISABLE_CREDENTIAL,
        None => &ENABLE_CREDENTIAL,
    };
    let Subject { row, owner, .. } = subject(state, actor, client_id, access, audit).await?;
    let now = state.now();
    let by_admin = actor.user_id != owner.id;
    let reason = disable.as_ref().and_then(|r| r.0.as_deref());
    let changed = if disable.is_some() {
        let disabling = Disabling {
            user_id: Some(actor.user_id),
            reason,
            overrides: by_admin,
        };
        state
            .store
            .disable_credential(&row.client_id, now, &disabling)
            .await?
    } else {
        state.store.enable_credential(&row.client_id, now).await?
    };
    if !changed {
        return Err(AppError::not_found(format!(
            "The credential {} was deleted.",
            row.client_id
        )));
    }
    state.credentials.invalidate(&row.client_id);
    let who = by_whom(actor, &owner);
    let (kind, reason) = match (disable.is_some(), reason) {
        (true, Some(why)) => (
            CredentialEventKind::Disabled,
            format!("Disabled by {who}: {why}"),
        ),
        (true, None) => (CredentialEventKind::Disabled, format!("Disabled by {who}.")),
        (false, _) => (CredentialEventKind::Enabled, format!("Enabled by {who}.")),
    };
    announce(state, &row, kind, &reason, Cause::Person(actor.user_id)).await
}

/// Why a person disables a credential, shown to its owner; `None`: not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisableReason(pub Option<String>);

/// The longest reason kept for a disabling.
pub const MAX_DISABLE_REASON_CHARS: usize = 500;

impl DisableReason {
    /// A reason as a person typed it: trimmed, empty is none, at most
    /// [`MAX_DISABLE_REASON_CHARS`] characters.
    pub fn parse(text: Option<&str>) -> Result<DisableReason, AppError> {
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        match text {
            Some(t) if t.chars().count() > MAX_DISABLE_REASON_CHARS => Err(AppError::bad_request(
                "invalid_reason",
                format!("The reason may have at most {MAX_DISABLE_REASON_CHARS} characters."),
            )),
            Some(t) if t.chars().any(char::is_control) => Err(AppError::bad_request(
                "invalid_reason",
                "The reason must be one line of text.",
            )),
            _ => Ok(DisableReason(text.map(str::to_owned))),
        }
    }
}

/// What an owner or an admin can do to a credential from a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Disable(DisableReason),
    Enable,
    Delete,
}

impl Change {
    /// What happened, as the pages' notices name it.
    pub fn done(&self) -> &'static str {
        match self {
            Change::Disable(_) => "disabled",
            Change::Enable => "enabled",
            Change::Delete => "deleted",
        }
    }
}

/// Disables, enables or deletes a credential.
pub async fn apply(
    state: &AppState,
    actor: &Principal,
    client_id: &str,
    change: Change,
    audit: &AuditSlot,
) -> Result<(), AppError> {
    match change {
        Change::Disable(reason) => set_disabled(state, actor, client_id, Some(reason), audit).await,
        Change::Enable => set_disabled(state, actor, client_id, None, audit).await,
        Change::Delete => delete(state, actor, client_id, audit).await,
    }
}

/// Replaces a credential's allowlist and rate limit.
pub async fn set_limits(
    state: &AppState,
    actor: &Principal,
    client_id: &str,
    allowed_networks: Option<Vec<String>>,
    rate_limit_per_minute: Option<i64>,
    audit: &AuditSlot,
) -> Result<(), AppError> {
    let (allowed_networks, rate_limit_per_minute) =
        parse_limits(allowed_networks, rate_limit_per_minute)?;
    let Subject { row, .. } = subject(state, actor, client_id, &SET_LIMITS, audit).await?;
    state
        .store
        .set_credential_limits(
            &row.client_id,
            allowed_networks.map(|n| n.to_string()).as_deref(),
            rate_limit_per_minute,
            state.now(),
        )
        .await?;
    state.credentials.invalidate(&row.client_id);
    Ok(())
}

/// Rolls the credential's secret: a new secret, returned in a new credentials file;
/// the current ones keep working for `overlap` and then stop.
pub async fn roll(
    state: &AppState,
    owner: &Principal,
    client_id: &str,
    overlap_seconds: i64,
    audit: &AuditSlot,
) -> Result<CredentialsFile, AppError> {
    let Subject { row, .. } = subject(state, owner, client_id, &ROLL_SECRET, audit).await?;
    let now = state.now();
    if !(0..=MAX_ROLL_OVERLAP.num_seconds()).contains(&overlap_seconds) {
        return Err(AppError::bad_request(
            "invalid_overlap",
            format!(
                "The overlap must be between 0 (the old secret stops at once) and {} seconds \
                 (30 days).",
                MAX_ROLL_OVERLAP.num_seconds()
            ),
        ));
    }
    let retire_at = now + Duration::seconds(overlap_seconds);
    if let Some(expires) = row.expires_at()
        && retire_at > expires
    {
        return Err(AppError::bad_request(
            "invalid_overlap",
            format!(
                "The overlap would outlast the credential, which expires on {}: the new secret \
                 lives only until then. Choose a shorter overlap, or renew the credential.",
                expires.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    let (secret, new_secret) = new_secret(now);
    // During the overlap the new secret works beside every secret working now.
    let working_limit = (overlap_seconds > 0).then_some(MAX_LIVE_SECRETS);
    match state
        .store
        .roll_secret(&row.client_id, &new_secret, retire_at, working_limit)
        .await?
    {
        Roll::Rolled => {}
        Roll::Gone => {
            return Err(AppError::not_found(format!(
                "The credential {} was deleted.",
                row.client_id
            )));
        }
        Roll::TooManySecrets => {
            return Err(AppError::Conflict {
                message: format!(
                    "The credential {} would have more than {MAX_LIVE_SECRETS} working \
                     secrets during the overlap. Roll with no overlap, or wait until earlier \
                     overlaps end.",
                    row.client_id
                ),
            });
        }
    }
    state.credentials.invalidate(&row.client_id);
    let reason = if overlap_seconds == 0 {
        "Secret rolled by its owner; the previous secrets stopped at once.".to_owned()
    } else {
        format!(
            "Secret rolled by its owner; the previous secrets work until {}.",
            retire_at.format("%Y-%m-%d %H:%M UTC")
        )
    };
    announce(
        state,
        &row,
        CredentialEventKind::Rolled,
        &reason,
        Cause::Person(owner.user_id),
    )
    .await?;
    Ok(credentials_file(state, owner, &row, &secret))
}

/// A new credential with the same name, scopes, workspaces and limits as `client_id`
/// (which keeps working until it expires): the one-click answer to an expiry
/// reminder. It lives as long as the original did, within today's policy.
pub async fn renew(
    state: &AppState,
    owner: &Principal,
    client_id: &str,
    audit: &AuditSlot,
) -> Result<CredentialsFile, AppError> {
    let Subject { row, .. } = subject(state, owner, client_id, &RENEW_CREDENTIAL, audit).await?;
    let now = state.now();
    let lifetime = row.expires_at().map(|at| at - row.created_at());
    let expires_at = match lifetime {
        Some(lifetime) => {
            let policy = policy_of(state, owner).await?;
            let max = policy
                .max_credential_lifetime_days
                .map(Duration::days)
                .unwrap_or(lifetime);
            Some(now + lifetime.min(max).max(Duration::minutes(1)))
        }
        None => expiry_within_policy(state, owner, None, now).await?,
    };
    generate(
        state,
        owner,
        CredentialRequest {
            name: row.name.clone(),
            never_expires: expires_at.is_none(),
            expires_at,
            scopes: Some(row.scopes.split(' ').map(str::to_owned).collect()),
            workspaces: split_ids(row.workspace_ids.as_deref()),
            allowed_networks: split_ids(row.allowed_networks.as_deref()),
            rate_limit_per_minute: row.rate_limit_per_minute,
        },
        // The event names the new credential; `renewedFrom` the one it replaces.
        &AuditSlot::default(),
    )
    .await
    .inspect(|file| {
        audit.note(|note| {
            note.target = Some(format!("credential/{}", file.client_id));
            note.detail
                .insert("renewedFrom".to_owned(), serde_json::Value::from(client_id));
        });
    })
}

/// Who brought a lifecycle event about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A person acting (the owner, or an organization admin).
    Person(i64),
    /// Latchkey itself: the expiry and idle sweeps, a leak report.
    System,
}

/// Emits a lifecycle event about a credential. The owner is told of what they must act
/// on (expiring, expired, leaked) and of whatever someone else did to their credential.
/// An event without a request behind it is written to the audit log here; requests are
/// recorded by the audit middleware.
pub async fn announce(
    state: &AppState,
    row: &CredentialRow,
    kind: CredentialEventKind,
    reason: &str,
    cause: Cause,
) -> Result<(), AppError> {
    let Some(owner) = state.store.user_by_id(row.user_id).await? else {
        return Ok(());
    };
    let notify_owner = matches!(
        kind,
        CredentialEventKind::Expiring | CredentialEventKind::Expired | CredentialEventKind::Leaked
    ) || cause != Cause::Person(owner.id);
    if cause == Cause::System {
        let mut entry = AuditEntry::new(kind.event_type(), Outcome::Success);
        entry.subject_user_id = Some(owner.id);
        entry.organization_id = owner.organization_id;
        entry.target = Some(format!("credential/{}", row.client_id));
        entry
            .detail
            .insert("reason".to_owned(), serde_json::Value::from(reason));
        audit::record(state, entry).await;
    }
    events::emit(
        state,
        CredentialEvent {
            kind,
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            owner_user_id: owner.id,
            owner_email: owner.email,
            organization_id: owner.organization_id,
            occurred_at: state.now(),
            expires_at: row.expires_at(),
            reason: reason.to_owned(),
            notify_owner,
        },
    )
    .await;
    Ok(())
}
