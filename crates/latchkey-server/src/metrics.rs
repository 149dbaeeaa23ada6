//! Prometheus metrics, served in the text format at `GET /metrics` on their own
//! address (`LATCHKEY_METRICS_LISTEN`, off by default), never on the public one: they
//! name routes and outcomes, which is for the operator.
//!
//! Counters are kept whether or not anything scrapes them (an atomic add each); the
//! database pool, the outbox depth and where limits are counted are read at scrape
//! time. Labels are bounded: a route is its template (`/v1/credentials/{id}`), never
//! the path a client sent, and unmatched paths share one label.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: String,
    /// `issued`, or the OAuth error code of the refusal.
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    outbox: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    /// `hit`: answered from memory; `miss`: read from the database.
    result: &'static str,
}

/// The credential cache's counters, handed to [`crate::directory::CredentialCache`] so
/// it counts without reaching for the whole [`Metrics`].
#[derive(Debug, Clone)]
pub struct CacheCounters {
    hits: Counter,
    misses: Counter,
}

impl CacheCounters {
    /// A lookup answered from memory.
    pub fn hit(&self) {
        self.hits.inc();
    }

    /// A lookup that read the database.
    pub fn miss(&self) {
        self.misses.inc();
    }
}

type LatencyHistogram = Family<LatencyLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// A limit that refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// A credential's own requests per minute.
    Credential,
    /// The token endpoint's flood limit.
    TokenFlood,
    /// The sign-in throttle.
    SignIn,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: LatencyHistogram,
    token_grants: Family<GrantLabels, Counter>,
    limit_refusals: Family<LimitLabels, Counter>,
    db_connections: Family<StateLabels, Gauge>,
    outbox: Family<OutboxLabels, Gauge>,
    limits_in_redis: Gauge,
    credential_cache: CacheCounters,
    propagation_seconds: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        let request_seconds = LatencyHistogram::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival to its response, by route template and method",
            request_seconds.clone(),
        );
        let token_grants = Family::<GrantLabels, Counter>::default();
        registry.register(
            "token_grants",
            "Token endpoint answers by grant type and outcome (issued, or the error code)",
            token_grants.clone(),
        );
        let limit_refusals = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limit_refusals",
            "Requests refused by a limit: credential, token_flood or sign_in",
            limit_refusals.clone(),
        );
        let db_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "The database pool's connections, in use or idle",
            db_connections.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Webhook deliveries and emails waiting to be sent or retried",
            outbox.clone(),
        );
        let limits_in_redis = Gauge::default();
        registry.register(
            "limits_counted_in_redis",
            "1 while limits are counted for the cluster in Redis; 0 while each replica \
             counts alone (no Redis configured, or unreachable)",
            limits_in_redis.clone(),
        );
        let lookups = Family::<LookupLabels, Counter>::default();
        // The family's two members are the cache's own counters, so counting a lookup
        // touches no map. One statement each: `get_or_create` holds the family's lock
        // until the statement ends, and the second would wait for the first forever.
        let hits = lookups
            .get_or_create(&LookupLabels { result: "hit" })
            .clone();
        let misses = lookups
            .get_or_create(&LookupLabels { result: "miss" })
            .clone();
        let credential_cache = CacheCounters { hits, misses };
        registry.register(
            "credential_cache_lookups",
            "Credential lookups of the token check, answered from memory (hit) or read \
             from the database (miss)",
            lookups,
        );
        let propagation_seconds = Histogram::new(exponential_buckets(0.000_5, 2.0, 14));
        registry.register(
            "revocation_propagation_seconds",
            "From a change's commit on any replica (a credential deleted, disabled or \
             changed, a token or grant revoked, a user changed) to this replica applying \
             it, by the two replicas' clocks (a negative difference counts as 0)",
            propagation_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            token_grants,
            limit_refusals,
            db_connections,
            outbox,
            limits_in_redis,
            credential_cache,
            propagation_seconds,
        }
    }
}

impl Metrics {
    /// The credential cache's counters, for [`crate::directory::CredentialCache::new`].
    pub fn credential_cache(&self) -> CacheCounters {
        self.credential_cache.clone()
    }

    /// Records how long a change from the feed took to reach this replica.
    pub fn change_propagated(&self, lag: std::time::Duration) {
        self.propagation_seconds.observe(lag.as_secs_f64());
    }

    /// Counts a token endpoint answer.
    pub fn token_grant(&self, grant_type: &str, outcome: &str) {
        let grant_type = match grant_type {
            "client_credentials" | "refresh_token" => grant_type,
            _ => "other",
        };
        self.token_grants
            .get_or_create(&GrantLabels {
                grant_type: grant_type.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a request a limit refused.
    pub fn refused_by(&self, limit: Limit) {
        let limit = match limit {
            Limit::Credential => "credential",
            Limit::TokenFlood => "token_flood",
            Limit::SignIn => "sign_in",
        };
        self.limit_refusals
            .get_or_create(&LimitLabels { limit })
            .inc();
    }
}

/// The route template a request matched, carried out of the router to [`track`].
#[derive(Debug, Clone)]
struct RouteTemplate(String);

/// Runs once a route matched (a route layer): hands its template to [`track`].
pub async fn note_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

/// Counts every request and its latency by route template, method and status.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| "unmatched".to_owned(), |route| route.0.clone());
    let metrics = &state.metrics;
    metrics
        .request_seconds
        .get_or_create(&LatencyLabels {
            route: route.clone(),
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The metrics listener's router: `GET /metrics` only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    let metrics = &state.metrics;
    let (open, idle) = state.store.pool_use();
    let idle = i64::try_from(idle).unwrap_or(i64::MAX);
    metrics
        .db_connections
        .get_or_create(&StateLabels { state: "idle" })
        .set(idle);
    metrics
        .db_connections
        .get_or_create(&StateLabels { state: "in_use" })
        .set(i64::from(open) - idle);
    match state.store.outbox_depth().await {
        Ok((deliveries, emails)) => {
            metrics
                .outbox
                .get_or_create(&OutboxLabels { outbox: "webhooks" })
                .set(deliveries);
            metrics
                .outbox
                .get_or_create(&OutboxLabels { outbox: "emails" })
                .set(emails);
        }
        Err(error) => tracing::warn!(error = %error, "metrics: could not count the outbox"),
    }
    let in_redis = state
        .shared_counters
        .as_ref()
        .is_some_and(crate::cluster_limits::SharedCounters::reachable);
    metrics.limits_in_redis.set(i64::from(in_redis));
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &metrics.registry) {
        tracing::error!(error = %error, "metrics: encoding failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
