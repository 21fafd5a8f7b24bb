//! `--request-timeout`: a request that takes longer is abandoned and
//! answered 503 (safe to retry: a store operation commits entirely or not
//! at all).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let timeout = state.settings.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?timeout, "request timed out");
            ApiError::timed_out().into_response()
        }
    }
}
