//! vodsnap's HTTP adapter: the Huawei VOD-compatible API on axum.
//!
//! [`router`] builds the whole service from its ports; the binary only
//! binds a socket and serves it. Wire types live here and are mapped to and
//! from the domain; every failure becomes one [`error::ApiError`], rendered
//! as Huawei's error body with the request id.

pub mod auth;
pub mod error;
mod openapi;
mod ops;
mod port_errors;
mod query;
mod request_id;
mod state;
mod thumbnails;
mod wire;

pub use openapi::openapi_json;
pub use request_id::RequestId;
pub use state::{AppState, HttpSettings, ProjectRateLimit};

use axum::Router;
use axum::middleware;
use axum::routing::get;

/// The whole API: `/v1` endpoints behind authentication, the operations
/// endpoints open, Huawei error bodies and `X-Request-Id` everywhere.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/{project_id}/asset/thumbnails",
            get(thumbnails::list)
                .delete(thumbnails::delete)
                .post(thumbnails::register),
        )
        .route(
            "/v1/{project_id}/asset/thumbnail/details",
            get(thumbnails::details),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(v1)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_id::assign,
        ))
        .with_state(state)
}
