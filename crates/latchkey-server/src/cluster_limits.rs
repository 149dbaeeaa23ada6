//! Limits counted once for the whole cluster. With `LATCHKEY_REDIS_URL` set, the
//! per-credential rate limit, the token endpoint's flood limit and the sign-in throttles
//! are counted in Redis, each check one atomic script, so N replicas allow what one
//! would. Without Redis, and whenever it does not answer within [`RESPONSE_TIMEOUT`],
//! each replica counts alone with its in-memory limiters — requests keep being served —
//! and `/readyz` says which is in force.
//!
//! The functions at the bottom are the one way call sites ask; they pick Redis or the
//! replica's own count. Keys hold digests, never an email or an address, and start with
//! the digest of the public URL, which every replica of one cluster shares, so two
//! clusters can share one Redis.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use latchkey_core::SecretDigest;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use crate::directory::{Failures, LoginRefusal};
use crate::metrics::Limit;
use crate::rate_limit::{RateStatus, WINDOW_SECS};
use crate::state::AppState;

/// Past this, a check is answered by the replica's own count.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);

/// A fixed-window count that refuses without counting once `limit` is reached.
/// KEYS[1] the window's key; ARGV limit, window seconds. Returns {allowed, count}.
const WINDOW_SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {0, count} end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {1, count}
";

/// The generic cell rate algorithm governor runs in memory, on Redis's clock so that
/// replicas' clocks do not matter. KEYS[1] the theoretical arrival time in ms; ARGV the
/// emission interval in ms and the burst. Returns 0, or the ms to wait.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if now < tat - tolerance then return tat - tolerance - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
return 0
";

/// Sign-in failure counts: the address's, the address-on-account's, the account's,
/// each with its remaining ms. KEYS those three.
const LOGIN_READ_SCRIPT: &str = r"
local answer = {}
for _, key in ipairs(KEYS) do
  table.insert(answer, tonumber(redis.call('GET', key) or '0'))
  table.insert(answer, redis.call('PTTL', key))
end
return answer
";

/// One more failure on each of the three counts; a count's window starts with its first.
/// KEYS those three; ARGV the window in ms.
const LOGIN_FAILURE_SCRIPT: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
";

/// Counters in Redis, shared by every replica configured with the same URL.
pub struct SharedCounters {
    client: Client,
    /// The cluster's public URL, digested into every key.
    cluster: String,
    connection: Mutex<Option<ConnectionManager>>,
    reachable: AtomicBool,
    window: Script,
    gcra: Script,
    login_read: Script,
    login_failure: Script,
}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters")
            .field("reachable", &self.reachable.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SharedCounters {
    /// Parses `url`; connecting waits for [`SharedCounters::connect`], so a replica
    /// starts while Redis is down.
    pub fn new(url: &str, public_url: &str) -> anyhow::Result<SharedCounters> {
        let client = Client::open(url)
            .map_err(|error| anyhow::anyhow!("LATCHKEY_REDIS_URL is not a Redis URL ({error})"))?;
        Ok(SharedCounters {
            client,
            cluster: public_url.to_owned(),
            connection: Mutex::new(None),
            reachable: AtomicBool::new(false),
            window: Script::new(WINDOW_SCRIPT),
            gcra: Script::new(GCRA_SCRIPT),
            login_read: Script::new(LOGIN_READ_SCRIPT),
            login_failure: Script::new(LOGIN_FAILURE_SCRIPT),
        })
    }

    /// Connects when not connected yet; run at start and by the upkeep loop. Once
    /// connected, the connection manager reconnects by itself.
    pub async fn connect(&self) {
        if self.manager().is_some() {
            return;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        match self.client.get_connection_manager_with_config(config).await {
            Ok(manager) => {
                *self
                    .connection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(manager);
                self.mark(true);
            }
            Err(error) => {
                self.mark(false);
                tracing::debug!(error = %error, "Redis is not reachable yet");
            }
        }
    }

    /// Whether the last check was counted in Redis.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    fn manager(&self) -> Option<ConnectionManager> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn mark(&self, reachable: bool) {
        if self.reachable.swap(reachable, Ordering::Relaxed) != reachable {
            if reachable {
                tracing::info!("limits are counted for the cluster in Redis");
            } else {
                tracing::warn!("Redis is unreachable: limits are counted per replica");
            }
        }
    }

    /// Runs `script`; `None` (and the replica counts alone) when Redis did not answer.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[u64],
    ) -> Option<T> {
        let mut manager = self.manager()?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let answer =
            tokio::time::timeout(RESPONSE_TIMEOUT, invocation.invoke_async(&mut manager)).await;
        match answer {
            Ok(Ok(value)) => {
                self.mark(true);
                Some(value)
            }
            Ok(Err(error)) => {
                tracing::debug!(error = %error, "a Redis limit check failed");
                self.mark(false);
                None
            }
            Err(_) => {
                self.mark(false);
                None
            }
        }
    }

    async fn delete(&self, key: String) {
        if let Some(mut manager) = self.manager() {
            let deleted = tokio::time::timeout(
                RESPONSE_TIMEOUT,
                redis::cmd("DEL").arg(key).query_async::<()>(&mut manager),
            )
            .await;
            self.mark(matches!(deleted, Ok(Ok(()))));
        }
    }
}

/// Connects to Redis whenever the service is not connected, every two seconds.
pub async fn keep_connected(state: AppState) {
    let Some(counters) = &state.shared_counters else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        counters.connect().await;
    }
}

impl SharedCounters {
    fn key(&self, kind: &str, parts: &[&str]) -> String {
        let mut joined = self.cluster.clone();
        for part in parts {
            joined.push('\u{1f}');
            joined.push_str(part);
        }
        format!("latchkey:{kind}:{}", SecretDigest::of(&joined).to_hex())
    }

    fn login_keys(&self, email: &str, address: Option<IpAddr>) -> [String; 3] {
        let address = address_text(address);
        [
            self.key("login-address", &[&address]),
            self.key("login-pair", &[email, &address]),
            self.key("login-account", &[email]),
        ]
    }
}

fn address_text(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |address| address.to_string())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Counts one request of `client_id` against its own `limit` per minute.
pub async fn credential_rate(
    state: &AppState,
    client_id: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<RateStatus, RateStatus> {
    let answer = count_credential_rate(state, client_id, limit, now).await;
    if answer.is_err() {
        state.metrics.refused_by(Limit::Credential);
    }
    answer
}

async fn count_credential_rate(
    state: &AppState,
    client_id: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<RateStatus, RateStatus> {
    if let Some(shared) = &state.shared_counters {
        let window = now.timestamp().div_euclid(WINDOW_SECS);
        let reset_secs = u64::try_from((window + 1) * WINDOW_SECS - now.timestamp()).unwrap_or(1);
        let key = shared.key("rate", &[client_id, &window.to_string()]);
        let expiry = u64::try_from(WINDOW_SECS * 2).unwrap_or(120);
        if let Some((allowed, count)) = shared
            .run::<(u8, u32)>(&shared.window, &[key], &[u64::from(limit), expiry])
            .await
        {
            let status = RateStatus {
                limit,
                remaining: limit.saturating_sub(count),
                reset_secs,
            };
            return if allowed == 1 {
                Ok(status)
            } else {
                Err(status)
            };
        }
    }
    state.credential_limits.check(client_id, limit, now)
}

/// Counts one token request of `client_id` against the flood limit; `Err` with how long
/// to wait.
pub async fn token_flood(state: &AppState, client_id: &str) -> Result<(), Duration> {
    let answer = count_token_flood(state, client_id).await;
    if answer.is_err() {
        state.metrics.refused_by(Limit::TokenFlood);
    }
    answer
}

async fn count_token_flood(state: &AppState, client_id: &str) -> Result<(), Duration> {
    let Some(limit) = state.config.token_rate_limit else {
        return Ok(());
    };
    if let Some(shared) = &state.shared_counters {
        let interval_ms = (1000 / u64::from(limit.per_second.get())).max(1);
        let wait = shared
            .run::<u64>(
                &shared.gcra,
                &[shared.key("token", &[client_id])],
                &[interval_ms, u64::from(limit.burst.get())],
            )
            .await;
        if let Some(wait) = wait {
            return match wait {
                0 => Ok(()),
                ms => Err(Duration::from_millis(ms)),
            };
        }
    }
    match &state.token_limiter {
        Some(limiter) => limiter
            .check_key(&client_id.to_owned())
            .map_err(|not_until| {
                not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ))
            }),
        None => Ok(()),
    }
}

/// `Some` when `address` may not try to sign in to `email` now.
pub async fn login_refused(
    state: &AppState,
    email: &str,
    address: Option<IpAddr>,
) -> Option<LoginRefusal> {
    let refusal = judge_login(state, email, address).await;
    if refusal.is_some() {
        state.metrics.refused_by(Limit::SignIn);
    }
    refusal
}

async fn judge_login(
    state: &AppState,
    email: &str,
    address: Option<IpAddr>,
) -> Option<LoginRefusal> {
    if let Some(shared) = &state.shared_counters
        && let Some(counts) = shared
            .run::<Vec<i64>>(&shared.login_read, &shared.login_keys(email, address), &[])
            .await
    {
        let live = |at: usize| {
            let count = counts.get(at).copied().unwrap_or(0);
            let left = counts.get(at + 1).copied().unwrap_or(-2);
            (count > 0 && left > 0).then(|| Failures {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                left: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            })
        };
        let account = live(4).map_or(0, |account| account.count);
        return state.logins.judge(live(0), live(2), account);
    }
    state.logins.refused(email, address)
}

/// Counts a failed sign-in of `address` to `email`.
pub async fn login_failed(state: &AppState, email: &str, address: Option<IpAddr>) {
    if let Some(shared) = &state.shared_counters {
        let window = millis(state.logins.window());
        let counted = shared
            .run::<u8>(
                &shared.login_failure,
                &shared.login_keys(email, address),
                &[window],
            )
            .await;
        if counted.is_some() {
            return;
        }
    }
    state.logins.record_failure(email, address);
}

/// Forgets the failures of `address` on `email` after it signed in; the address's and
/// the account's counts stay.
pub async fn login_succeeded(state: &AppState, email: &str, address: Option<IpAddr>) {
    if let Some(shared) = &state.shared_counters {
        let [_, pair, _] = shared.login_keys(email, address);
        shared.delete(pair).await;
    }
    state.logins.record_success(email, address);
}
