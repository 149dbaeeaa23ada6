//! API calls with a cached token, retries and errors that carry the server's words.

use std::time::Duration;

use latchkey_types::content::{NewBatch, NewCalibration, NewProject, Project, ProjectBatch};
use latchkey_types::tenancy::{Member, MemberRole, Organization, User, Workspace};
use latchkey_types::{
    AccessCheck, AccessCheckRequest, Credential, CredentialsFile, Envelope, ErrorBody, Me,
    NewCredential,
};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::credentials::{Credentials, CredentialsError};
use crate::tokens::{TokenError, TokenProvider, excerpt, transport_error};

/// How long one request may take before it fails with a clear message, unless
/// [`Client::with_timeout`] says otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a 502/503/504 or 429 answer before giving up.
const MAX_RETRIES: u32 = 4;
/// The longest `Retry-After` we wait for; longer ones surface as the error.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("could not get an access token: {0}")]
    Token(#[from] TokenError),
    /// The server answered with an error: its message, stable code and request id.
    #[error("{status}: {message} ({code}{})", request_id.as_deref().map(|id| format!(", request id {id}")).unwrap_or_default())]
    Api {
        status: u16,
        message: String,
        code: String,
        request_id: Option<String>,
    },
    /// The server answered something that is not our JSON (a proxy's page, say).
    #[error("{url} answered {status} with something that is not Latchkey's JSON: {excerpt}")]
    UnexpectedResponse {
        url: String,
        status: u16,
        excerpt: String,
    },
}

impl Error {
    /// The stable error code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A Latchkey API client for one set of credentials; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenProvider,
}

/// A raw answer, for callers that print it (`latchkey call`).
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
}

impl Client {
    /// A client that talks to the issuer of `credentials`, with a request timeout of
    /// [`REQUEST_TIMEOUT`].
    pub fn new(credentials: Credentials) -> Self {
        Client::build(credentials, REQUEST_TIMEOUT)
    }

    /// The same client with another whole-request timeout (token requests included);
    /// a request that gets no answer within it fails with [`TokenError::Timeout`].
    /// Call it before the first request: a token fetched already is dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use latchkey_client::{Client, Credentials};
    /// use secrecy::SecretString;
    ///
    /// let credentials = Credentials::new(
    ///     "lkc_0123456789abcdefghijkl",
    ///     SecretString::from("lksk_…".to_owned()),
    ///     "http://127.0.0.1:8080",
    /// );
    /// let client = Client::new(credentials).with_timeout(Duration::from_secs(5));
    /// assert_eq!(client.timeout(), Duration::from_secs(5));
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Client::build(self.tokens.credentials().clone(), timeout)
    }

    /// The whole-request timeout of this client.
    pub fn timeout(&self) -> Duration {
        self.tokens.timeout()
    }

    fn build(credentials: Credentials, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(concat!("latchkey-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Client {
            base_url: credentials.issuer.clone(),
            tokens: TokenProvider::new(http.clone(), credentials).with_timeout(timeout),
            http,
        }
    }

    /// A client from the credentials found as [`Credentials::resolve`] documents.
    pub fn from_environment() -> Result<Self, Error> {
        let (credentials, _) = Credentials::resolve(None)?;
        Ok(Client::new(credentials))
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one authenticated request and returns the answer as it came, after
    /// retries; for callers that show any answer, errors included.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, Error> {
        let url = format!("{}/{}", self.base_url, path.trim_start_matches('/'));
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let token = self.tokens.access_token().await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose_secret());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| Error::Token(transport_error(&url, &e, self.timeout())))?;
            let status = response.status();
            // A token revoked or expired early: one new token, one more try.
            if status == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                self.tokens.invalidate();
                continue;
            }
            if let Some(wait) = retry_wait(&response, attempt) {
                attempt += 1;
                tracing::debug!(
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = response
                .text()
                .await
                .map_err(|e| Error::Token(transport_error(&url, &e, self.timeout())))?;
            return Ok(RawResponse {
                status: status.as_u16(),
                body,
            });
        }
    }

    /// Sends a request and decodes the `data` of a successful answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T, Error> {
        let body =
            body.map(serde_json::to_value)
                .transpose()
                .map_err(|e| Error::UnexpectedResponse {
                    url: path.to_owned(),
                    status: 0,
                    excerpt: format!("the request body does not serialise: {e}"),
                })?;
        let raw = self.send_raw(method, path, body.as_ref()).await?;
        decode(&format!("{}{path}", self.base_url), raw)
    }

    /// Like [`Client::call`] for answers without a body (204).
    pub async fn call_empty(&self, method: Method, path: &str) -> Result<(), Error> {
        let raw = self.send_raw(method, path, None).await?;
        if (200..300).contains(&raw.status) {
            Ok(())
        } else {
            Err(api_error(&format!("{}{path}", self.base_url), raw))
        }
    }

    /// Who the server takes these credentials to be: the user, the credential, the
    /// organization and every readable workspace with the caller's role and effective
    /// permissions there.
    pub async fn me(&self) -> Result<Me, Error> {
        self.call(Method::GET, "/v1/me", None::<&()>).await
    }

    /// Whether the call `method path` would be allowed for these credentials, and if
    /// not, the error code and message it would answer — without making it. `path` may
    /// carry a query string (`/v1/imu?workspaceId=…`). A refusal is a normal answer
    /// (`allowed: false`); an `Err` means the check itself failed, such as 400
    /// `unknown_route` for a path the server does not know.
    pub async fn check_access(&self, method: &str, path: &str) -> Result<AccessCheck, Error> {
        self.check_access_with(&AccessCheckRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            body: None,
        })
        .await
    }

    /// [`Client::check_access`] with the call's body, for calls that name their
    /// workspace or organization there (`POST /v1/projects`).
    pub async fn check_access_with(
        &self,
        request: &AccessCheckRequest,
    ) -> Result<AccessCheck, Error> {
        self.call(Method::POST, "/v1/access/check", Some(request))
            .await
    }

    pub async fn credentials(&self) -> Result<Vec<Credential>, Error> {
        self.call(Method::GET, "/v1/credentials", None::<&()>).await
    }

    /// Needs the `credentials:manage` scope.
    pub async fn create_credentials(&self, new: &NewCredential) -> Result<CredentialsFile, Error> {
        self.call(Method::POST, "/v1/credentials", Some(new)).await
    }

    pub async fn delete_credentials(&self, client_id: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &format!("/v1/credentials/{client_id}"))
            .await
    }

    /// Disables one of the user's credentials without deleting it: it gets no tokens and
    /// its tokens are refused (`credential_disabled`) until it is enabled. Needs the
    /// `credentials:manage` scope.
    pub async fn disable_credentials(&self, client_id: &str) -> Result<(), Error> {
        self.call_empty(
            Method::POST,
            &format!("/v1/credentials/{client_id}/disable"),
        )
        .await
    }

    /// Enables a disabled credential again. Needs the `credentials:manage` scope.
    pub async fn enable_credentials(&self, client_id: &str) -> Result<(), Error> {
        self.call_empty(Method::POST, &format!("/v1/credentials/{client_id}/enable"))
            .await
    }

    pub async fn organizations(&self) -> Result<Vec<Organization>, Error> {
        self.call(Method::GET, "/v1/organizations", None::<&()>)
            .await
    }

    pub async fn users(&self) -> Result<Vec<User>, Error> {
        self.call(Method::GET, "/v1/users", None::<&()>).await
    }

    /// The workspaces the caller can read; with roles, only those where the caller
    /// holds one of them.
    pub async fn workspaces(&self, any_role_in: &[&str]) -> Result<Vec<Workspace>, Error> {
        let query: Vec<String> = any_role_in
            .iter()
            .map(|r| format!("anyRoleIn={r}"))
            .collect();
        let path = if query.is_empty() {
            "/v1/workspaces".to_owned()
        } else {
            format!("/v1/workspaces?{}", query.join("&"))
        };
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// The members of a workspace with their roles; needs a role there.
    pub async fn members(&self, workspace_id: &str) -> Result<Vec<Member>, Error> {
        self.call(
            Method::GET,
            &format!("/v1/workspaces/{workspace_id}/members"),
            None::<&()>,
        )
        .await
    }

    pub async fn set_member(
        &self,
        workspace_id: &str,
        user_id: i64,
        role: &str,
    ) -> Result<Member, Error> {
        let body = MemberRole {
            role: role.to_owned(),
        };
        self.call(
            Method::PUT,
            &format!("/v1/workspaces/{workspace_id}/members/{user_id}"),
            Some(&body),
        )
        .await
    }

    pub async fn remove_member(&self, workspace_id: &str, user_id: i64) -> Result<(), Error> {
        self.call_empty(
            Method::DELETE,
            &format!("/v1/workspaces/{workspace_id}/members/{user_id}"),
        )
        .await
    }

    pub async fn projects(&self) -> Result<Vec<Project>, Error> {
        self.call(Method::GET, "/v1/projects", None::<&()>).await
    }

    pub async fn create_project(&self, new: &NewProject) -> Result<Project, Error> {
        self.call(Method::POST, "/v1/projects", Some(new)).await
    }

    pub async fn batches(&self, project: &str) -> Result<Vec<ProjectBatch>, Error> {
        self.call(
            Method::GET,
            &format!("/v1/projects/{project}/batches"),
            None::<&()>,
        )
        .await
    }

    /// Idempotent: creating an existing batch answers it.
    pub async fn create_batch(
        &self,
        project: &str,
        batch: &str,
        new: &NewBatch,
    ) -> Result<ProjectBatch, Error> {
        self.call(
            Method::POST,
            &format!("/v1/projects/{project}/batches/{batch}"),
            Some(new),
        )
        .await
    }

    pub async fn publish_batch(&self, project: &str, batch: &str) -> Result<ProjectBatch, Error> {
        self.call(
            Method::POST,
            &format!("/v1/projects/{project}/batches/{batch}/publish"),
            None::<&()>,
        )
        .await
    }

    pub async fn create_calibration(
        &self,
        workspace_id: &str,
        new: &NewCalibration,
    ) -> Result<serde_json::Value, Error> {
        self.call(
            Method::POST,
            &format!("/v1/calibrations?workspaceId={workspace_id}"),
            Some(new),
        )
        .await
    }
}

/// How long to wait before retrying this answer, if it is worth retrying: 502, 503 and
/// 504 with exponential back-off, 429 after its `Retry-After`. Never other 4xx.
fn retry_wait(response: &reqwest::Response, attempt: u32) -> Option<Duration> {
    if attempt >= MAX_RETRIES {
        return None;
    }
    let backoff = Duration::from_millis(500) * 2u32.pow(attempt);
    match response.status().as_u16() {
        502..=504 => Some(backoff),
        429 => {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(backoff, Duration::from_secs);
            (after <= MAX_RETRY_AFTER).then_some(after)
        }
        _ => None,
    }
}

fn decode<T: DeserializeOwned>(url: &str, raw: RawResponse) -> Result<T, Error> {
    if !(200..300).contains(&raw.status) {
        return Err(api_error(url, raw));
    }
    serde_json::from_str::<Envelope<T>>(&raw.body)
        .map(|envelope| envelope.data)
        .map_err(|_| Error::UnexpectedResponse {
            url: url.to_owned(),
            status: raw.status,
            excerpt: excerpt(&raw.body),
        })
}

pub(crate) fn api_error(url: &str, raw: RawResponse) -> Error {
    match serde_json::from_str::<ErrorBody>(&raw.body) {
        Ok(body) => Error::Api {
            status: raw.status,
            message: body.message,
            code: body.error,
            request_id: body.request_id,
        },
        Err(_) => Error::UnexpectedResponse {
            url: url.to_owned(),
            status: raw.status,
            excerpt: excerpt(&raw.body),
        },
    }
}
