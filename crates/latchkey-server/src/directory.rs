//! The in-memory view of credentials, revocations and usage that keeps the token path
//! and the bearer check off the database.
//!
//! * [`CredentialCache`]: each credential is read once and kept until the change feed
//!   (`crate::feed`) says it changed, or `ttl` passed — a safety net, not the way
//!   changes arrive.
//! * [`RevocationList`]: revoked token and grant ids, loaded at start and kept current
//!   by the change feed.
//! * [`UsageTracker`]: "last used" (time, address, user agent, secret) and the hourly
//!   usage counters (`crate::usage_history`) gathered in memory and written in batches.
//! * [`LoginThrottle`]: failed sign-ins per account and client address.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use latchkey_core::access::{OrganizationRole, WorkspaceRole};
use latchkey_core::{AllowedNetworks, Scopes, SecretDigest};
use latchkey_store::{CredentialUsage, Store, StoreError, Use, UserRow};

use crate::metrics::CacheCounters;
use crate::usage_history::UsageCounters;

/// One secret of a cached credential.
#[derive(Debug, Clone)]
pub struct CachedSecret {
    pub id: String,
    pub digest: SecretDigest,
    pub prefix: String,
    /// Set once the secret was rolled: it stops working then.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the token endpoint and the bearer check need to know about a credential.
#[derive(Debug, Clone)]
pub struct CachedCredential {
    pub client_id: String,
    pub name: String,
    /// Newest first; expired ones included, so a refusal can say the secret was rolled.
    pub secrets: Vec<CachedSecret>,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Set while the owner has the credential disabled: refused like a deleted one.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The workspaces the credential is limited to; `None`: every one its user reaches.
    pub workspaces: Option<BTreeSet<String>>,
    /// Where it may be used from; `None`: anywhere.
    pub allowed_networks: Option<AllowedNetworks>,
    pub rate_limit_per_minute: Option<u32>,
    /// The owner, as of when the credential was loaded.
    pub user: UserRow,
}

struct CacheEntry {
    loaded: Instant,
    credential: Arc<CachedCredential>,
}

/// Loads of different client ids proceed in parallel up to this many at a time.
const LOAD_SHARDS: usize = 16;

pub struct CredentialCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, CacheEntry>>,
    /// Counts invalidations. A load that began before one may have read what the
    /// invalidation is about, so its result is used but not kept.
    invalidations: AtomicU64,
    /// When an entry expires under load, one request reloads it and the others wait for
    /// that load instead of each querying the database.
    loading: [tokio::sync::Mutex<()>; LOAD_SHARDS],
    counters: CacheCounters,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// A cache that counts its hits and misses in `counters`.
    pub fn new(ttl: Duration, counters: CacheCounters) -> Self {
        CredentialCache {
            ttl,
            entries: RwLock::default(),
            invalidations: AtomicU64::new(0),
            loading: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
            counters,
        }
    }

    fn fresh(&self, client_id: &str) -> Option<Arc<CachedCredential>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(client_id)?;
        (entry.loaded.elapsed() < self.ttl).then(|| entry.credential.clone())
    }

    /// The credential (deleted ones included), from memory when fresh enough.
    pub async fn get(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Option<Arc<CachedCredential>>, StoreError> {
        if let Some(credential) = self.fresh(client_id) {
            self.counters.hit();
            return Ok(Some(credential));
        }
        let shard = client_id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        let _loading = self.loading[shard % LOAD_SHARDS].lock().await;
        if let Some(credential) = self.fresh(client_id) {
            // Another request's load answered this one: no database read of its own.
            self.counters.hit();
            return Ok(Some(credential));
        }
        self.counters.miss();
        let loaded = Instant::now();
        let invalidations = self.invalidations.load(Ordering::Acquire);
        let credential = load(store, client_id).await?.map(Arc::new);
        // Unknown ids are not remembered: anyone can send well-formed random ids, and
        // memory must follow the credentials that exist, not the ones that were tried.
        if let Some(credential) = &credential {
            let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            if self.invalidations.load(Ordering::Acquire) == invalidations {
                entries.insert(
                    client_id.to_owned(),
                    CacheEntry {
                        loaded,
                        credential: credential.clone(),
                    },
                );
            }
        }
        Ok(credential)
    }

    /// Forgets a credential so the next use reads the database.
    pub fn invalidate(&self, client_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.remove(client_id);
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets every credential of a user (each holds the user as loaded).
    pub fn invalidate_user(&self, user_id: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, entry| entry.credential.user.id != user_id);
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets every credential.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.clear();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops stale entries so memory follows the set of credentials in use.
    pub fn prune(&self) {
        let ttl = self.ttl;
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, entry| entry.loaded.elapsed() < ttl);
    }
}

async fn load(store: &Store, client_id: &str) -> Result<Option<CachedCredential>, StoreError> {
    let Some(row) = store.credential(client_id).await? else {
        return Ok(None);
    };
    let Some(user) = store.user_by_id(row.user_id).await? else {
        return Ok(None);
    };
    let secrets: Option<Vec<CachedSecret>> = store
        .credential_secrets(client_id)
        .await?
        .into_iter()
        .map(|secret| {
            Some(CachedSecret {
                digest: SecretDigest::from_hex(&secret.digest)?,
                expires_at: secret.expires_at(),
                id: secret.id,
                prefix: secret.prefix,
            })
        })
        .collect();
    let allowed_networks = row
        .allowed_networks
        .as_deref()
        .map(|text| AllowedNetworks::parse(text.split(' ')));
    let rate_limit = row.rate_limit_per_minute.map(u32::try_from);
    let (Some(secrets), Ok(scopes), Ok(allowed_networks), Ok(rate_limit_per_minute)) = (
        secrets,
        Scopes::parse(&row.scopes),
        allowed_networks.transpose(),
        rate_limit.transpose(),
    ) else {
        tracing::error!(credential.id = %row.client_id, "stored credential is corrupt; refusing it");
        return Ok(None);
    };
    Ok(Some(CachedCredential {
        workspaces: row.workspace_ids.as_deref().map(|ids| {
            ids.split(' ')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        expires_at: row.expires_at(),
        deleted_at: row.deleted_at(),
        disabled_at: row.disabled_at(),
        client_id: row.client_id,
        name: row.name,
        secrets,
        scopes,
        allowed_networks,
        rate_limit_per_minute,
        user,
    }))
}

/// Revoked token ids (`jti`) and grant ids (`gid`), each until the tokens it covers
/// would have expired anyway.
#[derive(Debug, Default)]
pub struct RevocationList {
    revoked: RwLock<HashMap<String, DateTime<Utc>>>,
    grants: RwLock<HashMap<String, DateTime<Utc>>>,
}

impl RevocationList {
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(jti)
    }

    pub fn insert(&self, jti: String, expires_at: DateTime<Utc>) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(jti, expires_at);
    }

    pub fn is_grant_revoked(&self, grant_id: &str) -> bool {
        self.grants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(grant_id)
    }

    pub fn insert_grant(&self, grant_id: String, expires_at: DateTime<Utc>) {
        self.grants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(grant_id, expires_at);
    }

    /// Adds every unexpired revocation in the database (by any replica); later ones
    /// arrive through the change feed.
    pub async fn load(&self, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let tokens = store.revoked_tokens(now).await?;
        let grants = store.revoked_grants(now).await?;
        for (map, all) in [(&self.revoked, tokens), (&self.grants, grants)] {
            map.write()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(all);
        }
        Ok(())
    }

    /// Forgets revocations whose tokens have expired anyway.
    pub fn prune(&self, now: DateTime<Utc>) {
        for map in [&self.revoked, &self.grants] {
            map.write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, expires_at| *expires_at > now);
        }
    }
}

/// Uses of credentials (when, from where, with which client, which secret) not yet
/// written to the database.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<String, CredentialUsage>>,
    /// Grants, calls and refusals per hour, flushed with the uses.
    pub counters: UsageCounters,
}

/// The pending usage of a credential; the key is allocated only for the first use since
/// the last flush, not on every call.
fn usage_of<'a>(
    pending: &'a mut HashMap<String, CredentialUsage>,
    client_id: &str,
) -> Option<&'a mut CredentialUsage> {
    if !pending.contains_key(client_id) {
        pending.insert(client_id.to_owned(), CredentialUsage::default());
    }
    pending.get_mut(client_id)
}

fn newer(slot: &mut Option<Use>, used: Use) {
    if slot.as_ref().is_none_or(|old| old.at <= used.at) {
        *slot = Some(used);
    }
}

impl UsageTracker {
    /// A token grant with the secret `secret_id`.
    pub fn record_grant(&self, client_id: &str, secret_id: &str, used: Use) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(usage) = usage_of(&mut pending, client_id) else {
            return;
        };
        match usage.secrets.iter_mut().find(|(id, _)| id == secret_id) {
            Some((_, at)) => *at = (*at).max(used.at),
            None => usage.secrets.push((secret_id.to_owned(), used.at)),
        }
        newer(&mut usage.grant, used);
    }

    /// An API call with one of the credential's tokens.
    pub fn record_call(&self, client_id: &str, used: Use) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        newer(
            &mut pending.entry(client_id.to_owned()).or_default().call,
            used,
        );
    }

    /// The uses of a credential on this replica not yet written.
    pub fn pending(&self, client_id: &str) -> Option<CredentialUsage> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_id)
            .cloned()
    }

    /// Writes the gathered uses in one transaction; on failure they are kept for the
    /// next attempt.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        self.counters.flush(store).await?;
        let batch: Vec<(String, CredentialUsage)> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, usage)| (id.clone(), usage.clone()))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        store.record_usage(&batch).await?;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (client_id, usage) in batch {
            if pending.get(&client_id) == Some(&usage) {
                pending.remove(&client_id);
            }
        }
        Ok(())
    }
}

/// Why a sign-in is refused before its password is checked, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// This address failed too often, whatever the accounts.
    Address(Duration),
    /// This address failed too often on this account.
    Account(Duration),
}

/// Failed sign-ins within a window, and the time left in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub left: Duration,
}

/// Failed sign-ins, counted so that password guessing is slow and a guesser cannot lock
/// the owner out. Counts are per client address ([`crate::origin::Origin::client_key`])
/// and age out `window` after the first failure they count:
///
/// * an address with `max_per_pair` failures on one account is refused for that
///   account;
/// * an address with `max_per_address` failures, whatever the accounts, is refused
///   for every account;
/// * an account with `max_per_address` failures from any number of addresses is under
///   attack: every address that has failed on it is refused for it.
///
/// An address that has not failed is never refused, so the owner signs in from their
/// own address while their account is attacked from others. Unknown emails count like
/// accounts. Entries are made only by failures, which each cost a password hash, so
/// the hashing limit bounds how fast they grow.
#[derive(Debug)]
pub struct LoginThrottle {
    max_per_pair: u32,
    max_per_address: u32,
    window: Duration,
    failures: Mutex<LoginFailures>,
}

#[derive(Debug, Default)]
struct LoginFailures {
    pairs: HashMap<(String, Option<IpAddr>), FailureCount>,
    addresses: HashMap<Option<IpAddr>, FailureCount>,
    accounts: HashMap<String, FailureCount>,
}

#[derive(Debug, Clone, Copy)]
struct FailureCount {
    count: u32,
    since: Instant,
}

impl FailureCount {
    /// The count, unless its window has passed.
    fn live(count: Option<&FailureCount>, window: Duration) -> Option<FailureCount> {
        count.copied().filter(|c| c.since.elapsed() < window)
    }

    fn add(count: &mut FailureCount, window: Duration) {
        if count.since.elapsed() >= window {
            *count = FailureCount {
                count: 0,
                since: Instant::now(),
            };
        }
        count.count += 1;
    }
}

impl LoginThrottle {
    pub fn new(max_per_pair: u32, max_per_address: u32, window: Duration) -> Self {
        LoginThrottle {
            max_per_pair,
            max_per_address,
            window,
            failures: Mutex::default(),
        }
    }

    /// `Some` when `address` may not try to sign in to `email` now.
    pub fn refused(&self, email: &str, address: Option<IpAddr>) -> Option<LoginRefusal> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.window;
        let counted = |count: Option<&FailureCount>| {
            FailureCount::live(count, window).map(|count| Failures {
                count: count.count,
                left: window.saturating_sub(count.since.elapsed()),
            })
        };
        self.judge(
            counted(failures.addresses.get(&address)),
            counted(failures.pairs.get(&(email.to_owned(), address))),
            counted(failures.accounts.get(email)).map_or(0, |account| account.count),
        )
    }

    /// The rule, from the live counts of the address, of the address on the account,
    /// and of the account — wherever they were counted.
    pub fn judge(
        &self,
        address: Option<Failures>,
        pair: Option<Failures>,
        account: u32,
    ) -> Option<LoginRefusal> {
        if let Some(address) = address
            && address.count >= self.max_per_address
        {
            return Some(LoginRefusal::Address(address.left));
        }
        let pair = pair?;
        let under_attack = account >= self.max_per_address;
        (pair.count >= self.max_per_pair || under_attack)
            .then_some(LoginRefusal::Account(pair.left))
    }

    /// How long a failure counts.
    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn record_failure(&self, email: &str, address: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = FailureCount {
            count: 0,
            since: Instant::now(),
        };
        let window = self.window;
        FailureCount::add(
            failures
                .pairs
                .entry((email.to_owned(), address))
                .or_insert(fresh),
            window,
        );
        FailureCount::add(failures.addresses.entry(address).or_insert(fresh), window);
        FailureCount::add(
            failures.accounts.entry(email.to_owned()).or_insert(fresh),
            window,
        );
    }

    /// Forgets the failures of this address on this account; the address's and the
    /// account's counts stay, so a success is no way around them.
    pub fn record_success(&self, email: &str, address: Option<IpAddr>) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pairs
            .remove(&(email.to_owned(), address));
    }

    pub fn prune(&self) {
        let window = self.window;
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.pairs.retain(|_, c| c.since.elapsed() < window);
        failures.addresses.retain(|_, c| c.since.elapsed() < window);
        failures.accounts.retain(|_, c| c.since.elapsed() < window);
    }
}

/// A person's organization and workspace roles, as the permission decision needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccess {
    pub is_operator: bool,
    pub organization: Option<(i64, OrganizationRole)>,
    pub workspace_roles: BTreeMap<String, WorkspaceRole>,
}

/// [`UserAccess`] per user, kept until the change feed says the user changed (a role
/// change on any replica), or `ttl` passed.
#[derive(Debug)]
pub struct AccessCache {
    ttl: Duration,
    entries: RwLock<HashMap<i64, (Instant, Arc<UserAccess>)>>,
    /// As [`CredentialCache`]'s: a load that an invalidation overtook is not kept.
    invalidations: AtomicU64,
}

impl AccessCache {
    pub fn new(ttl: Duration) -> Self {
        AccessCache {
            ttl,
            entries: RwLock::default(),
            invalidations: AtomicU64::new(0),
        }
    }

    pub async fn get(&self, store: &Store, user: &UserRow) -> Result<Arc<UserAccess>, StoreError> {
        if let Some((loaded, access)) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user.id)
            && loaded.elapsed() < self.ttl
        {
            return Ok(access.clone());
        }
        let loaded = Instant::now();
        let invalidations = self.invalidations.load(Ordering::Acquire);
        let roles = store.workspace_roles(user.id).await?;
        let access = Arc::new(UserAccess {
            is_operator: user.is_admin(),
            organization: user.organization_id.zip(
                user.organization_role
                    .as_deref()
                    .and_then(OrganizationRole::parse),
            ),
            workspace_roles: roles
                .into_iter()
                .filter_map(|(workspace, role)| WorkspaceRole::parse(&role).map(|r| (workspace, r)))
                .collect(),
        });
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.invalidations.load(Ordering::Acquire) == invalidations {
            entries.insert(user.id, (loaded, access.clone()));
        }
        Ok(access)
    }

    pub fn invalidate(&self, user_id: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.remove(&user_id);
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.clear();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    pub fn prune(&self) {
        let ttl = self.ttl;
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (loaded, _)| loaded.elapsed() < ttl);
    }
}
