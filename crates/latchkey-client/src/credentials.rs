//! Where credentials come from and what a credentials file must hold.
//!
//! Resolution order ([`Credentials::resolve`]):
//! 1. an explicit path (a command-line flag);
//! 2. `LATCHKEY_CREDENTIALS`, the path of a credentials file;
//! 3. `KOGNIC_CREDENTIALS`, the same, as the `kognic-auth` clients read it;
//! 4. `LATCHKEY_CLIENT_ID` with `LATCHKEY_CLIENT_SECRET` and `LATCHKEY_URL` (the issuer).

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

/// Where a set of credentials was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// The file named by this environment variable.
    EnvironmentFile {
        variable: &'static str,
        path: PathBuf,
    },
    /// `LATCHKEY_CLIENT_ID` and friends.
    EnvironmentVariables,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::EnvironmentFile { variable, path } => {
                write!(f, "{} (from {variable})", path.display())
            }
            Source::EnvironmentVariables => {
                f.write_str("LATCHKEY_CLIENT_ID, LATCHKEY_CLIENT_SECRET and LATCHKEY_URL")
            }
        }
    }
}

/// Why credentials could not be read. Messages say what to do; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials found: pass a credentials file, or set LATCHKEY_CREDENTIALS (or \
         KOGNIC_CREDENTIALS) to its path, or set LATCHKEY_CLIENT_ID, LATCHKEY_CLIENT_SECRET \
         and LATCHKEY_URL"
    )]
    NotConfigured,
    #[error(
        "{path}: no such file; point to the credentials file you downloaded when you \
         generated them (a lost file cannot be downloaded again: generate new credentials, or \
         roll the secret, under {menu})",
        menu = latchkey_types::CREDENTIALS_MENU_ITEM
    )]
    NotFound { path: PathBuf },
    #[error("{path} is a directory, not a credentials file")]
    IsDirectory { path: PathBuf },
    #[error("{path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the credentials are not valid JSON: {0}")]
    InvalidJson(String),
    #[error(
        "the credentials file has no `{0}` (it needs clientId, clientSecret, email, userId and issuer)"
    )]
    MissingKey(&'static str),
    #[error("`{key}` in the credentials file has the wrong type: expected {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error(
        "`{key}` in the credentials file is `{value}`, which is not a date-time with a time \
         zone (such as 2030-01-31T12:00:00.000Z); the Python clients crash on such dates too"
    )]
    NaiveDate { key: &'static str, value: String },
    #[error("{variable} is set but {missing} is not")]
    IncompleteEnvironment {
        variable: &'static str,
        missing: &'static str,
    },
}

/// A client id and secret with what the file says about them.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    client_secret: SecretString,
    /// The base URL of the Latchkey server that issued them.
    pub issuer: String,
    pub email: Option<String>,
    pub user_id: Option<i64>,
    pub name: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .field("name", &self.name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from a client id, a secret and the issuer's URL.
    pub fn new(client_id: &str, client_secret: SecretString, issuer: &str) -> Self {
        Credentials {
            client_id: client_id.to_owned(),
            client_secret,
            issuer: issuer.trim_end_matches('/').to_owned(),
            email: None,
            user_id: None,
            name: None,
            created: None,
            expires: None,
            scopes: Vec::new(),
        }
    }

    pub fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }

    /// Whether the credentials' own expiry has passed at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// Parses a credentials file's content. Unknown keys are ignored, as the Python
    /// clients do.
    pub fn from_json(text: &str) -> Result<Self, CredentialsError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CredentialsError::InvalidJson(e.to_string()))?;
        let object = value.as_object().ok_or(CredentialsError::WrongType {
            key: "(the file)",
            expected: "a JSON object",
        })?;
        let string = |key: &'static str| -> Result<Option<String>, CredentialsError> {
            match object.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(CredentialsError::WrongType {
                    key,
                    expected: "a string",
                }),
            }
        };
        let required = |key: &'static str| string(key)?.ok_or(CredentialsError::MissingKey(key));
        let date = |key: &'static str| -> Result<Option<DateTime<Utc>>, CredentialsError> {
            string(key)?
                .map(|text| {
                    DateTime::parse_from_rfc3339(text.trim())
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| CredentialsError::NaiveDate {
                            key,
                            value: text.chars().take(40).collect(),
                        })
                })
                .transpose()
        };
        let user_id = match object.get("userId") {
            None => return Err(CredentialsError::MissingKey("userId")),
            Some(value) => value.as_i64().ok_or(CredentialsError::WrongType {
                key: "userId",
                expected: "an integer",
            })?,
        };
        let scopes = match object.get("scopes") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or(CredentialsError::WrongType {
                            key: "scopes",
                            expected: "a list of strings",
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(CredentialsError::WrongType {
                    key: "scopes",
                    expected: "a list of strings",
                });
            }
        };
        let mut credentials = Credentials::new(
            &required("clientId")?,
            SecretString::from(required("clientSecret")?),
            &required("issuer")?,
        );
        credentials.email = Some(required("email")?);
        credentials.user_id = Some(user_id);
        credentials.name = string("name")?;
        credentials.created = date("created")?;
        credentials.expires = date("expires")?;
        credentials.scopes = scopes;
        Ok(credentials)
    }

    /// Reads a credentials file.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        if path.is_dir() {
            return Err(CredentialsError::IsDirectory {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CredentialsError::NotFound {
                path: path.to_owned(),
            },
            _ => CredentialsError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        Credentials::from_json(&text)
    }

    /// Finds credentials in the documented order (see the module documentation).
    pub fn resolve(explicit: Option<&Path>) -> Result<(Self, Source), CredentialsError> {
        Credentials::resolve_with(explicit, |name| std::env::var(name).ok())
    }

    /// [`Credentials::resolve`] with the environment given as a function, for tests.
    pub fn resolve_with(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Source), CredentialsError> {
        if let Some(path) = explicit {
            return Ok((Credentials::from_file(path)?, Source::File(path.to_owned())));
        }
        for variable in ["LATCHKEY_CREDENTIALS", "KOGNIC_CREDENTIALS"] {
            if let Some(path) = env(variable).filter(|p| !p.is_empty()) {
                let path = PathBuf::from(path);
                return Ok((
                    Credentials::from_file(&path)?,
                    Source::EnvironmentFile { variable, path },
                ));
            }
        }
        let Some(client_id) = env("LATCHKEY_CLIENT_ID") else {
            return Err(CredentialsError::NotConfigured);
        };
        let missing = |missing| CredentialsError::IncompleteEnvironment {
            variable: "LATCHKEY_CLIENT_ID",
            missing,
        };
        let secret = env("LATCHKEY_CLIENT_SECRET").ok_or(missing("LATCHKEY_CLIENT_SECRET"))?;
        let issuer = env("LATCHKEY_URL").ok_or(missing("LATCHKEY_URL"))?;
        Ok((
            Credentials::new(&client_id, SecretString::from(secret), &issuer),
            Source::EnvironmentVariables,
        ))
    }

    /// The secret, for the one request that sends it.
    pub(crate) fn expose_secret(&self) -> &str {
        self.client_secret.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"clientId": "lkc_a", "clientSecret": "lksk_b", "email": "a@b.c",
        "userId": 3, "issuer": "http://h:1/", "expires": "2099-01-01T00:00:00Z",
        "scopes": ["api:read"], "extra": {"ignored": true}}"#;

    #[test]
    fn a_kognic_style_file_with_extra_keys_parses() {
        let c = Credentials::from_json(FILE).expect("valid");
        assert_eq!(c.client_id, "lkc_a");
        assert_eq!(c.issuer, "http://h:1");
        assert_eq!(c.user_id, Some(3));
        assert!(!c.is_expired(Utc::now()));
    }

    #[test]
    fn a_missing_key_is_named() {
        let text = FILE.replace(r#""email": "a@b.c","#, "");
        assert!(matches!(
            Credentials::from_json(&text),
            Err(CredentialsError::MissingKey("email"))
        ));
    }

    #[test]
    fn a_naive_expiry_is_refused_with_its_value() {
        let text = FILE.replace("2099-01-01T00:00:00Z", "2099-01-01T00:00:00");
        let error = Credentials::from_json(&text).expect_err("naive");
        assert!(error.to_string().contains("2099-01-01T00:00:00"), "{error}");
    }

    #[test]
    fn invalid_json_and_wrong_types_are_explained() {
        assert!(matches!(
            Credentials::from_json("{nope"),
            Err(CredentialsError::InvalidJson(_))
        ));
        let text = FILE.replace(r#""userId": 3"#, r#""userId": "3""#);
        assert!(matches!(
            Credentials::from_json(&text),
            Err(CredentialsError::WrongType { key: "userId", .. })
        ));
    }

    #[test]
    fn resolution_follows_the_documented_order() {
        let dir = tempfile::tempdir().expect("dir");
        let first = dir.path().join("first.json");
        let second = dir.path().join("second.json");
        std::fs::write(&first, FILE.replace("lkc_a", "lkc_first")).expect("write");
        std::fs::write(&second, FILE.replace("lkc_a", "lkc_second")).expect("write");
        let env = |name: &str| match name {
            "LATCHKEY_CREDENTIALS" => Some(first.display().to_string()),
            "KOGNIC_CREDENTIALS" => Some(second.display().to_string()),
            _ => None,
        };
        let (c, _) = Credentials::resolve_with(Some(&second), env).expect("explicit");
        assert_eq!(c.client_id, "lkc_second");
        let (c, source) = Credentials::resolve_with(None, env).expect("latchkey");
        assert_eq!(c.client_id, "lkc_first");
        assert!(matches!(
            source,
            Source::EnvironmentFile {
                variable: "LATCHKEY_CREDENTIALS",
                ..
            }
        ));
        let kognic_only =
            |name: &str| (name == "KOGNIC_CREDENTIALS").then(|| second.display().to_string());
        let (c, _) = Credentials::resolve_with(None, kognic_only).expect("kognic");
        assert_eq!(c.client_id, "lkc_second");
        let variables = |name: &str| match name {
            "LATCHKEY_CLIENT_ID" => Some("lkc_env".to_owned()),
            "LATCHKEY_CLIENT_SECRET" => Some("lksk_env".to_owned()),
            "LATCHKEY_URL" => Some("http://h".to_owned()),
            _ => None,
        };
        let (c, source) = Credentials::resolve_with(None, variables).expect("variables");
        assert_eq!(
            (c.client_id.as_str(), source),
            ("lkc_env", Source::EnvironmentVariables)
        );
        assert!(matches!(
            Credentials::resolve_with(None, |_| None),
            Err(CredentialsError::NotConfigured)
        ));
    }

    #[test]
    fn a_directory_or_a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(matches!(
            Credentials::from_file(dir.path()),
            Err(CredentialsError::IsDirectory { .. })
        ));
        assert!(matches!(
            Credentials::from_file(&dir.path().join("nope.json")),
            Err(CredentialsError::NotFound { .. })
        ));
    }
}
