//! Signing-key rotation: `latchkey admin rotate-signing-key`, the schedule
//! (`Config::signing_key_rotation`, 90 days by default), and each replica's loop that
//! rotates when due, deletes keys no token needs any more and reloads the key ring.
//!
//! A rotation adds a key; nothing is replaced in place. The new key is in every
//! replica's JWKS within `signing_key_reload_interval` and signs from
//! [`KEY_ACTIVATION_DELAY`] after its creation; the one before it keeps verifying
//! until every token it signed has expired (the longest token lifetime after the new
//! key took over), then it is deleted. A key's successor has an id derived from its
//! own, and a rotation waiting for its activation is not repeated, so replicas that
//! find a rotation due at the same moment insert one key, not several.

use chrono::{DateTime, Utc};
use latchkey_core::SecretDigest;
use latchkey_store::{Store, StoreError};

use crate::config::Config;
use crate::key_encryption::{self, KeyEncryptionKey};
use crate::state::AppState;
use crate::tokens::{KEY_ACTIVATION_DELAY, insert_new_key};

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key that signed until now.
    pub previous_kid: String,
    pub new_kid: String,
    /// From when the new key signs.
    pub signs_from: DateTime<Utc>,
}

/// The id a key's successor gets.
fn successor_of(kid: &str) -> String {
    let digest = SecretDigest::of(&format!("successor of {kid}")).to_hex();
    digest.chars().take(16).collect()
}

/// Adds the successor of the newest key, created `now` — unless a rotation is already
/// waiting for its activation, which is then the answer: rotating twice within
/// [`KEY_ACTIVATION_DELAY`] makes one key. Replicas (or operators) rotating the same
/// key at the same moment make the same key id, and only one of them is stored.
pub async fn rotate(
    store: &Store,
    kek: &KeyEncryptionKey,
    now: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    let keys = store.signing_keys().await?;
    let created = |at: i64| DateTime::from_timestamp_millis(at).unwrap_or_default();
    if let [newest, previous, ..] = keys.as_slice()
        && created(newest.created_at) + KEY_ACTIVATION_DELAY > now
    {
        return Ok(Rotation {
            previous_kid: previous.kid.clone(),
            new_kid: newest.kid.clone(),
            signs_from: created(newest.created_at) + KEY_ACTIVATION_DELAY,
        });
    }
    let previous_kid = keys.first().map(|key| key.kid.clone()).unwrap_or_default();
    let new_kid = successor_of(&previous_kid);
    // Strictly newer than its predecessor, whatever the clocks say: the order of
    // creation is what decides which key signs and which one is replaced.
    let created_at = keys
        .first()
        .map_or(now, |key| now.max(created(key.created_at + 1)));
    match insert_new_key(store, kek, &new_kid, created_at).await {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(error) => return Err(error),
    }
    Ok(Rotation {
        previous_kid,
        new_kid,
        signs_from: created_at + KEY_ACTIVATION_DELAY,
    })
}

/// Rotates when the newest key is older than `every`.
pub async fn rotate_if_due(
    store: &Store,
    kek: &KeyEncryptionKey,
    now: DateTime<Utc>,
    every: chrono::Duration,
) -> Result<Option<Rotation>, StoreError> {
    let newest = store
        .signing_keys()
        .await?
        .first()
        .map(|key| key.created_at);
    let due = newest
        .and_then(DateTime::from_timestamp_millis)
        .is_none_or(|created| created + every <= now);
    if !due {
        return Ok(None);
    }
    rotate(store, kek, now).await.map(Some)
}

/// How long a replaced key must keep verifying after its successor took over: the
/// longest a token it signed can live.
fn retention(config: &Config) -> chrono::Duration {
    let longest = config
        .refresh_token_ttl
        .max(config.access_token_ttl)
        .max(std::time::Duration::from_secs(24 * 3600));
    chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::days(30))
}

/// The rotation for `latchkey admin rotate-signing-key`: opens the database with the
/// configured key-encryption key and rotates now.
pub async fn rotate_now(config: &Config) -> anyhow::Result<(Rotation, DateTime<Utc>)> {
    let store = crate::open_store(config).await?;
    let kek = key_encryption::prepare(config, &store).await?;
    let now = config.clock.now();
    let rotation = rotate(&store, &kek, now).await?;
    store.close().await;
    let previous_retired_after = rotation.signs_from + retention(config);
    Ok((rotation, previous_retired_after))
}

/// Each replica's key upkeep, every `signing_key_reload_interval`: the scheduled
/// rotation, deleting keys no token needs, and reloading the ring.
pub async fn maintain(state: AppState) {
    let mut tick = tokio::time::interval(state.config.signing_key_reload_interval);
    loop {
        tick.tick().await;
        if let Err(error) = upkeep(&state).await {
            tracing::warn!(error = %format!("{error:#}"), "signing-key upkeep failed");
        }
    }
}

async fn upkeep(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    if let Some(every) = state.config.signing_key_rotation
        && let Some(rotation) = rotate_if_due(
            &state.store,
            &state.kek,
            now,
            chrono::Duration::from_std(every)?,
        )
        .await?
    {
        tracing::info!(
            previous = %rotation.previous_kid,
            new = %rotation.new_kid,
            "scheduled signing-key rotation"
        );
    }
    let successor_before = now - KEY_ACTIVATION_DELAY - retention(&state.config);
    let deleted = state
        .store
        .delete_replaced_signing_keys(successor_before.timestamp_millis())
        .await?;
    if deleted > 0 {
        tracing::info!(deleted, "deleted signing keys no token needs any more");
    }
    state.keys.reload(&state.store, &state.kek).await
}
