//! Email over SMTP (`lettre`): the transport configured from `LATCHKEY_SMTP_URL`, and
//! the outbox worker that sends queued emails with retries.
//!
//! Emails are queued by [`crate::notifications`] in the database, so a message
//! survives a restart and an SMTP server that is down for a while; each replica claims
//! due emails as it claims webhook deliveries, and a failed send is retried on the
//! same schedule (30 s … 6 h, six attempts).

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use latchkey_store::EmailRow;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::SmtpConfig;
use crate::events;
use crate::state::AppState;

/// How long one SMTP conversation may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replica holds a claimed email.
const CLAIM_SECONDS: i64 = 60;
/// Emails sent per run of the upkeep tick.
const PER_RUN: usize = 20;

/// The SMTP transport and the sender address.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    // The transport holds the SMTP password; only the sender is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The transport for `config`; fails at startup on a URL or address that cannot
    /// work, rather than at the first email.
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose_secret())
            .context(
                "LATCHKEY_SMTP_URL is not an SMTP URL; use smtp://host:port or smtps://host:port",
            )?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = config.from.parse::<Mailbox>().with_context(|| {
            format!(
                "LATCHKEY_SMTP_FROM `{}` is not an email address",
                config.from
            )
        })?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, email: &EmailRow) -> Result<(), SendError> {
        let to = email
            .recipient
            .parse::<Mailbox>()
            .map_err(|e| SendError::Permanent(format!("the recipient is not an address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Temporary(e.to_string()))
    }
}

/// Why an email was not sent: worth retrying, or not.
enum SendError {
    Temporary(String),
    Permanent(String),
}

/// Sends the due emails this replica can claim; nothing without SMTP.
pub async fn send_due(state: &AppState) {
    let Some(mailer) = &state.mailer else {
        return;
    };
    for _ in 0..PER_RUN {
        let now = state.now();
        let claimed = state
            .store
            .claim_email(now, now + chrono::Duration::seconds(CLAIM_SECONDS))
            .await;
        let email = match claimed {
            Ok(Some(email)) => email,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(error = %error, "could not claim an email");
                return;
            }
        };
        let now = state.now();
        let (status, next, error) = match mailer.send(&email).await {
            Ok(()) => {
                tracing::info!(email.id = %email.id, "email sent");
                ("sent", now, None)
            }
            Err(SendError::Permanent(error)) => ("failed", now, Some(error)),
            Err(SendError::Temporary(error)) => match events::retry_at(email.attempts, now) {
                Some(next) => ("pending", next, Some(error)),
                None => ("failed", now, Some(error)),
            },
        };
        if let Some(error) = &error {
            tracing::warn!(email.id = %email.id, attempts = email.attempts, status, error = %error, "email not sent");
        }
        if let Err(error) = state
            .store
            .finish_email(&email.id, status, next, error.as_deref(), now)
            .await
        {
            tracing::warn!(error = %error, email.id = %email.id, "could not record an email attempt");
        }
    }
}
