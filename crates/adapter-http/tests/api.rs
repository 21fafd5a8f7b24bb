//! The router through its public interface: requests in, responses out,
//! with mocked ports where a failure must be staged and the memory store
//! where behaviour is enough.

#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vodsnap_adapter_http::auth::{HmacTokenAuthority, signature};
use vodsnap_adapter_http::{AppState, HttpSettings, router};
use vodsnap_adapter_memory::{MemoryCredentialStore, MemoryStore};
use vodsnap_domain::ObjectKey;
use vodsnap_domain::{ProjectId, Secret, Timestamp};
use vodsnap_ports::{
    CleanupQueue, Credential, CredentialStore, DeleteError, LinkError, LinkProof, LinkRefused,
    ListError, MockClock, MockImageStore, MockTaskResultStore, PingError, RegisterError,
    SnapshotLinks, TaskResultStore, TokenAuthority,
};
use vodsnap_service::{AssetPurges, CleanupAdmin, SnapshotImages, Snapshots, Webhooks};

const NOW: i64 = 1_790_000_000_000_000;
const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(|| Timestamp::from_micros(NOW));
    Arc::new(clock)
}

fn tokens() -> Arc<HmacTokenAuthority> {
    Arc::new(HmacTokenAuthority::new(&Secret::new(KEY)).expect("key"))
}

fn token(project: &str) -> String {
    tokens()
        .issue(
            &ProjectId::parse(project).expect("project"),
            "test",
            std::time::Duration::from_secs(600),
            Timestamp::from_micros(NOW),
        )
        .expose()
        .to_owned()
}

/// Links as a CDN's, or (when `served`) as vodsnap's own, where the proof
/// `expires=2000000000&sig=good` verifies and `sig=good` with any other
/// expiry has expired. The HMAC itself is adapter-objects' to test; here
/// only what the HTTP layer makes of each answer.
#[derive(Debug)]
struct TestLinks {
    served: bool,
}

const GOOD_EXPIRY_SECS: i64 = 2_000_000_000;

#[async_trait::async_trait]
impl SnapshotLinks for TestLinks {
    async fn link(&self, key: &ObjectKey, _: Timestamp) -> Result<String, LinkError> {
        Ok(if self.served {
            format!(
                "http://vodsnap.test/snapshots/{}?expires={GOOD_EXPIRY_SECS}&sig=good",
                key.as_str()
            )
        } else {
            format!("https://cdn.test/vod/{}", key.as_str())
        })
    }

    fn verify(
        &self,
        _: &ObjectKey,
        proof: &LinkProof,
        _: Timestamp,
    ) -> Result<Timestamp, LinkRefused> {
        match (
            self.served,
            proof.signature.as_str(),
            proof.expires.as_str(),
        ) {
            (false, _, _) => Err(LinkRefused::NotServedHere),
            (true, "good", "2000000000") => {
                Ok(Timestamp::from_micros(GOOD_EXPIRY_SECS * 1_000_000))
            }
            (true, "good", _) => Err(LinkRefused::Expired),
            (true, _, _) => Err(LinkRefused::BadSignature),
        }
    }

    fn describe(&self) -> String {
        "test links".into()
    }
}

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];

fn jpeg_store() -> Arc<MockImageStore> {
    let mut images = MockImageStore::new();
    images.expect_get().returning(|_| Ok(Some(JPEG.to_vec())));
    Arc::new(images)
}

async fn state_with(store: Arc<dyn TaskResultStore>) -> AppState {
    state_of(
        store,
        Arc::new(MemoryStore::new().cleanup_queue()),
        Arc::new(TestLinks { served: false }),
        Arc::new(MockImageStore::new()),
    )
    .await
}

/// A state whose one memory store holds the task results and answers the
/// reference check, with links vodsnap serves itself.
async fn serving_state() -> AppState {
    let store = MemoryStore::new();
    state_of(
        Arc::new(store.clone()),
        Arc::new(store.cleanup_queue()),
        Arc::new(TestLinks { served: true }),
        jpeg_store(),
    )
    .await
}

async fn state_of(
    store: Arc<dyn TaskResultStore>,
    queue: Arc<dyn CleanupQueue>,
    links: Arc<dyn SnapshotLinks>,
    images: Arc<dyn vodsnap_ports::ImageStore>,
) -> AppState {
    let credentials = Arc::new(MemoryCredentialStore::new());
    credentials
        .insert(
            &Credential::new(
                "AK1".into(),
                Secret::new("SK1"),
                vec![ProjectId::parse("p1").expect("project")],
            ),
            Timestamp::from_micros(0),
        )
        .await
        .expect("seed");
    AppState {
        snapshots: Snapshots::new(store, Arc::new(MemoryStore::new().audit_log()), clock()),
        images: SnapshotImages::new(links, queue.clone(), images, clock()),
        cleanup: CleanupAdmin::new(queue, clock()),
        purges: AssetPurges::new(Arc::new(MemoryStore::new().purge_queue()), clock()),
        webhooks: Webhooks::new(
            Arc::new(MemoryStore::new().webhook_store()),
            url_checker(),
            clock(),
        ),
        credentials,
        tokens: tokens(),
        clock: clock(),
        settings: Arc::new(HttpSettings::default()),
        metrics: None,
        rate_limit: None,
    }
}

/// A sender whose URL check refuses the host `private.test` (as if it
/// resolved to a private address) and accepts every other; it sends
/// nothing (no worker runs here).
fn url_checker() -> Arc<vodsnap_ports::MockWebhookSender> {
    let mut sender = vodsnap_ports::MockWebhookSender::new();
    sender.expect_check().returning(|url| {
        if url.as_str().contains("private.test") {
            Err(vodsnap_ports::CheckUrlError::Refused("10.0.0.1".into()))
        } else {
            Ok(())
        }
    });
    Arc::new(sender)
}

async fn call(state: AppState, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let response = router(state).oneshot(request).await.expect("infallible");
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, request_id)
}

fn with_token(method: &str, uri: &str, project: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-auth-token", token(project))
        .body(Body::empty())
        .expect("request")
}

fn registration(task: &str) -> String {
    serde_json::json!({
        "asset_id": "a1", "task_id": task,
        "thumbnail_para": {"type": "time", "time": 10},
        "thumbnails": [{"offset": 0, "object_key": format!("p1/a1/{task}/0.jpg")}]
    })
    .to_string()
}

fn post(uri: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("x-auth-token", token("p1"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn an_sdk_signed_request_is_accepted_and_a_tampered_one_is_not() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let date = "20260921T141320Z"; // NOW, as X-Sdk-Date
    let query = "asset_id=a1&limit=5";
    let path = "/v1/p1/asset/thumbnails";
    let headers = [("host", "vodsnap.test"), ("x-sdk-date", date)];
    let authorization = signature::sign("GET", path, Some(query), &headers, b"", "AK1", "SK1");
    let build = |query: &str| {
        Request::builder()
            .uri(format!("{path}?{query}"))
            .header("host", "vodsnap.test")
            .header("x-sdk-date", date)
            .header("authorization", authorization.clone())
            .body(Body::empty())
            .expect("request")
    };

    let (status, body, _) = call(state.clone(), build(query)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0);

    let (status, body, _) = call(state, build("asset_id=a1&limit=6")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "APIGW.0301");
}

#[tokio::test]
async fn register_list_details_delete_round_trip() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let uri = "/v1/p1/asset/thumbnails";

    let (status, body, _) = call(state.clone(), post(uri, registration("t1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["thumbnail_para"]["aspect_ratio"], 1);
    let (status, _, _) = call(state.clone(), post(uri, registration("t1"))).await;
    assert_eq!(status, StatusCode::OK);

    let details = "/v1/p1/asset/thumbnail/details?task_id=t1";
    let (status, body, _) = call(state.clone(), with_token("GET", details, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["thumbnail_result"][0]["url"],
        "https://cdn.test/vod/p1/a1/t1/0.jpg"
    );

    let delete = "/v1/p1/asset/thumbnails?task_id=t1&task_id=t1&task_id=zz";
    let (status, body, _) = call(state.clone(), with_token("DELETE", delete, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["delete_result_array"].as_array().expect("array");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["status"], "DELETED");
    assert_eq!(items[1]["status"], "FAILED");
    assert_eq!(items[1]["error_code"], "VOD.10062");
    assert_eq!(items[1]["asset_id"], "");
    assert_eq!(body["remaining"], 0);

    let (status, body, _) = call(state.clone(), with_token("GET", details, "p1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "VOD.10062");
    let (status, _, _) = call(state, post(uri, registration("t1"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn fetch(
    state: AppState,
    uri: &str,
    if_none_match: Option<&str>,
) -> axum::response::Response {
    let mut request = Request::builder().uri(uri);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    router(state)
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

fn header<'a>(response: &'a axum::response::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_details_link_serves_the_image_until_its_task_is_deleted() {
    // Arrange: a live task whose details carry a served link.
    let state = serving_state().await;
    let (status, _, _) = call(
        state.clone(),
        post("/v1/p1/asset/thumbnails", registration("t1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let details = "/v1/p1/asset/thumbnail/details?task_id=t1";
    let (_, body, _) = call(state.clone(), with_token("GET", details, "p1")).await;
    let url = body["thumbnail_result"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let link = url
        .strip_prefix("http://vodsnap.test")
        .expect("a served link");

    // Act: fetch it without any credential.
    let response = fetch(state.clone(), link, None).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let remaining = GOOD_EXPIRY_SECS - NOW / 1_000_000;
    assert_eq!(
        header(&response, "cache-control"),
        format!("private, max-age={remaining}")
    );
    let etag = header(&response, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&bytes[..], JPEG);

    // The same ETag revalidates without the bytes.
    let response = fetch(state.clone(), link, Some(&etag)).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&response, "etag"), etag);

    // Deleted: 404 at once, though the file waits for the cleanup.
    let delete = "/v1/p1/asset/thumbnails?task_id=t1";
    let (status, _, _) = call(state.clone(), with_token("DELETE", delete, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    let response = fetch(state.clone(), link, Some(&etag)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn altered_and_expired_links_are_forbidden_and_others_not_found() {
    let state = serving_state().await;
    let (status, _, _) = call(
        state.clone(),
        post("/v1/p1/asset/thumbnails", registration("t1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = "/snapshots/p1/a1/t1/0.jpg";
    for (query, expected, code) in [
        (
            "expires=2000000000&sig=bad",
            StatusCode::FORBIDDEN,
            "VODSNAP.0403",
        ),
        (
            "expires=1999999999&sig=good",
            StatusCode::FORBIDDEN,
            "VODSNAP.0403",
        ),
        ("", StatusCode::FORBIDDEN, "VODSNAP.0403"),
        (
            "expires=2000000000&sig=good&x=1",
            StatusCode::BAD_REQUEST,
            "VOD.10053",
        ),
    ] {
        let (status, body, _) = call(
            state.clone(),
            Request::builder()
                .uri(format!("{path}?{query}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, expected, "{query}: {body}");
        assert_eq!(body["error_code"], code, "{query}");
    }
    // A key no task references, and a key no project could own.
    for link in [
        "/snapshots/p1/a1/t9/0.jpg?expires=2000000000&sig=good",
        "/snapshots/0.jpg?expires=2000000000&sig=good",
    ] {
        assert_eq!(
            fetch(state.clone(), link, None).await.status(),
            StatusCode::NOT_FOUND,
            "{link}"
        );
    }
}

#[tokio::test]
async fn nothing_is_served_where_links_point_elsewhere() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let response = fetch(
        state,
        "/snapshots/p1/a1/t1/0.jpg?expires=2000000000&sig=good",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_cleanup_backlog_is_read_with_a_token() {
    let state = serving_state().await;
    let (status, _, _) = call(
        state.clone(),
        post("/v1/p1/asset/thumbnails", registration("t1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(
        state.clone(),
        with_token("DELETE", "/v1/p1/asset/thumbnails?task_id=t1", "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body, _) = call(
        state.clone(),
        with_token("GET", "/v1/p1/cleanup/status", "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["queued"], 1);
    assert_eq!(body["parked"], 0);
    assert!(body["oldest_enqueued_at"].is_string(), "{body}");
    // Nothing drained yet: the backlog has no end in sight.
    assert_eq!(body["drained_last_minute"], 0);
    assert!(body["seconds_to_drain"].is_null(), "{body}");

    let anonymous = Request::builder()
        .uri("/v1/p1/cleanup/status")
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = call(state, anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let response = fetch(state.clone(), path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header(&response, "content-type").starts_with(kind),
            "{path}"
        );
        let policy = header(&response, "content-security-policy");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
    }
}

#[tokio::test]
async fn errors_carry_the_request_id_of_the_header() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let mut request = with_token("DELETE", "/v1/p1/asset/thumbnails?task_ids=t1", "p1");
    request
        .headers_mut()
        .insert("x-request-id", "client-id.1".parse().expect("header"));
    let (status, body, id) = call(state.clone(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "VOD.10053");
    assert_eq!(id.as_deref(), Some("client-id.1"));
    assert_eq!(body["request_id"], "client-id.1");

    let mut request = with_token("GET", "/v1/p1/asset/thumbnails", "p1");
    request
        .headers_mut()
        .insert("x-request-id", "not valid!".parse().expect("header"));
    let (_, _, id) = call(state, request).await;
    assert_ne!(id.as_deref(), Some("not valid!"));
    assert!(id.is_some());
}

#[tokio::test]
async fn a_token_is_scoped_to_its_project() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let (status, body, _) = call(state, with_token("GET", "/v1/p2/asset/thumbnails", "p1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error_code"], "VOD.10057");
}

#[tokio::test]
async fn a_store_outage_makes_named_deletes_unknow_and_asset_deletes_503() {
    let mut store = MockTaskResultStore::new();
    store.expect_delete().returning(|_, _, _| {
        Err(DeleteError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    });
    let state = state_with(Arc::new(store)).await;

    let named = "/v1/p1/asset/thumbnails?task_id=t1&task_id=t2";
    let (status, body, _) = call(state.clone(), with_token("DELETE", named, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["delete_result_array"].as_array().expect("array");
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "UNKNOW" && i["error_code"] == "VOD.10052")
    );

    let by_asset = "/v1/p1/asset/thumbnails?asset_id=a1";
    let (status, body, _) = call(state, with_token("DELETE", by_asset, "p1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error_code"], "VOD.10052");
}

#[tokio::test]
async fn an_unexpected_store_error_is_a_generic_500_without_internals() {
    let mut store = MockTaskResultStore::new();
    store.expect_insert().returning(|_, _, _, _| {
        Err(RegisterError::Unknown(anyhow::anyhow!(
            "SQL: duplicate key value violates unique constraint secret_idx"
        )))
    });
    let state = state_with(Arc::new(store)).await;
    let (status, body, _) = call(state, post("/v1/p1/asset/thumbnails", registration("t1"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error_code"], "VOD.10051");
    let message = body["error_msg"].as_str().expect("message");
    assert!(
        !message.contains("SQL") && !message.contains("secret_idx"),
        "{message}"
    );
}

#[tokio::test]
async fn readiness_follows_the_store() {
    let mut store = MockTaskResultStore::new();
    let mut healthy = true;
    store.expect_ping().returning(move || {
        healthy = !healthy;
        if healthy {
            Ok(())
        } else {
            Err(PingError(anyhow::anyhow!("down")))
        }
    });
    store
        .expect_list()
        .returning(|_, _, _| Err(ListError::Unavailable(anyhow::anyhow!("down"))));
    let state = state_with(Arc::new(store)).await;
    let ready = || {
        Request::builder()
            .uri("/readyz")
            .body(Body::empty())
            .expect("request")
    };

    let (status, _, _) = call(state.clone(), ready()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = call(state.clone(), ready()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = call(state, with_token("GET", "/v1/p1/asset/thumbnails", "p1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error_code"], "VOD.10052");
}

#[tokio::test]
async fn oversized_parts_get_4xx_in_the_contract_format() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let long_query = format!("/v1/p1/asset/thumbnails?asset_id={}", "a".repeat(10_000));
    let (status, body, _) = call(state.clone(), with_token("GET", &long_query, "p1")).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(body["error_code"], "VODSNAP.0414");

    let big = "x".repeat(HttpSettings::default().max_body_bytes + 1);
    let (status, body, _) = call(state.clone(), post("/v1/p1/asset/thumbnails", big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error_code"], "VODSNAP.0413");

    let mut request = with_token("GET", "/v1/p1/asset/thumbnails", "p1");
    request
        .headers_mut()
        .insert("x-padding", "p".repeat(40_000).parse().expect("header"));
    let (status, body, _) = call(state, request).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(body["error_code"], "VODSNAP.0431");
}

#[tokio::test]
async fn json_type_errors_name_the_field() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let body = r#"{"asset_id":"a1","task_id":"t1","thumbnail_para":{"type":"time"},"thumbnails":[{"offset":"0","object_key":"k"}]}"#;
    let (status, json, _) = call(state, post("/v1/p1/asset/thumbnails", body.into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = json["error_msg"].as_str().expect("message");
    assert!(message.contains("thumbnails[0].offset"), "{message}");
}

mod no_input_gives_5xx {
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_queries_and_paths(
            path in "/v1/[a-zA-Z0-9%_.-]{0,70}/asset/(thumbnails|thumbnail/details)",
            query in "[a-zA-Z0-9%=&_.+-]{0,200}",
            method in "GET|DELETE|POST|PUT",
        ) {
            let Ok(uri) = format!("{path}?{query}").parse::<axum::http::Uri>() else {
                return Ok(());
            };
            let status = runtime().block_on(async {
                let state = state_with(Arc::new(MemoryStore::new())).await;
                let request = Request::builder()
                    .method(method.as_str())
                    .uri(uri)
                    .header("x-auth-token", token("p1"))
                    .body(Body::empty())
                    .expect("request");
                call(state, request).await.0
            });
            prop_assert!(!status.is_server_error(), "{status}");
        }

        #[test]
        fn arbitrary_credential_headers(
            authorization in proptest::option::of(any::<Vec<u8>>()),
            token_value in proptest::option::of(any::<Vec<u8>>()),
            date in proptest::option::of("[0-9TZ]{0,20}"),
        ) {
            let status = runtime().block_on(async {
                let state = state_with(Arc::new(MemoryStore::new())).await;
                let mut builder = Request::builder().uri("/v1/p1/asset/thumbnails");
                if let Some(Ok(v)) = authorization.map(|b| axum::http::HeaderValue::from_bytes(&b)) {
                    builder = builder.header("authorization", v);
                }
                if let Some(Ok(v)) = token_value.map(|b| axum::http::HeaderValue::from_bytes(&b)) {
                    builder = builder.header("x-auth-token", v);
                }
                if let Some(d) = date {
                    builder = builder.header("x-sdk-date", d);
                }
                call(state, builder.body(Body::empty()).expect("request")).await.0
            });
            prop_assert!(status == StatusCode::UNAUTHORIZED, "{status}");
        }
    }
}

#[tokio::test]
async fn over_the_project_rate_the_answer_is_429_with_retry_after() {
    let mut state = state_with(Arc::new(MemoryStore::new())).await;
    state.rate_limit = Some(Arc::new(
        vodsnap_adapter_http::ProjectRateLimit::per_second(
            std::num::NonZeroU32::new(1).expect("non-zero"),
        ),
    ));
    let list = || with_token("GET", "/v1/p1/asset/thumbnails", "p1");

    let first = router(state.clone())
        .oneshot(list())
        .await
        .expect("infallible");
    assert_eq!(first.status(), StatusCode::OK);
    let second = router(state).oneshot(list()).await.expect("infallible");
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = second
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(retry_after, Some(1));
    let body = second.into_body().collect().await.expect("body").to_bytes();
    let json: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["error_code"], "APIGW.0308");
}

/// A request body that records whether anyone read it.
struct Tripwire {
    read: Arc<std::sync::atomic::AtomicBool>,
    left: usize,
}

impl axum::body::HttpBody for Tripwire {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.read.store(true, std::sync::atomic::Ordering::SeqCst);
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let chunk = self.left.min(64 * 1024);
        self.left -= chunk;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(axum::body::Bytes::from(
            vec![b'x'; chunk],
        )))))
    }
}

/// A POST with a 1 MiB body behind a tripwire, and the wire.
fn post_with_tripwire(
    headers: &[(&str, String)],
) -> (Request<Body>, Arc<std::sync::atomic::AtomicBool>) {
    let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut builder = Request::builder()
        .method("POST")
        .uri("/v1/p1/asset/thumbnails")
        .header("content-type", "application/json")
        .header("content-length", (1024 * 1024).to_string());
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let body = Body::new(Tripwire {
        read: read.clone(),
        left: 1024 * 1024,
    });
    (builder.body(body).expect("request"), read)
}

#[tokio::test]
async fn strangers_are_refused_before_their_body_is_read() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let in_window = "20260921T141320Z"; // NOW
    let stale = "20260921T100000Z";
    let signed = |ak: &str, date: &str| {
        signature::sign(
            "POST",
            "/v1/p1/asset/thumbnails",
            None,
            &[("host", "vodsnap.test"), ("x-sdk-date", date)],
            b"whatever: the signature is never checked",
            ak,
            "SK1",
        )
    };
    type Headers<'a> = Vec<(&'a str, String)>;
    let cases: Vec<(&str, Headers, StatusCode)> = vec![
        ("no credentials", vec![], StatusCode::UNAUTHORIZED),
        (
            "an invalid token",
            vec![("x-auth-token", "vst1.bogus".to_owned())],
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a token for another project",
            vec![("x-auth-token", token("p2"))],
            StatusCode::FORBIDDEN,
        ),
        (
            "an unknown access key",
            vec![
                ("host", "vodsnap.test".to_owned()),
                ("x-sdk-date", in_window.to_owned()),
                ("authorization", signed("NOSUCHAK", in_window)),
            ],
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a date out of the window",
            vec![
                ("host", "vodsnap.test".to_owned()),
                ("x-sdk-date", stale.to_owned()),
                ("authorization", signed("AK1", stale)),
            ],
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (what, headers, expected) in cases {
        let (request, read) = post_with_tripwire(&headers);
        let (status, body, id) = call(state.clone(), request).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(body["error_code"].is_string(), "{what}: {body}");
        assert_eq!(body["request_id"].as_str(), id.as_deref(), "{what}");
        assert!(
            !read.load(std::sync::atomic::Ordering::SeqCst),
            "{what}: the body was read"
        );
    }

    // A valid token: the body is read (and is not JSON).
    let (request, read) = post_with_tripwire(&[("x-auth-token", token("p1"))]);
    let (status, _, _) = call(state, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(read.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn get_and_delete_read_no_more_than_a_small_body() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    for method in ["GET", "DELETE"] {
        let request = Request::builder()
            .method(method)
            .uri("/v1/p1/asset/thumbnails?asset_id=a1")
            .header("x-auth-token", token("p1"))
            .body(Body::from(
                "x".repeat(vodsnap_adapter_http::NO_BODY_LIMIT + 1),
            ))
            .expect("request");
        let (status, body, _) = call(state.clone(), request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{method}");
        assert_eq!(body["error_code"], "VODSNAP.0413");
    }
}

#[tokio::test]
async fn bodies_beyond_the_memory_budget_are_503_with_retry_after() {
    let mut state = state_with(Arc::new(MemoryStore::new())).await;
    state.settings = Arc::new(HttpSettings {
        max_body_memory_bytes: 1024,
        ..HttpSettings::default()
    });
    let response = router(state)
        .oneshot(post("/v1/p1/asset/thumbnails", "x".repeat(2048)))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["error_code"], "VOD.10052");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_contract_format() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    for (method, uri, status, code) in [
        ("GET", "/no/such/path", StatusCode::NOT_FOUND, "VOD.10062"),
        (
            "PATCH",
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "VOD.10058",
        ),
        (
            "MADEUP",
            "/v1/p1/asset/thumbnails",
            StatusCode::METHOD_NOT_ALLOWED,
            "VOD.10058",
        ),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let (got, body, id) = call(state.clone(), request).await;
        assert_eq!(got, status, "{method} {uri}");
        assert_eq!(body["error_code"], code, "{method} {uri}");
        assert_eq!(body["request_id"].as_str(), id.as_deref());
    }
}

/// Status, headers and the body's exact bytes.
async fn call_raw(
    state: AppState,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router(state).oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("a JSON body")
}

#[tokio::test]
async fn a_dry_run_answers_what_the_delete_then_does_and_changes_nothing() {
    // Arrange: two live tasks of asset a1.
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let uri = "/v1/p1/asset/thumbnails";
    for t in ["t1", "t2"] {
        let (status, _, _) = call(state.clone(), post(uri, registration(t))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let named = "/v1/p1/asset/thumbnails?asset_id=a1&task_id=t1&task_id=zz";

    // Act: the dry run, first.
    let (status, headers, dry) = call_raw(
        state.clone(),
        with_token("DELETE", &format!("{named}&dry_run=true"), "p1"),
    )
    .await;

    // Assert: flagged in the header and the body, and nothing changed.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers
            .get("x-vodsnap-dry-run")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let dry = json(&dry);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["delete_result_array"][0]["status"], "DELETED");
    assert_eq!(dry["delete_result_array"][1]["status"], "FAILED");
    assert_eq!(dry["remaining"], 1);
    let details = "/v1/p1/asset/thumbnail/details?task_id=t1";
    let (status, _, _) = call(state.clone(), with_token("GET", details, "p1")).await;
    assert_eq!(status, StatusCode::OK, "the dry run deleted t1");
    let (_, listed, _) = call(state.clone(), with_token("GET", uri, "p1")).await;
    assert_eq!(listed["total"], 2);

    // The delete itself answers the same, without the flag or the header.
    let (status, headers, real) = call_raw(state.clone(), with_token("DELETE", named, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-vodsnap-dry-run").is_none());
    let mut expected = dry.clone();
    expected
        .as_object_mut()
        .expect("an object")
        .remove("dry_run");
    assert_eq!(json(&real), expected);
    let (status, _, _) = call(state.clone(), with_token("GET", details, "p1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An asset-only dry run names what the asset-only delete then deletes.
    let by_asset = "/v1/p1/asset/thumbnails?asset_id=a1";
    let (_, headers, dry) = call_raw(
        state.clone(),
        with_token("DELETE", &format!("{by_asset}&dry_run=true"), "p1"),
    )
    .await;
    assert!(headers.contains_key("x-vodsnap-dry-run"));
    assert_eq!(
        json(&dry),
        serde_json::json!({
            "delete_result_array": [{"asset_id": "a1", "task_id": "t2", "status": "DELETED"}],
            "remaining": 0,
            "dry_run": true
        })
    );
    // dry_run=false is the delete; its body is Huawei's shape to the byte.
    let (status, headers, real) = call_raw(
        state,
        with_token("DELETE", &format!("{by_asset}&dry_run=false"), "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-vodsnap-dry-run").is_none());
    assert_eq!(
        String::from_utf8(real).expect("UTF-8"),
        r#"{"delete_result_array":[{"asset_id":"a1","task_id":"t2","status":"DELETED"}],"remaining":0}"#
    );
}

#[tokio::test]
async fn dry_run_is_true_or_false_once_anything_else_is_a_400() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let (status, _, _) = call(
        state.clone(),
        post("/v1/p1/asset/thumbnails", registration("t1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for query in [
        "task_id=t1&dry_run=yes",
        "task_id=t1&dry_run=1",
        "task_id=t1&dry_run=TRUE",
        "task_id=t1&dry_run=",
        "task_id=t1&dry_run",
        "task_id=t1&dry_run=true&dry_run=true",
        "task_id=t1&dry_run=false&dry_run=true",
        "task_id=t1&dryrun=true",
    ] {
        let uri = format!("/v1/p1/asset/thumbnails?{query}");
        let (status, body, _) = call(state.clone(), with_token("DELETE", &uri, "p1")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error_code"], "VOD.10053");
        let message = body["error_msg"].as_str().expect("a message");
        assert!(message.contains("dry"), "{query}: {message}");
    }
    // None of them deleted anything.
    let details = "/v1/p1/asset/thumbnail/details?task_id=t1";
    let (status, _, _) = call(state, with_token("GET", details, "p1")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_dry_run_during_an_outage_is_503_for_both_selections() {
    // A dry run wrote nothing, so no item's outcome is unknown: the answer
    // is "try again", never UNKNOW items. The mock has no delete: a dry run
    // that reached for it would fail the test.
    let mut store = MockTaskResultStore::new();
    store.expect_preview_delete().returning(|_, _, _| {
        Err(DeleteError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    });
    let state = state_with(Arc::new(store)).await;
    for query in ["task_id=t1&task_id=t2", "asset_id=a1"] {
        let uri = format!("/v1/p1/asset/thumbnails?{query}&dry_run=true");
        let (status, body, _) = call(state.clone(), with_token("DELETE", &uri, "p1")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{query}: {body}");
        assert_eq!(body["error_code"], "VOD.10052");
    }
}

#[tokio::test]
async fn webhooks_are_created_with_a_secret_shown_once_listed_and_removed() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let uri = "/v1/p1/webhooks";

    let (status, created, _) = call(
        state.clone(),
        post(
            uri,
            r#"{"url": "https://hooks.example/in", "events": ["thumbnails.deleted"]}"#.into(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["url"], "https://hooks.example/in");
    assert_eq!(created["events"], serde_json::json!(["thumbnails.deleted"]));
    let secret = created["secret"].as_str().expect("secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, listed, _) = call(state.clone(), with_token("GET", uri, "p1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once"
    );

    let (status, deliveries, _) = call(
        state.clone(),
        with_token("GET", &format!("{uri}/{id}/deliveries?failed=true"), "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deliveries["deliveries"], serde_json::json!([]));

    let (status, _, _) = call(
        state.clone(),
        with_token("DELETE", &format!("{uri}/{id}"), "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = call(state, with_token("DELETE", &format!("{uri}/{id}"), "p1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "VOD.10062");
}

#[tokio::test]
async fn bad_webhooks_get_the_contracts_error_body() {
    let state = state_with(Arc::new(MemoryStore::new())).await;
    let uri = "/v1/p1/webhooks";
    for (body, expected) in [
        (r#"{"url": "ftp://x.example/"}"#, "url:"),
        (r#"{"url": "https://u:p@x.example/"}"#, "url:"),
        (r#"{"url": "https://x.example/", "events": []}"#, "events:"),
        (
            r#"{"url": "https://x.example/", "events": ["thumbnails.nope"]}"#,
            "events:",
        ),
        (
            r#"{"url": "https://x.example/", "extra": 1}"#,
            "invalid JSON",
        ),
        (r#"{"events": []}"#, "invalid JSON"),
        ("not json", "invalid JSON"),
        (
            r#"{"url": "https://private.test/hook"}"#,
            "loopback, private or link-local",
        ),
    ] {
        let (status, answer, request_id) = call(state.clone(), post(uri, body.into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error_code"], "VOD.10053");
        assert!(
            answer["error_msg"]
                .as_str()
                .expect("msg")
                .contains(expected),
            "{body}: {answer}"
        );
        assert!(
            !answer.to_string().contains("10.0.0.1"),
            "no address echoed"
        );
        assert_eq!(answer["request_id"].as_str(), request_id.as_deref());
    }
    for path in [
        "/v1/p1/webhooks/wh_000000000000000000000000/deliveries",
        "/v1/p1/webhooks/nonsense/deliveries",
    ] {
        let (status, answer, _) = call(state.clone(), with_token("GET", path, "p1")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    let (status, _, _) = call(
        state.clone(),
        with_token(
            "POST",
            "/v1/p1/webhooks/wh_000000000000000000000000/deliveries/abc/redeliver",
            "p1",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another project's credential sees nothing of p1's.
    let (status, _, _) = call(state, with_token("GET", "/v1/p1/webhooks", "p2")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_recycle_bin_says_how_long_this_server_keeps_a_deleted_task() {
    // Arrange: one server without a recycle bin, one keeping an hour.
    let without = state_with(Arc::new(MemoryStore::new())).await;
    let mut with = state_with(Arc::new(MemoryStore::new())).await;
    with.snapshots = with.snapshots.with_retention(
        vodsnap_domain::Retention::new(std::time::Duration::from_secs(3600)).expect("retention"),
    );
    let uri = "/v1/p1/asset/thumbnails";
    let bin = "/v1/p1/asset/thumbnails/deleted";
    for state in [&without, &with] {
        let (status, body, _) = call(state.clone(), post(uri, registration("t1"))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let delete = "/v1/p1/asset/thumbnails?task_id=t1";
        let (status, _, _) = call(state.clone(), with_token("DELETE", delete, "p1")).await;
        assert_eq!(status, StatusCode::OK);
    }

    // Act
    let (_, none, _) = call(without, with_token("GET", bin, "p1")).await;
    let (_, hour, _) = call(with, with_token("GET", bin, "p1")).await;

    // Assert: without retention the delete was final and the answer says
    // why the bin is empty; with it the task waits there.
    assert_eq!(
        (none["retention_seconds"].as_u64(), none["total"].as_u64()),
        (Some(0), Some(0)),
        "{none}"
    );
    assert_eq!(
        (hour["retention_seconds"].as_u64(), hour["total"].as_u64()),
        (Some(3600), Some(1)),
        "{hour}"
    );
    assert_eq!(hour["deleted"][0]["task_id"], "t1");
}

/// A state whose task results and purges share one memory store.
async fn purging_state() -> AppState {
    let store = MemoryStore::new();
    let mut state = state_of(
        Arc::new(store.clone()),
        Arc::new(store.cleanup_queue()),
        Arc::new(TestLinks { served: false }),
        Arc::new(MockImageStore::new()),
    )
    .await;
    state.purges = AssetPurges::new(Arc::new(store.purge_queue()), clock());
    state
}

#[tokio::test]
async fn delete_assets_answers_each_asset_hides_its_tasks_and_reports_progress() {
    // Arrange
    let state = purging_state().await;
    let uri = "/v1/p1/asset/thumbnails";
    for t in ["t1", "t2"] {
        let (status, _, _) = call(state.clone(), post(uri, registration(t))).await;
        assert_eq!(status, StatusCode::CREATED);
    }

    // Act: a dry run, then the call as the SDKs send it.
    let dry = "/v1.0/p1/asset?asset_id=a1&asset_id=zz&dry_run=true";
    let (status, body, _) = call(state.clone(), with_token("DELETE", dry, "p1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["delete_result_array"][0]["tasks_total"], 2);
    assert_eq!(body["delete_result_array"][1]["tasks_total"], 0);
    let progress = "/v1/p1/asset/purges?asset_id=a1";
    let (status, body, _) = call(state.clone(), with_token("GET", progress, "p1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "VOD.10062");
    let delete = "/v1.0/p1/asset?asset_id=a1&asset_id=zz,a1";
    let (status, body, _) = call(state.clone(), with_token("DELETE", delete, "p1")).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"delete_result_array": [
            {"asset_id": "a1", "status": "DELETED"},
            {"asset_id": "zz", "status": "DELETED"}
        ]})
    );
    let (_, body, _) = call(
        state.clone(),
        with_token("GET", "/v1/p1/asset/thumbnails?asset_id=a1", "p1"),
    )
    .await;
    assert_eq!(body["total"], 0);
    let (status, body, _) = call(state.clone(), post(uri, registration("t3"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error_code"], "VODSNAP.0423");
    let (status, body, _) = call(state.clone(), with_token("GET", progress, "p1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "PURGING");
    assert_eq!(body["tasks_total"], 2);
    assert_eq!(body["tasks_deleted"], 0);
    assert!(body["finished_at"].is_null());
    assert!(body["started_at"].is_string());
}

#[tokio::test]
async fn bad_delete_assets_calls_are_400_in_the_contract_format_and_record_nothing() {
    let state = purging_state().await;
    let eleven: Vec<String> = (0..11).map(|i| format!("asset_id=a{i}")).collect();
    for query in [
        String::new(),
        "asset_id=".to_owned(),
        "asset_id=a%2Fb".to_owned(),
        "asset_id=a1&delete_type=origin".to_owned(),
        "asset_ids=a1".to_owned(),
        eleven.join("&"),
    ] {
        let uri = format!("/v1.0/p1/asset?{query}");
        let (status, body, request_id) =
            call(state.clone(), with_token("DELETE", &uri, "p1")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error_code"], "VOD.10053", "{query}");
        assert_eq!(body["request_id"].as_str(), request_id.as_deref());
    }
    let (status, _, _) = call(
        state.clone(),
        with_token("GET", "/v1/p1/asset/purges?asset_id=a1", "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unauthenticated = Request::builder()
        .method("DELETE")
        .uri("/v1.0/p1/asset?asset_id=a1")
        .body(Body::empty())
        .expect("request");
    let (status, body, _) = call(state.clone(), unauthenticated).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "APIGW.0301");
    let (status, _, _) = call(
        state,
        with_token("DELETE", "/v1.0/p2/asset?asset_id=a1", "p1"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
