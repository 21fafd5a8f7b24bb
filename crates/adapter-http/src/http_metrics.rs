//! Request counts and durations, labelled from fixed sets only: a known
//! method or `other`, the matched route's pattern or `unmatched`. Whatever
//! a client invents (methods, paths, project ids) never becomes a series.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The method label: one of the methods HTTP defines, else `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The route label: the pattern the router matched (`/v1/{project_id}/...`),
/// else `unmatched`. The router's patterns are a fixed set.
fn route_label(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned())
}

/// Counts the request and records its duration, by route, method and (for
/// the count) status.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = route_label(&request);
    let method = method_label(request.method());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("vodsnap_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("vodsnap_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_are_other() {
        for raw in ["FOO", "get", "X-MADE-UP", "PROPFIND"] {
            let method = Method::from_bytes(raw.as_bytes()).expect("a token");
            assert_eq!(method_label(&method), "other", "{raw}");
        }
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }
}
