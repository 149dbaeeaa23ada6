//! Generating, listing, disabling, enabling and deleting a person's credentials: the
//! rules shared by the API (`/v1/credentials`) and the pages.

use chrono::{DateTime, Utc};
use latchkey_core::access::Principal;
use latchkey_core::{ClientId, ClientSecret, CredentialName, Scope, ScopeError, Scopes};
use latchkey_store::NewCredential;
use latchkey_types::{Credential, CredentialsFile, Timestamp};

use crate::access::own_account_denial;
use crate::error::{AppError, sentence};
use crate::events::{self, CredentialEvent, CredentialEventKind};
use crate::state::AppState;

/// What a person asks for when generating credentials.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` means the default scopes.
    pub scopes: Option<Vec<String>>,
    /// Workspace ids to limit the credential to; `None`: no limit.
    pub workspaces: Option<Vec<String>>,
}

/// Creates a credential for `owner` and returns its file: the only time its secret
/// exists outside the caller's hands. When the owner acts through a credential (with
/// `credentials:manage`), the new one can have neither scopes nor workspaces that the
/// acting credential lacks.
pub async fn generate(
    state: &AppState,
    owner: &Principal,
    request: CredentialRequest,
) -> Result<CredentialsFile, AppError> {
    let name = CredentialName::parse(&request.name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let scopes = match &request.scopes {
        None => Scopes::default_for_new_credential(),
        Some(names) => Scopes::from_names(names.iter().map(String::as_str))
            .map_err(|e| AppError::bad_request("invalid_scope", sentence(&e.to_string())))?,
    };
    if let Some(ceiling) = owner.credential.as_ref().map(|c| &c.scopes)
        && let Err(ScopeError::NotGranted(scope)) = ceiling.narrow(&scopes)
    {
        return Err(own_account_denial(
            owner,
            "missing_scope",
            scope.as_str(),
            format!(
                "A credential can create credentials only with scopes it has itself; this \
                 one has `{ceiling}`, so it cannot grant {scope}."
            ),
        ));
    }
    let now = state.now();
    if let Some(expires_at) = request.expires_at
        && expires_at <= now
    {
        return Err(AppError::bad_request(
            "invalid_expiry",
            "The expiry date must be in the future.",
        ));
    }
    let workspaces = match request.workspaces {
        None => None,
        Some(ids) => Some(reachable_workspaces(state, owner, ids).await?),
    };
    if workspaces.is_none()
        && let Some(limited) = owner
            .credential
            .as_ref()
            .and_then(|c| c.workspaces.as_ref())
    {
        return Err(own_account_denial(
            owner,
            "workspace_not_allowed",
            Scope::CredentialsManage.as_str(),
            format!(
                "A credential limited to workspaces ({}) can create only credentials limited \
                 to some of them; list them in `workspaces`.",
                limited.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let client_id = ClientId::generate();
    let secret = ClientSecret::generate();
    let row = state
        .store
        .create_credential(&NewCredential {
            client_id: client_id.as_str().to_owned(),
            user_id: owner.user_id,
            name: name.as_str().to_owned(),
            secret_digest: secret.digest().to_hex(),
            scopes: scopes.to_string(),
            created_at: now,
            expires_at: request.expires_at,
            workspace_ids: workspaces.as_ref().map(|ids| ids.join(" ")),
        })
        .await?;
    announce(
        state,
        &row.client_id,
        CredentialEventKind::Created,
        "Created by its owner.",
    )
    .await?;
    Ok(CredentialsFile {
        client_id: row.client_id.clone(),
        client_secret: secret.expose().to_owned(),
        email: owner.email.clone(),
        user_id: owner.user_id,
        issuer: state.public_url.clone(),
        name: row.name.clone(),
        created: Timestamp(row.created_at()),
        expires: row.expires_at().map(Timestamp),
        scopes: scopes.names(),
        workspaces,
    })
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

/// The user's live credentials, newest first, with "last used" including uses this
/// replica has not written yet.
pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<Credential>, AppError> {
    let rows = state.store.credentials_of_user(user_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let last_used = row.last_used_at().max(state.usage.pending(&row.client_id));
            Credential {
                disabled: row.disabled_at().is_some(),
                scopes: row.scopes.split(' ').map(str::to_owned).collect(),
                created: Timestamp(row.created_at()),
                last_used: last_used.map(Timestamp),
                expires: row.expires_at().map(Timestamp),
                workspaces: row
                    .workspace_ids
                    .map(|ids| ids.split(' ').map(str::to_owned).collect()),
                client_id: row.client_id,
                name: row.name,
            }
        })
        .collect())
}

/// Deletes one of the user's credentials; its tokens stop working at once here and
/// within the cache lifetime on other replicas.
pub async fn delete(state: &AppState, user_id: i64, client_id: &str) -> Result<(), AppError> {
    let not_found = || {
        AppError::not_found(format!(
            "You have no credential with the client id {}.",
            client_id.chars().take(64).collect::<String>()
        ))
    };
    let client_id = ClientId::parse(client_id).ok_or_else(not_found)?;
    if !state
        .store
        .delete_credential(user_id, client_id.as_str(), state.now())
        .await?
    {
        return Err(not_found());
    }
    state.credentials.invalidate(client_id.as_str());
    announce(
        state,
        client_id.as_str(),
        CredentialEventKind::Deleted,
        "Deleted by its owner.",
    )
    .await
}

/// Disables (`disabled: true`) or enables one of the user's credentials. A disabled
/// credential gets no tokens and its tokens are refused, at once here and within the
/// cache lifetime on other replicas; enabling restores both. Another user's client id
/// is "not found" and changes nothing.
pub async fn set_disabled(
    state: &AppState,
    user_id: i64,
    client_id: &str,
    disabled: bool,
) -> Result<(), AppError> {
    let not_found = || {
        AppError::not_found(format!(
            "You have no credential with the client id {}.",
            client_id.chars().take(64).collect::<String>()
        ))
    };
    let client_id = ClientId::parse(client_id).ok_or_else(not_found)?;
    let changed = if disabled {
        state
            .store
            .disable_credential(user_id, client_id.as_str(), state.now())
            .await?
    } else {
        state
            .store
            .enable_credential(user_id, client_id.as_str())
            .await?
    };
    if !changed {
        return Err(not_found());
    }
    state.credentials.invalidate(client_id.as_str());
    let (kind, reason) = if disabled {
        (CredentialEventKind::Disabled, "Disabled by its owner.")
    } else {
        (CredentialEventKind::Enabled, "Enabled by its owner.")
    };
    announce(state, client_id.as_str(), kind, reason).await
}

/// Emits a lifecycle event about a credential as it is now stored.
async fn announce(
    state: &AppState,
    client_id: &str,
    kind: CredentialEventKind,
    reason: &str,
) -> Result<(), AppError> {
    let Some(row) = state.store.credential(client_id).await? else {
        return Ok(());
    };
    let Some(owner) = state.store.user_by_id(row.user_id).await? else {
        return Ok(());
    };
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
            notify_owner: false,
        },
    )
    .await;
    Ok(())
}
