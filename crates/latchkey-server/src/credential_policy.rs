//! The rules of time around credentials: an organization's policy (default and
//! maximum lifetime, idle period) and the expiry a new credential gets under it, and a
//! person's reminder lead time — shared by the API and the pages.

use chrono::{DateTime, Duration, Utc};
use latchkey_core::access::Principal;
use latchkey_store::CredentialPolicy;

use crate::error::AppError;
use crate::state::AppState;

/// The longest lifetime or idle period a policy may name, in days (10 years).
const MAX_POLICY_DAYS: i64 = 3650;
/// The longest expiry-reminder lead time, in days.
const MAX_REMINDER_DAYS: i64 = 90;

/// The owner's organization's policy; the operator and people of no organization have
/// none.
pub async fn policy_of(state: &AppState, owner: &Principal) -> Result<CredentialPolicy, AppError> {
    Ok(match owner.organization {
        Some((id, _)) => state.store.credential_policy(id).await?.unwrap_or_default(),
        None => CredentialPolicy::default(),
    })
}

/// Replaces an organization's credential policy (the caller checked who may): each
/// period 1–3650 days, the default lifetime no longer than the maximum.
pub async fn set_policy(
    state: &AppState,
    organization_id: i64,
    policy: CredentialPolicy,
) -> Result<(), AppError> {
    for (field, days) in [
        (
            "defaultLifetimeDays",
            policy.default_credential_lifetime_days,
        ),
        ("maxLifetimeDays", policy.max_credential_lifetime_days),
        ("idleDisableDays", policy.idle_disable_days),
    ] {
        if days.is_some_and(|d| !(1..=MAX_POLICY_DAYS).contains(&d)) {
            return Err(AppError::bad_request(
                "invalid_policy",
                format!("`{field}` must be between 1 and {MAX_POLICY_DAYS} days, or null."),
            ));
        }
    }
    if let (Some(default), Some(max)) = (
        policy.default_credential_lifetime_days,
        policy.max_credential_lifetime_days,
    ) && default > max
    {
        return Err(AppError::bad_request(
            "invalid_policy",
            format!(
                "The default lifetime ({default} days) is longer than the maximum ({max} days)."
            ),
        ));
    }
    state
        .store
        .set_credential_policy(organization_id, &policy)
        .await?;
    Ok(())
}

/// Sets how many days before an expiry the person is reminded (1–90).
pub async fn set_reminder_days(state: &AppState, user_id: i64, days: i64) -> Result<(), AppError> {
    if !(1..=MAX_REMINDER_DAYS).contains(&days) {
        return Err(AppError::bad_request(
            "invalid_preferences",
            format!(
                "Reminders come between 1 and {MAX_REMINDER_DAYS} days before an expiry \
                 (`expiryReminderDays`)."
            ),
        ));
    }
    state.store.set_expiry_reminder_days(user_id, days).await?;
    Ok(())
}

/// The expiry a new credential gets: the one asked for, checked against the
/// organization's maximum lifetime, or the policy's default lifetime when none was
/// asked for (the maximum when there is no default).
pub async fn expiry_within_policy(
    state: &AppState,
    owner: &Principal,
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    if requested.is_some_and(|at| at <= now) {
        return Err(AppError::bad_request(
            "invalid_expiry",
            "The expiry date must be in the future.",
        ));
    }
    let policy = policy_of(state, owner).await?;
    if let Some(max_days) = policy.max_credential_lifetime_days
        && let Some(at) = requested
        && at > now + Duration::days(max_days) + Duration::minutes(1)
    {
        return Err(AppError::bad_request(
            "expiry_beyond_policy",
            format!(
                "Your organization's policy allows credentials to live at most {max_days} \
                 days, so the expiry must be on or before {}. Ask an organization admin if \
                 you need longer.",
                (now + Duration::days(max_days)).format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    Ok(requested.or_else(|| {
        policy
            .default_credential_lifetime_days
            .or(policy.max_credential_lifetime_days)
            .map(|days| now + Duration::days(days))
    }))
}

/// No expiry, which a maximum lifetime forbids.
pub async fn never_within_policy(
    state: &AppState,
    owner: &Principal,
) -> Result<Option<DateTime<Utc>>, AppError> {
    match policy_of(state, owner).await?.max_credential_lifetime_days {
        Some(max_days) => Err(AppError::bad_request(
            "expiry_beyond_policy",
            format!(
                "Your organization's policy allows credentials to live at most {max_days} \
                 days, so a credential cannot be without expiry."
            ),
        )),
        None => Ok(None),
    }
}
