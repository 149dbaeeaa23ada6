//! API Credentials...: the list (one compact row per credential: name, client id, last
//! use, expiry, scopes; its details and forms are on `credential_page`), the expiry
//! reminders with Renew, the Generate dialog (within the organization's policy), the
//! one-time view of a new secret (generated, rolled or renewed), and the reminder
//! preference.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::Duration;
use latchkey_core::{ClientId, Scope};
use latchkey_store::CredentialFilter;
use latchkey_types::CredentialsFile;
use serde::Deserialize;

use crate::access::readable_workspaces;
use crate::audit::AuditSlot;
use crate::auth::{PageSession, Session, principal};

use crate::credential_policy;
use crate::credentials::{self, CredentialRequest};
use crate::error::AppError;
use crate::events::CredentialEventKind;
use crate::state::AppState;

use super::credential_forms::{
    ExpiryOption, expiry_options, parse_expiry, parse_limits_form, policy_note, slug,
};
use super::reveal::{self, Reveal, RevealKind};
use super::{Nav, SessionForm, display_time, page_error, render};

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
    /// Credentials expiring within the person's reminder lead time, and the one a
    /// reminder's Renew link named.
    reminders: Vec<ReminderView>,
    /// Undismissed notifications (a leak, an expiry, someone else's change).
    notifications: Vec<NotificationView>,
    /// The expiry choices the organization's policy allows, the default selected.
    expiry_options: Vec<ExpiryOption>,
    /// The organization's lifetime rules in words; `None` without a policy.
    policy_note: Option<String>,
    reminder_days: i64,
}

struct ReminderView {
    client_id: String,
    name: String,
    expires: String,
}

struct NotificationView {
    id: String,
    title: String,
}

/// One row of the list; the rest is on the credential's own page.
struct CredentialView {
    client_id: String,
    name: String,
    last_used: Option<String>,
    expires: Option<String>,
    expired: bool,
    disabled: bool,
    scopes: Vec<String>,
}

struct CreatedView {
    /// "Your new credentials", "Your new secret", …
    title: &'static str,
    /// What else the person should know (how long the old secret keeps working).
    note: Option<String>,
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

#[derive(Debug, Deserialize)]
pub(super) struct CredentialsQuery {
    deleted: Option<String>,
    reminders: Option<String>,
    renew: Option<String>,
    dismissed: Option<String>,
}

pub(super) async fn show_credentials(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<CredentialsQuery>,
    headers: HeaderMap,
) -> Response {
    let (reveal, clear) = reveal::take(&state, &session, &headers);
    let mut response = match reveal {
        Some(reveal) => {
            let shown = Shown {
                created: created_view(reveal.kind.title(), reveal.note, reveal.file),
                ..Shown::default()
            };
            credentials_page(&state, &session, StatusCode::OK, shown).await
        }
        None => list_page(&state, &session, &query).await,
    };
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// The list, with the notice a redirect's query names.
async fn list_page(state: &AppState, session: &Session, query: &CredentialsQuery) -> Response {
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
                .reminders
                .is_some()
                .then(|| "Your reminder preference was saved.".to_owned())
        })
        .or_else(|| {
            query
                .dismissed
                .is_some()
                .then(|| "The notification was dismissed.".to_owned())
        });
    credentials_page(
        state,
        session,
        StatusCode::OK,
        Shown {
            notice,
            renew: query
                .renew
                .clone()
                .filter(|id| ClientId::parse(id).is_some()),
            ..Shown::default()
        },
    )
    .await
}

/// What a render of the page shows besides the list.
#[derive(Default)]
struct Shown {
    created: Option<CreatedView>,
    /// The credential a reminder's Renew link (`?renew=`) asks to renew.
    renew: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    /// The Generate dialog's fields, kept when it is shown again with an error.
    form_name: String,
    checked_scopes: Option<Vec<String>>,
    checked_workspaces: Vec<String>,
}

async fn credentials_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    shown: Shown,
) -> Response {
    match page(state, session, shown).await {
        Ok(page) => render(status, &page),
        Err(error) => error.into_response(),
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    shown: Shown,
) -> Result<CredentialsPage, AppError> {
    let list = credentials::list(state, CredentialFilter::User(session.user.id)).await?;
    let owner = principal(state, &session.user, None).await?;
    let readable = readable_workspaces(state, &owner).await?;
    let now = state.now();
    let policy = credential_policy::policy_of(state, &owner).await?;
    let reminder_days = session.user.expiry_reminder_days;
    let reminders: Vec<ReminderView> = list
        .iter()
        .filter(|c| !c.disabled)
        .filter_map(|c| {
            let expires = c.expires?.0;
            let due = expires > now && expires - Duration::days(reminder_days) <= now;
            (due || shown.renew.as_deref() == Some(c.client_id.as_str())).then(|| ReminderView {
                client_id: c.client_id.clone(),
                name: c.name.clone(),
                expires: display_time(expires),
            })
        })
        .collect();
    // An expiry reminder already shows as a banner with its Renew button.
    let notifications = state
        .store
        .notifications_of_user(session.user.id, 20)
        .await?
        .into_iter()
        .filter(|n| n.dismissed_at().is_none())
        .filter(|n| {
            n.kind != CredentialEventKind::Expiring.event_type()
                || !reminders
                    .iter()
                    .any(|r| n.client_id.as_deref() == Some(r.client_id.as_str()))
        })
        .map(|n| NotificationView {
            id: n.id,
            title: n.title,
        })
        .collect();
    let checked = shown
        .checked_scopes
        .unwrap_or_else(|| latchkey_core::Scopes::default_for_new_credential().names());
    Ok(CredentialsPage {
        nav: Nav::of(session),
        reminders,
        notifications,
        expiry_options: expiry_options(&policy),
        policy_note: policy_note(&policy),
        reminder_days,
        credentials: list
            .into_iter()
            .map(|c| CredentialView {
                expired: c.expires.is_some_and(|t| t.0 <= now),
                disabled: c.disabled,
                client_id: c.client_id,
                name: c.name,
                last_used: c.last_used.map(|t| display_time(t.0)),
                expires: c.expires.map(|t| display_time(t.0)),
                scopes: c.scopes,
            })
            .collect(),
        created: shown.created,
        error: shown.error,
        notice: shown.notice,
        form_name: shown.form_name,
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
                checked: shown.checked_workspaces.contains(&w.id),
                id: w.id,
                name: w.name,
                role: role.as_str().to_owned(),
            })
            .collect(),
    })
}

pub(super) async fn generate_credentials(
    State(state): State<AppState>,
    audit: AuditSlot,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let (Ok(name), Ok(expiry), Ok(expires_on), Ok(allowed), Ok(rate_limit)) = (
        form.one("name"),
        form.one("expiry"),
        form.one("expires_on"),
        form.one("allowed_networks"),
        form.one("rate_limit"),
    ) else {
        return page_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let scopes = form.all("scopes");
    // None checked: the credential reaches every workspace its user can.
    let workspaces = form.all("workspaces");
    let form_name: String = name.chars().take(100).collect();
    let retry = |message: String| {
        let shown = Shown {
            error: Some(message),
            form_name: form_name.clone(),
            checked_scopes: Some(scopes.clone()),
            checked_workspaces: workspaces.clone(),
            ..Shown::default()
        };
        let (state, session) = (state.clone(), session.clone());
        async move { credentials_page(&state, &session, StatusCode::BAD_REQUEST, shown).await }
    };
    let expires_at = match parse_expiry(expiry, expires_on, state.now()) {
        Ok(expires_at) => expires_at,
        Err(message) => return retry(message).await,
    };
    if scopes.is_empty() {
        return retry("Choose at least one scope.".to_owned()).await;
    }
    let (allowed_networks, rate_limit_per_minute) = match parse_limits_form(allowed, rate_limit) {
        Ok(limits) => limits,
        Err(message) => return retry(message).await,
    };
    let request = CredentialRequest {
        name: name.to_owned(),
        never_expires: expiry == "never",
        expires_at,
        scopes: Some(scopes.clone()),
        workspaces: (!workspaces.is_empty()).then(|| workspaces.clone()),
        allowed_networks,
        rate_limit_per_minute,
    };
    let owner = match principal(&state, &session.user, None).await {
        Ok(owner) => owner,
        Err(error) => return error.into_response(),
    };
    let file = match credentials::generate(&state, &owner, request, &audit).await {
        Ok(file) => file,
        Err(AppError::BadRequest { message, .. } | AppError::Forbidden { message, .. }) => {
            return retry(message).await;
        }
        Err(error) => return error.into_response(),
    };
    reveal::redirect(
        &state,
        &session,
        &Reveal {
            kind: RevealKind::Generated,
            note: None,
            file,
        },
    )
}

/// The one-time view of a credentials file that carries a new secret.
fn created_view(
    title: &'static str,
    note: Option<String>,
    file: CredentialsFile,
) -> Option<CreatedView> {
    let file_json = serde_json::to_string_pretty(&file).ok()?;
    Some(CreatedView {
        title,
        note,
        download_href: format!(
            "data:application/json;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&file_json)
        ),
        file_name: format!("latchkey-{}.json", slug(&file.name)),
        client_id: file.client_id,
        client_secret: file.client_secret,
        name: file.name,
        file_json,
    })
}

pub(super) async fn set_reminder_days(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let Some(days) = form
        .one("reminder_days")
        .ok()
        .and_then(|days| days.trim().parse::<i64>().ok())
    else {
        return show_refusal(&state, &session, "Enter a number of days.".to_owned()).await;
    };
    match credential_policy::set_reminder_days(&state, session.user.id, days).await {
        Ok(()) => Redirect::to("/credentials?reminders=saved").into_response(),
        Err(AppError::BadRequest { message, .. }) => show_refusal(&state, &session, message).await,
        Err(error) => page_error(&session, error),
    }
}

pub(super) async fn dismiss_notification(
    State(state): State<AppState>,
    Path(notification_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    match state
        .store
        .dismiss_notification(session.user.id, &notification_id, state.now())
        .await
    {
        Ok(true) => Redirect::to("/credentials?dismissed=1").into_response(),
        Ok(false) => page_error(
            &session,
            AppError::not_found("You have no such notification."),
        ),
        Err(error) => page_error(&session, error.into()),
    }
}

/// The page again with an error banner, for a form whose input was refused.
async fn show_refusal(state: &AppState, session: &Session, message: String) -> Response {
    credentials_page(
        state,
        session,
        StatusCode::BAD_REQUEST,
        Shown {
            error: Some(message),
            ..Shown::default()
        },
    )
    .await
}
