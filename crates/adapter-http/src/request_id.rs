//! `X-Request-Id` on every response, and the error body that carries it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tracing::Instrument;

use axum::response::IntoResponse;

use crate::error::{self, ApiError};

/// The route a path belongs to, for metric labels: the route's pattern,
/// never the raw path (whose project ids would make a series each).
fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "v1", _, "asset", "thumbnails"] => "/v1/{project_id}/asset/thumbnails",
        ["", "v1", _, "asset", "thumbnail", "details"] => {
            "/v1/{project_id}/asset/thumbnail/details"
        }
        ["", "healthz"] => "/healthz",
        ["", "readyz"] => "/readyz",
        ["", "metrics"] => "/metrics",
        ["", "openapi.json"] => "/openapi.json",
        _ => "other",
    }
}

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// The request's id: the client's when it is 1 to 128 of
/// `A-Z a-z 0-9 - _ .`, else one the server makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_client(value: Option<&HeaderValue>) -> Option<Self> {
        let raw = value?.to_str().ok()?;
        let valid = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        valid.then(|| Self(raw.to_owned()))
    }

    fn generate() -> Self {
        let bytes: [u8; 16] = rand::thread_rng().r#gen();
        Self(hex::encode(bytes))
    }
}

/// Assigns the request id, runs the request in a span that carries it, and
/// renders any [`ApiError`] as the Huawei error body with that id.
pub(crate) async fn assign(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::from_client(request.headers().get(&X_REQUEST_ID))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %request.method(),
        path = %request.uri().path(),
    );
    let route = route_label(request.uri().path());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let timeout = state.settings.request_timeout;
    let mut response = match tokio::time::timeout(timeout, next.run(request).instrument(span)).await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(request_id = id.as_str(), ?timeout, "request timed out");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::error::code::UNAVAILABLE,
                "the request took too long and was abandoned; it is safe to retry",
            )
            .into_response()
        }
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("vodsnap_http_requests_total", "route" => route, "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("vodsnap_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    if let Some(api_error) = response.extensions_mut().remove::<ApiError>() {
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(error::body(&api_error, id.as_str())));
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}
