//! The Rust SDK of Latchkey.
//!
//! * [`Credentials`] reads the credentials file that **Download** gives (the same file
//!   `kognic-auth` reads), from a path or the environment, in a documented order.
//! * [`TokenProvider`] trades them for access tokens, caches the token, refreshes it
//!   before it expires, and lets any number of tasks share it with one refresh in
//!   flight.
//! * [`Client`] makes API calls with the token, retries what is worth retrying (502,
//!   503, 504, and 429 after its `Retry-After`), and turns error answers into
//!   [`Error::Api`] with the server's `message`, `error` code and `requestId`.
//! * Scenes from local files: [`Client::initialize_scene`], [`Client::create_scene`],
//!   [`Client::upload_file`] (streamed from disk to the signed URL) and
//!   [`Client::commit_scene`].
//! * A credential's life: [`Client::roll_secret`], [`Client::renew_credentials`],
//!   [`Client::set_credential_limits`], [`Client::organization_credentials`],
//!   [`Client::set_credential_policy`], [`Client::set_preferences`], and
//!   [`Client::report_leaked_secrets`] for secret scanners.
//! * The audit log: [`Client::audit_events`] (a page) and
//!   [`Client::export_audit_events`] (every matching event).
//! * Webhooks and notifications: [`Client::create_webhook`], [`Client::webhooks`],
//!   [`Client::webhook_deliveries`], [`Client::retry_delivery`],
//!   [`Client::notifications`], ….
//!
//! ```
//! use latchkey_client::Credentials;
//!
//! let file = r#"{"clientId": "lkc_0123456789abcdefghijkl",
//!   "clientSecret": "lksk_ISyjkEM00hcJ5dQFFR1jdKngyIC6AZzXvK2Q3OwYzqK17lMKs",
//!   "email": "ada@example.com", "userId": 1, "issuer": "http://127.0.0.1:8080",
//!   "name": "ci", "created": "2026-11-27T18:02:02.645Z", "expires": null,
//!   "scopes": ["api:read"]}"#;
//! let credentials = Credentials::from_json(file)?;
//! assert_eq!(credentials.issuer, "http://127.0.0.1:8080");
//! // The secret never shows in debug output.
//! assert!(!format!("{credentials:?}").contains("lksk_"));
//! # Ok::<(), latchkey_client::CredentialsError>(())
//! ```

mod audit;
mod client;
mod credentials;
mod events;
mod lifecycle;
mod scenes;
mod tokens;

pub use audit::AuditEventsQuery;
pub use client::{Client, Error, RawResponse};
pub use credentials::{Credentials, CredentialsError, Source};
pub use scenes::{ScenePlacement, UploadError, content_type, resource_id};
pub use tokens::{TokenError, TokenProvider};
