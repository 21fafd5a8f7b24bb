//! Issue 25, part 1, at the service level: an object-store outage is not
//! an item failure. The cleanup worker of `vodsnap-service`, on each store
//! (memory and PostgreSQL), against a real S3 (moto) behind a TCP proxy
//! that the test takes down and brings back.
//!
//! The outage outlasts what today's attempts allow many times over: with
//! the test's policy (3 attempts, retry delays of at most 50 ms) an item
//! failing on its own would be parked within about 150 ms of failing
//! (`--cleanup-max-attempts` × `--cleanup-retry-max`); the outage lasts
//! [`OUTAGE`], 20 times that, as a 15-minute outage is to the defaults'
//! ~17 minutes of attempts. Nothing may be parked and no attempt spent.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::proxy::Proxy;
use support::storage::{BUCKET, Moto};
use support::{EVENTUALLY, eventually};
use tokio::sync::watch;
use vodsnap_adapter_memory::MemoryStore;
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_adapter_postgres::{PgAuditLog, PgCleanupQueue, PgTaskResultStore};
use vodsnap_domain::{
    AssetId, DeleteSelection, NewTaskResult, ObjectKey, ProjectId, RetryPolicy, Snapshot, TaskId,
    ThumbnailPara, ThumbnailParaInput,
};
use vodsnap_ports::{AuditLog, CleanupQueue, Clock as _, ImageStore, SystemClock, TaskResultStore};
use vodsnap_service::{Snapshots, Worker, WorkerSettings};

/// How long the store stays away: longer than the attempts of the test's
/// policy allow (3 × 50 ms) twenty times over, and long enough for the
/// worker's pauses to grow (1 s, then 2 s).
const OUTAGE: Duration = Duration::from_secs(3);

const PROJECT: &str = "p";

/// The ports of one store.
struct Stores {
    results: Arc<dyn TaskResultStore>,
    audit: Arc<dyn AuditLog>,
    cleanup: Arc<dyn CleanupQueue>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

fn memory() -> Stores {
    let store = Arc::new(MemoryStore::new());
    Stores {
        results: store.clone(),
        audit: Arc::new(store.audit_log()),
        cleanup: Arc::new(store.cleanup_queue()),
        _keep: Box::new(store),
    }
}

async fn postgres() -> Stores {
    let db = support::db::TestDb::create().await;
    let pool = vodsnap_adapter_postgres::connect(db.url(), 8)
        .await
        .expect("connect to the test database");
    vodsnap_adapter_postgres::migrate(&pool)
        .await
        .expect("migrate the test database");
    Stores {
        results: Arc::new(PgTaskResultStore::new(pool.clone())),
        audit: Arc::new(PgAuditLog::new(pool.clone())),
        cleanup: Arc::new(PgCleanupQueue::new(pool.clone())),
        _keep: Box::new((pool, db)),
    }
}

fn key(task: &str, i: usize) -> String {
    format!("{PROJECT}/a/{task}/{i}.jpg")
}

fn new_result(task: &str, keys: &[String]) -> NewTaskResult {
    let para = ThumbnailPara::parse(ThumbnailParaInput {
        kind: Some("time".into()),
        ..Default::default()
    })
    .expect("para");
    let snapshots = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Snapshot::new(i as i64, ObjectKey::parse(k).expect("key")).expect("snap"))
        .collect();
    NewTaskResult::new(
        ProjectId::parse(PROJECT).expect("project"),
        AssetId::parse("a").expect("asset"),
        TaskId::parse(task).expect("task"),
        para,
        snapshots,
    )
    .expect("result")
}

/// Drains the cleanup across an outage on `stores`; answers how long the
/// drain took once the store was back (a figure to read, not asserted).
async fn an_outage_parks_nothing_and_the_drain_resumes(stores: Stores) -> Duration {
    // Arrange: moto behind a proxy; 6 deleted tasks of 4 images each, a
    // live task, and a deleted task sharing one image with the live one.
    let moto = Moto::start().await;
    let proxy = Proxy::start(moto.addr).await.expect("start the proxy");
    let doomed: Vec<String> = (0..6)
        .flat_map(|t| (0..4).map(move |i| key(&format!("doomed{t}"), i)))
        .collect();
    let live = vec![key("live", 0), key("live", 1)];
    let sharing = vec![key("live", 0), key("sharer", 1)];
    for k in doomed.iter().chain(&live).chain(&sharing[1..]) {
        moto.put(k).await;
    }
    let service = Snapshots::new(
        stores.results.clone(),
        stores.audit.clone(),
        Arc::new(SystemClock),
    );
    let actor = vodsnap_ports::Actor::system("test");
    for t in 0..6 {
        let task = format!("doomed{t}");
        let keys: Vec<String> = (0..4).map(|i| key(&task, i)).collect();
        service
            .register(new_result(&task, &keys), &actor)
            .await
            .expect("register");
    }
    service
        .register(new_result("live", &live), &actor)
        .await
        .expect("register");
    service
        .register(new_result("sharer", &sharing), &actor)
        .await
        .expect("register");
    let env = Moto::env_for(proxy.addr);
    let images: Arc<dyn ImageStore> = Arc::new(
        ObjectImageStore::open_with_env(
            &format!("s3://{BUCKET}")
                .parse::<StorageUrl>()
                .expect("storage url"),
            env,
        )
        .expect("the S3 store"),
    );
    let worker = Worker::new(
        "outage-test".into(),
        stores.cleanup.clone(),
        images,
        Arc::new(SystemClock),
        WorkerSettings {
            policy: RetryPolicy::new(Duration::from_millis(10), Duration::from_millis(50), 3)
                .expect("policy"),
            batch: 5,
            lease: Duration::from_secs(60),
            idle: Duration::from_millis(50),
        },
    );

    // Act: the store goes away, the tasks are deleted, the worker runs
    // through the outage; then the store comes back.
    proxy.set_up(false);
    let mut doomed_tasks: Vec<TaskId> = (0..6)
        .map(|t| TaskId::parse(&format!("doomed{t}")).expect("task"))
        .collect();
    doomed_tasks.push(TaskId::parse("sharer").expect("task"));
    for chunk in doomed_tasks.chunks(5) {
        let selection = DeleteSelection::new(None, chunk.to_vec()).expect("selection");
        service
            .delete(&ProjectId::parse(PROJECT).expect("p"), &selection, &actor)
            .await
            .expect("delete");
    }
    let (stop_tx, stop) = watch::channel(false);
    let running = tokio::spawn(worker.clone().run(stop));
    eventually("the worker finds the store down", EVENTUALLY, || async {
        if worker.store_is_down() {
            Ok(())
        } else {
            Err("still up".into())
        }
    })
    .await;
    // The outage itself: what the test plays, not a wait for a signal.
    tokio::time::sleep(OUTAGE).await;
    let during = stores
        .cleanup
        .status(SystemClock.now())
        .await
        .expect("status");
    let present_during = moto.present(&doomed).await;
    proxy.set_up(true);
    let back = Instant::now();
    eventually("every deleted object is gone", EVENTUALLY, || async {
        let left = moto.present(&doomed).await;
        let status = stores
            .cleanup
            .status(SystemClock.now())
            .await
            .expect("status");
        if left.is_empty() && status.queued == 0 {
            Ok(())
        } else {
            Err(format!("left: {left:?}, {status:?}"))
        }
    })
    .await;
    let drained_in = back.elapsed();
    let _ = stop_tx.send(true);
    running.await.expect("the worker ends");

    // Assert: nothing parked, no attempt spent during the outage; nothing
    // removed then; afterwards every deleted object is gone and every live
    // one (the shared image included) stays.
    assert_eq!(during.parked, 0, "nothing parked: {during:?}");
    assert_eq!(during.failed_attempts, 0, "no attempt spent: {during:?}");
    assert_eq!(present_during, doomed, "nothing removed while down");
    let after = stores
        .cleanup
        .status(SystemClock.now())
        .await
        .expect("status");
    assert_eq!((after.parked, after.queued), (0, 0), "{after:?}");
    assert!(
        !moto.exists(&sharing[1]).await,
        "the sharer's own image went"
    );
    assert_eq!(moto.present(&live).await, live, "live images stay");
    assert!(
        !worker.store_is_down(),
        "the worker saw the store come back"
    );
    drained_in
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_an_outage_parks_nothing_and_the_drain_resumes() {
    let drained_in = an_outage_parks_nothing_and_the_drain_resumes(memory()).await;
    eprintln!("memory: drained {drained_in:?} after the store came back");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_an_outage_parks_nothing_and_the_drain_resumes() {
    let drained_in = an_outage_parks_nothing_and_the_drain_resumes(postgres().await).await;
    eprintln!("postgres: drained {drained_in:?} after the store came back");
}
