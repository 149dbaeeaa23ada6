//! Liveness and readiness probes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The process can do its job: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check: database unavailable");
        AppError::Unavailable {
            message: "The database is not reachable.".to_owned(),
        }
    })?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}
