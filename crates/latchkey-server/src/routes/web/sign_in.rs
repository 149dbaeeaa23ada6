//! Signing in and out, and setting a password through a one-time link.

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::password::DUMMY_HASH;
use latchkey_core::secret::tokens_match;
use latchkey_core::{Email, SecretDigest};
use latchkey_store::NewSession;
use secrecy::SecretString;
use serde::Deserialize;

use crate::audit::{Actor, AuditSlot, Outcome};
use crate::auth::{SESSION_COOKIE, cookie, load_session};
use crate::cluster_limits;
use crate::directory::LoginRefusal;
use crate::error::{AppError, sentence};
use crate::hashing::Busy;
use crate::origin::Origin;
use crate::state::AppState;

use super::{
    FORM_CSRF_COOKIE, FormFields, LOGIN_CSRF_COOKIE, Nav, SessionForm, render, set_cookie,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    login_csrf: String,
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    nav: Nav,
    error: Option<String>,
    valid: bool,
    name: String,
    email: String,
    token: String,
    form_csrf: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    password: Option<String>,
}

pub(super) async fn show_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    if let Ok(Some(_)) = load_session(&headers, &state).await {
        return Redirect::to("/credentials").into_response();
    }
    let notice = (query.password.as_deref() == Some("set"))
        .then(|| "Your password is set. Sign in with it now.".to_owned());
    login_page(
        &state,
        &headers,
        StatusCode::OK,
        None,
        notice,
        String::new(),
    )
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    email: String,
) -> Response {
    let login_csrf = cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map_or_else(|| crate::random_id(32), str::to_owned);
    let mut response = render(
        status,
        &LoginPage {
            nav: Nav::anonymous(),
            error,
            notice,
            email,
            login_csrf: login_csrf.clone(),
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_CSRF_COOKIE, &login_csrf, "/login", 3600),
    );
    response
}

/// The sign-in page again, 503 with `Retry-After`: the password could not be checked
/// because the service is checking as many as it can at once.
fn busy_page(state: &AppState, headers: &HeaderMap, busy: Busy, email: String) -> Response {
    let mut response = login_page(
        state,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(format!(
            "The service is busy checking other sign-ins. Try again in {} second(s).",
            busy.retry_after_secs
        )),
        None,
        email,
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(busy.retry_after_secs),
    );
    response
}

pub(super) async fn log_in(
    State(state): State<AppState>,
    audit: AuditSlot,
    origin: Origin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match FormFields::parse(&headers, body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let (Ok(sent_csrf), Ok(email_text), Ok(password)) = (
        form.one("login_csrf"),
        form.one("email"),
        form.one("password"),
    ) else {
        return login_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("The sign-in form was sent with repeated fields.".to_owned()),
            None,
            String::new(),
        );
    };
    let email_shown: String = email_text.chars().take(254).collect();
    // A failed sign-in is a `failure` (not a refusal of a known caller) and names the
    // email it tried, never the password.
    let failed = |email: &str| {
        audit.note(|note| {
            note.outcome = Some(Outcome::Failure);
            note.detail.insert("email".to_owned(), email.into());
        });
    };
    let cookie_csrf = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie_csrf.is_empty() || !tokens_match(sent_csrf, cookie_csrf) {
        return login_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again.".to_owned()),
            None,
            email_shown,
        );
    }
    let Ok(email) = Email::parse(email_text) else {
        return login_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter the email address of your account.".to_owned()),
            None,
            email_shown,
        );
    };
    let address = origin.client_key();
    if let Some(refusal) = cluster_limits::login_refused(&state, email.as_str(), address).await {
        failed(email.as_str());
        let (wait, whose) = match refusal {
            LoginRefusal::Address(wait) => (wait, "from your network"),
            LoginRefusal::Account(wait) => (wait, "for this account from your network"),
        };
        tracing::warn!("sign-in refused: too many failed attempts {whose}");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut response = login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many failed sign-in attempts {whose}. Try again in {minutes} minute(s)."
            )),
            None,
            email_shown,
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return response;
    }
    let password = SecretString::from(password.to_owned());
    let user = match state.store.user_by_email(email.as_str()).await {
        Ok(user) => user,
        Err(error) => return AppError::from(error).into_response(),
    };
    // Verify against a dummy hash for unknown emails so timing does not reveal accounts.
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH, |u| u.password_hash.as_str())
        .to_owned();
    let verified = match state.hashing.verify(password, hash).await {
        Ok(verified) => verified,
        Err(busy) => {
            tracing::warn!("sign-in refused: every password hashing slot is busy");
            return busy_page(&state, &headers, busy, email_shown);
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        cluster_limits::login_failed(&state, email.as_str(), address).await;
        failed(email.as_str());
        tracing::info!("sign-in failed");
        return login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("Incorrect email or password.".to_owned()),
            None,
            email_shown,
        );
    };
    cluster_limits::login_succeeded(&state, email.as_str(), address).await;
    audit.note(|note| {
        note.actor = Some(Actor {
            user_id: Some(user.id),
            email: Some(user.email.clone()),
            client_id: None,
            organization_id: user.organization_id,
        });
    });
    let token = crate::random_id(43);
    let now = state.now();
    let ttl = state.config.session_ttl;
    let session = NewSession {
        token_digest: SecretDigest::of(&token).to_hex(),
        user_id: user.id,
        csrf_token: crate::random_id(32),
        created_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
    };
    if let Err(error) = state.store.create_session(&session).await {
        return AppError::from(error).into_response();
    }
    tracing::info!(user.id = user.id, "signed in");
    let mut response = Redirect::to("/credentials").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &token, "/", ttl.as_secs()),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_CSRF_COOKIE, "", "/login", 0),
    );
    response
}

pub(super) async fn log_out(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    if let Err(error) = state.store.delete_session(&session.token_digest).await {
        return AppError::from(error).into_response();
    }
    tracing::info!(user.id = session.user.id, "signed out");
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", "/", 0),
    );
    response
}

// --- set-password links ------------------------------------------------------------------

pub(super) async fn show_set_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    set_password_page(&state, &headers, &token, StatusCode::OK, None).await
}

async fn set_password_page(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let user = match state
        .store
        .password_link_user(&SecretDigest::of(token).to_hex(), state.now())
        .await
    {
        Ok(user) => user,
        Err(error) => return AppError::from(error).into_response(),
    };
    let form_csrf = cookie(headers, FORM_CSRF_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map_or_else(|| crate::random_id(32), str::to_owned);
    let page = SetPasswordPage {
        nav: Nav::anonymous(),
        error,
        valid: user.is_some(),
        name: user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        email: user.map(|u| u.email).unwrap_or_default(),
        token: token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect(),
        form_csrf: form_csrf.clone(),
    };
    let status = if page.valid {
        status
    } else {
        StatusCode::NOT_FOUND
    };
    let mut response = render(status, &page);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, FORM_CSRF_COOKIE, &form_csrf, "/set-password", 3600),
    );
    response
}

pub(super) async fn set_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match FormFields::parse(&headers, body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let (Ok(sent_csrf), Ok(password)) = (form.one("form_csrf"), form.one("password")) else {
        return AppError::bad_request("repeated_field", "A form field was sent more than once.")
            .into_response();
    };
    let cookie_csrf = cookie(&headers, FORM_CSRF_COOKIE).unwrap_or_default();
    if cookie_csrf.is_empty() || !tokens_match(sent_csrf, cookie_csrf) {
        let message = "The form expired. Please try again.".to_owned();
        return set_password_page(
            &state,
            &headers,
            &token,
            StatusCode::FORBIDDEN,
            Some(message),
        )
        .await;
    }
    let password = SecretString::from(password.to_owned());
    if let Err(error) = latchkey_core::password::validate_new_password(&password) {
        let message = sentence(&error.to_string());
        return set_password_page(
            &state,
            &headers,
            &token,
            StatusCode::BAD_REQUEST,
            Some(message),
        )
        .await;
    }
    let hash = match state.hashing.hash(password).await {
        Ok(hash) => hash,
        Err(busy) => {
            let message = format!(
                "The service is busy. Try again in {} second(s).",
                busy.retry_after_secs
            );
            let mut response = set_password_page(
                &state,
                &headers,
                &token,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(message),
            )
            .await;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(busy.retry_after_secs),
            );
            return response;
        }
    };
    match state
        .store
        .use_password_link(&SecretDigest::of(&token).to_hex(), &hash, state.now())
        .await
    {
        Ok(true) => {
            tracing::info!("password set through a one-time link; the person's sessions ended");
            Redirect::to("/login?password=set").into_response()
        }
        Ok(false) => set_password_page(&state, &headers, &token, StatusCode::NOT_FOUND, None).await,
        Err(error) => AppError::from(error).into_response(),
    }
}
