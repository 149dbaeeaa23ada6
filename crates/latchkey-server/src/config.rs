//! The service's configuration: every knob with its default. Parsing flags and
//! environment variables is the binary's job; this is the resolved value.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::clock::Clock;
use crate::key_encryption::KeyEncryptionKeySource;

/// The first administrator, from `LATCHKEY_ADMIN_EMAIL` and `LATCHKEY_ADMIN_PASSWORD`.
#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub email: String,
    pub password: SecretString,
}

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// How many token requests one client id may make before it gets 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl TokenRateLimit {
    /// The default: a fleet of a thousand workers sharing one credential may all start
    /// at once, and the existing clients do not retry a 429 from the token endpoint.
    pub const DEFAULT: TokenRateLimit = TokenRateLimit {
        per_second: nonzero(100),
        burst: nonzero(1000),
    };

    /// Reads `LATCHKEY_TOKEN_RATE_LIMIT`: `off`, `RATE` (per second, burst ten times
    /// that) or `RATE:BURST`.
    pub fn parse(text: &str) -> Result<Option<TokenRateLimit>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let number = |part: &str| {
            part.trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("`{part}` is not a whole number above 0"))
        };
        let (per_second, burst) = match text.split_once(':') {
            Some((rate, burst)) => (number(rate)?, number(burst)?),
            None => {
                let rate = number(text)?;
                (
                    rate,
                    rate.saturating_mul(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN)),
                )
            }
        };
        Ok(Some(TokenRateLimit { per_second, burst }))
    }
}

/// Where owners' emails go, from `LATCHKEY_SMTP_URL` and `LATCHKEY_SMTP_FROM`.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://host:port` (STARTTLS when the server offers it with `?tls=opportunistic`,
    /// required with `?tls=required`) or `smtps://host:port` (TLS from the start);
    /// `user:password@` for authentication. Secret because it may carry a password.
    pub url: SecretString,
    /// The `From` address, `Latchkey <latchkey@example.com>` or a bare address.
    pub from: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the SQLite database when no `database_url` is given.
    pub data_dir: PathBuf,
    /// Port 0 picks a free port; [`crate::Application::port`] tells which.
    pub listen: SocketAddr,
    /// Issuer and base of every link; `http://<bound address>` when unset, which only
    /// SQLite allows (replicas of one PostgreSQL database must agree on it).
    pub public_url: Option<String>,
    /// `postgres://…` or `sqlite://…`; the SQLite file in `data_dir` when unset.
    pub database_url: Option<String>,
    /// Where scene files live: `file:///path` or `s3://bucket/prefix` (with the
    /// standard `AWS_*` variables); `<data_dir>/objects` when unset.
    pub storage_url: Option<String>,
    /// With a bucket, whether clients upload to it directly through its presigned PUT
    /// URLs (no replica carries the bytes). Off: through this service's
    /// `/upload/{token}`, for clients that send a file without a `Content-Length`,
    /// which S3 refuses on a presigned URL. A local folder always goes through the
    /// service.
    pub storage_presigned_uploads: bool,
    pub admin: Option<AdminBootstrap>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_ttl: Duration,
    /// How long a credential (and a user's roles) is kept in memory at most. Changes
    /// reach every replica through the change feed at once; this is the safety net
    /// should one be missed.
    pub credential_cache_ttl: Duration,
    /// How often the change feed (what other replicas changed) is read when nothing
    /// woke the reader: always on SQLite; on PostgreSQL only while its notifications
    /// are lost.
    pub revocation_poll_interval: Duration,
    /// How often "last used" times are written to the database.
    pub usage_flush_interval: Duration,
    /// How often expiry reminders, expiry announcements and the idle policy run.
    pub lifecycle_sweep_interval: Duration,
    /// `None` turns the token endpoint's flood protection off (benchmarks).
    pub token_rate_limit: Option<TokenRateLimit>,
    /// How often a new signing key replaces the newest one; `None`: only when the
    /// operator runs `latchkey admin rotate-signing-key`.
    pub signing_key_rotation: Option<Duration>,
    /// How often each replica reads the signing keys again (rotations by others); well
    /// below `tokens::KEY_ACTIVATION_DELAY`.
    pub signing_key_reload_interval: Duration,
    /// Where `/metrics` is served (Prometheus text format); `None`: not at all. Never
    /// the public address.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the cluster counts its limits (`redis://host:port/db`); `None`: each
    /// replica counts alone.
    pub redis_url: Option<String>,
    /// Failed sign-ins to one account from one address within `login_lockout` before
    /// that address is refused for that account (the owner elsewhere still signs in).
    pub max_failed_logins: u32,
    /// Failed sign-ins from one address within `login_lockout`, whatever the accounts,
    /// before that address is refused for every account. An account that collects as
    /// many, from any number of addresses, is under attack: each address that failed
    /// on it then gets no further attempt until its failures age out.
    pub max_failed_logins_per_address: u32,
    pub login_lockout: Duration,
    /// How many password hashes run at once; each holds 19 MiB while it runs.
    pub password_hash_permits: usize,
    /// How long a sign-in waits for a hash to finish before it is answered 503.
    pub password_hash_wait: Duration,
    /// Whether a proxy in front sets `X-Forwarded-For`: then its last address is the
    /// client's, for allowlists, "last used" and the audit log. Off: the peer address.
    pub trust_forwarded_for: bool,
    /// The most live credentials one person may hold; `None`: no cap.
    pub max_credentials_per_user: Option<u32>,
    /// Where the service reads the time: the system clock unless a test injects a
    /// [`Clock::manual`] one.
    pub clock: Clock,
    /// Emails to owners (expiry reminders, leaks, disabling by someone else); without
    /// it owners are told in the app only.
    pub smtp: Option<SmtpConfig>,
    /// Lets webhook endpoints be loopback, private or link-local addresses (a receiver
    /// on the same host or network). Off by default: an organization admin could
    /// otherwise make the service call into its own network.
    pub webhooks_allow_private_targets: bool,
    /// How often each replica looks for due webhook deliveries and emails.
    pub outbox_poll_interval: Duration,
    /// How long a client may take to send a request's head, counted from when the
    /// connection starts waiting for it (also between keep-alive requests).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed.
    pub idle_timeout: Duration,
    /// The most connections open at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// The key that encrypts signing keys and webhook secrets at rest; `None`: the one
    /// in `<data_dir>/key-encryption-key`, generated on the first start.
    pub key_encryption_key: Option<KeyEncryptionKeySource>,
}

impl Config {
    /// The zero-configuration defaults, with data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            storage_url: None,
            storage_presigned_uploads: true,
            admin: None,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_ttl: Duration::from_secs(12 * 3600),
            credential_cache_ttl: Duration::from_secs(60),
            revocation_poll_interval: Duration::from_millis(500),
            usage_flush_interval: Duration::from_secs(10),
            lifecycle_sweep_interval: Duration::from_secs(60),
            redis_url: None,
            metrics_listen: None,
            signing_key_rotation: Some(Duration::from_secs(90 * 24 * 3600)),
            signing_key_reload_interval: Duration::from_secs(30),
            token_rate_limit: Some(TokenRateLimit::DEFAULT),
            max_failed_logins: 5,
            max_failed_logins_per_address: 30,
            login_lockout: Duration::from_secs(15 * 60),
            // One hash per core (it keeps a core busy), and never more than 8 × 19 MiB.
            password_hash_permits: std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .min(8),
            password_hash_wait: Duration::from_secs(2),
            trust_forwarded_for: false,
            max_credentials_per_user: None,
            clock: Clock::system(),
            smtp: None,
            webhooks_allow_private_targets: false,
            outbox_poll_interval: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            key_encryption_key: None,
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join(crate::data_dir::DATABASE_FILE).display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_rate_limit_reads_off_a_rate_or_a_rate_and_burst() {
        let limit = |per_second, burst| {
            Some(TokenRateLimit {
                per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
                burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
            })
        };
        assert_eq!(TokenRateLimit::parse("off"), Ok(None));
        assert_eq!(TokenRateLimit::parse(" OFF "), Ok(None));
        assert_eq!(TokenRateLimit::parse("20"), Ok(limit(20, 200)));
        assert_eq!(TokenRateLimit::parse("20:50"), Ok(limit(20, 50)));
        assert_eq!(
            TokenRateLimit::parse("100:1000"),
            Ok(Some(TokenRateLimit::DEFAULT))
        );
        for bad in ["", "0", "-1", "fast", "10:", ":10", "10:0", "1.5"] {
            assert!(TokenRateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
