//! What happens to a credential during its life, as one value that the audit log, the
//! organization's webhooks and the owner's notifications all receive.
//!
//! Every lifecycle change (by a person, an admin, the expiry sweep, the idle policy or
//! a leak report) builds one [`CredentialEvent`] and hands it to [`emit`].
//!
//! `emit` only writes rows: a delivery per subscribed webhook endpoint
//! ([`crate::webhooks`]), a notification and an email for the owner
//! ([`crate::notifications`]). Every replica's upkeep loop then works the outboxes off
//! ([`work_outbox`]) with retries, so an event is delivered at least once, and a
//! failure never fails the request that caused it: it is logged, and what was written
//! is retried.

use chrono::{DateTime, Utc};
use latchkey_types::Timestamp;
use serde::{Serialize, Serializer};

use crate::state::AppState;
use crate::{mail, notifications, webhooks};

/// The kinds of lifecycle events; on the wire `credential.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialEventKind {
    Created,
    Rolled,
    /// Its expiry (or an idle-policy disabling) is near: the owner's reminder.
    Expiring,
    Expired,
    Disabled,
    Enabled,
    Deleted,
    /// A leak report matched one of its secrets; it has been revoked.
    Leaked,
}

impl CredentialEventKind {
    pub const ALL: [CredentialEventKind; 8] = [
        CredentialEventKind::Created,
        CredentialEventKind::Rolled,
        CredentialEventKind::Expiring,
        CredentialEventKind::Expired,
        CredentialEventKind::Disabled,
        CredentialEventKind::Enabled,
        CredentialEventKind::Deleted,
        CredentialEventKind::Leaked,
    ];

    /// The event type on the wire: `credential.created`, ….
    pub fn event_type(self) -> &'static str {
        match self {
            CredentialEventKind::Created => "credential.created",
            CredentialEventKind::Rolled => "credential.rolled",
            CredentialEventKind::Expiring => "credential.expiring",
            CredentialEventKind::Expired => "credential.expired",
            CredentialEventKind::Disabled => "credential.disabled",
            CredentialEventKind::Enabled => "credential.enabled",
            CredentialEventKind::Deleted => "credential.deleted",
            CredentialEventKind::Leaked => "credential.leaked",
        }
    }

    pub fn parse(event_type: &str) -> Option<CredentialEventKind> {
        CredentialEventKind::ALL
            .into_iter()
            .find(|kind| kind.event_type() == event_type)
    }
}

/// One lifecycle event of one credential. Never holds a secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialEvent {
    #[serde(skip)]
    pub kind: CredentialEventKind,
    pub client_id: String,
    pub name: String,
    pub owner_user_id: i64,
    pub owner_email: String,
    /// The owner's organization; `None` for the platform operator's own credentials.
    pub organization_id: Option<i64>,
    #[serde(serialize_with = "wire_time")]
    pub occurred_at: DateTime<Utc>,
    /// The credential's expiry (for `expiring`: the moment it stops working).
    #[serde(serialize_with = "wire_time_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why, in a sentence a person can read ("Disabled by alice@example.com.", …).
    pub reason: String,
    /// Whether the owner is told in the app and by email: set it for `expiring`,
    /// `expired` and `leaked`, and for a `disabled` the owner did not do themselves.
    #[serde(skip)]
    pub notify_owner: bool,
}

/// Times in the payload as everywhere on the wire: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn wire_time<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    Timestamp(*time).serialize(serializer)
}

fn wire_time_opt<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    time.map(Timestamp).serialize(serializer)
}

/// Hands a lifecycle event to everyone who hears about it: the organization's webhook
/// endpoints and, for the events an owner must act on, the owner.
pub async fn emit(state: &AppState, event: CredentialEvent) {
    tracing::info!(
        credential.id = %event.client_id,
        user.id = event.owner_user_id,
        event = event.kind.event_type(),
        "credential lifecycle event"
    );
    if let Some(organization_id) = event.organization_id
        && let Err(error) = webhooks::publish(state, organization_id, &event).await
    {
        tracing::error!(
            error = %error,
            credential.id = %event.client_id,
            organization.id = organization_id,
            event = event.kind.event_type(),
            "could not queue the webhook deliveries of an event"
        );
    }
    if event.notify_owner {
        notifications::tell_owner(state, &event).await;
    }
}

/// How many attempts a delivery or an email gets before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 6;

/// When to try again after the `attempts`-th attempt failed: 30 s, 2 min, 10 min, 1 h,
/// 6 h; `None` after the last one.
pub fn retry_at(attempts: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    const WAIT_SECONDS: [i64; 5] = [30, 120, 600, 3600, 6 * 3600];
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let wait = WAIT_SECONDS.get(index).copied()?;
    Some(now + chrono::Duration::seconds(wait))
}

/// Sends what is due in the outboxes: webhook deliveries, then emails. The upkeep loop
/// runs it every `outbox_poll_interval`; each replica claims its own rows.
pub async fn work_outbox(state: AppState) {
    webhooks::deliver_due(&state).await;
    mail::send_due(&state).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_after_the_last_attempt() {
        let now = Utc::now();
        let waits: Vec<Option<i64>> = (1..=MAX_ATTEMPTS)
            .map(|attempts| retry_at(attempts, now).map(|at| (at - now).num_seconds()))
            .collect();
        assert_eq!(
            waits,
            [
                Some(30),
                Some(120),
                Some(600),
                Some(3600),
                Some(21600),
                None
            ]
        );
        assert_eq!(retry_at(0, now), None);
    }
}
