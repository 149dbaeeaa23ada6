//! API Credentials...: the list, the Generate dialog, the one-time view, and
//! delete, disable and enable.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use latchkey_core::{ClientId, Scope};
use latchkey_store::CredentialFilter;
use serde::Deserialize;

use crate::access::readable_workspaces;
use crate::auth::{PageSession, Session, principal};

use crate::credentials::{self, CredentialRequest};
use crate::error::AppError;
use crate::state::AppState;

use super::{Nav, SessionForm, display_time, form_error, render};

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

#[derive(Debug, Deserialize)]
pub(super) struct CredentialsQuery {
    deleted: Option<String>,
    disabled: Option<String>,
    enabled: Option<String>,
}

pub(super) async fn show_credentials(
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
    let list = match credentials::list(state, CredentialFilter::User(session.user.id)).await {
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

pub(super) async fn generate_credentials(
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
        allowed_networks: None,
        rate_limit_per_minute: None,
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

pub(super) async fn delete_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let actor = match principal(&state, &session.user, None).await {
        Ok(actor) => actor,
        Err(error) => return form_error(&session, error),
    };
    match credentials::delete(&state, &actor, &client_id).await {
        Ok(()) => Redirect::to(&format!("/credentials?deleted={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}

pub(super) async fn disable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let actor = match principal(&state, &session.user, None).await {
        Ok(actor) => actor,
        Err(error) => return form_error(&session, error),
    };
    match credentials::set_disabled(&state, &actor, &client_id, true).await {
        Ok(()) => Redirect::to(&format!("/credentials?disabled={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}

pub(super) async fn enable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let actor = match principal(&state, &session.user, None).await {
        Ok(actor) => actor,
        Err(error) => return form_error(&session, error),
    };
    match credentials::set_disabled(&state, &actor, &client_id, false).await {
        Ok(()) => Redirect::to(&format!("/credentials?enabled={client_id}")).into_response(),
        Err(error) => form_error(&session, error),
    }
}
