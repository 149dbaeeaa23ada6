//! Who is calling: the bearer-token check every API endpoint uses, and the page session.
//!
//! [`Caller`] is built at the top of each API handler. It accepts an access token
//! (`Authorization: Bearer`) or, for the pages' own calls, the session cookie; a
//! state-changing call with the session cookie must also carry the session's CSRF token
//! in `X-CSRF-Token`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use latchkey_core::access::{CredentialLimits, Principal};
use latchkey_core::secret::tokens_match;
use latchkey_core::{ClientId, ClientSecret, Scopes, SecretDigest};
use latchkey_store::UserRow;

use crate::audit::{Actor, AuditSlot};
use crate::cluster_limits;
use crate::directory::CachedCredential;
use crate::error::{AppError, AuthFailure};
use crate::origin::Origin;
use crate::rate_limit::{RateNote, RateStatus};
use crate::state::AppState;
use crate::tokens::{ACCESS_TOKEN_TYPE, Claims};
use crate::usage_history::{CallerNote, RefusalReason, UsageEvent};

pub const SESSION_COOKIE: &str = "latchkey_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The credential behind an access token.
#[derive(Debug, Clone)]
pub struct TokenCredential {
    pub client_id: String,
    pub name: String,
    /// The token's scopes: the credential's, or the narrower set it asked for.
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Token(TokenCredential),
    Session,
}

/// An authenticated caller of the API.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub via: Via,
    /// What the permission decision needs to know about the caller.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
                AppError::Unauthorized(AuthFailure::MalformedToken(
                    "the Authorization header must be `Bearer <token>`".to_owned(),
                ))
            })?;
            let (user, credential, cached) = verify_access_token(state, token).await?;
            // Known from here on, so a refusal by the credential's limits names who.
            AuditSlot::actor_of(
                &parts.extensions,
                Actor {
                    user_id: Some(user.id),
                    email: Some(user.email.clone()),
                    client_id: Some(credential.client_id.clone()),
                    organization_id: user.organization_id,
                },
            );
            let origin = Origin::of(
                &parts.headers,
                &parts.extensions,
                state.config.trust_forwarded_for,
            );
            let now = state.now();
            match check_limits(state, &cached, &origin, now).await {
                Ok(status) => {
                    if let (Some(status), Some(note)) = (status, parts.extensions.get::<RateNote>())
                    {
                        note.set(status);
                    }
                }
                Err(LimitRefusal::Address(message)) => {
                    state.usage.counters.count(
                        &credential.client_id,
                        now,
                        UsageEvent::Refused(RefusalReason::AddressNotAllowed),
                    );
                    return Err(AppError::Forbidden {
                        code: "address_not_allowed",
                        message,
                    });
                }
                Err(LimitRefusal::RateLimited { status, message }) => {
                    state.usage.counters.count(
                        &credential.client_id,
                        now,
                        UsageEvent::Refused(RefusalReason::RateLimited),
                    );
                    return Err(AppError::RateLimited { status, message });
                }
            }
            state
                .usage
                .record_call(&credential.client_id, origin.to_use(now));
            // Counted as a call, or as refused for a missing permission, once the
            // handler answered (`usage_history::count_calls`).
            if let Some(note) = parts.extensions.get::<CallerNote>() {
                note.set(&credential.client_id);
            }
            let limits = CredentialLimits {
                client_id: credential.client_id.clone(),
                name: credential.name.clone(),
                scopes: credential.scopes.clone(),
                workspaces: credential.workspaces.clone(),
            };
            let principal = principal(state, &user, Some(limits)).await?;
            return Ok(Caller {
                user_id: user.id,
                email: user.email,
                name: user.name,
                via: Via::Token(TokenCredential {
                    client_id: credential.client_id,
                    name: credential.name,
                    scopes: credential.scopes,
                    expires_at: credential.expires_at,
                }),
                principal,
            });
        }
        let Some(session) = load_session(&parts.headers, state).await? else {
            return Err(AppError::Unauthorized(AuthFailure::MissingToken));
        };
        // Known from here on, even if the CSRF check refuses the call.
        AuditSlot::actor_of(&parts.extensions, session.actor());
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !tokens_match(sent, &session.csrf_token) {
                return Err(AppError::Forbidden {
                    code: "csrf_failed",
                    message: "This request uses your sign-in session but lacks the page's CSRF \
                              token (X-CSRF-Token). Reload the page and try again."
                        .to_owned(),
                });
            }
        }
        Caller::of_session(state, &session).await
    }
}

impl Caller {
    /// A person signed in to the pages, asking through their session: the pages build
    /// this to ask the same permission decision, with the same explanations, as the API.
    pub async fn of_session(state: &AppState, session: &Session) -> Result<Caller, AppError> {
        let principal = principal(state, &session.user, None).await?;
        Ok(Caller {
            user_id: session.user.id,
            email: session.user.email.clone(),
            name: session.user.name.clone(),
            via: Via::Session,
            principal,
        })
    }
}

/// What the permission decision needs to know about `user`, acting through
/// `credential` if any.
pub async fn principal(
    state: &AppState,
    user: &UserRow,
    credential: Option<CredentialLimits>,
) -> Result<Principal, AppError> {
    let access = state.access.get(&state.store, user).await?;
    Ok(Principal {
        user_id: user.id,
        email: user.email.clone(),
        is_operator: access.is_operator,
        organization: access.organization,
        workspace_roles: access.workspace_roles.clone(),
        credential,
    })
}

/// A verified access token's user and credential, with the token's scopes.
#[derive(Debug, Clone)]
pub struct TokenHolder {
    pub client_id: String,
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub workspaces: Option<std::collections::BTreeSet<String>>,
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a token is not accepted now.
#[derive(Debug)]
pub enum Refusal {
    /// Not valid: 401 with the reason.
    Invalid(AuthFailure),
    /// Its credential is not in memory and the database cannot be reached: whether the
    /// token is valid cannot be told, so the client is asked to retry (503), never told
    /// that its credential is gone.
    Unavailable,
}

impl From<AuthFailure> for Refusal {
    fn from(failure: AuthFailure) -> Self {
        Refusal::Invalid(failure)
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(failure) => AppError::Unauthorized(failure),
            Refusal::Unavailable => AppError::DatabaseUnavailable,
        }
    }
}

/// The bearer check: signature, type, issuer, audience, expiry, revocation, and that
/// the credential still exists and has not expired.
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<(UserRow, TokenHolder, Arc<CachedCredential>), Refusal> {
    let now = state.now();
    if ClientId::parse(token).is_some() {
        return Err(AuthFailure::CredentialAsToken("client id").into());
    }
    if ClientSecret::parse(token).is_ok() {
        return Err(AuthFailure::CredentialAsToken("client secret").into());
    }
    let claims = state
        .keys
        .verify(token, ACCESS_TOKEN_TYPE, &state.public_url, now)?;
    let credential = live_credential(state, &claims, now).await?;
    let scopes = Scopes::parse(&claims.scope)
        .map_err(|_| AuthFailure::MalformedToken("the `scope` claim is invalid".to_owned()))?;
    Ok((
        credential.user.clone(),
        TokenHolder {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
            scopes,
            expires_at: credential.expires_at,
            workspaces: credential.workspaces.clone(),
        },
        credential,
    ))
}

/// Why a credential's own limits refuse a request; each message names the reason.
#[derive(Debug)]
pub enum LimitRefusal {
    /// The request's address is not on the credential's allowlist.
    Address(String),
    RateLimited {
        status: RateStatus,
        message: String,
    },
}

/// The credential's own limits, for token grants and API calls alike: where it may be
/// used from, then how often (a refused address is not counted). `Ok` carries the rate
/// status when the credential has a rate limit.
pub async fn check_limits(
    state: &AppState,
    credential: &CachedCredential,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<Option<RateStatus>, LimitRefusal> {
    if let Some(allowed) = &credential.allowed_networks
        && !origin
            .address
            .is_some_and(|address| allowed.allows(address))
    {
        return Err(LimitRefusal::Address(format!(
            "The credential '{}' ({}) may be used only from {}; this request came from {}. \
             Its owner can change the allowed addresses under API Credentials or with \
             PUT /v1/credentials/{}/limits.",
            credential.name,
            credential.client_id,
            allowed.entries().join(", "),
            origin.address_text(),
            credential.client_id
        )));
    }
    let Some(limit) = credential.rate_limit_per_minute else {
        return Ok(None);
    };
    cluster_limits::credential_rate(state, &credential.client_id, limit, now)
        .await
        .map(Some)
        .map_err(|status| LimitRefusal::RateLimited {
            status,
            message: format!(
                "The credential '{}' ({}) allows {limit} requests per minute, token requests \
                 and API calls together; retry after {} second(s).",
                credential.name, credential.client_id, status.reset_secs
            ),
        })
}

/// The credential a verified token (access or refresh) was issued to, if it still may
/// be used: neither the token nor its grant revoked, the credential usable, and the
/// secret that obtained the token still working — all from memory.
pub async fn live_credential(
    state: &AppState,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<Arc<CachedCredential>, Refusal> {
    if state.revocations.is_revoked(&claims.jti) {
        return Err(AuthFailure::TokenRevoked.into());
    }
    let (Some(secret_id), Some(grant_id)) = (&claims.sid, &claims.gid) else {
        return Err(AuthFailure::TokenOutdated.into());
    };
    if state.revocations.is_grant_revoked(grant_id) {
        return Err(AuthFailure::GrantRevoked.into());
    }
    let credential = match state.credentials.get(&state.store, &claims.client_id).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return Err(AuthFailure::UnknownCredential.into()),
        Err(error) => {
            // Fail closed, but not as a 401: that would tell the client to throw away a
            // credential that may be fine.
            tracing::warn!(error = %error, "could not load a credential to check a token");
            return Err(Refusal::Unavailable);
        }
    };
    if credential.deleted_at.is_some() {
        return Err(AuthFailure::CredentialDeleted {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
        }
        .into());
    }
    if credential.disabled_at.is_some() {
        return Err(AuthFailure::CredentialDisabled {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
        }
        .into());
    }
    if credential.expires_at.is_some_and(|at| at <= now) {
        return Err(AuthFailure::CredentialExpired {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
        }
        .into());
    }
    // The cached credential holds every secret with its expiry (a roll reaches every
    // replica's cache through the change feed), so this needs no database read.
    let Some(secret) = credential.secrets.iter().find(|s| s.id == *secret_id) else {
        return Err(AuthFailure::UnknownSecret {
            client_id: credential.client_id.clone(),
        }
        .into());
    };
    if let Some(at) = secret.expires_at.filter(|at| *at <= now) {
        return Err(AuthFailure::SecretRetired {
            client_id: credential.client_id.clone(),
            prefix: secret.prefix.clone(),
            at,
        }
        .into());
    }
    Ok(credential)
}

/// A signed-in person's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserRow,
    pub csrf_token: String,
    pub token_digest: String,
}

impl Session {
    /// The signed-in person as the audit log names them.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user.id),
            email: Some(self.user.email.clone()),
            client_id: None,
            organization_id: self.user.organization_id,
        }
    }
}

/// The value of a cookie in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

pub async fn load_session(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Session>, AppError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let digest = SecretDigest::of(token).to_hex();
    Ok(state
        .store
        .session(&digest, state.now())
        .await?
        .map(|(session, user)| Session {
            user,
            csrf_token: session.csrf_token,
            token_digest: digest,
        }))
}

/// A page that needs a signed-in person; anyone else is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct PageSession(pub Session);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match load_session(&parts.headers, state).await {
            Ok(Some(session)) => {
                AuditSlot::actor_of(&parts.extensions, session.actor());
                Ok(PageSession(session))
            }
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}
