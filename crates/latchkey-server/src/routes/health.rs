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
    description = "The process can do its job: the database answers. `limits` says where \
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
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check: database unavailable");
        AppError::Unavailable {
            message: "The database is not reachable.".to_owned(),
        }
    })?;
    let limits = match &state.shared_counters {
        None => "replica",
        Some(counters) if counters.reachable() => "cluster",
        Some(_) => "replica: Redis is unreachable",
    };
    Ok(Json(
        serde_json::json!({ "status": "ready", "limits": limits }),
    ))
}
