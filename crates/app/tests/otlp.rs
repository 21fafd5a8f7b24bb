//! Issue 26 part 2 on a real process: `--otlp-endpoint` exports spans over
//! OTLP/HTTP to a receiver written here (protobuf, decoded with the
//! `opentelemetry-proto` types), and one delete's trace runs end to end:
//! the request continues the client's `traceparent`, its statements are
//! its descendants, the cleanup's batch that removes its images links to
//! it, and the webhook delivery of its event is its descendant and carries
//! a `traceparent` of that trace. No span says a secret.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::json;
use support::db::TestDb;
use support::http::request;
use support::server::{Secrets, Serve};
use support::storage::FileStorage;
use support::{EVENTUALLY, PROJECT, eventually, keys_of, task_body};

/// The client's trace, which the delete continues.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// One exported span, as the receiver keeps it (ids in hex).
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, String>,
    /// The trace ids it links to.
    links: Vec<String>,
}

/// An OTLP/HTTP receiver on 127.0.0.1:0: `POST /v1/traces`, protobuf.
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

impl Collector {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let store = spans.clone();
        let app = Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let store = store.clone();
                async move {
                    let export = match ExportTraceServiceRequest::decode(body) {
                        Ok(export) => export,
                        Err(e) => {
                            eprintln!("OTLP decode failed: {e}");
                            return (StatusCode::BAD_REQUEST, Vec::new());
                        }
                    };
                    let mut store = store.lock().unwrap();
                    for scope in export.resource_spans.iter().flat_map(|r| &r.scope_spans) {
                        for span in &scope.spans {
                            store.push(Span {
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent: hex(&span.parent_span_id),
                                name: span.name.clone(),
                                attributes: span
                                    .attributes
                                    .iter()
                                    .map(|kv| {
                                        (
                                            kv.key.clone(),
                                            text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                                        )
                                    })
                                    .collect(),
                                links: span.links.iter().map(|l| hex(&l.trace_id)).collect(),
                            });
                        }
                    }
                    (
                        StatusCode::OK,
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A webhook receiver on 127.0.0.1:0 that keeps the headers it got.
async fn hook_receiver() -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let received: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let store = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(headers);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), received)
}

/// Whether `span` is `ancestor` or below it.
fn descends(spans: &[Span], span: &Span, ancestor: &Span) -> bool {
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut at = Some(span);
    while let Some(s) = at {
        if s.span_id == ancestor.span_id {
            return true;
        }
        at = by_id.get(s.parent.as_str()).copied();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delete_is_one_trace_from_the_request_to_its_webhook_delivery() {
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let collector = Collector::start().await;
    let (hook_url, hooks) = hook_receiver().await;
    let server = Serve::new(&db, &secrets, &storage.url())
        .arg("--otlp-endpoint", &format!("http://{}", collector.addr))
        .arg("--webhook-idle", "100ms")
        .flag("--allow-private-webhooks")
        // The SDK's batch interval, short for the test.
        .env(vec![(
            "OTEL_BSP_SCHEDULE_DELAY".to_owned(),
            "100".to_owned(),
        )])
        .start()
        .await;
    let api = server.api(&secrets);
    let keys = keys_of("a1", "t1", 2);
    for key in &keys {
        storage.put(key);
    }
    assert_eq!(
        api.register(&task_body("a1", "t1", &keys))
            .await
            .unwrap()
            .status,
        201
    );
    let body = json!({"url": hook_url, "events": ["thumbnails.deleted"]}).to_string();
    let subscribed = request(
        server.addr,
        "POST",
        &format!("/v1/{PROJECT}/webhooks"),
        &[
            ("X-Auth-Token", secrets.token.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(subscribed.status, 201, "{}", subscribed.text());
    let hook_secret = subscribed.json()["secret"].as_str().unwrap().to_owned();

    // Act: a delete inside the client's trace.
    let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let deleted = request(
        server.addr,
        "DELETE",
        &format!("/v1/{PROJECT}/asset/thumbnails?task_id=t1"),
        &[
            ("X-Auth-Token", secrets.token.as_str()),
            ("traceparent", traceparent.as_str()),
        ],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.text());

    eventually(
        "the images removed and the event delivered",
        EVENTUALLY,
        || {
            let (present, hooks) = (storage.present(&keys), hooks.lock().unwrap().len());
            async move {
                match (present.is_empty(), hooks) {
                    (true, 1..) => Ok(()),
                    _ => Err(format!("{present:?} still there, {hooks} deliveries")),
                }
            }
        },
    )
    .await;
    // Each batch of spans is exported when it ends: wait for the last.
    eventually("the delete's spans exported", EVENTUALLY, || {
        let spans = collector.spans();
        async move {
            let delivered = spans.iter().any(|s| s.name == "webhook delivery");
            let cleaned = spans.iter().any(|s| {
                s.name == "job batch"
                    && s.attributes.get("kind").map(String::as_str) == Some("cleanup")
                    && s.links.iter().any(|t| t == TRACE_ID)
            });
            if delivered && cleaned {
                Ok(())
            } else {
                Err(format!("delivery {delivered}, cleanup batch {cleaned}"))
            }
        }
    })
    .await;
    let spans = collector.spans();

    // The request continues the client's trace.
    let request_span = spans
        .iter()
        .find(|s| {
            s.name == "request" && s.attributes.get("method").map(String::as_str) == Some("DELETE")
        })
        .expect("the delete's request span");
    assert_eq!(request_span.trace_id, TRACE_ID);
    assert_eq!(request_span.parent, CLIENT_SPAN);
    assert_eq!(
        request_span.attributes.get("route").map(String::as_str),
        Some("/v1/{project_id}/asset/thumbnails")
    );
    assert_eq!(
        request_span.attributes.get("status").map(String::as_str),
        Some("200")
    );
    assert_eq!(
        request_span.attributes.get("project").map(String::as_str),
        Some(PROJECT)
    );

    // Its statements are below it, by name.
    let statements: Vec<&str> = spans
        .iter()
        .filter(|s| s.attributes.contains_key("db.query.summary"))
        .filter(|s| descends(&spans, s, request_span))
        .map(|s| s.name.as_str())
        .collect();
    for name in ["LOCK_SELECTED", "TOMBSTONE"] {
        assert!(statements.contains(&name), "{name} among {statements:?}");
    }

    // The cleanup batch that removed the images links to the delete's
    // trace, and its statements are below it. (Its object-store batch
    // span, `image_store.delete_many`, is not exported yet: see
    // docs/DEPLOY.md, "Traces".)
    let batch = spans
        .iter()
        .find(|s| {
            s.name == "job batch"
                && s.attributes.get("kind").map(String::as_str) == Some("cleanup")
                && s.links.iter().any(|t| t == TRACE_ID)
        })
        .expect("a cleanup batch linked to the delete's trace");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "COMPLETE" && descends(&spans, s, batch)),
        "the completion's statement below the cleanup batch"
    );

    // The delivery is in the delete's trace, below the request, and its
    // request carried a traceparent of that trace naming an exported span.
    let delivery = spans
        .iter()
        .find(|s| s.name == "webhook delivery")
        .expect("the delivery's span");
    assert_eq!(delivery.trace_id, TRACE_ID);
    assert!(descends(&spans, delivery, request_span));
    let sent = hooks.lock().unwrap()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let sent_span = sent.split('-').nth(2).unwrap();
    assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
    assert!(
        spans
            .iter()
            .any(|s| s.span_id == sent_span && descends(&spans, s, delivery)),
        "{sent} names the delivery's span"
    );

    // No span says a secret: the token, the webhook's secret, its
    // signature, or a header.
    let signature = hooks.lock().unwrap()[0][vodsnap_adapter_webhooks::signature::HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    for span in &spans {
        for (key, value) in &span.attributes {
            for secret in [&secrets.token, &hook_secret, &signature] {
                assert!(
                    !value.contains(secret.as_str()),
                    "{} {key}={value}",
                    span.name
                );
            }
            let key = key.to_ascii_lowercase();
            assert!(
                !key.contains("authorization") && !key.contains("auth-token"),
                "{} has {key}",
                span.name
            );
        }
    }
}
