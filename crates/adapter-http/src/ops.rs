//! Operations endpoints: health, readiness, metrics. The OpenAPI document
//! serves itself (`openapi::document`): it lists these handlers.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `{"status": ...}` of `/healthz` and `/readyz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StatusBody {
    /// `ok` (alive) or `ready`.
    status: &'static str,
}

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "Healthz",
    tag = "operations",
    responses((status = 200, description = "alive", body = StatusBody)),
)]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(StatusBody { status: "ok" })
}

/// The store answers; 503 while it does not.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "Readyz",
    tag = "operations",
    responses(
        (status = 200, description = "the store answers", body = StatusBody),
        (status = 503, description = "the database is unavailable (VOD.10052)", body = ErrorBody),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.snapshots.ready().await?;
    Ok(Json(StatusBody { status: "ready" }))
}

/// Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map_or_else(String::new, |render| render());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
}
