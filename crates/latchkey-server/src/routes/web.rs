//! The pages: sign-in, API Credentials..., and the administrator's user list.
//!
//! Server-rendered HTML (askama, auto-escaped) with one small script and no build step.
//! Every state-changing form carries the session's CSRF token (the sign-in form a
//! double-submit cookie, since there is no session yet); the one-time view of a new
//! secret is sent with `Cache-Control: no-store`.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use latchkey_core::password::{dummy_hash, verify_password};
use latchkey_core::secret::tokens_match;
use latchkey_core::{ClientId, Email, Scope, SecretDigest};
use latchkey_store::NewSession;
use secrecy::SecretString;
use serde::Deserialize;

use crate::access::readable_workspaces;
use crate::auth::{PageSession, SESSION_COOKIE, Session, cookie, load_session, principal};
use crate::credentials::{self, CredentialRequest};
use crate::error::{AppError, sentence};
use crate::state::AppState;
use crate::users::{AddUserError, add_user};

const LOGIN_CSRF_COOKIE: &str = "latchkey_login_csrf";
/// The double-submit cookie of the set-password form, which has no session either.
const FORM_CSRF_COOKIE: &str = "latchkey_form_csrf";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/credentials") }))
        .route("/login", get(show_login).post(log_in))
        .route("/logout", post(log_out))
        .route(
            "/credentials",
            get(show_credentials).post(generate_credentials),
        )
        .route("/credentials/{client_id}/delete", post(delete_credentials))
        .route(
            "/credentials/{client_id}/disable",
            post(disable_credentials),
        )
        .route("/credentials/{client_id}/enable", post(enable_credentials))
        .route("/admin/users", get(show_users).post(create_user))
        .route(
            "/set-password/{token}",
            get(show_set_password).post(set_password),
        )
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
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
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    login_csrf: String,
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage {
    nav: Nav,
    credentials: Vec<CredentialView>,
    created: Option<CreatedView>,
    error: Option<String>,
    notice: Option<String>,
    form_name: String,
    scopes: Vec<ScopeOption>,
    /// The workspaces a new credential may be limited to.
    workspaces: Vec<WorkspaceOption>,
}

struct CredentialView {
    client_id: String,
    name: String,
    created: String,
    last_used: Option<String>,
    expires: Option<String>,
    expired: bool,
    disabled: bool,
    scopes: Vec<String>,
    /// The names of the workspaces it is limited to; `None`: all of its user's.
    workspaces: Option<Vec<String>>,
}

struct CreatedView {
    client_id: String,
    client_secret: String,
    name: String,
    file_json: String,
    file_name: String,
    download_href: String,
}

struct ScopeOption {
    name: String,
    description: String,
    checked: bool,
}

struct WorkspaceOption {
    id: String,
    name: String,
    role: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserListItem>,
    error: Option<String>,
    notice: Option<String>,
    form_email: String,
    form_name: String,
}

struct UserListItem {
    id: i64,
    email: String,
    name: String,
    is_admin: bool,
    created: String,
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
            FormFields::parse(&parts.headers, body).map_err(|error| form_error(&session, error))?;
        if let Some(response) = csrf_rejection(&session, &form) {
            return Err(response);
        }
        Ok(SessionForm { session, form })
    }
}

pub(crate) fn form_error(session: &Session, error: AppError) -> Response {
    error_page(
        Nav::of(session),
        error.status(),
        "The request could not be processed",
        &error.body().message,
    )
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

// --- sign-in -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct LoginQuery {
    password: Option<String>,
}

async fn show_login(
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

async fn log_in(
    State(state): State<AppState>,
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
    if let Some(wait) = state.logins.locked_for(email.as_str()) {
        let minutes = wait.as_secs().div_ceil(60);
        tracing::warn!("sign-in refused: too many failed attempts for one account");
        return login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many failed sign-in attempts for this account. Try again in {minutes} minute(s)."
            )),
            None,
            email_shown,
        );
    }
    let password = SecretString::from(password.to_owned());
    let user = match state.store.user_by_email(email.as_str()).await {
        Ok(user) => user,
        Err(error) => return AppError::from(error).into_response(),
    };
    // Verify against a dummy hash for unknown emails so timing does not reveal accounts.
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str())
        .to_owned();
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| verified) else {
        state.logins.record_failure(email.as_str());
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
    state.logins.record_success(email.as_str());
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

async fn log_out(
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

// --- API Credentials... ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct CredentialsQuery {
    deleted: Option<String>,
    disabled: Option<String>,
    enabled: Option<String>,
}

async fn show_credentials(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<CredentialsQuery>,
) -> Response {
    let notice = None
        .or_else(|| {
            query
                .deleted
                .as_deref()
                .and_then(ClientId::parse)
                .map(|id| {
                    format!(
                        "The credential {id} was deleted. Programs that used it can no longer get \
                     tokens."
                    )
                })
        })
        .or_else(|| {
            query
                .disabled
                .as_deref()
                .and_then(ClientId::parse)
                .map(|id| {
                    format!(
                        "The credential {id} was disabled. Programs that use it cannot get tokens \
                     until you enable it again."
                    )
                })
        })
        .or_else(|| {
            query
                .enabled
                .as_deref()
                .and_then(ClientId::parse)
                .map(|id| {
                    format!("The credential {id} was enabled. Programs that use it work again.")
                })
        });
    credentials_page(
        &state,
        &session,
        StatusCode::OK,
        None,
        notice,
        None,
        String::new(),
        None,
        &[],
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per page state; a struct would only rename them"
)]
async fn credentials_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    created: Option<CreatedView>,
    notice: Option<String>,
    error: Option<String>,
    form_name: String,
    checked_scopes: Option<Vec<String>>,
    checked_workspaces: &[String],
) -> Response {
    let list = match credentials::list(state, session.user.id).await {
        Ok(list) => list,
        Err(error) => return error.into_response(),
    };
    let readable = match principal(state, &session.user, None).await {
        Ok(owner) => match readable_workspaces(state, &owner).await {
            Ok(readable) => readable,
            Err(error) => return error.into_response(),
        },
        Err(error) => return error.into_response(),
    };
    let mut names: HashMap<String, String> = readable
        .iter()
        .map(|(w, _)| (w.id.clone(), w.name.clone()))
        .collect();
    // A credential may name a workspace its user has since lost: show its name anyway.
    for id in list.iter().flat_map(|c| c.workspaces.iter().flatten()) {
        if !names.contains_key(id) {
            let name = match state.store.workspace(id).await {
                Ok(Some(workspace)) => workspace.name,
                Ok(None) => id.clone(),
                Err(error) => return AppError::from(error).into_response(),
            };
            names.insert(id.clone(), name);
        }
    }
    let now = state.now();
    let checked = checked_scopes
        .unwrap_or_else(|| latchkey_core::Scopes::default_for_new_credential().names());
    let page = CredentialsPage {
        nav: Nav::of(session),
        credentials: list
            .into_iter()
            .map(|c| CredentialView {
                expired: c.expires.is_some_and(|t| t.0 <= now),
                disabled: c.disabled,
                client_id: c.client_id,
                name: c.name,
                created: display_time(c.created.0),
                last_used: c.last_used.map(|t| display_time(t.0)),
                expires: c.expires.map(|t| display_time(t.0)),
                scopes: c.scopes,
                workspaces: c.workspaces.map(|ids| {
                    ids.iter()
                        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
                        .collect()
                }),
            })
            .collect(),
        created,
        error,
        notice,
        form_name,
        scopes: Scope::ALL
            .iter()
            .map(|s| ScopeOption {
                name: s.as_str().to_owned(),
                description: s.description().to_owned(),
                checked: checked.iter().any(|c| c == s.as_str()),
            })
            .collect(),
        workspaces: readable
            .into_iter()
            .map(|(w, role)| WorkspaceOption {
                checked: checked_workspaces.contains(&w.id),
                id: w.id,
                name: w.name,
                role: role.as_str().to_owned(),
            })
            .collect(),
    };
    render(status, &page)
}

/// The expiry chosen in the Generate dialog: a preset number of days, or the end of a
/// custom date (UTC).
fn parse_expiry(
    choice: &str,
    date: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    match choice {
        "" | "never" => Ok(None),
        "custom" => {
            let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .map_err(|_| "Choose the expiry date (YYYY-MM-DD).".to_owned())?;
            let end = day
                .and_hms_milli_opt(23, 59, 59, 999)
                .map(|t| t.and_utc())
                .ok_or_else(|| "Choose a valid expiry date.".to_owned())?;
            if end <= now {
                return Err("The expiry date must be in the future.".to_owned());
            }
            Ok(Some(end))
        }
        days => match days.parse::<u16>() {
            Ok(days @ 1..=3650) => Ok(Some(now + chrono::Duration::days(i64::from(days)))),
            _ => Err("Choose an expiry from the list.".to_owned()),
        },
    }
}

async fn generate_credentials(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let (Ok(name), Ok(expiry), Ok(expires_on)) =
        (form.one("name"), form.one("expiry"), form.one("expires_on"))
    else {
        return form_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let scopes = form.all("scopes");
    // None checked: the credential reaches every workspace its user can.
    let workspaces = form.all("workspaces");
    let form_name: String = name.chars().take(100).collect();
    let retry = |message: String| {
        let state = state.clone();
        let session = session.clone();
        let form_name = form_name.clone();
        let scopes = scopes.clone();
        let workspaces = workspaces.clone();
        async move {
            credentials_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some(message),
                form_name,
                Some(scopes),
                &workspaces,
            )
            .await
        }
    };
    let expires_at = match parse_expiry(expiry, expires_on, state.now()) {
        Ok(expires_at) => expires_at,
        Err(message) => return retry(message).await,
    };
    if scopes.is_empty() {
        return retry("Choose at least one scope.".to_owned()).await;
    }
    let request = CredentialRequest {
        name: name.to_owned(),
        expires_at,
        scopes: Some(scopes.clone()),
        workspaces: (!workspaces.is_empty()).then(|| workspaces.clone()),
    };
    let owner = match principal(&state, &session.user, None).await {
        Ok(owner) => owner,
        Err(error) => return error.into_response(),
    };
    let file = match credentials::generate(&state, &owner, request).await {
        Ok(file) => file,
        Err(AppError::BadRequest { message, .. }) => return retry(message).await,
        Err(error) => return error.into_response(),
    };
    let file_json = match serde_json::to_string_pretty(&file) {
        Ok(json) => json,
        Err(error) => return AppError::Internal(error.into()).into_response(),
    };
    let created = CreatedView {
        download_href: format!(
            "data:application/json;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&file_json)
        ),
        file_name: format!("latchkey-{}.json", slug(&file.name)),
        client_id: file.client_id,
        client_secret: file.client_secret,
        name: file.name,
        file_json,
    };
    credentials_page(
        &state,
        &session,
        StatusCode::CREATED,
        Some(created),
        None,
        None,
        String::new(),
        None,
        &[],
    )
    .await
}

/// A file-name-safe version of a credential name.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "credentials".to_owned()
    } else {
        slug.to_owned()
    }
}

async fn delete_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    match credentials::delete(&state, session.user.id, &client_id).await {
        Ok(()) => Redirect::to(&format!("/credentials?deleted={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}

async fn disable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    match credentials::set_disabled(&state, session.user.id, &client_id, true).await {
        Ok(()) => Redirect::to(&format!("/credentials?disabled={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}

async fn enable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    match credentials::set_disabled(&state, session.user.id, &client_id, false).await {
        Ok(()) => Redirect::to(&format!("/credentials?enabled={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}

// --- administration --------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct UsersQuery {
    added: Option<i64>,
}

/// The refusal page when the signed-in person is not an administrator.
fn admin_rejection(session: &Session) -> Option<Response> {
    (!session.user.is_admin()).then(|| {
        error_page(
            Nav::of(session),
            StatusCode::FORBIDDEN,
            "Administrators only",
            "Only an administrator can manage users. Ask one to add people for you.",
        )
    })
}

async fn show_users(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&session) {
        return response;
    }
    let notice = match query.added {
        Some(id) => state
            .store
            .user_by_id(id)
            .await
            .ok()
            .flatten()
            .map(|u| format!("Added {} ({}). They can sign in now.", u.name, u.email)),
        None => None,
    };
    users_page(
        &state,
        &session,
        StatusCode::OK,
        notice,
        None,
        String::new(),
        String::new(),
    )
    .await
}

async fn users_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    form_email: String,
    form_name: String,
) -> Response {
    let users = match state.store.list_users().await {
        Ok(users) => users,
        Err(error) => return AppError::from(error).into_response(),
    };
    render(
        status,
        &UsersPage {
            nav: Nav::of(session),
            users: users
                .into_iter()
                .map(|u| UserListItem {
                    id: u.id,
                    is_admin: u.is_admin(),
                    created: display_time(u.created_at()),
                    email: u.email,
                    name: u.name,
                })
                .collect(),
            error,
            notice,
            form_email,
            form_name,
        },
    )
}

async fn create_user(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    if let Some(response) = admin_rejection(&session) {
        return response;
    }
    let (Ok(email), Ok(name), Ok(password), Ok(is_admin)) = (
        form.one("email"),
        form.one("name"),
        form.one("password"),
        form.one("is_admin"),
    ) else {
        return form_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let password = SecretString::from(password.to_owned());
    match add_user(
        &state.store,
        email,
        name,
        Some(&password),
        is_admin == "on",
        None,
    )
    .await
    {
        Ok(user) => Redirect::to(&format!("/admin/users?added={}", user.id)).into_response(),
        Err(AddUserError::Store(error)) => AppError::from(error).into_response(),
        Err(error) => {
            let message = sentence(&error.to_string());
            users_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some(message),
                email.chars().take(254).collect(),
                name.chars().take(100).collect(),
            )
            .await
        }
    }
}

// --- set-password links ------------------------------------------------------------------

async fn show_set_password(
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

async fn set_password(
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
    let hash = latchkey_core::password::hash_password(&password);
    match state
        .store
        .use_password_link(&SecretDigest::of(&token).to_hex(), &hash, state.now())
        .await
    {
        Ok(true) => {
            tracing::info!("password set through a one-time link");
            Redirect::to("/login?password=set").into_response()
        }
        Ok(false) => set_password_page(&state, &headers, &token, StatusCode::NOT_FOUND, None).await,
        Err(error) => AppError::from(error).into_response(),
    }
}

// --- assets ----------------------------------------------------------------------------

async fn stylesheet() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
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
