//! Adding people: the one rule set used by the admin page and `latchkey admin add-user`.

use latchkey_core::access::OrganizationRole;
use latchkey_core::password::{hash_password, validate_new_password};
use latchkey_core::{DisplayName, Email};
use latchkey_store::{NewUser, Store, StoreError, UserRow};
use secrecy::SecretString;

/// Why a user could not be added; each message is fit to show the administrator.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("{0}")]
    Invalid(String),
    #[error("a user with the email {0} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Validates and adds a user with an argon2id password hash; without a password the
/// user cannot sign in until they set one through a link.
pub async fn add_user(
    store: &Store,
    email: &str,
    name: &str,
    password: Option<&SecretString>,
    is_admin: bool,
    organization: Option<(i64, OrganizationRole)>,
) -> Result<UserRow, AddUserError> {
    let email = Email::parse(email).map_err(|e| AddUserError::Invalid(e.to_string()))?;
    let name = DisplayName::parse(name).map_err(|e| AddUserError::Invalid(e.to_string()))?;
    if let Some(password) = password {
        validate_new_password(password).map_err(|e| AddUserError::Invalid(e.to_string()))?;
    }
    // Without a password the account gets one nobody knows, until a set-password link
    // is used.
    let unusable = SecretString::from(latchkey_core::random::base62(43));
    let new = NewUser {
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        password_hash: hash_password(password.unwrap_or(&unusable)),
        is_admin,
        created_at: chrono::Utc::now(),
        organization: organization.map(|(id, role)| (id, role.as_str())),
    };
    match store.create_user(&new).await {
        Ok(user) => {
            tracing::info!(user.id = user.id, user.is_admin = is_admin, "user added");
            Ok(user)
        }
        Err(StoreError::Conflict) => Err(AddUserError::EmailTaken(new.email)),
        Err(other) => Err(AddUserError::Store(other)),
    }
}

/// How long a set-password link works.
pub const PASSWORD_LINK_HOURS: i64 = 72;

/// Creates a one-time set-password link for `user_id` and returns its URL under
/// `public_url`. Only the link's digest is stored: the URL exists in the one answer that
/// shows it.
pub async fn create_password_link(
    store: &Store,
    public_url: &str,
    user_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, StoreError> {
    let token = latchkey_core::random::base62(43);
    store
        .create_password_link(
            &latchkey_core::SecretDigest::of(&token).to_hex(),
            user_id,
            now,
            now + chrono::Duration::hours(PASSWORD_LINK_HOURS),
        )
        .await?;
    Ok(format!("{public_url}/set-password/{token}"))
}
