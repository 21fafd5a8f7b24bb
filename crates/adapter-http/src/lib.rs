//! vodsnap's HTTP adapter: the Huawei VOD-compatible API on axum.
//!
//! [`router`] builds the whole service from its ports; the binary only
//! binds a socket and serves it. Wire types live here and are mapped to and
//! from the domain; every failure becomes one [`error::ApiError`], rendered
//! as Huawei's error body with the request id.

pub mod auth;
mod body;
mod cleanup;
mod console;
pub mod error;
mod http_metrics;
mod images;
mod openapi;
mod ops;
mod port_errors;
mod purges;
mod query;
mod recycle_bin;
mod request_id;
pub mod server;
mod state;
mod thumbnails;
mod timeout;
mod webhooks;
mod wire;

pub use body::NO_BODY_LIMIT;
pub use openapi::openapi_json;
pub use request_id::RequestId;
pub use state::{AppState, HttpSettings, ProjectRateLimit};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;

/// The whole API: `/v1` endpoints behind authentication; the operations
/// endpoints, the signed snapshot links (`/snapshots/{key}`) and the
/// console's static files open; Huawei error bodies and `X-Request-Id`
/// everywhere.
///
/// The layers, outermost first, one concern each: the request id (and the
/// span that carries it), the rendering of every error body, the metrics
/// (labelled by axum's `MatchedPath`), the request timeout; then, on `/v1`
/// only, authentication with the bounded body read.
pub fn router(state: AppState) -> Router {
    let gate = auth::Gate {
        app: state.clone(),
        budget: body::BodyBudget::new(state.settings.max_body_memory_bytes),
    };
    let v1 = Router::new()
        .route(
            "/v1/{project_id}/asset/thumbnails",
            get(thumbnails::list)
                .delete(thumbnails::delete)
                .post(thumbnails::register),
        )
        .route(
            "/v1/{project_id}/asset/thumbnails/restore",
            axum::routing::post(recycle_bin::restore),
        )
        .route(
            "/v1/{project_id}/asset/thumbnails/deleted",
            get(recycle_bin::deleted).delete(recycle_bin::purge),
        )
        .route(
            "/v1/{project_id}/asset/thumbnail/details",
            get(thumbnails::details),
        )
        .route("/v1.0/{project_id}/asset", delete(purges::delete_assets))
        .route("/v1/{project_id}/asset/purges", get(purges::progress))
        .route("/v1/{project_id}/cleanup/status", get(cleanup::status))
        .route(
            "/v1/{project_id}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/v1/{project_id}/webhooks/{webhook_id}",
            delete(webhooks::remove),
        )
        .route(
            "/v1/{project_id}/webhooks/{webhook_id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/v1/{project_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route_layer(middleware::from_fn_with_state(gate, auth::authenticate));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document))
        // Signed links check themselves; no credential is asked.
        .route("/snapshots/{*key}", get(images::image))
        .route("/console", get(console::page))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .merge(v1)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // One `layer` call for the stack: each call boxes the routes anew,
        // and axum's `from_fn` clones its inner service per request, so
        // five calls cloned five nested boxes per request (issue 12's
        // profile); in a `ServiceBuilder` only the route is boxed.
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(request_id::assign))
                .layer(middleware::from_fn(error::render))
                .layer(middleware::from_fn(http_metrics::record))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    timeout::limit,
                ))
                // Extractors (the registration's `Bytes`) take the same
                // limit as the authentication's body read.
                .layer(DefaultBodyLimit::max(state.settings.max_body_bytes)),
        )
        .with_state(state)
}
