//! Secrets at rest: the private signing keys and the webhook signing secrets are stored
//! encrypted with the operator's key-encryption key (KEK), so a copy of the database
//! alone mints no token and forges no delivery.
//!
//! A stored value is `v1:<base64 of nonce ‖ ciphertext>`: XChaCha20-Poly1305 with a
//! fresh random 24-byte nonce per value, and the row's identity (`signing-key:<kid>`,
//! `webhook-secret:<id>`) as associated data, so a ciphertext copied into another row
//! does not open. Values without the `v1:` prefix are the plain ones written before
//! encryption; [`prepare`] encrypts them on the first start that has a KEK.
//!
//! The KEK comes from `LATCHKEY_KEY_ENCRYPTION_KEY` (base64 of 32 bytes), from the file
//! `LATCHKEY_KEY_ENCRYPTION_KEY_FILE` names, or from `<data_dir>/key-encryption-key`,
//! generated on the first start so that a start without configuration works. Replicas
//! sharing a PostgreSQL database must share the KEK; a start that has none while the
//! database already holds encrypted values is refused rather than given a new one.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use latchkey_store::{Backend, Store};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};

use crate::config::Config;
use crate::data_dir;

/// The prefix of the current stored format.
const V1: &str = "v1:";
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// Where the KEK comes from when the operator gives one.
#[derive(Debug, Clone)]
pub enum KeyEncryptionKeySource {
    /// The key itself, base64 of 32 bytes (`LATCHKEY_KEY_ENCRYPTION_KEY`).
    Value(SecretString),
    /// A file holding that base64 text (`LATCHKEY_KEY_ENCRYPTION_KEY_FILE`).
    File(PathBuf),
}

/// Which row a stored value belongs to; its associated data.
#[derive(Debug, Clone, Copy)]
pub enum Sealed<'a> {
    /// The PKCS#8 DER of the signing key with this `kid`.
    SigningKey(&'a str),
    /// The `whsec_…` signing secret of the webhook endpoint with this id.
    WebhookSecret(&'a str),
    /// A new credentials file on its way to the one page that shows it, for the session
    /// with this token digest (never stored: it travels in a cookie).
    Reveal(&'a str),
}

impl Sealed<'_> {
    fn associated_data(self) -> String {
        match self {
            Sealed::SigningKey(kid) => format!("latchkey:signing-key:{kid}"),
            Sealed::WebhookSecret(id) => format!("latchkey:webhook-secret:{id}"),
            Sealed::Reveal(session) => format!("latchkey:reveal:{session}"),
        }
    }

    /// The row as the operator reads it in an error.
    fn describe(self) -> String {
        match self {
            Sealed::SigningKey(kid) => format!("signing key {kid}"),
            Sealed::WebhookSecret(id) => format!("the signing secret of webhook {id}"),
            Sealed::Reveal(_) => "a new credentials file of another session".to_owned(),
        }
    }
}

/// A stored value that does not open with this KEK: another KEK sealed it, or it was
/// changed or moved. Says which row, never what it holds.
#[derive(Debug, thiserror::Error)]
#[error("the key-encryption key does not decrypt {0}")]
pub struct OpenError(String);

/// The key-encryption key; its `Debug` prints nothing of it.
pub struct KeyEncryptionKey(SecretBox<[u8; KEY_BYTES]>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// Parses the base64 text of 32 bytes (surrounding whitespace ignored); the error
    /// never repeats the text.
    pub fn parse(text: &str) -> anyhow::Result<KeyEncryptionKey> {
        let bytes = STANDARD
            .decode(text.trim())
            .ok()
            .filter(|bytes| bytes.len() == KEY_BYTES)
            .context(
                "a key-encryption key is the base64 of 32 random bytes, such as \
                 `openssl rand -base64 32` prints",
            )?;
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(&bytes);
        Ok(KeyEncryptionKey(SecretBox::new(Box::new(key))))
    }

    fn generate() -> KeyEncryptionKey {
        let mut key = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        KeyEncryptionKey(SecretBox::new(Box::new(key)))
    }

    fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.0.expose_secret()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose_secret().into())
    }

    /// Encrypts `plaintext` for the row `row`, in the stored format.
    pub fn seal(&self, row: Sealed<'_>, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = row.associated_data();
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encrypts any short message"));
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&ciphertext);
        format!("{V1}{}", STANDARD.encode(stored))
    }

    /// Decrypts a value of the row `row` in the stored format.
    pub fn open(&self, row: Sealed<'_>, stored: &str) -> Result<SecretSlice<u8>, OpenError> {
        let fail = || OpenError(row.describe());
        let bytes = stored
            .strip_prefix(V1)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .ok_or_else(fail)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| fail())?;
        let aad = row.associated_data();
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(SecretSlice::from)
            .map_err(|_| fail())
    }
}

/// Whether a stored value is encrypted, rather than a plain one from before.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(V1)
}

/// Finds the KEK, checks that it opens every encrypted value in the database, and
/// encrypts the plain ones left by an older version (once: they are encrypted after).
pub async fn prepare(config: &Config, store: &Store) -> anyhow::Result<KeyEncryptionKey> {
    let keys = store.signing_keys().await?;
    let webhooks = store.webhook_signing_secrets().await?;
    let encrypted = keys.iter().any(|key| is_sealed(&key.private_key_pkcs8))
        || webhooks.iter().any(|(_, secret)| is_sealed(secret));
    let kek = resolve(config, store.backend(), encrypted)?;
    let hint = |error: OpenError| {
        anyhow::anyhow!(
            "{error}; start with the key-encryption key it was encrypted with \
             (LATCHKEY_KEY_ENCRYPTION_KEY, LATCHKEY_KEY_ENCRYPTION_KEY_FILE or {}) — every \
             replica of one database needs the same one",
            config
                .data_dir
                .join(data_dir::KEY_ENCRYPTION_KEY_FILE)
                .display()
        )
    };
    for key in keys.iter().filter(|key| is_sealed(&key.private_key_pkcs8)) {
        kek.open(Sealed::SigningKey(&key.kid), &key.private_key_pkcs8)
            .map_err(hint)?;
    }
    for (id, secret) in webhooks.iter().filter(|(_, secret)| is_sealed(secret)) {
        kek.open(Sealed::WebhookSecret(id), secret).map_err(hint)?;
    }
    let mut upgraded = (0, 0);
    for key in keys.iter().filter(|key| !is_sealed(&key.private_key_pkcs8)) {
        let der = STANDARD
            .decode(&key.private_key_pkcs8)
            .with_context(|| format!("signing key {} is neither encrypted nor base64", key.kid))?;
        let sealed = kek.seal(Sealed::SigningKey(&key.kid), &der);
        // Conditional on the old value: a replica upgrading at the same moment wins once.
        if store
            .replace_signing_key(&key.kid, &key.private_key_pkcs8, &sealed)
            .await?
        {
            upgraded.0 += 1;
        }
    }
    for (id, secret) in webhooks.iter().filter(|(_, secret)| !is_sealed(secret)) {
        let sealed = kek.seal(Sealed::WebhookSecret(id), secret.as_bytes());
        if store
            .replace_webhook_signing_secret(id, secret, &sealed)
            .await?
        {
            upgraded.1 += 1;
        }
    }
    if upgraded != (0, 0) {
        tracing::info!(
            signing_keys = upgraded.0,
            webhook_secrets = upgraded.1,
            "encrypted the plain signing keys and webhook secrets with the key-encryption key"
        );
    }
    Ok(kek)
}

/// The configured KEK; else the one in the data directory; else a new one written
/// there — unless the database already holds values some KEK encrypted.
fn resolve(config: &Config, backend: Backend, encrypted: bool) -> anyhow::Result<KeyEncryptionKey> {
    match &config.key_encryption_key {
        Some(KeyEncryptionKeySource::Value(text)) => {
            return KeyEncryptionKey::parse(text.expose_secret())
                .context("LATCHKEY_KEY_ENCRYPTION_KEY");
        }
        Some(KeyEncryptionKeySource::File(path)) => return read(path),
        None => {}
    }
    let path = config.data_dir.join(data_dir::KEY_ENCRYPTION_KEY_FILE);
    if path.exists() {
        return read(&path);
    }
    if encrypted {
        anyhow::bail!(
            "the database holds signing keys encrypted with a key-encryption key, but none \
             was given and {} does not exist; set LATCHKEY_KEY_ENCRYPTION_KEY (or \
             LATCHKEY_KEY_ENCRYPTION_KEY_FILE) to the key the other replicas use, or restore \
             that file from the backup",
            path.display()
        );
    }
    let kek = KeyEncryptionKey::generate();
    match data_dir::create_private_file(&path, kek.to_base64().expose_secret().as_bytes()) {
        Ok(()) => {}
        // Another process on this data directory wrote one first; use it.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return read(&path),
        Err(error) => {
            return Err(error).with_context(|| format!("writing {}", path.display()));
        }
    }
    match backend {
        Backend::Sqlite => tracing::info!(
            path = %path.display(),
            "generated the key-encryption key; back it up with the database"
        ),
        Backend::Postgres => tracing::warn!(
            path = %path.display(),
            "generated the key-encryption key in the local data directory; give every \
             replica of this database the same key with LATCHKEY_KEY_ENCRYPTION_KEY, and \
             back it up with the database"
        ),
    }
    Ok(kek)
}

fn read(path: &Path) -> anyhow::Result<KeyEncryptionKey> {
    let text = SecretString::from(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the key-encryption key {}", path.display()))?,
    );
    KeyEncryptionKey::parse(text.expose_secret())
        .with_context(|| format!("the key-encryption key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_in_its_row() {
        let kek = KeyEncryptionKey::generate();
        let sealed = kek.seal(Sealed::WebhookSecret("wh_a"), b"whsec_x");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("whsec_x"));
        let opened = kek
            .open(Sealed::WebhookSecret("wh_a"), &sealed)
            .expect("opens");
        assert_eq!(opened.expose_secret(), b"whsec_x");
        assert_ne!(
            sealed,
            kek.seal(Sealed::WebhookSecret("wh_a"), b"whsec_x"),
            "a fresh nonce per value"
        );
        assert!(kek.open(Sealed::WebhookSecret("wh_b"), &sealed).is_err());
        assert!(kek.open(Sealed::SigningKey("wh_a"), &sealed).is_err());
        let other = KeyEncryptionKey::generate();
        let error = other
            .open(Sealed::WebhookSecret("wh_a"), &sealed)
            .expect_err("another key");
        assert_eq!(
            error.to_string(),
            "the key-encryption key does not decrypt the signing secret of webhook wh_a"
        );
    }

    #[test]
    fn a_key_is_the_base64_of_32_bytes() {
        let kek = KeyEncryptionKey::generate();
        let text = kek.to_base64();
        assert!(KeyEncryptionKey::parse(&format!("{}\n", text.expose_secret())).is_ok());
        assert!(KeyEncryptionKey::parse("c2hvcnQ=").is_err());
        assert!(KeyEncryptionKey::parse("not base64!").is_err());
    }
}
