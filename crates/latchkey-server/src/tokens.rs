//! Signed tokens: the Ed25519 key ring, access and refresh tokens as JWTs, and the JWKS.
//!
//! Tokens are verified by any replica from the public keys alone; the private keys live
//! in the database, encrypted with the key-encryption key (`key_encryption`), so every
//! replica signs with the same key. Signing uses
//! `ed25519-dalek` directly because the payload needs a special encoding (below);
//! verification, with its claim checks, is `jsonwebtoken`'s.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_store::{SigningKeyRow, Store, StoreError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::error::AuthFailure;
use crate::key_encryption::{KeyEncryptionKey, Sealed};

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The JOSE `typ` of refresh tokens, so neither kind is accepted as the other.
pub const REFRESH_TOKEN_TYPE: &str = "rt+jwt";

/// The claims of both token kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    /// The client id: the credential the token acts for.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated (RFC 6749 §3.3).
    pub scope: String,
    pub user_id: i64,
    /// The id of the secret that obtained the token: it stops working with that secret.
    /// Tokens issued before this claim existed lack it and are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant the token descends from: one client-credentials grant and every
    /// refresh after it, revoked together (RFC 9700 §4.14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }
}

/// How long a new key only verifies before it signs: every replica reloads its keys
/// well within this (`Config::signing_key_reload_interval`), so no replica meets a
/// token signed with a key it does not know yet.
pub const KEY_ACTIVATION_DELAY: chrono::Duration = chrono::Duration::minutes(2);

struct LoadedKey {
    kid: String,
    created_at: DateTime<Utc>,
    signing: SigningKey,
}

/// The keys as loaded at one moment.
struct Keys {
    /// Newest first.
    keys: Vec<LoadedKey>,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

/// The keys this service signs with and accepts: every key in the database, reloaded
/// by [`crate::signing_keys`] so that a rotation reaches every replica without a
/// restart. The newest key older than [`KEY_ACTIVATION_DELAY`] signs (the oldest
/// while none is); the others only verify until they are deleted.
pub struct KeyRing {
    current: RwLock<Arc<Keys>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.keys().keys.iter().map(|k| k.kid.clone()).collect();
        f.debug_struct("KeyRing")
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the keys from the store, creating the first one on the first start.
    pub async fn load_or_create(
        store: &Store,
        kek: &KeyEncryptionKey,
        now: DateTime<Utc>,
    ) -> anyhow::Result<KeyRing> {
        if store.signing_keys().await?.is_empty() {
            match insert_new_key(store, kek, &crate::random_id(16), now).await {
                // Another replica starting at the same moment may have won; use its keys.
                Ok(_) | Err(StoreError::Conflict) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(KeyRing {
            current: RwLock::new(Arc::new(load(store, kek).await?)),
        })
    }

    /// Reads the keys again: a rotation or deletion by any replica or the command line.
    pub async fn reload(&self, store: &Store, kek: &KeyEncryptionKey) -> anyhow::Result<()> {
        let keys = Arc::new(load(store, kek).await?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    fn keys(&self) -> Arc<Keys> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The JSON Web Key Set (RFC 7517 §5) of every key we accept.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys().jwks.clone()
    }

    /// Signs `claims` as a compact JWS of type `typ` with the key active at `now`.
    pub fn sign(&self, claims: &Claims, typ: &str, now: DateTime<Utc>) -> String {
        let keys = self.keys();
        let key = active(&keys.keys, now);
        let header = serde_json::json!({ "alg": "EdDSA", "typ": typ, "kid": key.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload_json(claims))
        );
        let signature = key.signing.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// Verifies signature, type, issuer, audience and expiry.
    pub fn verify(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<Claims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthFailure::MalformedToken(describe(&e)))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthFailure::BadSignature);
        }
        let keys = self.keys();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| keys.verifying.get(kid))
            .ok_or(AuthFailure::BadSignature)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Issuer and audience are compared below, once the signature is proven, so a
        // token signed with our key for another issuer gets its own answer.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against our clock, so tests can move time.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                _ => AuthFailure::MalformedToken(describe(&e)),
            })?
            .claims;
        // Our key signed it, for another issuer: a replica with another public URL.
        if claims.iss != issuer || claims.aud != issuer {
            return Err(AuthFailure::WrongIssuer {
                issuer: claims.iss,
                expected: issuer.to_owned(),
            });
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(AuthFailure::WrongTokenType);
        }
        if claims.exp <= now.timestamp() {
            return Err(AuthFailure::TokenExpired);
        }
        Ok(claims)
    }
}

/// The newest key past its activation delay, else the oldest (a new installation's
/// only key signs at once).
fn active(keys: &[LoadedKey], now: DateTime<Utc>) -> &LoadedKey {
    keys.iter()
        .find(|key| key.created_at + KEY_ACTIVATION_DELAY <= now)
        .or_else(|| keys.last())
        .unwrap_or_else(|| unreachable!("a key ring is never empty: loading refuses that"))
}

/// Generates a key named `kid` and stores it, sealed with the key-encryption key.
pub async fn insert_new_key(
    store: &Store,
    kek: &KeyEncryptionKey,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = signing
        .to_pkcs8_der()
        .unwrap_or_else(|e| unreachable!("an Ed25519 key encodes as PKCS#8: {e}"));
    let kid = kid.to_owned();
    let row = SigningKeyRow {
        private_key_pkcs8: kek.seal(Sealed::SigningKey(&kid), der.as_bytes()),
        kid,
        created_at: now.timestamp_millis(),
    };
    store.insert_signing_key(&row).await
}

async fn load(store: &Store, kek: &KeyEncryptionKey) -> anyhow::Result<Keys> {
    keys_of(&store.signing_keys().await?, kek)
}

fn keys_of(rows: &[SigningKeyRow], kek: &KeyEncryptionKey) -> anyhow::Result<Keys> {
    let mut keys = Vec::with_capacity(rows.len());
    let mut verifying = HashMap::new();
    let mut jwks = Vec::new();
    for row in rows {
        let der = kek.open(Sealed::SigningKey(&row.kid), &row.private_key_pkcs8)?;
        let signing = SigningKey::from_pkcs8_der(der.expose_secret())
            .map_err(|e| anyhow::anyhow!("parsing signing key {}: {e}", row.kid))?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        verifying.insert(row.kid.clone(), DecodingKey::from_ed_components(&x)?);
        jwks.push(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": row.kid, "x": x,
        }));
        keys.push(LoadedKey {
            kid: row.kid.clone(),
            created_at: DateTime::from_timestamp_millis(row.created_at).unwrap_or_default(),
            signing,
        });
    }
    anyhow::ensure!(!keys.is_empty(), "the database holds no signing key");
    Ok(Keys {
        keys,
        verifying,
        jwks: serde_json::json!({ "keys": jwks }),
    })
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidToken => "it does not have three dot-separated parts".to_owned(),
        ErrorKind::Base64(_) => "a part is not base64url".to_owned(),
        ErrorKind::Json(_) => "a part is not the expected JSON".to_owned(),
        ErrorKind::Utf8(_) => "a part is not UTF-8".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the `{claim}` claim is missing"),
        _ => "it could not be decoded".to_owned(),
    }
}

/// The claims as JSON whose base64url encoding contains neither `-` nor `_`.
///
/// `kognic-auth` decodes the payload with the *standard* base64 alphabet, which drops
/// those two characters (CONTRACT.md §2.6). For ASCII bytes, base64url only produces
/// `-` or `_` from a byte whose low six bits are 62 or 63 — `>`, `?`, `~` and DEL —
/// in the third position of a 3-byte group; every other 6-bit group of ASCII text is
/// below 62. So escaping those four characters and all non-ASCII as `\uXXXX` (they
/// can only occur inside JSON strings) gives a clean encoding of the same claims.
fn payload_json(claims: &Claims) -> String {
    let raw =
        serde_json::to_string(claims).unwrap_or_else(|e| unreachable!("claims serialize: {e}"));
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii() && !matches!(c, '>' | '?' | '~' | '\u{7f}') {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let kek =
            KeyEncryptionKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .expect("key-encryption key");
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let row = SigningKeyRow {
            kid: "k1".into(),
            private_key_pkcs8: kek.seal(
                Sealed::SigningKey("k1"),
                signing.to_pkcs8_der().expect("der").as_bytes(),
            ),
            created_at: 0,
        };
        KeyRing {
            current: RwLock::new(Arc::new(keys_of(&[row], &kek).expect("ring"))),
        }
    }

    fn claims(text: &str) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            iss: "http://127.0.0.1:8080/~x?y>z".into(),
            sub: "lkc_x".into(),
            aud: "http://127.0.0.1:8080/~x?y>z".into(),
            exp: now + 3600,
            iat: now,
            jti: text.into(),
            client_id: "lkc_x".into(),
            scope: "api:read".into(),
            user_id: 7,
            sid: Some(format!("sec_{text}")),
            gid: Some(format!("g{text}")),
        }
    }

    #[test]
    fn payload_segments_never_contain_dash_or_underscore() {
        let ring = ring();
        // Each of these, unescaped, would put `-` or `_` in the payload at some offset.
        for (i, text) in ["~~~", "???", ">>>", "ünï🚀", "\u{7f}\u{7f}"]
            .iter()
            .enumerate()
        {
            for pad in 0..3 {
                let token = ring.sign(
                    &claims(&format!("{}{text}", "a".repeat(i + pad))),
                    ACCESS_TOKEN_TYPE,
                    Utc::now(),
                );
                let payload = token.split('.').nth(1).expect("payload");
                assert!(!payload.contains(['-', '_']), "{payload}");
            }
        }
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let ring = ring();
        let claims = claims("ünï~");
        let token = ring.sign(&claims, ACCESS_TOKEN_TYPE, Utc::now());
        let verified = ring
            .verify(&token, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now())
            .expect("valid");
        assert_eq!(verified, claims);
    }

    #[test]
    fn tokens_of_the_other_kind_another_key_or_alg_none_are_refused() {
        let ring = ring();
        let claims = claims("j");
        let refresh = ring.sign(&claims, REFRESH_TOKEN_TYPE, Utc::now());
        assert_eq!(
            ring.verify(&refresh, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now()),
            Err(AuthFailure::WrongTokenType)
        );
        let elsewhere = ring.sign(&claims, ACCESS_TOKEN_TYPE, Utc::now());
        assert_eq!(
            ring.verify(
                &elsewhere,
                ACCESS_TOKEN_TYPE,
                "https://other.example",
                Utc::now()
            ),
            Err(AuthFailure::WrongIssuer {
                issuer: claims.iss.clone(),
                expected: "https://other.example".to_owned(),
            })
        );
        let foreign = self::ring().sign(&claims, ACCESS_TOKEN_TYPE, Utc::now());
        assert_eq!(
            ring.verify(&foreign, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now()),
            Err(AuthFailure::BadSignature)
        );
        let token = ring.sign(&claims, ACCESS_TOKEN_TYPE, Utc::now());
        let payload = token.split('.').nth(1).expect("payload");
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#)
        );
        assert!(
            ring.verify(&none, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now())
                .is_err()
        );
    }
}
