//! Access tokens: fetched with the credentials, cached, refreshed before they expire,
//! shared between tasks with one refresh in flight.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use latchkey_types::{OAuthErrorBody, TokenResponse};
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::Credentials;

/// A token is renewed this long before it expires, like the Python clients do, so a
/// call never leaves with a token that expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// The token endpoint is retried on 502, 503 and 504 after these waits.
const TOKEN_RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(0),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Why no access token could be had. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The server refused the credentials (RFC 6749 §5.2 error).
    #[error("the server refused the credentials ({error}): {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// No answer within the request timeout ([`crate::Client::with_timeout`]).
    #[error(
        "{url} did not answer within {timeout:?}; is a proxy or firewall holding the connection?"
    )]
    Timeout { url: String, timeout: Duration },
    /// The answer was not the token endpoint's JSON (a proxy's HTML page, say).
    #[error("{url} answered {status} with something that is not a token response: {excerpt}")]
    UnexpectedResponse {
        url: String,
        status: u16,
        excerpt: String,
    },
}

struct Cached {
    access: SecretString,
    renew_at: Instant,
    refresh: Option<SecretString>,
}

/// Hands out a valid access token for a set of credentials.
pub struct TokenProvider {
    http: reqwest::Client,
    credentials: Credentials,
    token_url: String,
    scope: Option<String>,
    /// The whole-request timeout of `http`, for the message when it strikes.
    timeout: Duration,
    current: RwLock<Option<Cached>>,
    /// Held while a token is being fetched, so concurrent callers wait for that one
    /// request instead of each sending their own.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("client_id", &self.credentials.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    pub fn new(http: reqwest::Client, credentials: Credentials) -> Self {
        TokenProvider {
            token_url: format!("{}/v1/auth/oauth/token", credentials.issuer),
            http,
            credentials,
            scope: None,
            timeout: crate::client::REQUEST_TIMEOUT,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Asks for fewer scopes than the credentials have (space-separated).
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
    }

    /// Tells the provider the request timeout `http` was built with, so a timeout
    /// says how long it waited.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn cached(&self) -> Option<SecretString> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at)
            .map(|c| c.access.clone())
    }

    /// A token valid for at least a minute more (or for most of its life, when the
    /// server hands out shorter ones).
    pub async fn access_token(&self) -> Result<SecretString, TokenError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let refresh = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|c| c.refresh.clone());
        let response = match refresh {
            // A refused refresh token (expired, revoked) is no reason to fail: the
            // credentials can get a fresh one.
            Some(refresh) => match self.grant(Some(&refresh)).await {
                Err(TokenError::Refused { .. }) => self.grant(None).await?,
                other => other?,
            },
            None => self.grant(None).await?,
        };
        let lifetime = Duration::from_secs(response.expires_in);
        let early = RENEW_BEFORE.min(lifetime / 2);
        let access = SecretString::from(response.access_token);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            access: access.clone(),
            renew_at: Instant::now() + lifetime - early,
            refresh: response.refresh_token.map(SecretString::from),
        });
        Ok(access)
    }

    /// Forgets the cached token, after the server refused it.
    pub fn invalidate(&self) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn grant(&self, refresh: Option<&SecretString>) -> Result<TokenResponse, TokenError> {
        let mut form = vec![
            ("client_id", self.credentials.client_id.as_str()),
            ("client_secret", self.credentials.expose_secret()),
        ];
        match refresh {
            Some(token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token.expose_secret()));
            }
            None => form.push(("grant_type", "client_credentials")),
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let mut attempt = 0;
        loop {
            let response = self
                .http
                .post(&self.token_url)
                .form(&form)
                .send()
                .await
                .map_err(|e| transport_error(&self.token_url, &e, self.timeout))?;
            let status = response.status().as_u16();
            if matches!(status, 502..=504) && attempt + 1 < TOKEN_RETRY_WAITS.len() {
                attempt += 1;
                tokio::time::sleep(TOKEN_RETRY_WAITS[attempt]).await;
                continue;
            }
            let text = response
                .text()
                .await
                .map_err(|e| transport_error(&self.token_url, &e, self.timeout))?;
            if (200..300).contains(&status)
                && let Ok(token) = serde_json::from_str::<TokenResponse>(&text)
            {
                return Ok(token);
            }
            return Err(match serde_json::from_str::<OAuthErrorBody>(&text) {
                Ok(body) => TokenError::Refused {
                    status,
                    error: body.error,
                    description: body.error_description,
                },
                Err(_) => TokenError::UnexpectedResponse {
                    url: self.token_url.clone(),
                    status,
                    excerpt: excerpt(&text),
                },
            });
        }
    }
}

/// The first line or so of a body, for messages about unexpected answers.
pub(crate) fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(120).collect::<String>())
    } else {
        flat
    }
}

/// A transport failure in plain words: DNS, refused connection, TLS, timeout.
pub(crate) fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> TokenError {
    if error.is_timeout() {
        return TokenError::Timeout {
            url: url.to_owned(),
            timeout,
        };
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    TokenError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}
