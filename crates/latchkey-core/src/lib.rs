//! Latchkey's domain: the values the rest of the system passes around, each built by a
//! fallible `parse` so that a value that exists is a valid one.
//!
//! This crate does no IO: no database, no HTTP, no clock. Callers hand it the time when
//! a rule needs it.

pub mod access;
pub mod names;
pub mod network;
pub mod password;
pub mod random;
pub mod scope;
pub mod secret;

pub use names::{CredentialName, DisplayName, Email, NameError};
pub use network::{AllowedNetworks, NetworkError};
pub use password::PasswordError;
pub use scope::{Scope, ScopeError, Scopes};
pub use secret::{ClientId, ClientSecret, SecretDigest, SecretFormatError};
