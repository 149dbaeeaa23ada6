//! `POST /v1/secret-scanning/reports`: secret scanning services (GitHub's partner
//! program and the like) report secrets they found in public places; a live one is
//! revoked at once and its owner told.
//!
//! The answer is the same for a token that never existed and one that is no longer
//! live (`false_positive`), so the endpoint reveals nothing about unknown tokens; only
//! someone holding a live secret learns it was live, and it no longer is.
//!
//! Anyone may call it, so it is limited per client address (a burst of
//! [`REPORTS_BURST`], then [`REPORTS_PER_SECOND`]), and only a report that revoked
//! something is recorded in the audit log: a flood of junk must not fill it.

use std::num::NonZeroU32;

use axum::Json;
use axum::extract::State;
use latchkey_core::{ClientSecret, SecretDigest};
use latchkey_types::lifecycle::{SecretScanningReport, SecretScanningVerdict};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::AuditSlot;
use crate::credentials::{Cause, announce};
use crate::error::{ApiJson, AppError};
use crate::events::CredentialEventKind;
use crate::openapi::{BadRequest, TooManyRequests};
use crate::origin::Origin;
use crate::rate_limit::AddressRateLimiter;
use crate::state::AppState;

/// The most tokens one report may carry.
const MAX_TOKENS_PER_REPORT: usize = 1000;
const TOKEN_TYPE: &str = "latchkey_client_secret";
/// Reports one address may send at once: a scanning service sends in bursts.
const REPORTS_BURST: NonZeroU32 = NonZeroU32::new(60).expect("nonzero");
/// Reports per second one address may send after its burst.
const REPORTS_PER_SECOND: NonZeroU32 = NonZeroU32::MIN;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report_leaked_secrets))
}

pub fn report_limiter() -> AddressRateLimiter {
    AddressRateLimiter::new(REPORTS_BURST, REPORTS_PER_SECOND)
}

#[utoipa::path(
    post,
    path = "/v1/secret-scanning/reports",
    tag = "Secret scanning",
    summary = "Report leaked secrets",
    description = "For secret scanning services: a JSON list of `{token, type, url, source}`. \
        Each token that is a live Latchkey client secret (`lksk_` + 43 letters and digits + \
        a 6-character checksum, verified first) revokes its credential at once, is recorded \
        in the audit log and is reported to the credential's owner; the answer labels it \
        `true_positive`. Anything else — junk, a wrong checksum, an unknown or \
        already-revoked secret — is `false_positive`, without telling which. At most 1000 \
        tokens per report. No authentication: whoever holds a leaked secret may revoke it. \
        Each client address may send 60 reports at once, then one per second (429 with \
        `Retry-After` beyond). Only a report that revoked something is recorded in the \
        audit log.",
    request_body = Vec<SecretScanningReport>,
    security(),
    responses(
        (status = 200, description = "One verdict per reported token, in order.",
            body = Vec<SecretScanningVerdict>),
        (status = 400, response = BadRequest),
        (status = 429, response = TooManyRequests),
    ),
)]
async fn report_leaked_secrets(
    State(state): State<AppState>,
    origin: Origin,
    audit: AuditSlot,
    body: Result<ApiJson<Vec<SecretScanningReport>>, AppError>,
) -> Result<Json<Vec<SecretScanningVerdict>>, AppError> {
    // Counted before the body is read, so malformed reports use up the burst too.
    if let Err(status) = state.leak_reports.check(origin.client_key()) {
        return Err(AppError::RateLimited {
            status,
            message: format!(
                "Too many leak reports from your address (more than {REPORTS_BURST} at once, \
                 then {REPORTS_PER_SECOND} per second). Retry after {} second(s), or send \
                 more tokens per report (up to {MAX_TOKENS_PER_REPORT}).",
                status.reset_secs
            ),
        });
    }
    let ApiJson(reports) = body?;
    if reports.len() > MAX_TOKENS_PER_REPORT {
        return Err(AppError::bad_request(
            "too_many_tokens",
            format!("A report may carry at most {MAX_TOKENS_PER_REPORT} tokens; split it."),
        ));
    }
    let mut verdicts = Vec::with_capacity(reports.len());
    for report in reports {
        let revoked = revoke_if_live(&state, &report).await?;
        if revoked {
            audit.note(|note| note.changed = true);
        }
        verdicts.push(SecretScanningVerdict {
            token_type: if report.token_type.is_empty() {
                TOKEN_TYPE.to_owned()
            } else {
                report.token_type.chars().take(64).collect()
            },
            label: if revoked {
                "true_positive"
            } else {
                "false_positive"
            }
            .to_owned(),
            token_raw: report.token,
        });
    }
    Ok(Json(verdicts))
}

/// Deletes the credential holding this secret when the secret is live; `true` then.
async fn revoke_if_live(state: &AppState, report: &SecretScanningReport) -> Result<bool, AppError> {
    // The checksum turns away typos and look-alikes before the database is asked.
    let digest = match ClientSecret::parse(report.token.trim()) {
        Ok(secret) => secret.digest(),
        Err(_) => return Ok(false),
    };
    let Some(secret) = state.store.secret_by_digest(&digest.to_hex()).await? else {
        return Ok(false);
    };
    let now = state.now();
    if secret.expires_at().is_some_and(|at| at <= now)
        || SecretDigest::from_hex(&secret.digest).is_none_or(|stored| !stored.matches(&digest))
    {
        return Ok(false);
    }
    let Some(credential) = state.store.credential(&secret.client_id).await? else {
        return Ok(false);
    };
    if credential.expires_at().is_some_and(|at| at <= now)
        || !state
            .store
            .delete_credential(&credential.client_id, now)
            .await?
    {
        return Ok(false);
    }
    state.credentials.invalidate(&credential.client_id);
    let place = report.url.chars().take(512).collect::<String>();
    let source = report.source.chars().take(64).collect::<String>();
    let reason = format!(
        "Its secret {}… was reported as leaked{}{}; the credential was revoked. Generate \
         new credentials and keep the secret out of code and logs.",
        secret.prefix,
        if place.is_empty() {
            String::new()
        } else {
            format!(" at {place}")
        },
        if source.is_empty() {
            String::new()
        } else {
            format!(" (found by {source})")
        },
    );
    announce(
        state,
        &credential,
        CredentialEventKind::Leaked,
        &reason,
        Cause::System,
    )
    .await?;
    Ok(true)
}
