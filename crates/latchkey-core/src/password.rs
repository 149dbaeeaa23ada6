//! Passwords of people: argon2id with the crate's recommended parameters.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Bounds the work an attacker can make us do per login attempt.
pub const MAX_PASSWORD_CHARS: usize = 1024;

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

/// The PHC string of an argon2id hash with a fresh random salt.
pub fn hash_password(password: &SecretString) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_else(|e| unreachable!("argon2 with default parameters cannot fail: {e}"))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the email is unknown, so that the response time does
/// not tell an attacker which accounts exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&SecretString::from("not a real password".to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let password = SecretString::from("correct horse".to_owned());
        let hash = hash_password(&password);
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong horse".to_owned()),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
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
