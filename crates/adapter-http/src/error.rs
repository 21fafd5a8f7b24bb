//! The API's errors, rendered as Huawei's error body.
//!
//! A handler answers an [`ApiError`]; it travels as a response extension
//! and the request-id middleware writes the body, so that `request_id` in
//! the body is always the one in the `X-Request-Id` header.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Error codes of the contract.
pub mod code {
    pub const BAD_PARAMETER: &str = "VOD.10053";
    pub const UNAUTHENTICATED: &str = "APIGW.0301";
    pub const TOKEN_EXPIRED: &str = "APIGW.0307";
    pub const FORBIDDEN: &str = "VOD.10057";
    pub const NOT_FOUND: &str = "VOD.10062";
    pub const METHOD_NOT_ALLOWED: &str = "VOD.10058";
    pub const CONFLICT: &str = "VODSNAP.0409";
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
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
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            format!(
                "the project's request rate limit is reached; retry after {} s",
                secs.max(1)
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let secs = self
                .message
                .rsplit("after ")
                .next()
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or("1")
                .to_owned();
            if let Ok(value) = axum::http::HeaderValue::from_str(&secs) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response.extensions_mut().insert(self);
        response
    }
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
