//! The state every handler shares.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use governor::DefaultKeyedRateLimiter;
use latchkey_store::Store;

use crate::blob::BlobStore;
use crate::cluster_limits::SharedCounters;
use crate::config::Config;
use crate::directory::{AccessCache, CredentialCache, LoginThrottle, RevocationList, UsageTracker};
use crate::feed::ChangeFeed;
use crate::hashing::PasswordHashing;
use crate::key_encryption::KeyEncryptionKey;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::rate_limit::{AddressRateLimiter, CredentialRateLimiter, TakenEmailBudget};
use crate::tokens::KeyRing;

#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The issuer: the public base URL without a trailing slash.
    pub public_url: String,
    /// Whether cookies get the `Secure` attribute (public URL is https).
    pub secure_cookies: bool,
    pub store: Store,
    pub keys: KeyRing,
    /// Opens the webhook signing secrets, which are stored encrypted.
    pub kek: KeyEncryptionKey,
    pub credentials: CredentialCache,
    pub access: AccessCache,
    pub revocations: RevocationList,
    /// What other replicas changed, applied to the caches and the revocation list.
    pub feed: ChangeFeed,
    pub usage: UsageTracker,
    pub token_limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// The rate limits credentials set for themselves.
    pub credential_limits: CredentialRateLimiter,
    pub logins: LoginThrottle,
    /// Every password hash of a request runs here, a few at a time.
    pub hashing: PasswordHashing,
    /// The cluster's counters in Redis, when configured; else every limit above is
    /// counted per replica.
    pub shared_counters: Option<SharedCounters>,
    /// What `/metrics` reports.
    pub metrics: Metrics,
    /// Leak reports per client address.
    pub leak_reports: AddressRateLimiter,
    /// "Already has an account" answers per organization.
    pub taken_emails: TakenEmailBudget,
    /// Files of scenes: `<data_dir>/objects` unless configured otherwise.
    pub blobs: BlobStore,
    /// The address the service is bound to; webhooks may not point at it.
    pub listen_address: SocketAddr,
    /// Owners' emails; `None` without SMTP configured.
    pub mailer: Option<Mailer>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// The one clock of the service: [`Config::clock`], so tests can move time.
    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
