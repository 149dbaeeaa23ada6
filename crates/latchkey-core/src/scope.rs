//! OAuth scopes a credential can carry, and the rule that a token may narrow them but
//! never widen them (RFC 6749 §3.3).

use std::collections::BTreeSet;
use std::fmt;

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read the platform API.
    ApiRead,
    /// Change things through the platform API.
    ApiWrite,
    /// Create and delete the owner's credentials. Off by default: a leaked credential
    /// must not be able to mint more of itself.
    CredentialsManage,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::ApiRead, Scope::ApiWrite, Scope::CredentialsManage];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ApiRead => "api:read",
            Scope::ApiWrite => "api:write",
            Scope::CredentialsManage => "credentials:manage",
        }
    }

    /// Scope names are case-sensitive (RFC 6749 §3.3).
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What a person reads next to the checkbox in the Generate dialog.
    pub fn description(self) -> &'static str {
        match self {
            Scope::ApiRead => "Read workspaces, projects, batches and scenes",
            Scope::ApiWrite => "Upload scenes, create batches and projects",
            Scope::CredentialsManage => "Create and delete your API credentials",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope `{0}`; known scopes are api:read, api:write and credentials:manage")]
    Unknown(String),
    #[error("at least one scope is required")]
    Empty,
    #[error("scope `{0}` is not granted to this credential")]
    NotGranted(Scope),
}

/// A non-empty set of scopes, always printed in one canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// What a new credential gets when its creator does not choose.
    pub fn default_for_new_credential() -> Self {
        Scopes([Scope::ApiRead, Scope::ApiWrite].into_iter().collect())
    }

    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let set = names
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(|n| Scope::parse(n).ok_or_else(|| ScopeError::Unknown(truncate(n))))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Scopes(set))
    }

    /// Parses the space-separated form of RFC 6749 §3.3.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        Scopes::from_names(text.split(' '))
    }

    /// The scopes a token gets when it asks for `requested`: a subset of ours, or an
    /// error naming the first scope we do not hold.
    pub fn narrow(&self, requested: &Scopes) -> Result<Scopes, ScopeError> {
        match requested.0.iter().find(|s| !self.0.contains(s)) {
            Some(missing) => Err(ScopeError::NotGranted(*missing)),
            None => Ok(requested.clone()),
        }
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

/// Echoing user input into an error is fine, echoing a megabyte of it is not.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let scopes = Scopes::parse("api:write api:read").expect("valid");
        assert_eq!(scopes.to_string(), "api:read api:write");
    }

    #[test]
    fn unknown_and_wrongly_cased_scopes_are_refused() {
        assert_eq!(
            Scopes::parse("API:READ"),
            Err(ScopeError::Unknown("API:READ".into()))
        );
        assert_eq!(Scopes::parse(""), Err(ScopeError::Empty));
    }

    #[test]
    fn narrowing_keeps_a_subset_and_refuses_a_widening() {
        let granted = Scopes::parse("api:read").expect("valid");
        let wider = Scopes::parse("api:read api:write").expect("valid");
        assert_eq!(
            granted.narrow(&wider),
            Err(ScopeError::NotGranted(Scope::ApiWrite))
        );
        assert_eq!(wider.narrow(&granted), Ok(granted));
    }
}
