//! Human-entered text: credential names, display names and email addresses.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is required")]
    Empty { what: &'static str },
    #[error("{what} is too long: at most {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} must not contain control characters such as line breaks")]
    ControlCharacter { what: &'static str },
    #[error("`{0}` is not an email address")]
    InvalidEmail(String),
}

fn parse_line(text: &str, what: &'static str, max: usize) -> Result<String, NameError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(NameError::Empty { what });
    }
    if text.chars().count() > max {
        return Err(NameError::TooLong { what, max });
    }
    if text.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter { what });
    }
    Ok(text.to_owned())
}

/// The name a person gives a credential so they recognise it later. Any Unicode, no
/// markup rules (pages escape it), one line, at most 100 characters. Duplicates are
/// allowed: the client id tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialName(String);

impl CredentialName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(text: &str) -> Result<Self, NameError> {
        parse_line(text, "the credential name", Self::MAX_CHARS).map(CredentialName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(text: &str) -> Result<Self, NameError> {
        parse_line(text, "the name", Self::MAX_CHARS).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, compared case-insensitively (stored lower-cased). Only the shape
/// is checked: one `@`, something on both sides, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = parse_line(text, "the email address", Self::MAX_CHARS)?;
        let invalid = || NameError::InvalidEmail(text.chars().take(64).collect());
        let (local, domain) = text.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || text.chars().any(char::is_whitespace)
        {
            return Err(invalid());
        }
        Ok(Email(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_trimmed_and_bounded() {
        assert_eq!(
            CredentialName::parse("  ci-upload ")
                .expect("valid")
                .as_str(),
            "ci-upload"
        );
        assert!(matches!(
            CredentialName::parse("   "),
            Err(NameError::Empty { .. })
        ));
        assert!(matches!(
            CredentialName::parse(&"x".repeat(101)),
            Err(NameError::TooLong { .. })
        ));
        assert!(matches!(
            CredentialName::parse("a\nb"),
            Err(NameError::ControlCharacter { .. })
        ));
        assert!(CredentialName::parse("<script>alert(1)</script> 🚀 ünïcödé").is_ok());
    }

    #[test]
    fn emails_are_lower_cased_and_shape_checked() {
        assert_eq!(
            Email::parse("Ada@Example.COM").expect("valid").as_str(),
            "ada@example.com"
        );
        for bad in ["ada", "@example.com", "ada@", "a b@example.com", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
