//! Client ids and client secrets: their format, generation, parsing and digests.
//!
//! A client secret is `lksk_` + 43 random base-62 characters (256 bits) + a 6-character
//! base-62 CRC32 of the random part. The prefix lets secret scanners find a leaked
//! secret; the checksum lets us refuse a mistyped or truncated one before any lookup.
//! Only the SHA-256 digest of a secret is ever stored: a slow hash adds nothing for
//! 256 random bits and would cap token throughput.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random::{BASE62, base62, base62_fixed};

/// The fixed prefix of every client secret.
pub const SECRET_PREFIX: &str = "lksk_";
const SECRET_RANDOM_LEN: usize = 43;
const SECRET_CHECKSUM_LEN: usize = 6;
/// Total length of a client secret.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + SECRET_RANDOM_LEN + SECRET_CHECKSUM_LEN;

/// The fixed prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "lkc_";
const CLIENT_ID_RANDOM_LEN: usize = 22;

/// Why a string is not a client secret. The variants never carry the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("the client secret does not start with `{SECRET_PREFIX}`")]
    Prefix,
    #[error("the client secret has the wrong length (expected {SECRET_LEN} characters)")]
    Length,
    #[error("the client secret contains characters other than letters and digits")]
    Alphabet,
    #[error("the client secret's checksum does not match: it was probably mistyped or truncated")]
    Checksum,
}

/// A client secret. Its `Debug` prints nothing secret.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// A new secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let random = base62(SECRET_RANDOM_LEN);
        let checksum = checksum(&random);
        ClientSecret(SecretString::from(format!(
            "{SECRET_PREFIX}{random}{checksum}"
        )))
    }

    /// Accepts a well-formed secret with a valid checksum; surrounding whitespace (as
    /// left by copy and paste) is ignored.
    pub fn parse(text: &str) -> Result<Self, SecretFormatError> {
        let text = text.trim();
        let rest = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretFormatError::Prefix)?;
        if rest.len() != SECRET_RANDOM_LEN + SECRET_CHECKSUM_LEN {
            return Err(SecretFormatError::Length);
        }
        if !rest.bytes().all(|b| BASE62.contains(&b)) {
            return Err(SecretFormatError::Alphabet);
        }
        let (random, given) = rest.split_at(SECRET_RANDOM_LEN);
        if checksum(random).as_bytes().ct_eq(given.as_bytes()).into() {
            Ok(ClientSecret(SecretString::from(text.to_owned())))
        } else {
            Err(SecretFormatError::Checksum)
        }
    }

    /// The secret itself, for the one place that shows it once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The first characters (`lksk_` and 4 of the random part), kept to tell secrets
    /// apart in lists: 24 of its 256 bits, so what remains is still beyond guessing.
    pub fn prefix(&self) -> &str {
        self.0.expose_secret().get(..9).unwrap_or_default()
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(self.expose())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(\"lksk_…\")")
    }
}

fn checksum(random: &str) -> String {
    base62_fixed(
        u64::from(crc32fast::hash(random.as_bytes())),
        SECRET_CHECKSUM_LEN,
    )
}

/// The SHA-256 digest of a secret or other bearer value: what we store instead of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(value: &str) -> Self {
        SecretDigest(Sha256::digest(value.as_bytes()).into())
    }

    /// Compares in constant time, so response timing reveals nothing about the digest.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(SecretDigest(bytes))
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(…)")
    }
}

/// Whether two bearer values (CSRF tokens, say) are equal, in time that reveals neither
/// their content nor their length: the digests are compared, not the strings.
pub fn tokens_match(a: &str, b: &str) -> bool {
    SecretDigest::of(a).matches(&SecretDigest::of(b))
}

/// A client id: public, but unguessable (`lkc_` + 22 base-62 characters, 131 bits), so
/// that knowing one person's id tells nothing about another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        ClientId(format!(
            "{CLIENT_ID_PREFIX}{}",
            base62(CLIENT_ID_RANDOM_LEN)
        ))
    }

    /// Accepts only the shape we generate, so junk never reaches a query.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix(CLIENT_ID_PREFIX)?;
        (rest.len() == CLIENT_ID_RANDOM_LEN && rest.bytes().all(|b| BASE62.contains(&b)))
            .then(|| ClientId(text.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_have_the_documented_shape() {
        let secret = ClientSecret::generate();
        assert_eq!(secret.expose().len(), SECRET_LEN);
        assert!(secret.expose().starts_with(SECRET_PREFIX));
        let parsed = ClientSecret::parse(secret.expose()).expect("valid");
        assert!(parsed.digest().matches(&secret.digest()));
    }

    #[test]
    fn a_single_mistyped_character_fails_the_checksum() {
        let secret = ClientSecret::generate();
        let text = secret.expose();
        let position = SECRET_PREFIX.len() + 10;
        let original = text.as_bytes()[position];
        let replacement = if original == b'a' { 'b' } else { 'a' };
        let mut typo = text.to_owned();
        typo.replace_range(position..=position, &replacement.to_string());
        assert_eq!(
            ClientSecret::parse(&typo).map(|_| ()),
            Err(SecretFormatError::Checksum)
        );
    }

    #[test]
    fn malformed_secrets_say_what_is_wrong() {
        assert_eq!(
            ClientSecret::parse("hunter2").map(|_| ()),
            Err(SecretFormatError::Prefix)
        );
        assert_eq!(
            ClientSecret::parse("lksk_abc").map(|_| ()),
            Err(SecretFormatError::Length)
        );
        let junk = format!("{SECRET_PREFIX}{}", "-".repeat(49));
        assert_eq!(
            ClientSecret::parse(&junk).map(|_| ()),
            Err(SecretFormatError::Alphabet)
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = ClientSecret::generate();
        assert!(!format!("{secret:?}").contains(&secret.expose()[5..]));
    }

    #[test]
    fn client_ids_round_trip_and_junk_is_refused() {
        let id = ClientId::generate();
        assert_eq!(ClientId::parse(id.as_str()), Some(id));
        assert_eq!(ClientId::parse("lkc_short"), None);
        assert_eq!(ClientId::parse("' OR 1=1 --"), None);
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = SecretDigest::of("x");
        assert!(
            SecretDigest::from_hex(&digest.to_hex())
                .expect("hex")
                .matches(&digest)
        );
        assert!(!SecretDigest::of("y").matches(&digest));
    }
}
