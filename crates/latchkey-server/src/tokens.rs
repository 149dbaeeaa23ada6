//! Signed tokens: the Ed25519 key ring, access and refresh tokens as JWTs, and the JWKS.
//!
//! Tokens are verified by any replica from the public keys alone; the private keys live
//! in the database, encrypted with the key-encryption key (`key_encryption`), so every
//! replica signs with the same key. Signing uses
//! `ed25519-dalek` directly because the payload needs a special encoding (below);
//! verification, with its claim checks, is `jsonwebtoken`'s.

use std::collections::HashMap;

use anyhow::Context;
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

struct ActiveKey {
    kid: String,
    signing: SigningKey,
}

/// The keys this service signs with and accepts.
pub struct KeyRing {
    active: ActiveKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active.kid)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the keys from the store, creating the first one on the first start.
    pub async fn load_or_create(store: &Store, kek: &KeyEncryptionKey) -> anyhow::Result<KeyRing> {
        let mut rows = store.signing_keys().await?;
        if rows.is_empty() {
            let signing = SigningKey::generate(&mut rand::rngs::OsRng);
            let der = signing
                .to_pkcs8_der()
                .context("encoding the new signing key")?;
            let kid = crate::random_id(16);
            let row = SigningKeyRow {
                private_key_pkcs8: kek.seal(Sealed::SigningKey(&kid), der.as_bytes()),
                kid,
                created_at: Utc::now().timestamp_millis(),
            };
            match store.insert_signing_key(&row).await {
                // Another replica starting at the same moment may have won; use its keys.
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(error) => return Err(error.into()),
            }
            rows = store.signing_keys().await?;
        }
        KeyRing::from_rows(&rows, kek)
    }

    fn from_rows(rows: &[SigningKeyRow], kek: &KeyEncryptionKey) -> anyhow::Result<KeyRing> {
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let der = kek.open(Sealed::SigningKey(&row.kid), &row.private_key_pkcs8)?;
            let signing = SigningKey::from_pkcs8_der(der.expose_secret())
                .map_err(|e| anyhow::anyhow!("parsing signing key {}: {e}", row.kid))?;
            keys.push((row.kid.clone(), signing));
        }
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for (kid, signing) in &keys {
            let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
            verifying.insert(kid.clone(), DecodingKey::from_ed_components(&x)?);
            jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x,
            }));
        }
        let (kid, signing) = keys
            .into_iter()
            .next()
            .context("the database holds no signing key")?;
        Ok(KeyRing {
            active: ActiveKey { kid, signing },
            verifying,
            jwks: serde_json::json!({ "keys": jwks }),
        })
    }

    /// The JSON Web Key Set (RFC 7517 §5) of every key we accept.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS of type `typ`.
    pub fn sign(&self, claims: &Claims, typ: &str) -> String {
        let header = serde_json::json!({ "alg": "EdDSA", "typ": typ, "kid": self.active.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload_json(claims))
        );
        let signature = self.active.signing.sign(signing_input.as_bytes());
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
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
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
        KeyRing::from_rows(&[row], &kek).expect("ring")
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
        let token = ring.sign(&claims, ACCESS_TOKEN_TYPE);
        let verified = ring
            .verify(&token, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now())
            .expect("valid");
        assert_eq!(verified, claims);
    }

    #[test]
    fn tokens_of_the_other_kind_another_key_or_alg_none_are_refused() {
        let ring = ring();
        let claims = claims("j");
        let refresh = ring.sign(&claims, REFRESH_TOKEN_TYPE);
        assert_eq!(
            ring.verify(&refresh, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now()),
            Err(AuthFailure::WrongTokenType)
        );
        let elsewhere = ring.sign(&claims, ACCESS_TOKEN_TYPE);
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
        let foreign = self::ring().sign(&claims, ACCESS_TOKEN_TYPE);
        assert_eq!(
            ring.verify(&foreign, ACCESS_TOKEN_TYPE, &claims.iss, Utc::now()),
            Err(AuthFailure::BadSignature)
        );
        let token = ring.sign(&claims, ACCESS_TOKEN_TYPE);
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
