//! The background sweeps of the credential lifecycle: reminders before an expiry, the
//! announcement of an expiry, and the organization idle policy (a warning, then
//! disabling). Each notice is sent once, by whichever replica marks it first.

use chrono::{Duration, Utc};
use latchkey_store::{CredentialMarker, CredentialRow, StoreError};

use crate::credentials::{Cause, announce};
use crate::error::AppError;
use crate::events::CredentialEventKind;
use crate::state::AppState;

/// Owners hear of a coming idle disabling this many days before (or half the idle
/// period, when that is shorter).
const IDLE_WARNING_DAYS: i64 = 7;

/// Runs every sweep once; errors are logged, the next run tries again.
pub async fn sweep(state: &AppState) {
    // Uses gathered on this replica count before anything is called idle.
    if let Err(error) = state.usage.flush(&state.store).await {
        tracing::warn!(error = %error, "could not write last-used times before the sweep");
    }
    for (what, result) in [
        ("expiry reminders", remind_expiring(state).await),
        ("expiry announcements", announce_expired(state).await),
        ("idle policy", apply_idle_policy(state).await),
    ] {
        if let Err(error) = result {
            tracing::warn!(error = %error, sweep = what, "credential sweep failed");
        }
    }
}

fn date(at: chrono::DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn remind_expiring(state: &AppState) -> Result<(), AppError> {
    let now = state.now();
    for row in state.store.credentials_due_reminder(now).await? {
        if !mark(state, &row, CredentialMarker::ExpiryReminded).await? {
            continue;
        }
        let Some(expires) = row.expires_at() else {
            continue;
        };
        let reason = format!(
            "It expires on {}. Renew it to get a new credential with the same settings.",
            date(expires)
        );
        announce(
            state,
            &row,
            CredentialEventKind::Expiring,
            &reason,
            Cause::System,
        )
        .await?;
    }
    Ok(())
}

async fn announce_expired(state: &AppState) -> Result<(), AppError> {
    let now = state.now();
    for row in state.store.credentials_newly_expired(now).await? {
        if !mark(state, &row, CredentialMarker::ExpiryAnnounced).await? {
            continue;
        }
        let reason = format!(
            "It expired on {}; its tokens no longer work. Renew it to get a new credential \
             with the same settings.",
            row.expires_at().map(date).unwrap_or_default()
        );
        announce(
            state,
            &row,
            CredentialEventKind::Expired,
            &reason,
            Cause::System,
        )
        .await?;
    }
    Ok(())
}

/// Warns the owner of a credential unused for its organization's idle period less the
/// warning window, and disables it once the period is over — never sooner than a full
/// window after the warning, so an owner is always told first, even when a policy is
/// set on long-unused credentials.
async fn apply_idle_policy(state: &AppState) -> Result<(), AppError> {
    let now = state.now();
    for (row, idle_days) in state.store.idle_credentials(now, IDLE_WARNING_DAYS).await? {
        let window = Duration::days(IDLE_WARNING_DAYS.min(idle_days / 2).max(1));
        let idle_over = row.idle_since() + Duration::days(idle_days);
        match row.idle_warned_at() {
            None => {
                if now < idle_over - window
                    || !mark(state, &row, CredentialMarker::IdleWarned).await?
                {
                    continue;
                }
                let reason = format!(
                    "It has not been used since {} and will be disabled on {} under your \
                     organization's idle policy ({idle_days} days), unless it is used before.",
                    date(row.idle_since()),
                    date(idle_over.max(now + window))
                );
                announce(
                    state,
                    &row,
                    CredentialEventKind::Expiring,
                    &reason,
                    Cause::System,
                )
                .await?;
            }
            Some(warned) if now >= idle_over && now >= warned + window => {
                let by_latchkey = latchkey_store::Disabling {
                    user_id: None,
                    reason: Some("not used for the organization's idle period"),
                    overrides: false,
                };
                if !state
                    .store
                    .disable_credential(&row.client_id, now, &by_latchkey)
                    .await?
                {
                    continue;
                }
                state.credentials.invalidate(&row.client_id);
                let reason = format!(
                    "Disabled because it was not used for {idle_days} days (your \
                     organization's idle policy). Enable it again if it is still needed."
                );
                announce(
                    state,
                    &row,
                    CredentialEventKind::Disabled,
                    &reason,
                    Cause::System,
                )
                .await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn mark(
    state: &AppState,
    row: &CredentialRow,
    marker: CredentialMarker,
) -> Result<bool, StoreError> {
    state
        .store
        .mark_credential(&row.client_id, marker, state.now())
        .await
}
