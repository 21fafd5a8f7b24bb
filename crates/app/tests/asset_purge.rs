//! Issue 24 on real processes: `vodsnap serve` on PostgreSQL killed with
//! SIGKILL in the middle of an asset purge (`DeleteAssets`); after a
//! restart the purge completes, every task tombstoned once and every image
//! queued once, and the purge's `asset.purged` event reaches a real
//! webhook receiver, signed, once.
//!
//! The asset has 3,500 task results (two images each), loaded with the
//! bulk path (`BulkTaskResults`, the benchmark's loader), not through
//! HTTP: four batches of the purge (1,000 tasks each, the last 500). The
//! issue asks for 100,000; the benchmark (`cargo xtask bench`, workload
//! `asset-purge`) purges that many, and this test needs only "more than
//! one batch committed, one in flight" to show the resume. To kill the
//! server mid-purge at a known point rather than at a lucky moment, the
//! test holds a row lock on a task of the third batch: the server commits
//! two batches, then its third waits on the lock, and the test kills it
//! while it waits (a batch begun, not committed).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use sqlx::Connection as _;
use support::db::TestDb;
use support::http::request;
use support::server::{Secrets, Serve, Server};
use support::storage::FileStorage;
use support::{EVENTUALLY, PROJECT, eventually};
use vodsnap_adapter_postgres::bulk::BulkTaskResults;
use vodsnap_adapter_webhooks::signature;
use vodsnap_domain::{ProjectId, ThumbnailPara, ThumbnailParaInput};

const ASSET: &str = "big";
const TASKS: u64 = 3_500;
const IMAGES: u32 = 2;
/// A task of the third batch (task ids sort as their numbers).
const LOCKED_TASK: &str = "t02500";

/// A webhook receiver on 127.0.0.1:0 that answers 204 and keeps the
/// bodies, each checked against its signature.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start() -> Self {
        let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let store = received.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, received }
    }

    /// The events received, verified with `secret`, deduplicated by id
    /// (delivery is at least once: a kill may repeat one).
    fn events(&self, secret: &str) -> Vec<Value> {
        let mut seen = BTreeSet::new();
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(headers, body)| {
                let header = headers[signature::HEADER].to_str().unwrap();
                let t: i64 = header
                    .strip_prefix("t=")
                    .and_then(|rest| rest.split(',').next())
                    .and_then(|t| t.parse().ok())
                    .expect("t=");
                signature::verify(secret, header, body, t, 0)
                    .unwrap_or_else(|e| panic!("signature of {header}: {e}"));
                let event: Value = serde_json::from_slice(body).unwrap();
                seen.insert(event["id"].as_str().unwrap().to_owned())
                    .then_some(event)
            })
            .collect()
    }
}

async fn call(server: &Server, secrets: &Secrets, method: &str, path: &str, body: &[u8]) -> Value {
    let mut headers = vec![("X-Auth-Token", secrets.token.as_str())];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    let answer = request(server.addr, method, path, &headers, body)
        .await
        .expect("an answer");
    assert!(
        answer.status < 300,
        "{method} {path}: {} {}",
        answer.status,
        answer.text()
    );
    answer.json()
}

async fn progress(server: &Server, secrets: &Secrets) -> Value {
    call(
        server,
        secrets,
        "GET",
        &format!("/v1/{PROJECT}/asset/purges?asset_id={ASSET}"),
        b"",
    )
    .await
}

async fn scalar(db: &TestDb, sql: &'static str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_an_asset_purge_and_a_restart_completes_it_once() {
    // Arrange: a server (no cleanup workers: the queued images stay to be
    // counted), a receiver of the purge's events, the asset bulk-loaded.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let receiver = Receiver::start().await;
    let serve = Serve::new(&db, &secrets, &storage.url())
        .workers(0)
        .flag("--allow-private-webhooks")
        .arg("--purge-lease", "2s")
        .arg("--webhook-idle", "100ms");
    let mut server = serve.start().await;
    let subscribed = call(
        &server,
        &secrets,
        "POST",
        &format!("/v1/{PROJECT}/webhooks"),
        json!({"url": format!("http://{}/hook", receiver.addr),
               "events": ["asset.purged", "thumbnails.deleted"]})
        .to_string()
        .as_bytes(),
    )
    .await;
    let secret = subscribed["secret"].as_str().unwrap().to_owned();
    let bulk = BulkTaskResults {
        project: ProjectId::parse(PROJECT).unwrap(),
        task_id_sql: "'t' || lpad(n::text, 5, '0')".to_owned(),
        asset_id_sql: format!("'{ASSET}'"),
        para: ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some("time".to_owned()),
            time: Some(10),
            ..ThumbnailParaInput::default()
        })
        .unwrap(),
        images: IMAGES,
        numbers: 0..TASKS,
    };
    let mut loader = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(bulk.sql()))
        .execute(&mut loader)
        .await
        .expect("bulk load");
    // The lock that stops the purge's third batch.
    let mut holder = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM task_results WHERE project_id = $1 AND task_id = $2 FOR UPDATE")
        .bind(PROJECT)
        .bind(LOCKED_TASK)
        .fetch_one(&mut *lock)
        .await
        .unwrap();

    // Act: DeleteAssets; kill -9 while the third batch waits on the lock.
    let answer = call(
        &server,
        &secrets,
        "DELETE",
        &format!("/v1.0/{PROJECT}/asset?asset_id={ASSET}"),
        b"",
    )
    .await;
    assert_eq!(
        answer,
        json!({"delete_result_array": [{"asset_id": ASSET, "status": "DELETED"}]})
    );
    eventually(
        "two batches committed, the third waiting on the lock",
        EVENTUALLY,
        || async {
            let deleted = scalar(
                &db,
                "SELECT tasks_deleted FROM asset_purges WHERE asset_id = 'big'",
            )
            .await;
            let waiting = scalar(
                &db,
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .await;
            if deleted == 2_000 && waiting >= 1 {
                Ok(())
            } else {
                Err(format!("{deleted} deleted, {waiting} waiting on a lock"))
            }
        },
    )
    .await;
    server.kill();
    lock.rollback().await.unwrap();
    let before_restart = scalar(
        &db,
        "SELECT count(*) FROM task_results WHERE asset_id = 'big' AND deleted_at IS NOT NULL",
    )
    .await;
    let server = serve.start().await;
    eventually("the purge completed after the restart", EVENTUALLY, || {
        let (server, secrets) = (&server, &secrets);
        async move {
            let p = progress(server, secrets).await;
            if p["state"] == "PURGED" {
                Ok(())
            } else {
                Err(format!("{p}"))
            }
        }
    })
    .await;

    // Assert: the kill came between batches 2 and 3; then each task was
    // tombstoned once, each image queued once, the progress says so.
    assert_eq!(before_restart, 2_000, "the batch in flight left nothing");
    let p = progress(&server, &secrets).await;
    assert_eq!(
        (&p["tasks_total"], &p["tasks_deleted"], &p["objects_queued"]),
        (
            &json!(TASKS),
            &json!(TASKS),
            &json!(TASKS * u64::from(IMAGES))
        )
    );
    let live = scalar(
        &db,
        "SELECT count(*) FROM task_results WHERE asset_id = 'big' AND deleted_at IS NULL",
    )
    .await;
    assert_eq!(live, 0);
    let items = scalar(&db, "SELECT count(*) FROM cleanup_items").await;
    let keys = scalar(&db, "SELECT count(DISTINCT object_key) FROM cleanup_items").await;
    assert_eq!(
        (items, keys),
        (2 * TASKS as i64, 2 * TASKS as i64),
        "each image queued once"
    );
    let touched = scalar(
        &db,
        "SELECT count(*) FROM (SELECT unnest(touched) FROM audit_log \
         WHERE action = 'delete' AND principal = 'system:asset-purge') t",
    )
    .await;
    assert_eq!(touched, TASKS as i64, "each task tombstoned (audited) once");
    let callers = scalar(
        &db,
        "SELECT count(*) FROM audit_log WHERE action = 'asset.delete' AND asset_id = 'big' \
         AND principal LIKE 'token:%'",
    )
    .await;
    assert_eq!(callers, 1, "the DeleteAssets call audited with its caller");
    // The events: every task in one thumbnails.deleted of a batch, once;
    // then one asset.purged.
    eventually("the purge's events delivered", EVENTUALLY, || {
        let events = receiver.events(&secret);
        let purged = events
            .iter()
            .filter(|e| e["type"] == "asset.purged")
            .count();
        let batches = events
            .iter()
            .filter(|e| e["type"] == "thumbnails.deleted")
            .count();
        async move {
            if purged >= 1 && batches >= 4 {
                Ok(())
            } else {
                Err(format!("{purged} asset.purged, {batches} batches"))
            }
        }
    })
    .await;
    let events = receiver.events(&secret);
    let purged: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "asset.purged")
        .collect();
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!(purged[0]["project_id"], PROJECT);
    assert_eq!(
        purged[0]["data"],
        json!({"asset_id": ASSET, "tasks_total": TASKS})
    );
    let mut tombstoned: BTreeMap<String, usize> = BTreeMap::new();
    for event in events.iter().filter(|e| e["type"] == "thumbnails.deleted") {
        for task in event["data"]["tasks"].as_array().unwrap() {
            *tombstoned
                .entry(task["task_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(tombstoned.len(), TASKS as usize);
    assert!(tombstoned.values().all(|n| *n == 1));
}
