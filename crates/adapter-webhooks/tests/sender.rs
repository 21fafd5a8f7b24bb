//! The sender against a real HTTP receiver on a real socket.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use vodsnap_adapter_webhooks::{HttpWebhookSender, SenderSettings, signature};
use vodsnap_domain::{
    AddressPolicy, AssetId, Event, EventId, EventType, ProjectId, Secret, TaskId, Timestamp,
    WebhookUrl,
};
use vodsnap_ports::{CheckUrlError, SendError, WebhookSender};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1:0 answering `status`; what it received.
async fn receiver(status: StatusCode) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                (status, [("location", "http://10.0.0.1/elsewhere")])
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}/hook"), seen)
}

fn event() -> Event {
    Event::of_task(
        EventId::from_random(42),
        EventType::Registered,
        ProjectId::parse("p1").unwrap(),
        AssetId::parse("a1").unwrap(),
        TaskId::parse("t1").unwrap(),
        Timestamp::from_micros(1_700_000_000_000_000),
    )
}

fn sender(policy: AddressPolicy) -> HttpWebhookSender {
    HttpWebhookSender::new(SenderSettings {
        policy,
        ..SenderSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn delivers_a_signed_body_that_the_receiver_verifies() {
    let (url, seen) = receiver(StatusCode::NO_CONTENT).await;
    let secret = Secret::new("whsec_abc");
    let now = Timestamp::from_micros(1_700_000_100_000_000);

    sender(AddressPolicy::allow_private())
        .send(&WebhookUrl::parse(&url).unwrap(), &event(), &secret, now)
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    let header = headers[signature::HEADER].to_str().unwrap();
    assert!(header.starts_with("t=1700000100,v1="), "{header}");
    signature::verify("whsec_abc", header, body, now.as_secs(), 300).unwrap();
    assert_eq!(
        signature::verify("whsec_other", header, body, now.as_secs(), 300),
        Err(signature::VerifyError::Mismatch)
    );
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": EventId::from_random(42).as_str(),
            "type": "thumbnails.registered",
            "project_id": "p1",
            "occurred_at": "2023-11-14T22:13:20.000000Z",
            "data": {"asset_id": "a1", "tasks": [{"task_id": "t1", "asset_id": "a1"}]}
        })
    );
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_non_2xx_answer_is_a_failure_and_redirects_are_not_followed() {
    for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::FOUND] {
        let (url, seen) = receiver(status).await;
        let sent = sender(AddressPolicy::allow_private())
            .send(
                &WebhookUrl::parse(&url).unwrap(),
                &event(),
                &Secret::new("s"),
                Timestamp::from_micros(0),
            )
            .await;
        assert!(
            matches!(sent, Err(SendError::Status(s)) if s == status.as_u16()),
            "{sent:?}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn private_addresses_are_refused_by_default_literal_or_by_name() {
    let (url, seen) = receiver(StatusCode::OK).await;
    let port = url.rsplit(':').next().unwrap();
    let by_name = url.replace("127.0.0.1", "localhost");
    let mapped = format!("http://[::ffff:127.0.0.1]:{port}");
    let public_only = sender(AddressPolicy::public_only());
    for target in [url.as_str(), by_name.as_str(), mapped.as_str()] {
        let target = WebhookUrl::parse(target).unwrap();
        let sent = public_only
            .send(
                &target,
                &event(),
                &Secret::new("s"),
                Timestamp::from_micros(0),
            )
            .await;
        assert!(
            matches!(sent, Err(SendError::Refused(_))),
            "{target}: {sent:?}"
        );
        assert!(
            matches!(
                public_only.check(&target).await,
                Err(CheckUrlError::Refused(_))
            ),
            "{target}"
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn an_unresolvable_host_is_refused_at_creation() {
    let url = WebhookUrl::parse("https://no-such-host.invalid/hook").unwrap();
    assert!(matches!(
        sender(AddressPolicy::public_only()).check(&url).await,
        Err(CheckUrlError::Unresolvable)
    ));
}
