//! The API's errors, rendered as Huawei's error body.
//!
//! A handler answers an [`ApiError`]; it travels as a response extension
//! and the [`render`] layer writes the body, so that `request_id` in the
//! body is always the one in the `X-Request-Id` header. The same layer turns
//! every error response that the framework made on its own (an extractor's
//! rejection, a body over the limit) into the same body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::RequestId;

/// Error codes of the contract.
pub mod code {
    pub const BAD_PARAMETER: &str = "VOD.10053";
    pub const UNAUTHENTICATED: &str = "APIGW.0301";
    pub const TOKEN_EXPIRED: &str = "APIGW.0307";
    pub const FORBIDDEN: &str = "VOD.10057";
    pub const NOT_FOUND: &str = "VOD.10062";
    pub const METHOD_NOT_ALLOWED: &str = "VOD.10058";
    pub const CONFLICT: &str = "VODSNAP.0409";
    /// A registration for an asset whose purge (`DeleteAssets`) is running.
    pub const ASSET_PURGING: &str = "VODSNAP.0423";
    /// A snapshot link that is expired or altered.
    pub const LINK_REFUSED: &str = "VODSNAP.0403";
    /// A restore of a task result whose recycle-bin window has closed.
    pub const WINDOW_CLOSED: &str = "VODSNAP.0410";
    /// A purge of a task result that is live, not deleted.
    pub const NOT_DELETED: &str = "VODSNAP.0412";
    pub const BODY_TOO_LARGE: &str = "VODSNAP.0413";
    pub const QUERY_TOO_LONG: &str = "VODSNAP.0414";
    pub const HEADERS_TOO_LARGE: &str = "VODSNAP.0431";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "VOD.10059";
    pub const RATE_LIMITED: &str = "APIGW.0308";
    pub const INTERNAL: &str = "VOD.10051";
    pub const UNAVAILABLE: &str = "VOD.10052";
}

/// An error answer: status, code and a message a caller can act on. It
/// never carries internals; those go to the log under the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Whole seconds for the `Retry-After` header, when the caller should
    /// wait before retrying.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, answered with `Retry-After: secs` (at least 1).
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_PARAMETER, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            format!("{what} is unavailable; retry later"),
        )
    }

    /// Logs `cause` with its chain and answers a generic 500.
    pub fn internal(cause: &anyhow::Error) -> Self {
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error; the request id identifies it in the server log",
        )
    }

    /// Logs `cause` and answers 503.
    pub fn dependency_down(what: &str, cause: &anyhow::Error) -> Self {
        tracing::warn!(error = format!("{cause:#}"), "{what} unavailable");
        Self::unavailable(what)
    }
}

impl ApiError {
    /// 429, with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            format!("the project's request rate limit is reached; retry after {secs} s"),
        )
        .retry_after(secs)
    }

    /// 503 for a request whose body finds the server's body memory full:
    /// nothing was done, and a retry a moment later usually gets in.
    pub fn body_memory_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "the server is receiving too many request bodies at once; nothing was done, retry shortly",
        )
        .retry_after(1)
    }

    /// 503 for a request that outlived `--request-timeout`.
    pub fn timed_out() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "the request took too long and was abandoned; it is safe to retry",
        )
        .retry_after(1)
    }

    /// The contract's error for a response the framework made on its own:
    /// the code the contract gives its status, the framework's text (it
    /// names what was wrong with the request, never an internal).
    fn from_framework(status: StatusCode, text: &str) -> Self {
        let code = match status {
            StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
            StatusCode::FORBIDDEN => code::FORBIDDEN,
            StatusCode::NOT_FOUND => code::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED => code::METHOD_NOT_ALLOWED,
            StatusCode::PAYLOAD_TOO_LARGE => code::BODY_TOO_LARGE,
            StatusCode::URI_TOO_LONG => code::QUERY_TOO_LONG,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => code::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => code::HEADERS_TOO_LARGE,
            StatusCode::TOO_MANY_REQUESTS => code::RATE_LIMITED,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => code::UNAVAILABLE,
            s if s.is_server_error() => code::INTERNAL,
            _ => code::BAD_PARAMETER,
        };
        let message = if status.is_server_error() || text.trim().is_empty() {
            status
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_owned()
        } else {
            text.trim().chars().take(512).collect()
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Largest framework-made error body read back to become a message; axum's
/// rejections are one line.
const FRAMEWORK_TEXT_LIMIT: usize = 4 * 1024;

/// The layer that writes every error body: an [`ApiError`]'s, and, for an
/// error response that the framework made without one (an extractor's
/// rejection, axum's own 413), the contract's body for its status. Either
/// way the body's `request_id` is the request's [`RequestId`].
pub(crate) async fn render(request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => error,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            let status = response.status();
            let (parts, body) = response.into_parts();
            let text = axum::body::to_bytes(body, FRAMEWORK_TEXT_LIMIT)
                .await
                .unwrap_or_default();
            response = Response::from_parts(parts, Body::empty());
            ApiError::from_framework(status, &String::from_utf8_lossy(&text))
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body(&error, &id)))
}

/// Huawei's error body, as every error answers it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    /// One of the contract's codes, such as `VOD.10053`.
    error_code: &'a str,
    /// What went wrong, for a person.
    error_msg: &'a str,
    /// Equals the `X-Request-Id` response header.
    request_id: &'a str,
}

/// Renders Huawei's error body.
pub(crate) fn body(error: &ApiError, request_id: &str) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody {
        error_code: error.code,
        error_msg: &error.message,
        request_id,
    })
    .unwrap_or_default()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such resource: check the path")
}

pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    // axum adds the `Allow` header of the matched path to this answer.
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on this path"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "test code")]

    use super::*;
    use axum::Router;
    use axum::routing::get;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_framework_made_error_gets_the_contract_body_and_the_request_id() {
        // What axum's extractors answer on their own: a status and text.
        let app = Router::new()
            .route(
                "/",
                get(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded") }),
            )
            .layer(axum::middleware::from_fn(render))
            .layer(axum::middleware::from_fn(crate::request_id::assign));
        let request = Request::builder()
            .uri("/")
            .header("x-request-id", "req-1")
            .body(Body::empty())
            .expect("request");

        let response = app.oneshot(request).await.expect("infallible");

        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(json["error_code"], code::BODY_TOO_LARGE);
        assert_eq!(json["error_msg"], "length limit exceeded");
        assert_eq!(json["request_id"], "req-1");
    }

    #[test]
    fn retry_after_is_a_field_not_part_of_the_message() {
        let error = ApiError::rate_limited(std::time::Duration::from_millis(1500));
        assert_eq!(error.retry_after, Some(2));
        let response = error.into_response();
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("2"))
        );
    }
}
