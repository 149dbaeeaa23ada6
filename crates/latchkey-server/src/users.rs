//! Adding people: [`add_user`], the one rule set behind the operator's users page and
//! `latchkey admin add-user`, and [`add_member`], the one way a person joins an
//! organization (`POST /v1/users` and the organization page).

use latchkey_core::access::OrganizationRole;
use latchkey_core::password::{hash_password, validate_new_password};
use latchkey_core::{DisplayName, Email};
use latchkey_store::{NewUser, OrganizationRow, Store, StoreError, UserRow};
use secrecy::SecretString;

use crate::audit::AuditSlot;
use crate::rate_limit::{RateStatus, TAKEN_EMAILS_PER_HOUR};
use crate::state::AppState;

/// Why a user could not be added; each message is fit to show the administrator.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("{0}")]
    Invalid(String),
    #[error("a user with the email {0} already exists")]
    EmailTaken(String),
    #[error("the address {email} already belongs to a member of {organization}")]
    AlreadyMember { email: String, organization: String },
    #[error(
        "the address {0} already has an account on this service, outside this organization. A person \
         belongs to one organization at a time: ask the operator to move the account"
    )]
    TakenElsewhere(String),
    #[error(
        "too many addresses added to this organization in the last hour already had an \
         account (at most {TAKEN_EMAILS_PER_HOUR}); adding people resumes in {} minute(s)",
        .0.reset_secs.div_ceil(60)
    )]
    TooManyTaken(RateStatus),
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

/// A person an organization admin adds, as the API or the organization page got them.
pub(crate) struct NewMember<'a> {
    pub email: &'a str,
    pub name: &'a str,
    /// Without one, the answer carries a set-password link.
    pub password: Option<&'a SecretString>,
    pub role: OrganizationRole,
}

/// A person just added to an organization.
pub(crate) struct AddedMember {
    pub user: UserRow,
    /// The one-time link at which they choose a password, when none was given.
    pub set_password_url: Option<String>,
}

/// Adds a person to `organization`; the caller was authorized for
/// [`crate::routes::tenancy::ADD_USER`]. Saying that an address is taken tells an
/// organization admin that an account exists outside their organization, so those
/// answers are budgeted per organization ([`crate::rate_limit::TakenEmailBudget`]); the
/// operator, who sees every account anyway, is not.
pub(crate) async fn add_member(
    state: &AppState,
    audit: &AuditSlot,
    organization: &OrganizationRow,
    by_operator: bool,
    member: NewMember<'_>,
) -> Result<AddedMember, AddUserError> {
    let now = state.now();
    if !by_operator {
        state
            .taken_emails
            .check(organization.id, now)
            .map_err(AddUserError::TooManyTaken)?;
    }
    let added = add_user(
        &state.store,
        member.email,
        member.name,
        member.password,
        false,
        Some((organization.id, member.role)),
    )
    .await;
    let user = match added {
        Ok(user) => user,
        Err(AddUserError::EmailTaken(email)) => {
            let holder = state
                .store
                .user_by_email(&email)
                .await
                .map_err(AddUserError::Store)?;
            if holder.is_some_and(|user| user.organization_id == Some(organization.id)) {
                return Err(AddUserError::AlreadyMember {
                    email,
                    organization: organization.name.clone(),
                });
            }
            if !by_operator {
                state.taken_emails.spend(organization.id, now);
            }
            return Err(AddUserError::TakenElsewhere(email));
        }
        Err(other) => return Err(other),
    };
    audit.note(|note| {
        note.subject_user_id = Some(user.id);
        note.organization_id = Some(organization.id);
        note.target = Some(format!("user/{}", user.id));
        note.detail
            .insert("role".to_owned(), member.role.as_str().into());
    });
    let set_password_url = match member.password {
        Some(_) => None,
        None => {
            let url = create_password_link(&state.store, &state.public_url, user.id, now)
                .await
                .map_err(AddUserError::Store)?;
            tracing::info!(user.id = user.id, "set-password link issued");
            Some(url)
        }
    };
    Ok(AddedMember {
        user,
        set_password_url,
    })
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
