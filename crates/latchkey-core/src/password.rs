//! Passwords of people: argon2id with the crate's recommended parameters (19 MiB of
//! memory, two passes), computed in a [`HashingMemory`] the caller keeps, so that the
//! server hashes in a fixed set of buffers instead of allocating 19 MiB per attempt.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Bounds the work an attacker can make us do per login attempt.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The hash an unknown email is checked against, so that the response time does not
/// tell an attacker which accounts exist: the hash of a password nobody types, with the
/// parameters of every real hash (a test checks that they are).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    c2lnbi1pbi1kdW1teS1zYWx0$NYfgPGNLW6XWEtFlkmXj5Q50U1FLH9r585owKfiQ+5M";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

/// Checks the length rules for a new password.
pub fn validate_new_password(password: &SecretString) -> Result<(), PasswordError> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// The PHC string of an argon2id hash with a fresh random salt, in memory of its own;
/// for one-off hashing (the first administrator, `admin add-user`).
pub fn hash_password(password: &SecretString) -> String {
    HashingMemory::default().hash_password(password)
}

/// The working memory of one argon2id computation, reused from one to the next.
pub struct HashingMemory {
    blocks: Vec<Block>,
}

impl Default for HashingMemory {
    fn default() -> Self {
        HashingMemory {
            blocks: vec![Block::new(); Params::DEFAULT.block_count()],
        }
    }
}

impl fmt::Debug for HashingMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashingMemory({} KiB)", self.blocks.len())
    }
}

impl HashingMemory {
    /// The PHC string of an argon2id hash of `password` with a fresh random salt.
    pub fn hash_password(&mut self, password: &SecretString) -> String {
        let params = Params::DEFAULT;
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let (Ok(salt_bytes), Ok(params_string)) = (
            salt.decode_b64(&mut salt_bytes),
            ParamsString::try_from(&params),
        ) else {
            unreachable!("a generated salt and the default parameters are well-formed")
        };
        let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password_into_with_memory(
                    password.expose_secret().as_bytes(),
                    salt_bytes,
                    out,
                    &mut self.blocks,
                )
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .unwrap_or_else(|e| unreachable!("argon2 with default parameters cannot fail: {e}"));
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: params_string,
            salt: Some((&salt).into()),
            hash: Some(output),
        }
        .to_string()
    }

    /// Whether `password` matches the PHC string `hash`, compared in constant time. A
    /// malformed hash never matches.
    pub fn verify_password(&mut self, password: &SecretString, hash: &str) -> bool {
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return false;
        }
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(version), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::try_from(parsed.algorithm),
            parsed
                .version
                .map_or(Ok(Version::default()), Version::try_from),
            Params::try_from(&parsed),
            parsed.salt,
            parsed.hash,
        ) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        // Hashes made elsewhere may ask for more memory than ours; the buffer grows once.
        if self.blocks.len() < params.block_count() {
            self.blocks.resize(params.block_count(), Block::new());
        }
        let computed = Output::init_with(expected.len(), |out| {
            Argon2::new(algorithm, version, params)
                .hash_password_into_with_memory(
                    password.expose_secret().as_bytes(),
                    salt,
                    out,
                    &mut self.blocks,
                )
                .map_err(|_| argon2::password_hash::Error::Crypto)
        });
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|computed| computed == expected)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let mut memory = HashingMemory::default();
        let password = SecretString::from("correct horse".to_owned());
        let hash = memory.hash_password(&password);
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(memory.verify_password(&password, &hash));
        assert!(!memory.verify_password(&SecretString::from("wrong horse".to_owned()), &hash));
        assert!(!memory.verify_password(&password, "not a hash"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let mut memory = HashingMemory::default();
        let password = SecretString::from("correct horse".to_owned());
        let ours = memory.hash_password(&password);
        let parsed = PasswordHash::new(&ours).expect("our hash parses");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .expect("argon2 hashes")
            .to_string();
        assert!(memory.verify_password(&password, &theirs));
    }

    #[test]
    fn a_hash_asking_for_more_memory_still_verifies() {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(2 * Params::DEFAULT_M_COST, 1, 1, None).expect("params");
        let big = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse", &salt)
            .expect("argon2 hashes")
            .to_string();
        let mut memory = HashingMemory::default();
        assert!(memory.verify_password(&SecretString::from("correct horse".to_owned()), &big));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let mut memory = HashingMemory::default();
        let real = memory.hash_password(&SecretString::from("whatever".to_owned()));
        let params = |hash: &str| hash.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(memory.verify_password(
            &SecretString::from("not a real password".to_owned()),
            DUMMY_HASH
        ));
    }

    #[test]
    fn new_passwords_are_length_checked() {
        assert_eq!(
            validate_new_password(&SecretString::from("short".to_owned())),
            Err(PasswordError::TooShort)
        );
        assert!(validate_new_password(&SecretString::from("long enough".to_owned())).is_ok());
    }
}
