//! The Latchkey service: the OAuth token endpoint, the JSON API and the pages, over one
//! [`latchkey_store::Store`].
//!
//! [`Application::build`] binds the port and prepares everything; [`Application::run`]
//! serves until the shutdown future resolves, then finishes in-flight requests and
//! writes pending "last used" times. Tests build it on port 0 and read
//! [`Application::port`].

pub mod config;
pub mod data_dir;
pub mod key_encryption;

mod access;
mod audit;
mod auth;
mod blob;
pub mod clock;
mod cluster_limits;
mod connections;
mod credential_policy;
mod credentials;
mod directory;
mod error;
mod events;
mod feed;
mod hashing;
mod mail;
mod metrics;
mod middleware;
mod notifications;
mod openapi;
mod organizations;
mod origin;
mod rate_limit;
mod routes;
pub mod signing_keys;
mod state;
mod sweeps;
mod tokens;
mod usage_history;
pub mod users;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use governor::{Quota, RateLimiter};
use latchkey_core::password::hash_password;
use latchkey_core::{DisplayName, Email};
use latchkey_store::{Backend, NewUser, Store};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

pub use clock::Clock;
pub use config::{AdminBootstrap, Config, SmtpConfig, TokenRateLimit};
pub use key_encryption::KeyEncryptionKeySource;

use crate::directory::{AccessCache, CredentialCache, LoginThrottle, RevocationList, UsageTracker};
use crate::rate_limit::CredentialRateLimiter;
use crate::state::{AppState, Shared};
use crate::tokens::KeyRing;

/// Request bodies of the API and pages are small; bigger ones get 413.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A built, bound, not yet serving service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// `/metrics`, when `Config::metrics_listen` is set.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The first administrator's generated password, when this start created one.
    pub generated_admin: Option<(String, SecretString)>,
}

impl Application {
    /// Opens the database and binds `config.listen`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        Application::build_on(config, listener).await
    }

    /// Like [`Application::build`], on a listener bound already (`config.listen` is not
    /// used): a test that must know the address, for the public URL, before the start.
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Application> {
        let bound = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(address) => Some(TcpListener::bind(address).await.with_context(|| {
                format!("listening for /metrics on {address} (LATCHKEY_METRICS_LISTEN)")
            })?),
            None => None,
        };
        let backend = Backend::of_url(&config.database_url()).context("opening the database")?;
        let public_url = match (&config.public_url, backend) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Backend::Sqlite) => format!("http://{bound}"),
            // Each replica's own address would be a different issuer, and every
            // replica would refuse the others' tokens.
            (None, Backend::Postgres) => anyhow::bail!(
                "LATCHKEY_PUBLIC_URL (--public-url) must be set on PostgreSQL: the replicas \
                 of one database must agree on the issuer of their tokens, and without it \
                 each would name its own listen address ({bound}) and refuse the others' \
                 tokens. Set it to the URL clients use, the same on every replica."
            ),
        };
        let store = wait_for_store(&config).await?;
        let kek = key_encryption::prepare(&config, &store).await?;
        let generated_admin = bootstrap_admin(&store, config.admin.as_ref()).await?;
        let keys = KeyRing::load_or_create(&store, &kek, config.clock.now()).await?;
        // Scene files live beside the database unless a storage URL says otherwise.
        let blobs = blob::BlobStore::open(&config).await?;
        tracing::info!(storage = %blobs.location(), "scene files are stored here");
        let token_limiter = config.token_rate_limit.map(|limit| {
            RateLimiter::keyed(Quota::per_second(limit.per_second).allow_burst(limit.burst))
        });
        let mailer = config.smtp.as_ref().map(mail::Mailer::new).transpose()?;
        let shared_counters = config
            .redis_url
            .as_deref()
            .map(|url| cluster_limits::SharedCounters::new(url, &public_url))
            .transpose()?;
        if let Some(counters) = &shared_counters {
            counters.connect().await;
        }
        // Before the revocations are loaded, so none falls between the two.
        let feed = feed::ChangeFeed::start(&store)
            .await
            .context("reading the change feed")?;
        let metrics = metrics::Metrics::default();
        let state = AppState::new(Shared {
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            credentials: CredentialCache::new(
                config.credential_cache_ttl,
                metrics.credential_cache(),
            ),
            access: AccessCache::new(config.credential_cache_ttl),
            revocations: RevocationList::default(),
            feed,
            usage: UsageTracker::default(),
            logins: LoginThrottle::new(
                config.max_failed_logins,
                config.max_failed_logins_per_address,
                config.login_lockout,
            ),
            hashing: hashing::PasswordHashing::new(
                config.password_hash_permits,
                config.password_hash_wait,
            ),
            leak_reports: routes::secret_scanning::report_limiter(),
            taken_emails: rate_limit::TakenEmailBudget::default(),
            shared_counters,
            metrics,
            token_limiter,
            credential_limits: CredentialRateLimiter::default(),
            keys,
            kek,
            store,
            config,
            blobs,
            listen_address: bound,
            mailer,
        });
        state
            .revocations
            .load(&state.store, state.now())
            .await
            .context("loading revoked tokens")?;
        Ok(Application {
            listener,
            metrics_listener,
            state,
            generated_admin,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The issuer and base of every link.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until `shutdown` resolves, then drains connections and flushes state.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let maintenance = tokio::spawn(maintain(state.clone()));
        let redis = tokio::spawn(cluster_limits::keep_connected(state.clone()));
        let key_upkeep = tokio::spawn(signing_keys::maintain(state.clone()));
        let metrics_server = self.metrics_listener.map(|listener| {
            tracing::info!(address = ?listener.local_addr().ok(), "serving /metrics");
            let router = metrics::router(state.clone());
            tokio::spawn(async move { axum::serve(listener, router).await })
        });
        let following = tokio::spawn(feed::follow(state.clone()));
        let listening = tokio::spawn(feed::listen(state.clone()));
        let app = router(state.clone());
        let service = tower::util::MapRequestLayer::new(middleware::normalize_path).layer(app);
        tracing::info!(address = %self.listener.local_addr()?, public_url = %state.public_url, "latchkey is serving");
        let limits = connections::Limits {
            header_read_timeout: state.config.header_read_timeout,
            idle_timeout: state.config.idle_timeout,
            max_connections: state.config.max_connections,
        };
        connections::serve(self.listener, service, limits, shutdown).await;
        maintenance.abort();
        redis.abort();
        key_upkeep.abort();
        if let Some(server) = metrics_server {
            server.abort();
        }
        following.abort();
        listening.abort();
        if let Err(error) = state.usage.flush(&state.store).await {
            tracing::error!(error = %error, "could not write last-used times at shutdown");
        }
        state.store.close().await;
        tracing::info!("latchkey stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let timeout = TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    );
    // The API routers register each route from the annotation that describes it, so
    // the description served at /openapi.json is complete by construction.
    let (api, description) = OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::oauth::router())
        .merge(routes::api::router())
        .merge(routes::lifecycle::router())
        .merge(routes::secret_scanning::router())
        .merge(routes::access_check::router())
        .merge(routes::tenancy::router())
        .merge(routes::audit::router())
        .merge(routes::health::router())
        .merge(routes::content::router())
        .merge(routes::events::router())
        .layer(timeout)
        .merge(routes::content::upload_router())
        .split_for_parts();
    let pages = Router::new()
        .merge(routes::web::router())
        .merge(routes::platform_pages::router())
        .merge(routes::browse_pages::router())
        .layer(timeout);
    let recorder = audit::Recorder::new(state.clone(), &description);
    Router::new()
        .merge(api)
        .merge(pages)
        .merge(openapi::router(&description))
        // A route layer runs once a route matched, so it knows the route's template and
        // leaves the fallbacks' 404 and 405 unrecorded.
        .route_layer(from_fn_with_state(recorder, audit::record_request))
        .route_layer(from_fn(metrics::note_route))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(rate_limit::rate_limit_headers))
        .layer(from_fn_with_state(
            state.clone(),
            usage_history::count_calls,
        ))
        .layer(from_fn(middleware::security_headers))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(middleware::request_context))
        .with_state(state)
}

/// Prepares the data directory (private, and refused when it is not) and opens the
/// database, bringing its schema up to date; for the service and the admin commands.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    data_dir::prepare(config)?;
    Store::connect(&config.database_url())
        .await
        .context("opening the database")
}

/// [`open_store`] for the service: while the database cannot be reached (not started
/// yet, restarting) it tries again, so a replica started during an outage comes up
/// when the database does instead of exiting. Any other failure ends the start.
async fn wait_for_store(config: &Config) -> anyhow::Result<Store> {
    data_dir::prepare(config)?;
    let mut wait = Duration::from_millis(250);
    loop {
        match Store::connect(&config.database_url()).await {
            Ok(store) => return Ok(store),
            Err(error) if error.is_unavailable() => {
                tracing::warn!(error = %error, retry_in = ?wait, "the database is unavailable; waiting for it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error).context("opening the database"),
        }
    }
}

/// Creates the first administrator when there are no users yet: from the configured
/// email and password, or with a generated password returned to print once.
async fn bootstrap_admin(
    store: &Store,
    admin: Option<&AdminBootstrap>,
) -> anyhow::Result<Option<(String, SecretString)>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (email, password, generated) = match admin {
        Some(admin) => (admin.email.clone(), admin.password.clone(), false),
        None => (
            "admin@latchkey.local".to_owned(),
            SecretString::from(latchkey_core::random::base62(20)),
            true,
        ),
    };
    let email = Email::parse(&email).context("LATCHKEY_ADMIN_EMAIL")?;
    latchkey_core::password::validate_new_password(&password).context("LATCHKEY_ADMIN_PASSWORD")?;
    let name = DisplayName::parse("Administrator").context("administrator name")?;
    let created = store
        .create_user(&NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash: hash_password(&password),
            is_admin: true,
            created_at: chrono::Utc::now(),
            organization: None,
        })
        .await;
    match created {
        Ok(user) => {
            tracing::info!(user.id = user.id, "created the first administrator");
            Ok(generated.then(|| (email.as_str().to_owned(), password)))
        }
        // Another replica created the first administrator at the same moment.
        Err(latchkey_store::StoreError::Conflict) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Background upkeep: write usage, send due webhook deliveries and emails, prune caches,
/// sessions and the change feed. (The feed is followed by tasks of its own, `feed`.)
async fn maintain(state: AppState) {
    let mut usage_tick = tokio::time::interval(state.config.usage_flush_interval);
    let mut prune_tick = tokio::time::interval(Duration::from_secs(60));
    let mut sweep_tick = tokio::time::interval(state.config.lifecycle_sweep_interval);
    let mut outbox_tick = tokio::time::interval(state.config.outbox_poll_interval);
    // Sending runs beside the loop, so a slow webhook endpoint never delays the rest; a
    // run starts only when the previous one has finished.
    let mut outbox_run: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = usage_tick.tick() => {
                if let Err(error) = state.usage.flush(&state.store).await {
                    tracing::warn!(error = %error, "could not write last-used times");
                }
            }
            _ = sweep_tick.tick() => sweeps::sweep(&state).await,
            _ = outbox_tick.tick() => {
                if outbox_run.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    outbox_run = Some(tokio::spawn(events::work_outbox(state.clone())));
                }
            }
            _ = prune_tick.tick() => {
                state.credentials.prune();
                state.access.prune();
                state.revocations.prune(state.now());
                state.logins.prune();
                state.credential_limits.prune(state.now());
                if let Some(limiter) = &state.token_limiter {
                    limiter.retain_recent();
                }
                if let Err(error) = state.store.delete_expired_sessions(state.now()).await {
                    tracing::warn!(error = %error, "could not delete expired sessions");
                }
                if let Err(error) = state.store.delete_expired_revocations(state.now()).await {
                    tracing::warn!(error = %error, "could not delete expired revocations");
                }
                let old = state.now() - feed::FEED_RETENTION;
                if let Err(error) = state.store.delete_changes_before(old).await {
                    tracing::warn!(error = %error, "could not delete old change feed rows");
                }
            }
        }
    }
}

/// A random identifier of `len` base-62 characters.
pub(crate) fn random_id(len: usize) -> String {
    latchkey_core::random::base62(len)
}
