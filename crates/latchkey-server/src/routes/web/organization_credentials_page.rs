//! The organization admin's view of every member's credential (owner, scopes, limits,
//! last use) with Disable, Enable and Delete, and the organization's credential policy.
//! The operator sees any organization's list, read only.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_store::{CredentialFilter, CredentialPolicy};
use latchkey_types::Credential;
use serde::Deserialize;

use crate::audit::AuditSlot;
use crate::auth::{Caller, PageSession, Session};
use crate::credential_policy;
use crate::credentials::{self, Change, DisableReason};
use crate::error::AppError;
use crate::routes::lifecycle;
use crate::state::AppState;

use super::{Nav, SessionForm, display_time, page_error, render};

#[derive(Template)]
#[template(path = "organization_credentials.html")]
struct OrganizationCredentialsPage {
    nav: Nav,
    organization_name: String,
    /// Organization admins act on the list; the operator only reads it.
    may_manage: bool,
    credentials: Vec<Row>,
    policy: PolicyView,
    notice: Option<String>,
    error: Option<String>,
}

struct Row {
    client_id: String,
    name: String,
    owner: String,
    scopes: String,
    limits: Option<String>,
    last_used: Option<String>,
    expires: Option<String>,
    disabled: bool,
}

/// The policy as form values: empty for no rule.
struct PolicyView {
    default_days: String,
    max_days: String,
    idle_days: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    done: Option<String>,
}

fn row(credential: Credential) -> Row {
    let last_used = credential
        .last_call
        .as_ref()
        .or(credential.last_grant.as_ref())
        .map(|used| {
            let mut text = display_time(used.at.0);
            if let Some(address) = &used.address {
                text.push_str(&format!(" from {address}"));
            }
            text
        })
        .or_else(|| credential.last_used.map(|t| display_time(t.0)));
    let limits = [
        credential
            .allowed_networks
            .map(|n| format!("only from {}", n.join(", "))),
        credential
            .rate_limit_per_minute
            .map(|r| format!("{r} requests per minute")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    Row {
        owner: credential
            .owner
            .map_or_else(String::new, |o| format!("{} ({})", o.name, o.email)),
        scopes: credential.scopes.join(" "),
        limits: (!limits.is_empty()).then(|| limits.join("; ")),
        last_used,
        expires: credential.expires.map(|t| display_time(t.0)),
        disabled: credential.disabled,
        client_id: credential.client_id,
        name: credential.name,
    }
}

fn days(value: Option<i64>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}

async fn page(
    state: &AppState,
    session: &Session,
    organization_id: i64,
    notice: Option<String>,
    error: Option<String>,
) -> Result<OrganizationCredentialsPage, AppError> {
    let caller = Caller::of_session(state, session).await?;
    let organization = caller
        .organization(state, organization_id, &lifecycle::ORGANIZATION_CREDENTIALS)
        .await?;
    let policy = state
        .store
        .credential_policy(organization.id)
        .await?
        .unwrap_or_default();
    let credentials =
        credentials::list(state, CredentialFilter::Organization(organization.id)).await?;
    Ok(OrganizationCredentialsPage {
        nav: Nav::of(session),
        organization_name: organization.name,
        may_manage: session.user.organization_id == Some(organization.id),
        credentials: credentials.into_iter().map(row).collect(),
        policy: PolicyView {
            default_days: days(policy.default_credential_lifetime_days),
            max_days: days(policy.max_credential_lifetime_days),
            idle_days: days(policy.idle_disable_days),
        },
        notice,
        error,
    })
}

async fn show(
    state: &AppState,
    session: &Session,
    organization_id: i64,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    match page(state, session, organization_id, notice, error).await {
        Ok(page) => render(status, &page),
        Err(error) => page_error(session, error),
    }
}

/// `/organization/credentials`: the admin's own organization.
pub(super) async fn show_own(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Query(query): Query<PageQuery>,
) -> Response {
    let Some(organization_id) = session.user.organization_id else {
        return page_error(
            &session,
            AppError::not_found(
                "You do not belong to an organization; the operator sees each organization's \
                 credentials from its page under Organizations.",
            ),
        );
    };
    let notice = query.done.map(|done| match done.as_str() {
        "policy" => "The credential policy was saved.".to_owned(),
        "deleted" => "The credential was deleted; its tokens no longer work.".to_owned(),
        "disabled" => "The credential was disabled; its owner has been told.".to_owned(),
        _ => "The credential was enabled.".to_owned(),
    });
    show(
        &state,
        &session,
        organization_id,
        StatusCode::OK,
        notice,
        None,
    )
    .await
}

/// `/organizations/{id}/credentials`: any organization, for the operator.
pub(super) async fn show_organization(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(organization_id): Path<i64>,
) -> Response {
    show(
        &state,
        &session,
        organization_id,
        StatusCode::OK,
        None,
        None,
    )
    .await
}

async fn act(
    state: &AppState,
    session: &Session,
    client_id: &str,
    change: Change,
    audit: &AuditSlot,
) -> Response {
    let actor = match Caller::of_session(state, session).await {
        Ok(caller) => caller.principal,
        Err(error) => return page_error(session, error),
    };
    let done = change.done();
    match credentials::apply(state, &actor, client_id, change, audit).await {
        Ok(()) => Redirect::to(&format!("/organization/credentials?done={done}")).into_response(),
        Err(error) => page_error(session, error),
    }
}

pub(super) async fn disable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let reason = match form
        .one("reason")
        .and_then(|reason| DisableReason::parse(Some(reason)))
    {
        Ok(reason) => reason,
        Err(error) => return page_error(&session, error),
    };
    act(
        &state,
        &session,
        &client_id,
        Change::Disable(reason),
        &audit,
    )
    .await
}

pub(super) async fn enable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    act(&state, &session, &client_id, Change::Enable, &audit).await
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    audit: AuditSlot,
    SessionForm { session, .. }: SessionForm,
) -> Response {
    act(&state, &session, &client_id, Change::Delete, &audit).await
}

/// A policy field: empty is no rule.
fn parse_days(text: &str, what: &str) -> Result<Option<i64>, String> {
    match text.trim() {
        "" => Ok(None),
        days => days
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("The {what} must be a whole number of days, or empty.")),
    }
}

pub(super) async fn set_policy(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> Response {
    let Some(organization_id) = session.user.organization_id else {
        return page_error(
            &session,
            AppError::not_found("You do not belong to an organization."),
        );
    };
    let fields = (
        form.one("default_days"),
        form.one("max_days"),
        form.one("idle_days"),
    );
    let (Ok(default_days), Ok(max_days), Ok(idle_days)) = fields else {
        return page_error(
            &session,
            AppError::bad_request("repeated_field", "A form field was sent more than once."),
        );
    };
    let parsed = parse_days(default_days, "default lifetime").and_then(|default| {
        Ok(CredentialPolicy {
            default_credential_lifetime_days: default,
            max_credential_lifetime_days: parse_days(max_days, "maximum lifetime")?,
            idle_disable_days: parse_days(idle_days, "idle period")?,
        })
    });
    let refused = |message: String| {
        show(
            &state,
            &session,
            organization_id,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        )
    };
    let policy = match parsed {
        Ok(policy) => policy,
        Err(message) => return refused(message).await,
    };
    let caller = match Caller::of_session(&state, &session).await {
        Ok(caller) => caller,
        Err(error) => return page_error(&session, error),
    };
    if let Err(error) = caller
        .organization(&state, organization_id, &lifecycle::SET_CREDENTIAL_POLICY)
        .await
    {
        return page_error(&session, error);
    }
    match credential_policy::set_policy(&state, organization_id, policy).await {
        Ok(()) => Redirect::to("/organization/credentials?done=policy").into_response(),
        Err(AppError::BadRequest { message, .. }) => refused(message).await,
        Err(error) => page_error(&session, error),
    }
}
