//! `X-Request-Id` on every response, and a span that carries it: the
//! request's span (its route, status and project; never a header, a query
//! or a body), which continues the client's W3C `traceparent` when traced.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tracing::Instrument;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
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

/// Assigns the request id (a request extension for the layers and
/// handlers inside), runs the request in a span that carries it, and puts
/// it on the response.
pub(crate) async fn assign(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_client(request.headers().get(&X_REQUEST_ID))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %request.method(),
        path = %request.uri().path(),
        route,
        status = tracing::field::Empty,
        // Recorded by the authentication once it knows the caller.
        project = tracing::field::Empty,
    );
    if vodsnap_ports::trace::is_on()
        && let Some(parent) = request
            .headers()
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(vodsnap_domain::TraceContext::parse)
    {
        vodsnap_ports::trace::set_parent(&span, &parent);
    }
    let mut response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}
