//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::openapi::{ProbeStatus, Unavailable};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Service",
    summary = "Liveness",
    description = "The process is up and serving. Reads nothing.",
    security(),
    responses((status = 200, description = "`{\"status\": \"ok\"}`.", body = ProbeStatus)),
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The process can do its job: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Service",
    summary = "Readiness",
    description = "The process can do its job: the database answers (within 0.8 s). `limits` says where \
        rate limits and sign-in throttles are counted: `cluster` (in Redis), `replica` \
        (no Redis configured), or `replica: Redis is unreachable` — still serving, each \
        replica counting alone.",
    security(),
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"limits\": \"cluster\"}`.", body = ProbeStatus),
        (status = 503, response = Unavailable),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    let error = match tokio::time::timeout(READINESS_WAIT, state.store.ping()).await {
        Ok(Ok(())) => {
            let limits = match &state.shared_counters {
                None => "replica",
                Some(counters) if counters.reachable() => "cluster",
                Some(_) => "replica: Redis is unreachable",
            };
            return Ok(Json(
                serde_json::json!({ "status": "ready", "limits": limits }),
            ));
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {READINESS_WAIT:?}"),
    };
    tracing::warn!(error = %error, "readiness check: database unavailable");
    Err(AppError::Unavailable {
        message: "The database is not reachable.".to_owned(),
    })
}

/// Probes time out after a second or so; the answer comes before, whatever the
/// database does.
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_millis(800);
