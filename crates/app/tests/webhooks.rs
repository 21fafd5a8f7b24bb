//! Issue 13, part 3 on real processes: signed webhook deliveries to a real
//! receiver on a real socket, retries until it recovers, parking after the
//! last attempt, `kill -9` between the commit and the delivery, two
//! instances delivering each event once, and the SSRF refusal.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use support::db::TestDb;
use support::http::{Response, request};
use support::server::{Secrets, Serve, Server};
use support::storage::FileStorage;
use support::{EVENTUALLY, PROJECT, eventually, keys_of, task_body};
use vodsnap_adapter_webhooks::signature;

/// A receiver on 127.0.0.1:0: answers 500 to its first `failures` calls
/// (`u32::MAX`: always), then 204; keeps what it received.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
    failures: Arc<AtomicU32>,
}

impl Receiver {
    async fn start(failures: u32) -> Self {
        let received: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>> = Arc::default();
        let failures = Arc::new(AtomicU32::new(failures));
        let (store, left) = (received.clone(), failures.clone());
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (store, left) = (store.clone(), left.clone());
                async move {
                    let failing = left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                            (n > 0).then(|| if n == u32::MAX { n } else { n - 1 })
                        })
                        .is_ok();
                    let status = if failing {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    };
                    store.lock().unwrap().push((headers, body, status.as_u16()));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            received,
            failures,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies it answered 2xx, verified with `secret`.
    fn delivered(&self, secret: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status < 300)
            .map(|(headers, body, _)| {
                let header = headers[signature::HEADER].to_str().unwrap();
                let t: i64 = header
                    .strip_prefix("t=")
                    .and_then(|rest| rest.split(',').next())
                    .and_then(|t| t.parse().ok())
                    .expect("t=");
                signature::verify(secret, header, body, t, 0)
                    .unwrap_or_else(|e| panic!("signature of {header}: {e}"));
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                assert!((now - t).abs() < 600, "t={t} is the sending time");
                serde_json::from_slice(body).unwrap()
            })
            .collect()
    }

    fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

struct World {
    db: TestDb,
    secrets: Secrets,
    storage: FileStorage,
}

impl World {
    async fn new() -> Self {
        Self {
            db: TestDb::create().await,
            secrets: Secrets::generate().await,
            storage: FileStorage::new(),
        }
    }

    /// `serve` with fast webhook retries and private addresses allowed.
    fn serve(&self) -> Serve {
        Serve::new(&self.db, &self.secrets, &self.storage.url())
            .arg("--webhook-retry-base", "100ms")
            .arg("--webhook-retry-max", "300ms")
            .arg("--webhook-idle", "100ms")
            .arg("--webhook-timeout", "5s")
    }
}

async fn call(
    server: &Server,
    secrets: &Secrets,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = vec![("X-Auth-Token", secrets.token.as_str())];
    if !bytes.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    request(
        server.addr,
        method,
        &format!("/v1/{PROJECT}{path}"),
        &headers,
        &bytes,
    )
    .await
    .expect("an answer")
}

/// Subscribes `url` to every event; answers the webhook's id and secret.
async fn subscribe(server: &Server, secrets: &Secrets, url: &str) -> (String, String) {
    subscribe_to(server, secrets, json!({"url": url})).await
}

/// Subscribes as `body` says; answers the webhook's id and secret.
async fn subscribe_to(server: &Server, secrets: &Secrets, body: Value) -> (String, String) {
    let answer = call(server, secrets, "POST", "/webhooks", Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let body = answer.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn register(server: &Server, secrets: &Secrets, task: &str) {
    let answer = server
        .api(secrets)
        .register(&task_body("a1", task, &keys_of("a1", task, 1)))
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_and_retried_until_the_receiver_recovers() {
    let world = World::new().await;
    let receiver = Receiver::start(2).await;
    let server = world.serve().flag("--allow-private-webhooks").start().await;
    // Not `thumbnails.purged`: the cleanup's timing would add a delivery.
    let (id, secret) = subscribe_to(
        &server,
        &world.secrets,
        json!({"url": receiver.url(), "events": ["thumbnails.registered", "thumbnails.deleted"]}),
    )
    .await;

    register(&server, &world.secrets, "t1").await;
    let deleted = server
        .api(&world.secrets)
        .delete_tasks(&["t1", "nope"])
        .await
        .unwrap();
    assert_eq!(deleted.status, 200);

    eventually("both events delivered", EVENTUALLY, || {
        let n = receiver.delivered(&secret).len();
        async move {
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} delivered"))
            }
        }
    })
    .await;
    let delivered = receiver.delivered(&secret);
    let kinds: Vec<&str> = delivered
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"thumbnails.registered") && kinds.contains(&"thumbnails.deleted"),
        "{kinds:?}"
    );
    let deletion = delivered
        .iter()
        .find(|e| e["type"] == "thumbnails.deleted")
        .unwrap();
    assert_eq!(deletion["project_id"], PROJECT);
    assert_eq!(
        deletion["data"],
        json!({"asset_id": null, "tasks": [{"task_id": "t1", "asset_id": "a1"}]})
    );
    assert!(deletion["id"].as_str().unwrap().starts_with("evt_"));
    assert!(
        receiver.calls() >= 4,
        "two failed calls, then two deliveries"
    );

    // The deliveries listing shows the retries.
    let listed = call(
        &server,
        &world.secrets,
        "GET",
        &format!("/webhooks/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    let attempts: u64 = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "delivered", "{d}");
            d["attempts"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(attempts, 4, "{listed}");
    let metrics = request(server.addr, "GET", "/metrics", &[], b"")
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("vodsnap_webhook_deliveries_total{result=\"delivered\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vodsnap_webhook_deliveries_total{result=\"failed\"} 2"),
        "{metrics}"
    );
}

/// The receiver's verified events of `kind`, once there are `n` of them.
async fn delivered_of(receiver: &Receiver, secret: &str, kind: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} {kind} delivered"), EVENTUALLY, || {
        let got = receiver
            .delivered(secret)
            .iter()
            .filter(|e| e["type"] == kind)
            .count();
        async move {
            if got >= n {
                Ok(())
            } else {
                Err(format!("{got} delivered"))
            }
        }
    })
    .await;
    receiver
        .delivered(secret)
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_and_the_removal_of_a_tasks_objects_are_delivered() {
    let world = World::new().await;
    let receiver = Receiver::start(0).await;
    let server = world
        .serve()
        .arg("--retention", "1h")
        .flag("--allow-private-webhooks")
        .start()
        .await;
    let (_, secret) = subscribe(&server, &world.secrets, &receiver.url()).await;
    let api = server.api(&world.secrets);
    register(&server, &world.secrets, "kept").await;
    register(&server, &world.secrets, "gone").await;
    assert_eq!(
        api.delete_tasks(&["kept", "gone"]).await.unwrap().status,
        200
    );

    // A restore that brings a task back: one event, with its task.
    let restored = api.restore("task_id=kept&task_id=never").await.unwrap();
    assert_eq!(restored.status, 200, "{}", restored.text());
    let events = delivered_of(&receiver, &secret, "thumbnails.restored", 1).await;
    assert_eq!(
        events[0]["data"],
        json!({"asset_id": null, "tasks": [{"task_id": "kept", "asset_id": "a1"}]})
    );

    // An early purge sends nothing itself; the cleanup then removes the
    // objects, and that is `thumbnails.purged`.
    let purged = api.purge("task_id=gone").await.unwrap();
    assert_eq!(purged.status, 200, "{}", purged.text());
    let events = delivered_of(&receiver, &secret, "thumbnails.purged", 1).await;
    assert_eq!(
        events[0]["data"],
        json!({"asset_id": null, "tasks": [{"task_id": "gone", "asset_id": "a1"}]})
    );
    assert_eq!(events[0]["project_id"], PROJECT);
    // Again, nothing more: a restore of a live task, no second purge.
    let again = api.restore("task_id=kept").await.unwrap();
    assert_eq!(again.status, 200);
    register(&server, &world.secrets, "marker").await;
    delivered_of(&receiver, &secret, "thumbnails.registered", 3).await;
    let kinds: Vec<String> = receiver
        .delivered(&secret)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "thumbnails.restored").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "thumbnails.purged").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_parked_after_max_attempts_and_redelivered_on_demand() {
    let world = World::new().await;
    let receiver = Receiver::start(u32::MAX).await;
    let server = world
        .serve()
        .flag("--allow-private-webhooks")
        .arg("--webhook-max-attempts", "3")
        .start()
        .await;
    let (id, secret) = subscribe(&server, &world.secrets, &receiver.url()).await;
    register(&server, &world.secrets, "t1").await;

    let failed_path = format!("/webhooks/{id}/deliveries?failed=true");
    eventually("the delivery parked", EVENTUALLY, || {
        let (server, secrets, path) = (&server, &world.secrets, failed_path.clone());
        async move {
            let body = call(server, secrets, "GET", &path, None).await.json();
            match body["deliveries"].get(0) {
                Some(d) if d["status"] == "parked" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let parked = call(&server, &world.secrets, "GET", &failed_path, None)
        .await
        .json();
    let delivery = &parked["deliveries"][0];
    assert_eq!(delivery["attempts"], 3);
    assert!(
        delivery["last_error"].as_str().unwrap().contains("500"),
        "{delivery}"
    );
    assert_eq!(receiver.calls(), 3);

    receiver.failures.store(0, Ordering::SeqCst);
    let again = call(
        &server,
        &world.secrets,
        "POST",
        &format!("/webhooks/{id}/deliveries/{}/redeliver", delivery["id"]),
        None,
    )
    .await;
    assert_eq!(again.status, 202, "{}", again.text());
    eventually("redelivered", EVENTUALLY, || {
        let n = receiver.delivered(&secret).len();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} delivered"))
            }
        }
    })
    .await;
    assert_eq!(receiver.delivered(&secret)[0]["id"], delivery["event_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_kill_9_is_delivered_after_the_restart() {
    let world = World::new().await;
    let receiver = Receiver::start(0).await;
    // No delivery worker: the event is committed and cannot be sent yet.
    let mut first = world
        .serve()
        .flag("--allow-private-webhooks")
        .arg("--webhook-workers", "0")
        .start()
        .await;
    let (_, secret) = subscribe(&first, &world.secrets, &receiver.url()).await;
    register(&first, &world.secrets, "t1").await;
    first.kill();
    assert_eq!(receiver.calls(), 0);

    let _second = world.serve().flag("--allow-private-webhooks").start().await;
    eventually("delivered after the restart", EVENTUALLY, || {
        let n = receiver.delivered(&secret).len();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} delivered"))
            }
        }
    })
    .await;
    assert_eq!(
        receiver.delivered(&secret)[0]["type"],
        "thumbnails.registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let world = World::new().await;
    let receiver = Receiver::start(0).await;
    let serve = world
        .serve()
        .flag("--allow-private-webhooks")
        .arg("--webhook-workers", "2");
    let (a, b) = (serve.start().await, serve.start().await);
    let (_, secret) = subscribe(&a, &world.secrets, &receiver.url()).await;

    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        register(server, &world.secrets, &format!("t{i:02}")).await;
    }

    eventually("20 events delivered", EVENTUALLY, || {
        let n = receiver.delivered(&secret).len();
        async move {
            if n >= 20 {
                Ok(())
            } else {
                Err(format!("{n} delivered"))
            }
        }
    })
    .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in receiver.delivered(&secret) {
        *seen
            .entry(event["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 20);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(receiver.calls(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_without_the_flag() {
    let world = World::new().await;
    let receiver = Receiver::start(0).await;
    let server = world.serve().start().await;
    for url in [
        receiver.url(),
        receiver.url().replace("127.0.0.1", "localhost"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
    ] {
        let answer = call(
            &server,
            &world.secrets,
            "POST",
            "/webhooks",
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(answer.status, 400, "{url}: {}", answer.text());
        assert_eq!(answer.json()["error_code"], "VOD.10053");
    }
    let listed = call(&server, &world.secrets, "GET", "/webhooks", None)
        .await
        .json();
    assert_eq!(listed["webhooks"], json!([]));
}
