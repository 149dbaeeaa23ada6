//! Telling a credential's owner what happened to it: a notification in the app and,
//! when SMTP is configured, an email through the outbox ([`crate::mail`]).
//!
//! Both name the credential (name and client id), say what happened and when, and what
//! to do, with a link to the API Credentials page — and for an expiring credential a
//! **Renew** link. They are built from a [`CredentialEvent`], which never holds a
//! secret, so neither can carry one.

use latchkey_store::{NewEmail, NewNotification};

use crate::events::{CredentialEvent, CredentialEventKind};
use crate::state::AppState;

/// A notification's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
}

/// The API Credentials page, and for an expiring credential the page with its Renew
/// dialog open.
pub fn links(public_url: &str, kind: &str, client_id: Option<&str>) -> (String, Option<String>) {
    let page = format!("{public_url}/credentials");
    let renew = match (CredentialEventKind::parse(kind), client_id) {
        (Some(CredentialEventKind::Expiring), Some(id)) => Some(format!("{page}?renew={id}")),
        _ => None,
    };
    (page, renew)
}

/// The words for the owner of the event's credential.
pub fn message(public_url: &str, event: &CredentialEvent) -> Message {
    let credential = format!("'{}' ({})", event.name, event.client_id);
    let when = event.occurred_at.format("%Y-%m-%d %H:%M UTC");
    let expiry = event.expires_at.map_or_else(
        || "soon".to_owned(),
        |at| format!("on {}", at.format("%Y-%m-%d %H:%M UTC")),
    );
    let (title, happened, todo) = match event.kind {
        CredentialEventKind::Expiring => (
            format!("Your credential '{}' expires {expiry}", event.name),
            format!("Your credential {credential} expires {expiry}."),
            "Renew it before then: renewing creates a new credential with the same name, \
             scopes and limits and shows its secret once; give the new file to the programs \
             that use this one.",
        ),
        CredentialEventKind::Expired => (
            format!("Your credential '{}' has expired", event.name),
            format!("Your credential {credential} expired {expiry}; its tokens no longer work."),
            "Generate a new credential under API Credentials and give it to the programs that \
             used this one.",
        ),
        CredentialEventKind::Leaked => (
            format!(
                "Your credential '{}' was leaked and has been revoked",
                event.name
            ),
            format!(
                "A secret of your credential {credential} was reported as published, on \
                 {when}. It has been revoked: it gets no tokens and its tokens are refused."
            ),
            "Generate a new credential under API Credentials, give it to the programs that \
             used this one, and remove the leaked secret from where it was published.",
        ),
        CredentialEventKind::Disabled => (
            format!("Your credential '{}' was disabled", event.name),
            format!(
                "Your credential {credential} was disabled on {when}. Until it is enabled \
                 again it gets no tokens and its tokens are refused."
            ),
            "If you did not expect this, ask your organization's admin; you can enable it \
             again under API Credentials.",
        ),
        CredentialEventKind::Created
        | CredentialEventKind::Rolled
        | CredentialEventKind::Enabled
        | CredentialEventKind::Deleted => (
            format!(
                "Your credential '{}': {}",
                event.name,
                event.kind.event_type()
            ),
            format!(
                "Your credential {credential}: {} on {when}.",
                event.kind.event_type()
            ),
            "See API Credentials for its current state.",
        ),
    };
    let (page, renew) = links(
        public_url,
        event.kind.event_type(),
        Some(event.client_id.as_str()),
    );
    let mut body = format!("{happened}\n{}\n\n{todo}\n\n", event.reason);
    if let Some(renew) = renew {
        body.push_str(&format!("Renew: {renew}\n"));
    }
    body.push_str(&format!("API Credentials: {page}\n"));
    Message { title, body }
}

/// Tells the owner in the app and, when SMTP is configured, by email. Failures are
/// logged; they never fail the caller.
pub async fn tell_owner(state: &AppState, event: &CredentialEvent) {
    let Message { title, body } = message(&state.public_url, event);
    let now = state.now();
    let notification = NewNotification {
        id: format!("ntf_{}", crate::random_id(24)),
        user_id: event.owner_user_id,
        kind: event.kind.event_type().to_owned(),
        client_id: Some(event.client_id.clone()),
        title: title.clone(),
        body: body.clone(),
        created_at: now,
    };
    if let Err(error) = state.store.create_notification(&notification).await {
        tracing::error!(error = %error, user.id = event.owner_user_id, credential.id = %event.client_id, "could not store a notification");
    }
    if state.mailer.is_none() {
        return;
    }
    let email = NewEmail {
        id: format!("eml_{}", crate::random_id(24)),
        recipient: event.owner_email.clone(),
        subject: title,
        body: format!(
            "{body}\nYou receive this because you own this credential at {}.\n",
            state.public_url
        ),
        created_at: now,
    };
    if let Err(error) = state.store.queue_email(&email).await {
        tracing::error!(error = %error, user.id = event.owner_user_id, credential.id = %event.client_id, "could not queue an email");
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn event(kind: CredentialEventKind) -> CredentialEvent {
        CredentialEvent {
            kind,
            client_id: "lkc_0123456789abcdefghijkl".to_owned(),
            name: "ci".to_owned(),
            owner_user_id: 7,
            owner_email: "ada@example.com".to_owned(),
            organization_id: Some(1),
            occurred_at: Utc
                .with_ymd_and_hms(2026, 11, 27, 18, 2, 0)
                .single()
                .expect("time"),
            expires_at: Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).single(),
            reason: "Its expiry is in 7 days.".to_owned(),
            notify_owner: true,
        }
    }

    #[test]
    fn an_expiry_reminder_names_the_credential_when_and_how_to_renew() {
        let message = message(
            "https://lk.example.com",
            &event(CredentialEventKind::Expiring),
        );
        assert_eq!(
            message.title,
            "Your credential 'ci' expires on 2026-12-04 09:00 UTC"
        );
        for part in [
            "'ci' (lkc_0123456789abcdefghijkl)",
            "Its expiry is in 7 days.",
            "Renew: https://lk.example.com/credentials?renew=lkc_0123456789abcdefghijkl",
            "API Credentials: https://lk.example.com/credentials",
        ] {
            assert!(message.body.contains(part), "{part} in {}", message.body);
        }
    }

    #[test]
    fn only_an_expiring_credential_gets_a_renew_link() {
        let message = message(
            "https://lk.example.com",
            &event(CredentialEventKind::Leaked),
        );
        assert!(!message.body.contains("renew="), "{}", message.body);
        assert!(message.body.contains("on 2026-11-27 18:02 UTC"));
    }
}
