//! The one error type of the API and the pages, rendered as our one JSON shape.
//!
//! Handlers return [`AppError`]; its `IntoResponse` picks the status from an exhaustive
//! match and attaches the body as a response extension. The `request_context`
//! middleware then adds the request id to the body and logs internal errors once.
//! The OAuth endpoints speak RFC 6749 §5.2 instead: see [`crate::routes::oauth`].

use axum::Json;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_types::{CREDENTIALS_MENU_ITEM, ErrorBody, PrincipalRef, ResourceRef};

/// A library error message (`the name is required`) as a sentence for people.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// Why a bearer token or session was not accepted (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    MissingToken,
    MalformedToken(String),
    /// A client id or client secret sent where an access token belongs: the part of
    /// the credentials it is ("client id", "client secret").
    CredentialAsToken(&'static str),
    BadSignature,
    /// Signed with our key for another issuer: replicas with different public URLs.
    WrongIssuer {
        issuer: String,
        expected: String,
    },
    TokenExpired,
    TokenRevoked,
    WrongTokenType,
    UnknownCredential,
    CredentialDeleted {
        client_id: String,
        name: String,
    },
    CredentialExpired {
        client_id: String,
        name: String,
    },
    CredentialDisabled {
        client_id: String,
        name: String,
    },
    /// Issued before tokens named their secret and grant (`sid`, `gid`).
    TokenOutdated,
    /// The secret that obtained the token stopped working at `at` (it was rolled).
    SecretRetired {
        client_id: String,
        prefix: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The token names a secret its credential does not have.
    UnknownSecret {
        client_id: String,
    },
    /// The token's grant was revoked: its refresh token was revoked or reused.
    GrantRevoked,
}

impl AuthFailure {
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::MalformedToken(_) | AuthFailure::CredentialAsToken(_) => "malformed_token",
            AuthFailure::BadSignature => "invalid_signature",
            AuthFailure::WrongIssuer { .. } => "wrong_issuer",
            AuthFailure::TokenExpired => "token_expired",
            AuthFailure::TokenRevoked => "token_revoked",
            AuthFailure::WrongTokenType => "wrong_token_type",
            AuthFailure::UnknownCredential => "unknown_credential",
            AuthFailure::CredentialDeleted { .. } => "credential_deleted",
            AuthFailure::CredentialExpired { .. } => "credential_expired",
            AuthFailure::CredentialDisabled { .. } => "credential_disabled",
            AuthFailure::TokenOutdated => "token_outdated",
            AuthFailure::SecretRetired { .. } => "secret_rolled",
            AuthFailure::UnknownSecret { .. } => "secret_unknown",
            AuthFailure::GrantRevoked => "grant_revoked",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthFailure::MissingToken => "This endpoint needs an access token: send \
                `Authorization: Bearer <token>`. Get a token from POST /v1/auth/oauth/token \
                with your client id and secret."
                .to_owned(),
            AuthFailure::MalformedToken(why) => {
                format!(
                    "The access token is not a well-formed JWT ({why}). Send the `access_token` value of the token response as is."
                )
            }
            AuthFailure::CredentialAsToken(what) => format!(
                "This is a {what}, not an access token. Trade the client id and secret for \
                 an access token at POST /v1/auth/oauth/token (grant_type=client_credentials), \
                 then send `Authorization: Bearer <access_token>`."
            ),
            AuthFailure::BadSignature => "The access token's signature does not verify: it was \
                not issued by this server, or it was altered. Request a new token from this \
                server's /v1/auth/oauth/token."
                .to_owned(),
            AuthFailure::WrongIssuer { issuer, expected } => format!(
                "The access token was issued for {issuer}, and this server is {expected}. \
                 Request a token from {expected}/v1/auth/oauth/token. (Replicas of one \
                 service must all be started with the same LATCHKEY_PUBLIC_URL.)"
            ),
            AuthFailure::TokenExpired => "The access token has expired. Request a new one \
                (access tokens are short-lived; clients refresh them before they expire)."
                .to_owned(),
            AuthFailure::TokenRevoked => {
                "The access token was revoked. Request a new one.".to_owned()
            }
            AuthFailure::WrongTokenType => "This is a refresh token; send it to \
                /v1/auth/oauth/token with grant_type=refresh_token, and use the access token \
                you get back."
                .to_owned(),
            AuthFailure::UnknownCredential => "The credential this token was issued to no \
                longer exists."
                .to_owned(),
            AuthFailure::CredentialDeleted { client_id, name } => format!(
                "The credential '{name}' ({client_id}) was deleted, so its tokens no longer \
                 work. Generate new credentials under {CREDENTIALS_MENU_ITEM}."
            ),
            AuthFailure::CredentialExpired { client_id, name } => format!(
                "The credential '{name}' ({client_id}) has expired, so its tokens no longer \
                 work. Generate new credentials under {CREDENTIALS_MENU_ITEM}."
            ),
            AuthFailure::CredentialDisabled { client_id, name } => format!(
                "The credential '{name}' ({client_id}) is disabled, so its tokens do not \
                 work. Its owner can enable it under API Credentials or with \
                 POST /v1/credentials/{client_id}/enable."
            ),
            AuthFailure::TokenOutdated => "This token was issued by an earlier version of \
                the service and does not name the secret that obtained it. Request a new one \
                from POST /v1/auth/oauth/token with your client id and secret."
                .to_owned(),
            AuthFailure::SecretRetired {
                client_id,
                prefix,
                at,
            } => format!(
                "The secret {prefix}… that obtained this token stopped working on {} when the \
                 secret of {client_id} was rolled, and its tokens stopped with it. Get a new \
                 token with the current secret.",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            AuthFailure::UnknownSecret { client_id } => format!(
                "The secret that obtained this token is not one of {client_id}'s. Get a new \
                 token with the current secret."
            ),
            AuthFailure::GrantRevoked => "This token's grant was revoked: its refresh token \
                was revoked, or was used a second time, which is taken as a sign of theft. \
                Request a new token with your client id and secret."
                .to_owned(),
        }
    }
}

/// Every way an API call or page can fail.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("unauthorized: {}", .0.code())]
    Unauthorized(AuthFailure),
    #[error("forbidden: {code}")]
    Forbidden { code: &'static str, message: String },
    /// A refusal by the permission decision, with everything the caller needs to know
    /// why.
    #[error("denied: {}", .0.code)]
    Denied(Box<Denied>),
    #[error("not found")]
    NotFound { message: String },
    #[error("conflict")]
    Conflict { message: String },
    #[error("bad request: {code}")]
    BadRequest { code: &'static str, message: String },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType { message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("service unavailable")]
    Unavailable { message: String },
    /// The database cannot be reached; the client should retry shortly and keep its
    /// credentials (this is never a 401).
    #[error("database unavailable")]
    DatabaseUnavailable,
    /// The credential's own requests-per-minute limit is used up.
    #[error("rate limited")]
    RateLimited {
        status: crate::rate_limit::RateStatus,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::NotFound {
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } | AppError::Denied(_) => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unavailable { .. } | AppError::DatabaseUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body a client sees; never the internal error's text.
    pub fn body(&self) -> ErrorBody {
        let (error, message) = match self {
            AppError::Unauthorized(failure) => (failure.code(), failure.message()),
            AppError::Forbidden { code, message } | AppError::BadRequest { code, message } => {
                (*code, message.clone())
            }
            AppError::Denied(denied) => (denied.code, denied.message.clone()),
            AppError::NotFound { message } => ("not_found", message.clone()),
            AppError::Conflict { message } => ("conflict", message.clone()),
            AppError::PayloadTooLarge => (
                "payload_too_large",
                "The request body is too large.".to_owned(),
            ),
            AppError::UnsupportedMediaType { message } => {
                ("unsupported_media_type", message.clone())
            }
            AppError::MethodNotAllowed => (
                "method_not_allowed",
                "This path does not support this HTTP method.".to_owned(),
            ),
            AppError::Unavailable { message } => ("unavailable", message.clone()),
            AppError::DatabaseUnavailable => (
                "temporarily_unavailable",
                format!(
                    "The service cannot reach its database right now. Your credentials and \
                     tokens are unaffected; retry in {DATABASE_RETRY_AFTER_SECS} second(s)."
                ),
            ),
            AppError::RateLimited { message, .. } => ("rate_limited", message.clone()),
            AppError::Internal(_) => (
                "internal_error",
                "Something went wrong on our side. It has been logged with the request id; \
                 retrying may help."
                    .to_owned(),
            ),
        };
        let mut body = ErrorBody {
            message,
            error: error.to_owned(),
            request_id: None,
            required_permission: None,
            resource: None,
            principal: None,
        };
        if let AppError::Denied(denied) = self {
            body.required_permission = Some(denied.required_permission.to_owned());
            body.resource = Some(denied.resource.clone());
            body.principal = Some(denied.principal.clone());
        }
        body
    }
}

/// The details of a refusal by the permission decision.
#[derive(Debug, Clone)]
pub struct Denied {
    pub code: &'static str,
    pub message: String,
    pub required_permission: &'static str,
    pub resource: ResourceRef,
    pub principal: PrincipalRef,
}

/// Attached to error responses so the middleware can log an internal error once, with
/// the request id, without the client ever seeing it.
#[derive(Debug, Clone)]
pub struct InternalErrorDetail(pub String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status(), Json(body.clone())).into_response();
        let headers = response.headers_mut();
        match &self {
            AppError::Unauthorized(failure) => {
                // RFC 6750 §3: error_description is printable ASCII without `"` and `\`;
                // the body keeps the message, names included, as is.
                let description: String = failure
                    .message()
                    .chars()
                    .map(|c| match c {
                        '"' | '\\' => '\'',
                        ' '..='~' => c,
                        _ => '?',
                    })
                    .collect();
                if let Ok(value) = HeaderValue::from_str(&format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\""
                )) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            AppError::RateLimited { status, .. } => {
                status.write_headers(headers);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(status.reset_secs));
            }
            AppError::DatabaseUnavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(DATABASE_RETRY_AFTER_SECS),
                );
            }
            AppError::Internal(error) => {
                response
                    .extensions_mut()
                    .insert(InternalErrorDetail(format!("{error:#}")));
            }
            _ => {}
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// The `Retry-After` of a 503 while the database cannot be reached.
pub const DATABASE_RETRY_AFTER_SECS: u32 = 2;

impl From<latchkey_store::StoreError> for AppError {
    fn from(error: latchkey_store::StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, "the database is unavailable");
            AppError::DatabaseUnavailable
        } else {
            AppError::Internal(error.into())
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType {
                message: "Send the body as JSON with `Content-Type: application/json`.".to_owned(),
            },
            JsonRejection::BytesRejection(_) => AppError::PayloadTooLarge,
            other => AppError::bad_request("invalid_body", other.body_text()),
        }
    }
}

/// `axum::Json`, with its rejections turned into our error shape.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

impl From<PathRejection> for AppError {
    /// A path value that does not parse (`/v1/organizations/abc`) names nothing that
    /// exists, so it is the same 404 as a missing resource: the caller learns one thing,
    /// "there is no such organization", whichever way the id was wrong. Bytes that are
    /// not UTF-8 are a malformed request (400). The rest can only mean a route and its
    /// handler disagree, which is our bug, not the caller's.
    fn from(rejection: PathRejection) -> Self {
        let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
            return AppError::Internal(anyhow::anyhow!(
                "path parameters: {}",
                rejection.body_text()
            ));
        };
        let text = failed.body_text();
        match failed.into_kind() {
            ErrorKind::ParseErrorAtKey { key, value, .. }
            | ErrorKind::DeserializeError { key, value, .. } => {
                crate::access::not_found(&resource_of_key(&key), &value)
            }
            ErrorKind::ParseErrorAtIndex { value, .. } | ErrorKind::ParseError { value, .. } => {
                crate::access::not_found("resource", &value)
            }
            ErrorKind::InvalidUtf8InPathParam { key } => AppError::bad_request(
                "invalid_path",
                format!("The path's `{key}` is not valid UTF-8."),
            ),
            ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. } => {
                AppError::Internal(anyhow::anyhow!("path parameters: {text}"))
            }
            ErrorKind::Message(message) => AppError::bad_request("invalid_path", message),
            // `ErrorKind` is non-exhaustive: a kind added by axum later is still the
            // caller's path, so a 400 rather than a 500.
            _ => AppError::bad_request("invalid_path", text),
        }
    }
}

/// What a path parameter names: `organization_id` an organization.
fn resource_of_key(key: &str) -> String {
    match key.strip_suffix("_id") {
        Some(resource) => resource.replace('_', " "),
        None if key == "id" => "resource".to_owned(),
        None => key.replace('_', " "),
    }
}

/// `axum::extract::Path`, with its rejections turned into our error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct ApiPath<T>(pub T);
