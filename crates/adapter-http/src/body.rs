//! Reading request bodies within bounds: one request's (`--max-body`; a
//! small fixed bound for methods that carry no body), and all requests'
//! together (`--max-body-memory`), so that clients sending bodies at once
//! cannot take more memory than the operator allowed.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt as _;
use tokio::sync::Semaphore;

use crate::error::{ApiError, code};

/// Longest body read for a method that the API gives no body (GET,
/// DELETE): the signature covers it, so it is read, but a real client
/// sends none.
pub const NO_BODY_LIMIT: usize = 8 * 1024;

/// The bytes of request bodies held in memory by all requests together,
/// at most the budget. Cloning shares the budget.
#[derive(Debug, Clone)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub(crate) fn new(total: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))),
        }
    }
}

/// Budget bytes held by one request's body; given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: BodyBudget,
    bytes: usize,
}

impl Held {
    fn none(budget: &BodyBudget) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Takes `more` bytes of the budget, or fails at once when it has not
    /// that much left: a request waits for nothing while holding a
    /// connection and part of the budget.
    fn grow(&mut self, more: usize) -> Result<(), ApiError> {
        let Ok(n) = u32::try_from(more) else {
            return Err(ApiError::body_memory_full());
        };
        match self.budget.bytes.try_acquire_many(n) {
            Ok(permit) => {
                permit.forget();
                self.bytes += more;
                metrics::gauge!("vodsnap_http_body_bytes_in_flight").increment(more as f64);
                Ok(())
            }
            Err(_) => {
                metrics::counter!("vodsnap_http_body_memory_full_total").increment(1);
                Err(ApiError::body_memory_full())
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.bytes.add_permits(self.bytes);
            metrics::gauge!("vodsnap_http_body_bytes_in_flight").decrement(self.bytes as f64);
        }
    }
}

/// The `Content-Length` the client declared, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::BODY_TOO_LARGE,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// Reads the whole body, at most `limit` bytes, holding budget for every
/// byte held. A declared length is reserved before the first byte is read,
/// so a request that cannot fit is refused without reading anything.
pub(crate) async fn read(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    budget: &BodyBudget,
) -> Result<(Bytes, Held), ApiError> {
    let mut held = Held::none(budget);
    let mut buffer = Vec::new();
    if let Some(declared) = declared {
        let declared = usize::try_from(declared)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or_else(|| too_large(limit))?;
        if declared == 0 {
            return Ok((Bytes::new(), held));
        }
        held.grow(declared)?;
        buffer.reserve_exact(declared);
    }
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::bad_parameter("the request body could not be read"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buffer.len() + data.len();
        if total > limit {
            return Err(too_large(limit));
        }
        if total > held.bytes {
            held.grow(total - held.bytes)?;
        }
        buffer.extend_from_slice(&data);
    }
    Ok((Bytes::from(buffer), held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_share_the_budget_and_give_it_back() {
        let budget = BodyBudget::new(10);
        let (first, held) = read(Body::from("123456"), Some(6), 100, &budget)
            .await
            .expect("fits");
        assert_eq!(first.len(), 6);
        let refused = read(Body::from("12345"), Some(5), 100, &budget)
            .await
            .expect_err("over the budget");
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after, Some(1));
        // Undeclared lengths are counted as they arrive.
        let refused = read(Body::from("12345"), None, 100, &budget)
            .await
            .expect_err("over the budget");
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        let (again, _held) = read(Body::from("1234567890"), None, 100, &budget)
            .await
            .expect("the budget came back");
        assert_eq!(again.len(), 10);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_declared_or_not() {
        let budget = BodyBudget::new(1000);
        for declared in [Some(11), None] {
            let refused = read(Body::from("x".repeat(11)), declared, 10, &budget)
                .await
                .expect_err("over the limit");
            assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
}
