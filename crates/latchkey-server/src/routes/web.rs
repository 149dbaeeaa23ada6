//! The pages: sign-in and set-password links (`sign_in`), API Credentials...
//! (`credentials_page`) and one credential's page (`credential_page`), the operator's
//! user list (`users_page`), the audit log (`audit_page`), an organization's webhooks
//! (`webhooks_page`); this module holds the router and what they share: the menu
//! (`Nav`), rendering, error pages, form parsing and the CSRF-checked `SessionForm`.
//!
//! Server-rendered HTML (askama, auto-escaped) with one small script and no build step.
//! Every state-changing form carries the session's CSRF token (the sign-in form a
//! double-submit cookie, since there is no session yet); the one-time view of a new
//! secret is sent with `Cache-Control: no-store`.

mod audit_page;
mod credential_forms;
mod credential_page;
mod credentials_page;
mod organization_credentials_page;
mod reveal;
mod sign_in;
mod usage_chart;
mod users_page;
mod webhooks_page;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use latchkey_core::secret::tokens_match;

use crate::auth::{PageSession, Session};
use crate::error::{AppError, InternalErrorDetail};
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "latchkey_login_csrf";
/// The double-submit cookie of the set-password form, which has no session either.
const FORM_CSRF_COOKIE: &str = "latchkey_form_csrf";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/credentials") }))
        .route("/login", get(sign_in::show_login).post(sign_in::log_in))
        .route("/logout", post(sign_in::log_out))
        .route(
            "/credentials",
            get(credentials_page::show_credentials).post(credentials_page::generate_credentials),
        )
        .route(
            "/credentials/{client_id}",
            get(credential_page::show_credential),
        )
        .route(
            "/credentials/{client_id}/delete",
            post(credential_page::delete_credentials),
        )
        .route(
            "/credentials/{client_id}/disable",
            post(credential_page::disable_credentials),
        )
        .route(
            "/credentials/{client_id}/enable",
            post(credential_page::enable_credentials),
        )
        .route("/audit", get(audit_page::show_audit))
        .route(
            "/credentials/{client_id}/roll",
            post(credential_page::roll_secret),
        )
        .route(
            "/credentials/{client_id}/renew",
            post(credential_page::renew_credentials),
        )
        .route(
            "/credentials/{client_id}/limits",
            post(credential_page::set_limits),
        )
        .route(
            "/credentials/reminders",
            post(credentials_page::set_reminder_days),
        )
        .route(
            "/notifications/{notification_id}/dismiss",
            post(credentials_page::dismiss_notification),
        )
        .route(
            "/organization/credentials",
            get(organization_credentials_page::show_own),
        )
        .route(
            "/organizations/{id}/credentials",
            get(organization_credentials_page::show_organization),
        )
        .route(
            "/organization/credentials/{client_id}/disable",
            post(organization_credentials_page::disable),
        )
        .route(
            "/organization/credentials/{client_id}/enable",
            post(organization_credentials_page::enable),
        )
        .route(
            "/organization/credentials/{client_id}/delete",
            post(organization_credentials_page::delete),
        )
        .route(
            "/organization/credential-policy",
            post(organization_credentials_page::set_policy),
        )
        .route(
            "/organization/webhooks",
            get(webhooks_page::show_webhooks).post(webhooks_page::create_webhook),
        )
        .route(
            "/organization/webhooks/{webhook_id}/delete",
            post(webhooks_page::delete_webhook),
        )
        .route(
            "/organization/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            post(webhooks_page::retry_delivery),
        )
        .route(
            "/admin/users",
            get(users_page::show_users).post(users_page::create_user),
        )
        .route(
            "/set-password/{token}",
            get(sign_in::show_set_password).post(sign_in::set_password),
        )
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/credentials.css", get(credentials_stylesheet))
        .route("/assets/app.js", get(script))
        // Browsers ask for /favicon.ico whatever the page names; both get the SVG.
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

// --- view models (field names are the templates' contract) ----------------------------

#[derive(Debug)]
pub(crate) struct Nav {
    pub(crate) user: Option<NavUser>,
    pub(crate) csrf_token: String,
}

#[derive(Debug)]
pub(crate) struct NavUser {
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) initials: String,
    pub(crate) is_admin: bool,
    /// An administrator of their organization: the menu offers "Organization".
    pub(crate) is_organization_admin: bool,
}

impl Nav {
    fn anonymous() -> Nav {
        Nav {
            user: None,
            csrf_token: String::new(),
        }
    }

    pub(crate) fn of(session: &Session) -> Nav {
        Nav {
            user: Some(NavUser {
                initials: initials(&session.user.name, &session.user.email),
                name: session.user.name.clone(),
                email: session.user.email.clone(),
                is_admin: session.user.is_admin(),
                is_organization_admin: session.user.organization_id.is_some()
                    && session.user.organization_role.as_deref() == Some("admin"),
            }),
            csrf_token: session.csrf_token.clone(),
        }
    }
}

/// Up to two letters for the avatar: of the first two words of the name, or the email.
fn initials(name: &str, email: &str) -> String {
    let from_name: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .collect();
    let source = if from_name.is_empty() {
        email.chars().take(1).collect()
    } else {
        from_name
    };
    source.to_uppercase()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    title: String,
    message: String,
}

pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            AppError::Internal(anyhow::anyhow!("rendering a page: {error}")).into_response()
        }
    }
}

pub(crate) fn error_page(nav: Nav, status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            nav,
            status: status.as_u16(),
            title: title.to_owned(),
            message: message.to_owned(),
        },
    )
}

pub(crate) fn display_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

// --- forms ---------------------------------------------------------------------------

/// A urlencoded form, where a field may be required to appear exactly once.
pub(crate) struct FormFields(Vec<(String, String)>);

impl FormFields {
    fn parse(
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<FormFields, AppError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            return Err(AppError::UnsupportedMediaType {
                message: "Send the form as application/x-www-form-urlencoded.".to_owned(),
            });
        }
        let body = body.map_err(|_| AppError::PayloadTooLarge)?;
        Ok(FormFields(
            form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    /// The field's value; absent is `""`, repeated is an error.
    pub(crate) fn one(&self, key: &str) -> Result<&str, AppError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = values.next().unwrap_or_default();
        if values.next().is_some() {
            return Err(AppError::bad_request(
                "repeated_field",
                format!("The form field `{key}` was sent more than once."),
            ));
        }
        Ok(first)
    }

    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The refusal page when a form posted with a session lacks its CSRF token.
fn csrf_rejection(session: &Session, form: &FormFields) -> Option<Response> {
    let sent = form.one("csrf_token").unwrap_or_default();
    (!tokens_match(sent, &session.csrf_token)).then(|| {
        error_page(
            Nav::of(session),
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this page, or your session changed since it was \
             loaded. Go back, reload the page and try again.",
        )
    })
}

/// A form posted by a signed-in person, its CSRF token checked: the first thing every
/// state-changing page handler needs.
pub(crate) struct SessionForm {
    pub(crate) session: Session,
    pub(crate) form: FormFields,
}

impl FromRequest<AppState> for SessionForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let PageSession(session) = PageSession::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await;
        let form =
            FormFields::parse(&parts.headers, body).map_err(|error| page_error(&session, error))?;
        if let Some(response) = csrf_rejection(&session, &form) {
            return Err(response);
        }
        Ok(SessionForm { session, form })
    }
}

/// An error of a page handler as the page a person sees: a refusal keeps the API's
/// explanation, an internal error is logged once by the middleware and never shown.
pub(crate) fn page_error(session: &Session, error: AppError) -> Response {
    let title = match &error {
        AppError::Denied(_) | AppError::Forbidden { .. } | AppError::Unauthorized(_) => {
            "You cannot do this"
        }
        AppError::NotFound { .. } => "Not found",
        AppError::BadRequest { .. }
        | AppError::Conflict { .. }
        | AppError::PayloadTooLarge
        | AppError::UnsupportedMediaType { .. }
        | AppError::MethodNotAllowed => "The request could not be processed",
        AppError::RateLimited { .. } => "Too many requests",
        AppError::DatabaseUnavailable => "Please try again in a moment",
        AppError::Unavailable { .. } | AppError::Internal(_) => "Something went wrong",
    };
    let mut response = error_page(
        Nav::of(session),
        error.status(),
        title,
        &error.body().message,
    );
    // The logging middleware finds the real error here; the page shows none of it.
    if let AppError::Internal(_) = error
        && let Some(detail) = error
            .into_response()
            .extensions_mut()
            .remove::<InternalErrorDetail>()
    {
        response.extensions_mut().insert(detail);
    }
    response
}

fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

// --- assets ----------------------------------------------------------------------------

async fn stylesheet() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

async fn credentials_stylesheet() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/credentials.css"),
    )
}

async fn favicon() -> impl IntoResponse {
    asset("image/svg+xml", include_str!("../../assets/favicon.svg"))
}

async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
