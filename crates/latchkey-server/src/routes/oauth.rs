//! The OAuth 2.0 endpoints: token (RFC 6749 §4.4, §6), introspection (RFC 7662),
//! revocation (RFC 7009), discovery (RFC 8414 / OpenID Connect Discovery) and the JWKS.
//!
//! These speak RFC 6749 §5.2 error JSON (`error`, `error_description`) rather than our
//! API error shape, with one deliberate deviation the existing clients depend on: a
//! refresh token that is expired, revoked or unknown gets 401 `invalid_token` instead
//! of `invalid_grant`, which makes kognic-auth fall back to a fresh
//! `client_credentials` grant (CONTRACT.md §2.3).
//!
//! Every token names the secret that obtained it (`sid`) and its grant (`gid`): the
//! tokens of one client-credentials grant and of every refresh after it. Refresh tokens
//! rotate (RFC 9700 §4.14): each is redeemed once, recorded in the database, and a
//! second redemption revokes the grant.
//!
//! Over 800 lines: four RFCs' endpoints share the client authentication and error shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use latchkey_core::{ClientId, ClientSecret, Scope, ScopeError, Scopes};
use latchkey_types::{CREDENTIALS_MENU_ITEM, IntrospectionResponse, OAuthErrorBody, TokenResponse};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{LimitRefusal, Refusal, check_limits, live_credential};
use crate::cluster_limits;
use crate::directory::CachedCredential;
use crate::error::AuthFailure;
use crate::openapi::{
    JsonWebKeySet, OAuthBadRequest, OAuthForbidden, OAuthTooManyRequests, OAuthUnauthorized,
    OAuthUnavailable, ServerMetadata, TokenForm, TokenOperationForm,
};
use crate::origin::Origin;
use crate::rate_limit::RateStatus;
use crate::state::AppState;
use crate::tokens::{ACCESS_TOKEN_TYPE, Claims, REFRESH_TOKEN_TYPE};
use crate::usage_history::{RefusalReason, UsageEvent};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue_token))
        .routes(routes!(introspect_token))
        .routes(routes!(revoke_token))
        .routes(routes!(get_openid_configuration))
        .routes(routes!(get_authorization_server_metadata))
        .routes(routes!(jwks))
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after_secs: Option<u64>,
    /// The credential's own rate limit, announced in `RateLimit-*` headers.
    rate: Option<RateStatus>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after_secs: None,
            rate: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// The expired-refresh signal of CONTRACT.md §2.3.
    fn invalid_refresh_token(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    }

    fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "token endpoint could not reach the database");
        let mut e = OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The authorization server cannot check credentials right now; retry shortly.",
        );
        e.retry_after_secs = Some(1);
        e
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            error: self.error.to_owned(),
            error_description: self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.error == "invalid_client" {
                "Basic realm=\"latchkey\"".to_owned()
            } else {
                format!("Bearer error=\"{}\"", self.error)
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(rate) = self.rate {
            rate.write_headers(headers);
        }
        response
    }
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The form parameters of an OAuth request, each sent at most once (RFC 6749 §3.2);
/// an empty value counts as absent (§3.1).
struct Params(HashMap<String, String>);

impl Params {
    fn parse(
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Params, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "The request body must be application/x-www-form-urlencoded (RFC 6749 §3.2).",
            ));
        }
        let body = body.map_err(|_| {
            OAuthError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The request body is too large.",
            )
        })?;
        let mut params = HashMap::new();
        for (key, value) in form_urlencoded::parse(&body) {
            if value.is_empty() {
                continue;
            }
            if params.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "The parameter `{}` was sent more than once (RFC 6749 §3.2).",
                    key.chars().take(64).collect::<String>()
                )));
            }
        }
        Ok(Params(params))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Client authentication by HTTP Basic or by form fields (RFC 6749 §2.3.1), never both.
fn client_auth(headers: &HeaderMap, params: &Params) -> Result<(String, String), OAuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (client_id, secret) = basic_credentials(value).ok_or_else(|| {
            OAuthError::invalid_client(
                "The Authorization header must be `Basic base64(client_id:client_secret)`.",
            )
        })?;
        if params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method: HTTP Basic or client_secret in the \
                 body, not both (RFC 6749 §2.3).",
            ));
        }
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "The client_id field differs from the client id in the Authorization header.",
            ));
        }
        return Ok((client_id, secret));
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
        (Some(_), None) => Err(OAuthError::invalid_client(
            "The client_secret is missing: send it as a form field or with HTTP Basic.",
        )),
        _ => Err(OAuthError::invalid_client(
            "Client authentication is required: send client_id and client_secret as form \
             fields or with HTTP Basic.",
        )),
    }
}

fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Flood protection: a client far beyond normal use gets 429 with a reason it can read,
/// since the existing clients do not retry a 429 from the token endpoint
/// (CONTRACT.md §1.4).
async fn check_rate_limit(state: &AppState, client_id: &ClientId) -> Result<(), OAuthError> {
    if let Err(wait) = cluster_limits::token_flood(state, client_id.as_str()).await {
        let secs = wait.as_secs() + 1;
        let limit = state
            .config
            .token_rate_limit
            .map_or(0, |l| l.per_second.get());
        let mut error = OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many token requests for client {client_id} (more than {limit} per \
                 second). An access token is valid for {} seconds: reuse it until shortly \
                 before it expires instead of requesting one per call. Retry after {secs} \
                 second(s).",
                state.config.access_token_ttl.as_secs()
            ),
        );
        error.retry_after_secs = Some(secs);
        return Err(error);
    }
    Ok(())
}

/// A client whose secret was proven and whose credential may be used here and now.
struct AuthenticatedClient {
    credential: Arc<CachedCredential>,
    /// The secret it proved, and when that secret stops working.
    secret_id: String,
    secret_expires_at: Option<DateTime<Utc>>,
    rate: Option<RateStatus>,
}

/// Checks a client's id and secret, that its credential may be used now, and its own
/// limits (address, rate); records the use.
async fn authenticate(
    state: &AppState,
    client_id: &str,
    secret: &str,
    origin: &Origin,
) -> Result<AuthenticatedClient, OAuthError> {
    let shown_id: String = client_id.chars().take(64).collect();
    let client_id = ClientId::parse(client_id).ok_or_else(|| {
        OAuthError::invalid_client(format!(
            "`{shown_id}` is not a Latchkey client id (they look like lkc_ followed by 22 \
             letters and digits)."
        ))
    })?;
    let secret = ClientSecret::parse(secret).map_err(|e| {
        OAuthError::invalid_client(format!("Invalid client secret for {client_id}: {e}."))
    })?;
    let credential = state
        .credentials
        .get(&state.store, client_id.as_str())
        .await
        .map_err(OAuthError::unavailable)?
        .ok_or_else(|| {
            OAuthError::invalid_client(format!("No credential has the client id {client_id}."))
        })?;
    let now = state.now();
    let digest = secret.digest();
    let Some(matched) = credential
        .secrets
        .iter()
        .find(|s| s.digest.matches(&digest))
    else {
        return Err(OAuthError::invalid_client(format!(
            "The client secret is not the one of {client_id}. Check that the secret belongs \
             to this client id; a lost secret cannot be recovered: roll the secret or \
             generate new credentials."
        )));
    };
    if let Some(retired) = matched.expires_at.filter(|at| *at <= now) {
        return Err(OAuthError::invalid_client(format!(
            "The secret {}… of {client_id} stopped working on {}: it was replaced by a newer \
             secret when the credential's secret was rolled. Use the newest credentials file.",
            matched.prefix,
            format_time(retired)
        )));
    }
    let refused = |refusal: RefusalReason| {
        state
            .usage
            .counters
            .count(&credential.client_id, now, UsageEvent::Refused(refusal));
    };
    if let Some(deleted) = credential.deleted_at {
        return Err(OAuthError::invalid_client(format!(
            "The credential '{}' ({client_id}) was deleted on {}. Generate new credentials \
             under {CREDENTIALS_MENU_ITEM}.",
            credential.name,
            format_time(deleted)
        )));
    }
    if let Some(disabled) = credential.disabled_at {
        refused(RefusalReason::Disabled);
        return Err(OAuthError::invalid_client(format!(
            "The credential '{}' ({client_id}) was disabled on {}. Its owner can enable it \
             again under {CREDENTIALS_MENU_ITEM}, with POST /v1/credentials/{client_id}/enable or \
             with `latchkey credentials enable {client_id}`.",
            credential.name,
            format_time(disabled)
        )));
    }
    if let Some(expired) = credential.expires_at.filter(|at| *at <= now) {
        refused(RefusalReason::Expired);
        return Err(OAuthError::invalid_client(format!(
            "The credential '{}' ({client_id}) expired on {}. Renew it or generate new \
             credentials under {CREDENTIALS_MENU_ITEM}.",
            credential.name,
            format_time(expired)
        )));
    }
    // Counted only once the secret is proven, so knowing a client id (which is not
    // secret) is not enough to throttle its owner; and after the credential's state,
    // so a deleted, disabled or expired credential is told so, not told to slow down.
    check_rate_limit(state, &client_id).await.inspect_err(|_| {
        refused(RefusalReason::RateLimited);
    })?;
    let rate = check_limits(state, &credential, origin, now)
        .await
        .map_err(|refusal| match refusal {
            LimitRefusal::Address(message) => {
                refused(RefusalReason::AddressNotAllowed);
                OAuthError::new(StatusCode::FORBIDDEN, "address_not_allowed", message)
            }
            LimitRefusal::RateLimited { status, message } => {
                refused(RefusalReason::RateLimited);
                let mut error =
                    OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                error.retry_after_secs = Some(status.reset_secs);
                error.rate = Some(status);
                error
            }
        })?;
    state
        .usage
        .record_grant(&credential.client_id, &matched.id, origin.to_use(now));
    state
        .usage
        .counters
        .count(&credential.client_id, now, UsageEvent::Grant);
    Ok(AuthenticatedClient {
        secret_id: matched.id.clone(),
        secret_expires_at: matched.expires_at,
        credential,
        rate,
    })
}

fn parse_requested_scope(
    requested: Option<&str>,
    granted: &Scopes,
    client_id: &str,
) -> Result<Scopes, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    let invalid_scope = |description: String| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    };
    let requested = Scopes::parse(requested).map_err(|e| invalid_scope(format!("{e}.")))?;
    granted.narrow(&requested).map_err(|e| match e {
        ScopeError::NotGranted(scope) => invalid_scope(format!(
            "The credential {client_id} does not have the scope {scope}; it has `{granted}`. \
             A token can narrow a credential's scopes, never widen them."
        )),
        other => invalid_scope(format!("{other}.")),
    })
}

/// `POST /v1/auth/oauth/token`.
#[utoipa::path(
    post,
    path = "/v1/auth/oauth/token",
    tag = "OAuth",
    summary = "Issue an access token",
    description = "Exchanges a credential's client id and secret (`grant_type=client_credentials`, \
        RFC 6749 §4.4) or a refresh token (`grant_type=refresh_token`, §6) for an access token \
        and a new refresh token. The client authenticates with HTTP Basic \
        (`client_secret_basic`) or with `client_id` and `client_secret` in the form \
        (`client_secret_post`). `scope` may narrow the credential's scopes, never widen them. \
        No token outlives its credential nor the secret that obtained it. A refresh token \
        works once (RFC 9700 §4.14): the response carries the next one, and presenting a \
        used one again revokes every token of its grant.",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "The tokens (RFC 6749 §5.1), sent with \
            `Cache-Control: no-store`.", body = TokenResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthUnauthorized),
        (status = 403, response = OAuthForbidden),
        (status = 429, response = OAuthTooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ),
)]
async fn issue_token(
    State(state): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let params = Params::parse(&headers, body);
    let grant_type = params
        .as_ref()
        .ok()
        .and_then(|params| params.get("grant_type"))
        .unwrap_or_default()
        .to_owned();
    let answer = match params {
        Ok(params) => grant(&state, origin, &headers, &params).await,
        Err(error) => Err(error),
    };
    let outcome = answer
        .as_ref()
        .map_or_else(|error| error.error, |_| "issued");
    state.metrics.token_grant(&grant_type, outcome);
    answer
}

/// The token endpoint's work, once its form was read.
async fn grant(
    state: &AppState,
    origin: Origin,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, OAuthError> {
    let grant_type = params.get("grant_type").ok_or_else(|| {
        OAuthError::invalid_request(
            "The grant_type parameter is missing; use client_credentials or refresh_token.",
        )
    })?;
    if !matches!(grant_type, "client_credentials" | "refresh_token") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "The grant type `{}` is not supported; use client_credentials or refresh_token.",
                grant_type.chars().take(64).collect::<String>()
            ),
        ));
    }
    let (client_id, secret) = client_auth(headers, params)?;
    let client = authenticate(state, &client_id, &secret, &origin).await?;
    let credential = &client.credential;
    let now = state.now();

    let (scopes, refresh_expires_at, grant_id) = if grant_type == "refresh_token" {
        let token = params.get("refresh_token").ok_or_else(|| {
            OAuthError::invalid_request("The refresh_token parameter is missing.")
        })?;
        let refresh = state
            .keys
            .verify(token, REFRESH_TOKEN_TYPE, &state.public_url, now)
            .map_err(|failure| {
                OAuthError::invalid_refresh_token(format!(
                    "The refresh token cannot be used: {}",
                    failure.message()
                ))
            })?;
        if refresh.client_id != credential.client_id {
            return Err(OAuthError::invalid_refresh_token(
                "The refresh token was issued to another client.",
            ));
        }
        live_credential(state, &refresh, now)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Invalid(AuthFailure::TokenRevoked) => {
                    OAuthError::invalid_refresh_token("The refresh token was revoked.")
                }
                Refusal::Invalid(other) => OAuthError::invalid_refresh_token(other.message()),
                Refusal::Unavailable => OAuthError::unavailable("no credential in memory"),
            })?;
        let grant_id = refresh.gid.clone().ok_or_else(|| {
            OAuthError::invalid_refresh_token(AuthFailure::TokenOutdated.message())
        })?;
        let granted = Scopes::parse(&refresh.scope).map_err(|_| {
            OAuthError::invalid_refresh_token("The refresh token's scope is invalid.")
        })?;
        let scopes = parse_requested_scope(params.get("scope"), &granted, &client_id)?;
        spend_refresh_token(state, &refresh, &grant_id).await?;
        (scopes, refresh.expires_at(), grant_id)
    } else {
        let scopes = parse_requested_scope(params.get("scope"), &credential.scopes, &client_id)?;
        (
            scopes,
            now + chrono::Duration::from_std(state.config.refresh_token_ttl).unwrap_or_default(),
            uuid::Uuid::new_v4().simple().to_string(),
        )
    };

    // A token never outlives its credential, nor the secret that obtained it.
    let cap = |at: DateTime<Utc>| {
        [credential.expires_at, client.secret_expires_at]
            .into_iter()
            .flatten()
            .fold(at, DateTime::min)
    };
    let access_ttl = chrono::Duration::from_std(state.config.access_token_ttl).unwrap_or_default();
    let access_expires_at = cap(now + access_ttl);
    let claims = |expires_at: DateTime<Utc>| Claims {
        iss: state.public_url.clone(),
        sub: credential.client_id.clone(),
        aud: state.public_url.clone(),
        exp: expires_at.timestamp(),
        iat: now.timestamp(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        client_id: credential.client_id.clone(),
        scope: scopes.to_string(),
        user_id: credential.user.id,
        sid: Some(client.secret_id.clone()),
        gid: Some(grant_id.clone()),
    };
    let access_token = state
        .keys
        .sign(&claims(access_expires_at), ACCESS_TOKEN_TYPE, now);
    let refresh_token = state
        .keys
        .sign(&claims(cap(refresh_expires_at)), REFRESH_TOKEN_TYPE, now);

    let response = TokenResponse {
        access_token,
        token_type: "bearer".to_owned(),
        expires_in: u64::try_from((access_expires_at - now).num_seconds())
            .unwrap_or(0)
            .max(1),
        refresh_token: Some(refresh_token),
        scope: scopes.to_string(),
    };
    let mut response = Json(response).into_response();
    no_store(response.headers_mut());
    if let Some(rate) = client.rate {
        rate.write_headers(response.headers_mut());
    }
    tracing::debug!(credential.id = %credential.client_id, secret.id = %client.secret_id, "token issued");
    Ok(response)
}

/// Redeems a refresh token once (RFC 9700 §4.14.2): the first redemption wins a row in
/// the database; any later one, or a concurrent loser, is taken as a replay of a stolen
/// token and revokes the whole grant, the legitimate holder's newest tokens included.
async fn spend_refresh_token(
    state: &AppState,
    refresh: &Claims,
    grant_id: &str,
) -> Result<(), OAuthError> {
    let first = state
        .store
        .spend_refresh_token(
            &refresh.jti,
            grant_id,
            &refresh.client_id,
            refresh.expires_at(),
            state.now(),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    if first {
        return Ok(());
    }
    revoke_grant(state, refresh, grant_id).await?;
    tracing::warn!(
        credential.id = %refresh.client_id,
        grant.id = %grant_id,
        "a spent refresh token was presented again; every token of its grant is revoked"
    );
    Err(OAuthError::invalid_refresh_token(
        "The refresh token was already used. Each refresh token works once and the \
         response to it carries the next one; a second use is taken as a sign of theft, so \
         every token of its grant was revoked. Request a new token with your client id and \
         secret.",
    ))
}

/// Revokes every token descended from the grant of `token` (a refresh token), at once
/// on this replica and, through the change feed, on the others.
async fn revoke_grant(state: &AppState, token: &Claims, grant_id: &str) -> Result<(), OAuthError> {
    // Rotated refresh tokens keep the grant's first expiry, and an access token issued
    // just before it lives one access-token lifetime more.
    let until = token.expires_at()
        + chrono::Duration::from_std(state.config.access_token_ttl).unwrap_or_default();
    state
        .store
        .revoke_grant(grant_id, &token.client_id, until, state.now())
        .await
        .map_err(OAuthError::unavailable)?;
    state.revocations.insert_grant(grant_id.to_owned(), until);
    Ok(())
}

/// The parameters of a request that must come from an authenticated client, and that
/// client's credential.
async fn authenticated_client(
    state: &AppState,
    origin: &Origin,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Params, Arc<CachedCredential>), OAuthError> {
    let params = Params::parse(headers, body)?;
    let (client_id, secret) = client_auth(headers, &params)?;
    let client = authenticate(state, &client_id, &secret, origin).await?;
    Ok((params, client.credential))
}

/// Verifies a token of either kind, for introspection and revocation.
async fn verify_any(state: &AppState, token: &str) -> Option<(Claims, &'static str)> {
    let now = state.now();
    for typ in [ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE] {
        if let Ok(claims) = state.keys.verify(token, typ, &state.public_url, now) {
            return Some((claims, typ));
        }
    }
    None
}

/// Whether a refresh token was redeemed already: only the database knows, and
/// introspecting refresh tokens is rare enough to ask it.
async fn refresh_token_spent(state: &AppState, claims: &Claims) -> Result<bool, OAuthError> {
    state
        .store
        .refresh_token_spent(&claims.jti)
        .await
        .map_err(OAuthError::unavailable)
}

/// `POST /v1/auth/oauth/introspect` (RFC 7662). A client may introspect only its own
/// tokens; anything else is reported as inactive, revealing nothing.
#[utoipa::path(
    post,
    path = "/v1/auth/oauth/introspect",
    tag = "OAuth",
    summary = "Introspect a token",
    description = "RFC 7662: whether a token is active, and its claims. A client may \
        introspect only its own tokens; any other token, and a token whose credential was \
        deleted or expired, whose secret was rolled or whose grant was revoked, and a refresh \
        token already redeemed, is reported as `{\"active\": false}`, revealing nothing.",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "The token's state; only `active` when inactive.",
            body = IntrospectionResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthUnauthorized),
        (status = 403, response = OAuthForbidden),
        (status = 429, response = OAuthTooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ),
)]
async fn introspect_token(
    State(state): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let (params, caller) = authenticated_client(&state, &origin, &headers, body).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is missing."))?;
    let mut answer = IntrospectionResponse::default();
    let live = match verify_any(&state, token).await {
        Some((claims, typ)) if claims.client_id == caller.client_id => {
            match live_credential(&state, &claims, state.now()).await {
                Ok(_) => Some((claims, typ)),
                Err(Refusal::Invalid(_)) => None,
                // "Inactive" would have the resource server refuse a token that may be
                // fine.
                Err(Refusal::Unavailable) => {
                    return Err(OAuthError::unavailable("no credential in memory"));
                }
            }
        }
        _ => None,
    };
    if let Some((claims, typ)) = live
        && !(typ == REFRESH_TOKEN_TYPE && refresh_token_spent(&state, &claims).await?)
    {
        answer = IntrospectionResponse {
            active: true,
            scope: Some(claims.scope.clone()),
            client_id: Some(claims.client_id.clone()),
            username: Some(caller.user.email.clone()),
            token_type: Some(
                if typ == ACCESS_TOKEN_TYPE {
                    "access_token"
                } else {
                    "refresh_token"
                }
                .to_owned(),
            ),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            sub: Some(claims.sub.clone()),
            aud: Some(claims.aud.clone()),
            iss: Some(claims.iss.clone()),
            jti: Some(claims.jti.clone()),
        };
    }
    let mut response = Json(answer).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// `POST /v1/auth/oauth/revoke` (RFC 7009). Answers 200 whether or not the token was
/// valid (§2.2), so it cannot be used to probe tokens.
#[utoipa::path(
    post,
    path = "/v1/auth/oauth/revoke",
    tag = "OAuth",
    summary = "Revoke a token",
    description = "RFC 7009: revokes one of the client's access or refresh tokens at once, \
        on every replica (within milliseconds on PostgreSQL, half a second on SQLite); \
        revoking a refresh token revokes every token of its grant, the access tokens \
        included (§2.1). Answers 200 whether or not the token was valid \
        (§2.2), so it cannot be used to probe tokens.",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke; no body."),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthUnauthorized),
        (status = 403, response = OAuthForbidden),
        (status = 429, response = OAuthTooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ),
)]
async fn revoke_token(
    State(state): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let (params, caller) = authenticated_client(&state, &origin, &headers, body).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is missing."))?;
    if let Some((claims, typ)) = verify_any(&state, token).await
        && claims.client_id == caller.client_id
    {
        // RFC 7009 §2.1: revoking a refresh token also revokes the access tokens of its
        // grant.
        if let (REFRESH_TOKEN_TYPE, Some(grant_id)) = (typ, &claims.gid) {
            revoke_grant(&state, &claims, grant_id).await?;
            tracing::info!(credential.id = %claims.client_id, grant.id = %grant_id, "grant revoked");
        } else {
            state
                .store
                .revoke_token(
                    &claims.jti,
                    &claims.client_id,
                    claims.expires_at(),
                    state.now(),
                )
                .await
                .map_err(OAuthError::unavailable)?;
            state
                .revocations
                .insert(claims.jti.clone(), claims.expires_at());
            tracing::info!(credential.id = %claims.client_id, token.jti = %claims.jti, "token revoked");
        }
    }
    let mut response = StatusCode::OK.into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// OpenID Connect Discovery 1.0 §4: the same document as [`discovery`].
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "OAuth",
    summary = "Discovery (OpenID)",
    description = "The server's endpoints and capabilities, at the OpenID Connect \
        discovery location; the same document as `/.well-known/oauth-authorization-server`.",
    security(),
    responses((status = 200, description = "The metadata.", body = ServerMetadata)),
)]
async fn get_openid_configuration(state: State<AppState>) -> Json<serde_json::Value> {
    discovery(state)
}

/// RFC 8414 §3: the authorization server metadata.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "OAuth",
    summary = "Discovery (RFC 8414)",
    description = "Authorization server metadata (RFC 8414 §2): the token, introspection, \
        revocation and JWKS endpoints, grant types, client authentication methods and \
        scopes.",
    security(),
    responses((status = 200, description = "The metadata.", body = ServerMetadata)),
)]
async fn get_authorization_server_metadata(state: State<AppState>) -> Json<serde_json::Value> {
    discovery(state)
}

/// Authorization server metadata (RFC 8414 §2), also served as OpenID discovery.
fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = &state.public_url;
    Json(serde_json::json!({
        "issuer": base,
        "token_endpoint": format!("{base}/v1/auth/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{base}/v1/auth/oauth/introspect"),
        "revocation_endpoint": format!("{base}/v1/auth/oauth/revoke"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
    }))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "OAuth",
    summary = "Signing keys",
    description = "The public Ed25519 keys (RFC 7517, RFC 8037) that verify access tokens; \
        a token's `kid` header names its key.",
    security(),
    responses((status = 200, description = "The key set.", body = JsonWebKeySet)),
)]
async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.keys.jwks())
}
