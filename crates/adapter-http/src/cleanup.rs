//! `GET /v1/{project_id}/cleanup/status`: the cleanup backlog (a vodsnap
//! extension), so that an operator sees deleted images still waiting to be
//! removed from storage.

use axum::Json;
use axum::extract::{Extension, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::rfc3339;

/// The cleanup queue's figures, for the whole deployment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CleanupStatusBody {
    /// Objects waiting to be removed (due, waiting for a retry, or being removed).
    queued: u64,
    /// Of those, objects a worker is removing now.
    leased: u64,
    /// Objects whose removal ran out of attempts; an operator retries them
    /// with `vodsnap cleanup retry`.
    parked: u64,
    /// When the oldest queued object was enqueued (RFC 3339), or null.
    oldest_enqueued_at: Option<String>,
    /// Failed removal attempts recorded on queued and parked objects.
    failed_attempts: u64,
    /// Objects of deleted task results kept in the recycle bin
    /// (`--retention`) until their `purge_at`; not counted in `queued`.
    recycle_bin: u64,
    /// Objects the cleanup finished (removed, or kept because a live task
    /// still references them) during the last minute, by every worker.
    drained_last_minute: u64,
    /// The same, per second.
    drain_per_second: f64,
    /// The time to drain the queue at that rate, in seconds: 0 when it is
    /// empty, null when objects wait and nothing drained in the last minute.
    seconds_to_drain: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/{project_id}/cleanup/status",
    operation_id = "ShowCleanupStatus",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "the cleanup backlog of the deployment (every project's deleted images)", body = CleanupStatusBody),
    ),
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    // Authenticated like every /v1 call; the figures are the deployment's.
    Extension(_caller): Extension<Caller>,
) -> Result<Json<CleanupStatusBody>, ApiError> {
    let status = state.cleanup.status().await?;
    let drain = vodsnap_service::CleanupAdmin::drain(&status);
    Ok(Json(CleanupStatusBody {
        drained_last_minute: status.drained_in_window,
        drain_per_second: (drain.per_second() * 10.0).round() / 10.0,
        seconds_to_drain: drain.time_to_drain().map(|d| d.as_secs()),
        queued: status.queued,
        leased: status.leased,
        parked: status.parked,
        oldest_enqueued_at: status.oldest_enqueued_at.map(rfc3339),
        failed_attempts: status.failed_attempts,
        recycle_bin: status.recycle_bin,
    }))
}
