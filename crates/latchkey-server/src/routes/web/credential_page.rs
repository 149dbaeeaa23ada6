//! `/credentials/{client_id}`: one credential of the signed-in person — its details,
//! usage over 30 days, secrets (by prefix), limits and where it was last used — with
//! the forms that change it: Roll secret, Limits, Disable or Enable, Renew and Delete.
//! A form that makes a secret redirects to the list's one-time view (`reveal`); the
//! others come back here with a notice, Delete to the list.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use latchkey_core::ClientId;
use latchkey_core::access::{Action, Principal};
use latchkey_store::CredentialFilter;
use latchkey_types::Credential;
use serde::Deserialize;

use crate::access::{Find, RouteAccess};
use crate::audit::AuditSlot;
use crate::auth::{Caller, PageSession, Session, principal};
use crate::credentials::{self, Change, DisableReason};
use crate::error::AppError;
use crate::state::AppState;
use crate::usage_history::history_start;

use super::credential_forms::{parse_limits_form, parse_overlap, usage_text};
use super::reveal::{self, Reveal, RevealKind};
use super::usage_chart::{UsageChart, usage_chart};
use super::{Nav, SessionForm, display_time, page_error, render};

/// Who may see the page: the credential's owner (it lists only their own).
const CREDENTIAL_PAGE: RouteAccess =
    RouteAccess::new(Action::ReadAccount, Find::Own, "viewing your credential");

#[derive(Template)]
#[template(path = "credential.html")]
struct CredentialPage {
    nav: Nav,
    c: DetailView,
    usage: UsageChart,
    notice: Option<String>,
    error: Option<String>,
}

struct SecretView {
    prefix: String,
    created: String,
    last_used: Option<String>,
    expires: Option<String>,
}

struct DetailView {
    client_id: String,
    name: String,
    created: String,
    last_used: Option<String>,
    expires: Option<String>,
    expired: bool,
    disabled: bool,
    /// "Disabled by admin@example.com: left the project", when disabled.
    disabled_note: Option<String>,
    scopes: Vec<String>,
    /// The names of the workspaces it is limited to; `None`: all of its user's.
    workspaces: Option<Vec<String>>,
    secrets: Vec<SecretView>,
    /// "from 203.0.113.7 · curl/8.5", for the last grant and the last call.
    last_grant: Option<String>,
    last_call: Option<String>,
    allowed_networks: Option<String>,
    rate_limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DetailQuery {
    done: Option<String>,
}

pub(super) async fn show_credential(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(client_id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let notice = match query.done.as_deref() {
        Some("disabled") => Some(
            "The credential was disabled. Programs that use it cannot get tokens until you \
             enable it again.",
        ),
        Some("enabled") => Some("The credential was enabled. Programs that use it work again."),
        Some("limits") => Some("The credential's limits were saved."),
        _ => None,
    };
    detail_page(
        &state,
        &session,
        &client_id,
        StatusCode::OK,
        notice.map(str::to_owned),
        None,
    )
    .await
}

/// The page, or the error page when the person has no such credential.
async fn detail_page(
    state: &AppState,
    session: &Session,
    client_id: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    match detail(state, session, client_id).await {
        Ok((c, usage)) => render(
            status,
            &CredentialPage {
                nav: Nav::of(session),
                c,
                usage,
                notice,
                error,
            },
        ),
        Err(error) => page_error(session, error),
    }
}

async fn detail(
    state: &AppState,
    session: &Session,
    client_id: &str,
) -> Result<(DetailView, UsageChart), AppError> {
    Caller::of_session(state, session)
        .await?
        .authorize_own(&CREDENTIAL_PAGE)?;
    let not_found = || {
        AppError::not_found(format!(
            "You have no credential `{}`. It may have been deleted.",
            client_id.chars().take(64).collect::<String>()
        ))
    };
    if ClientId::parse(client_id).is_none() {
        return Err(not_found());
    }
    let credential = credentials::list(state, CredentialFilter::User(session.user.id))
        .await?
        .into_iter()
        .find(|c| c.client_id == client_id)
        .ok_or_else(not_found)?;
    let mut workspaces = None;
    if let Some(ids) = &credential.workspaces {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            names.push(match state.store.workspace(id).await? {
                Some(workspace) => workspace.name,
                None => id.clone(),
            });
        }
        workspaces = Some(names);
    }
    let start = history_start(state.now());
    let history = state
        .usage
        .counters
        .history(&state.store, client_id, start)
        .await?;
    Ok((
        detail_view(credential, workspaces, state.now()),
        usage_chart(&history, start),
    ))
}

fn detail_view(
    c: Credential,
    workspaces: Option<Vec<String>>,
    now: chrono::DateTime<chrono::Utc>,
) -> DetailView {
    DetailView {
        expired: c.expires.is_some_and(|t| t.0 <= now),
        disabled: c.disabled,
        disabled_note: c.disabled_by.as_ref().map(|by| match &c.disabled_reason {
            Some(why) => format!("Disabled by {by}: {why}"),
            None => format!("Disabled by {by}"),
        }),
        created: display_time(c.created.0),
        last_used: c.last_used.map(|t| display_time(t.0)),
        expires: c.expires.map(|t| display_time(t.0)),
        scopes: c.scopes,
        workspaces,
        secrets: c
            .secrets
            .into_iter()
            .map(|secret| SecretView {
                prefix: secret.prefix,
                created: display_time(secret.created.0),
                last_used: secret.last_used.map(|t| display_time(t.0)),
                expires: secret.expires.map(|t| display_time(t.0)),
            })
            .collect(),
        last_grant: c.last_grant.as_ref().map(usage_text),
        last_call: c.last_call.as_ref().map(usage_text),
        allowed_networks: c.allowed_networks.map(|n| n.join(", ")),
        rate_limit: c.rate_limit_per_minute,
        client_id: c.client_id,
        name: c.name,
    }
}

/// The signed-in person as the permission decision sees them, or the error page.
async fn actor(state: &AppState, session: &Session) -> Result<Principal, Response> {
    principal(state, &session.user, None)
        .await
        .map_err(|error| page_error(session, error))
}

/// Disable, Enable or Delete, then back with a notice: to this page, or to the list
/// for Delete.
async fn act(
    state: &AppState,
    session: &Session,
    client_id: &str,
    change: Change,
    audit: &AuditSlot,
) -> Response {
    let actor = match actor(state, session).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let done = change.done();
    let back = match change {
        Change::Delete => format!("/credentials?{done}={client_id}"),
        Change::Disable(_) | Change::Enable => format!("/credentials/{client_id}?done={done}"),
    };
    match credentials::apply(state, &actor, client_id, change, audit).await {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(error) => page_error(session, error),
    }
}

pub(super) async fn delete_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    act(&state, &session, &client_id, Change::Delete, &audit).await
}

pub(super) async fn disable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    act(
        &state,
        &session,
        &client_id,
        Change::Disable(DisableReason::default()),
        &audit,
    )
    .await
}

pub(super) async fn enable_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    act(&state, &session, &client_id, Change::Enable, &audit).await
}

pub(super) async fn roll_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let (Ok(overlap), Ok(custom_hours)) = (form.one("overlap"), form.one("custom_hours")) else {
        return page_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let overlap = match parse_overlap(overlap, custom_hours) {
        Ok(overlap) => overlap,
        Err(message) => return show_refusal(&state, &session, &client_id, message).await,
    };
    let owner = match actor(&state, &session).await {
        Ok(owner) => owner,
        Err(response) => return response,
    };
    match credentials::roll(&state, &owner, &client_id, overlap, &audit).await {
        Ok(file) => {
            let note = if overlap == 0 {
                "The previous secret stopped working just now.".to_owned()
            } else {
                format!(
                    "The previous secret keeps working until {}; switch your programs to this \
                     file before then.",
                    display_time(state.now() + Duration::seconds(overlap))
                )
            };
            reveal::redirect(
                &state,
                &session,
                &Reveal {
                    kind: RevealKind::Rolled,
                    note: Some(note),
                    file,
                },
            )
        }
        Err(AppError::BadRequest { message, .. } | AppError::Conflict { message }) => {
            show_refusal(&state, &session, &client_id, message).await
        }
        Err(error) => page_error(&session, error),
    }
}

pub(super) async fn renew_credentials(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    let owner = match actor(&state, &session).await {
        Ok(owner) => owner,
        Err(response) => return response,
    };
    match credentials::renew(&state, &owner, &client_id, &audit).await {
        Ok(file) => {
            let note = Some(format!(
                "It replaces {client_id}, which keeps working until it expires: switch your \
                 programs to this file, then delete the old credential."
            ));
            reveal::redirect(
                &state,
                &session,
                &Reveal {
                    kind: RevealKind::Renewed,
                    note,
                    file,
                },
            )
        }
        Err(AppError::BadRequest { message, .. } | AppError::Forbidden { message, .. }) => {
            show_refusal(&state, &session, &client_id, message).await
        }
        Err(error) => page_error(&session, error),
    }
}

pub(super) async fn set_limits(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let (Ok(allowed), Ok(rate_limit)) = (form.one("allowed_networks"), form.one("rate_limit"))
    else {
        return page_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let (allowed_networks, rate_limit) = match parse_limits_form(allowed, rate_limit) {
        Ok(limits) => limits,
        Err(message) => return show_refusal(&state, &session, &client_id, message).await,
    };
    let actor = match actor(&state, &session).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    match credentials::set_limits(
        &state,
        &actor,
        &client_id,
        allowed_networks,
        rate_limit,
        &audit,
    )
    .await
    {
        Ok(()) => Redirect::to(&format!("/credentials/{client_id}?done=limits")).into_response(),
        Err(AppError::BadRequest { message, .. }) => {
            show_refusal(&state, &session, &client_id, message).await
        }
        Err(error) => page_error(&session, error),
    }
}

/// The page again with an error banner, for a form whose input was refused.
async fn show_refusal(
    state: &AppState,
    session: &Session,
    client_id: &str,
    message: String,
) -> Response {
    detail_page(
        state,
        session,
        client_id,
        StatusCode::BAD_REQUEST,
        None,
        Some(message),
    )
    .await
}
