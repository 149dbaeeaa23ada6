//! Generating, listing and deleting a person's credentials: the rules shared by the
//! API (`/v1/credentials`) and the pages.

use chrono::{DateTime, Utc};
use latchkey_core::{ClientId, ClientSecret, CredentialName, ScopeError, Scopes};
use latchkey_store::{NewCredential, UserRow};
use latchkey_types::{Credential, CredentialsFile, Timestamp};

use crate::error::{AppError, sentence};
use crate::state::AppState;

/// What a person asks for when generating credentials.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` means the default scopes.
    pub scopes: Option<Vec<String>>,
    /// The most the new credential may carry: a credential creating another one (with
    /// `credentials:manage`) cannot hand out scopes it does not have. `None` for a
    /// signed-in person.
    pub scope_ceiling: Option<Scopes>,
}

/// The owner of new credentials.
#[derive(Debug, Clone)]
pub struct Owner {
    pub user_id: i64,
    pub email: String,
}

impl From<&UserRow> for Owner {
    fn from(user: &UserRow) -> Self {
        Owner {
            user_id: user.id,
            email: user.email.clone(),
        }
    }
}

/// Creates a credential and returns its file: the only time its secret exists outside
/// the caller's hands.
pub async fn generate(
    state: &AppState,
    owner: &Owner,
    request: CredentialRequest,
) -> Result<CredentialsFile, AppError> {
    let name = CredentialName::parse(&request.name)
        .map_err(|e| AppError::bad_request("invalid_name", sentence(&e.to_string())))?;
    let scopes = match &request.scopes {
        None => Scopes::default_for_new_credential(),
        Some(names) => Scopes::from_names(names.iter().map(String::as_str))
            .map_err(|e| AppError::bad_request("invalid_scope", sentence(&e.to_string())))?,
    };
    if let Some(ceiling) = &request.scope_ceiling
        && let Err(ScopeError::NotGranted(scope)) = ceiling.narrow(&scopes)
    {
        return Err(AppError::Forbidden {
            code: "missing_scope",
            message: format!(
                "A credential can create credentials only with scopes it has itself; this \
                 one has `{ceiling}`, so it cannot grant {scope}."
            ),
        });
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
        })
        .await?;
    tracing::info!(credential.id = %client_id, user.id = owner.user_id, "credential created");
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
    })
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
                scopes: row.scopes.split(' ').map(str::to_owned).collect(),
                created: Timestamp(row.created_at()),
                last_used: last_used.map(Timestamp),
                expires: row.expires_at().map(Timestamp),
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
    tracing::info!(credential.id = %client_id, user.id = user_id, "credential deleted");
    Ok(())
}
