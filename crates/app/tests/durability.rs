//! Issue 3 on real processes: `vodsnap serve` on PostgreSQL keeps every
//! acknowledged registration and deletion through `kill -9`, and two
//! instances on one database give the answers one instance would; and
//! `vodsnap migrate --citus` where Citus is missing.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::Connection as _;
use support::db::TestDb;
use support::http::{Api, delete_items};
use support::server::{Secrets, Serve, cleanup_status, vodsnap, vodsnap_output};
use support::storage::FileStorage;
use support::{EVENTUALLY, keys_of, task_body};

/// What the clients were told before the kill.
#[derive(Debug, Default)]
struct Outcomes {
    /// Answered 201 or 200.
    registered: BTreeSet<String>,
    /// Sent, but the connection broke before an answer.
    registration_unanswered: BTreeSet<String>,
    /// Answered DELETED.
    deleted: BTreeSet<String>,
    /// Sent, but the connection broke before an answer.
    deletion_unanswered: BTreeSet<String>,
    /// Answers that no client should ever get from a healthy server.
    unexpected: Vec<String>,
}

const ASSET: &str = "asset_k9";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_loses_no_acknowledged_registration_or_deletion() {
    // Arrange: one server, and clients that register and delete at once.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    // No cleanup workers: this test is about the records only.
    let serve = Serve::new(&db, &secrets, &storage.url()).workers(0);
    let mut server = serve.start().await;
    let api = server.api(&secrets);

    const CLIENTS: usize = 12;
    // Acknowledgements before the kill; clients keep firing meanwhile.
    const ACKS_BEFORE_KILL: usize = 240;
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let acks = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let (enough_tx, mut enough_rx) = tokio::sync::watch::channel(false);
    let enough_tx = Arc::new(enough_tx);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (api, outcomes, acks, next, killed, enough_tx) = (
                api.clone(),
                outcomes.clone(),
                acks.clone(),
                next.clone(),
                killed.clone(),
                enough_tx.clone(),
            );
            tokio::spawn(async move {
                let ack = || {
                    if acks.fetch_add(1, Ordering::SeqCst) + 1 >= ACKS_BEFORE_KILL {
                        enough_tx.send_replace(true);
                    }
                };
                // Stops at its first broken connection: the server is gone.
                while !killed.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let task = format!("k9_{n:05}");
                    let body = task_body(ASSET, &task, &keys_of(ASSET, &task, 2));
                    match api.register(&body).await {
                        Ok(r) if r.status == 201 => {
                            outcomes.lock().unwrap().registered.insert(task.clone());
                            ack();
                        }
                        Ok(r) => {
                            let mut o = outcomes.lock().unwrap();
                            o.unexpected.push(format!(
                                "register {task}: {} {}",
                                r.status,
                                r.text()
                            ));
                            continue;
                        }
                        Err(_) => {
                            let mut o = outcomes.lock().unwrap();
                            o.registration_unanswered.insert(task);
                            return;
                        }
                    }
                    // Every other task is deleted again at once, so that
                    // deletions are in flight when the kill comes too.
                    if !n.is_multiple_of(2) {
                        continue;
                    }
                    match api.delete_tasks(&[&task]).await {
                        Ok(r) if r.status == 200 => {
                            let items = delete_items(&r);
                            let mut o = outcomes.lock().unwrap();
                            if items == [(task.clone(), "DELETED".to_owned())] {
                                o.deleted.insert(task);
                                drop(o);
                                ack();
                            } else {
                                o.unexpected.push(format!("delete {task}: {items:?}"));
                            }
                        }
                        Ok(r) => {
                            let mut o = outcomes.lock().unwrap();
                            o.unexpected
                                .push(format!("delete {task}: {} {}", r.status, r.text()));
                        }
                        Err(_) => {
                            let mut o = outcomes.lock().unwrap();
                            o.deletion_unanswered.insert(task);
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    // Act: kill -9 mid-stream, then start again on the same database.
    // Only whether it came: the watch's `Ref` must not be held on to.
    let enough = tokio::time::timeout(EVENTUALLY, enough_rx.wait_for(|enough| *enough))
        .await
        .is_ok_and(|signal| signal.is_ok());
    assert!(
        enough,
        "the clients got too few answers in time; unexpected ones: {:?}",
        outcomes.lock().unwrap().unexpected
    );
    server.kill();
    killed.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("a client panicked");
    }
    let server = serve.start().await;
    let api = server.api(&secrets);

    // Assert
    let outcomes = Arc::try_unwrap(outcomes)
        .expect("the clients are done")
        .into_inner()
        .unwrap();
    assert!(
        outcomes.unexpected.is_empty(),
        "answers before the kill: {:?}",
        outcomes.unexpected
    );
    assert!(outcomes.registered.len() + outcomes.deleted.len() >= ACKS_BEFORE_KILL);
    eprintln!(
        "before the kill: {} registered, {} deleted, {} registrations and {} deletions unanswered",
        outcomes.registered.len(),
        outcomes.deleted.len(),
        outcomes.registration_unanswered.len(),
        outcomes.deletion_unanswered.len()
    );

    let live: BTreeSet<String> = api.live_tasks_of(ASSET).await.into_iter().collect();
    let must_live: BTreeSet<&String> = outcomes
        .registered
        .iter()
        .filter(|t| !outcomes.deleted.contains(*t) && !outcomes.deletion_unanswered.contains(*t))
        .collect();
    let lost: Vec<&&String> = must_live.iter().filter(|t| !live.contains(**t)).collect();
    assert!(lost.is_empty(), "acknowledged registrations lost: {lost:?}");
    let back: Vec<&String> = outcomes.deleted.intersection(&live).collect();
    assert!(back.is_empty(), "deleted tasks listed again: {back:?}");

    for task in &outcomes.deleted {
        let details = api.details(task).await.unwrap();
        assert_eq!(
            details.status,
            404,
            "details of deleted {task}: {}",
            details.text()
        );
        let listed = api.list(&format!("task_id={task}")).await.unwrap();
        assert_eq!(listed.json()["total"], 0, "list of deleted {task}");
        let again = api
            .register(&task_body(ASSET, task, &keys_of(ASSET, task, 2)))
            .await
            .unwrap();
        assert_eq!(
            again.status,
            409,
            "re-register deleted {task}: {}",
            again.text()
        );
    }
    // An unanswered call is safe to repeat, and its repeat is definitive.
    for task in &outcomes.registration_unanswered {
        let again = api
            .register(&task_body(ASSET, task, &keys_of(ASSET, task, 2)))
            .await
            .unwrap();
        assert!(
            again.status == 201 || again.status == 200,
            "repeat of unanswered registration {task}: {} {}",
            again.status,
            again.text()
        );
    }
    for task in &outcomes.deletion_unanswered {
        let again = api.delete_tasks(&[task]).await.unwrap();
        assert_eq!(delete_items(&again), [(task.clone(), "DELETED".to_owned())]);
    }
}

/// Two processes on one database: ids and images for a test of it.
struct Pair {
    // Fields drop in order: servers before the database.
    a: Api,
    b: Api,
    _servers: [support::server::Server; 2],
    _storage: FileStorage,
    db: TestDb,
}

impl Pair {
    /// Two `vodsnap serve` without cleanup workers (so that the cleanup
    /// queue shows what the deletes recorded).
    async fn start() -> Self {
        let db = TestDb::create().await;
        let secrets = Secrets::generate().await;
        let storage = FileStorage::new();
        let serve = Serve::new(&db, &secrets, &storage.url()).workers(0);
        let (one, two) = tokio::join!(serve.start(), serve.start());
        Self {
            a: one.api(&secrets),
            b: two.api(&secrets),
            _servers: [one, two],
            _storage: storage,
            db,
        }
    }

    fn either(&self, i: usize) -> Api {
        if i.is_multiple_of(2) {
            self.a.clone()
        } else {
            self.b.clone()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_answer_as_one() {
    let pair = Pair::start().await;

    // 1. Concurrent deletes of the same tasks through both: all DELETED,
    //    and the deletion (its cleanup work) recorded once.
    let asset = "asset_two";
    let tasks: Vec<String> = (0..10).map(|i| format!("both_{i}")).collect();
    for (i, task) in tasks.iter().enumerate() {
        let made = pair
            .either(i)
            .register(&task_body(asset, task, &keys_of(asset, task, 3)))
            .await
            .unwrap();
        assert_eq!(made.status, 201, "register {task}: {}", made.text());
    }
    let deletes: Vec<_> = (0..8)
        .map(|i| {
            let (api, tasks) = (pair.either(i), tasks.clone());
            tokio::spawn(async move {
                let names: Vec<&str> = tasks.iter().map(String::as_str).collect();
                api.delete_tasks(&names).await.unwrap()
            })
        })
        .collect();
    for delete in deletes {
        let items = delete_items(&delete.await.unwrap());
        let expected: Vec<(String, String)> = tasks
            .iter()
            .map(|t| (t.clone(), "DELETED".to_owned()))
            .collect();
        assert_eq!(items, expected);
    }
    let status = cleanup_status(&pair.db).await;
    assert_eq!(
        status["queued"], 30,
        "10 tasks of 3 images deleted 8 times at once must queue 30 removals: {status}"
    );

    // 2. Concurrent identical registrations through both: exactly one 201.
    for t in 0..5 {
        let task = format!("same_{t}");
        let body = task_body(asset, &task, &keys_of(asset, &task, 2));
        let posts: Vec<_> = (0..8)
            .map(|i| {
                let (api, body) = (pair.either(i), body.clone());
                tokio::spawn(async move { api.register(&body).await.unwrap().status })
            })
            .collect();
        let mut statuses = BTreeMap::<u16, usize>::new();
        for post in posts {
            *statuses.entry(post.await.unwrap()).or_default() += 1;
        }
        assert_eq!(
            statuses,
            BTreeMap::from([(200, 7), (201, 1)]),
            "8 identical registrations of {task} at once"
        );
    }

    // 3. Asset-only deletes racing through both until remaining is 0:
    //    every task deleted exactly once, none skipped.
    let asset = "asset_drain";
    let drained: Vec<String> = (0..45).map(|i| format!("drain_{i:02}")).collect();
    for (i, task) in drained.iter().enumerate() {
        let made = pair
            .either(i)
            .register(&task_body(asset, task, &keys_of(asset, task, 1)))
            .await
            .unwrap();
        assert_eq!(made.status, 201, "register {task}: {}", made.text());
    }
    let drainers: Vec<_> = (0..2)
        .map(|d| {
            let (a, b) = (pair.a.clone(), pair.b.clone());
            tokio::spawn(async move {
                let mut deleted = Vec::new();
                for call in 0usize.. {
                    // Each drainer alternates between the instances.
                    let api = if (call + d).is_multiple_of(2) { &a } else { &b };
                    let answer = api.delete_asset(asset).await.unwrap();
                    for (task, status) in delete_items(&answer) {
                        assert_eq!(status, "DELETED", "{task}");
                        deleted.push(task);
                    }
                    if answer.json()["remaining"] == 0 {
                        break;
                    }
                    assert!(call < 100, "remaining never reached 0");
                }
                deleted
            })
        })
        .collect();
    let mut deleted = Vec::new();
    for drainer in drainers {
        deleted.extend(drainer.await.unwrap());
    }
    deleted.sort();
    let mut expected = drained.clone();
    expected.sort();
    assert_eq!(
        deleted, expected,
        "each task must be answered DELETED by exactly one asset-only call"
    );
    assert!(pair.a.live_tasks_of(asset).await.is_empty());
    let last = pair.b.delete_asset(asset).await.unwrap();
    assert!(delete_items(&last).is_empty());
    assert_eq!(last.json()["remaining"], 0);
}

// ---------------------------------------------------------------------------
// `vodsnap migrate --citus` on a server without Citus (issue 16)

#[tokio::test]
async fn migrate_citus_without_the_extension_fails_clearly_and_changes_nothing() {
    // Arrange
    let db = TestDb::create().await;
    let citus = ["migrate", "--citus", "--database-url", db.url()];

    // Act
    let dry_run = vodsnap(&[&citus[..], &["--dry-run"]].concat(), &[]).await;
    let refused = vodsnap_output(&citus, &[]).await;

    // Assert: the dry run prints what would run, in foreign-key order.
    let statements: Vec<&str> = dry_run.lines().collect();
    assert_eq!(
        statements,
        [
            "SELECT create_distributed_table('task_results', 'project_id', colocate_with => 'none');",
            "SELECT create_distributed_table('snapshots', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('cleanup_items', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('audit_log', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('cleanup_drained', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('live_task_counts', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('webhooks', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('webhook_events', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('webhook_deliveries', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('asset_purges', 'project_id', colocate_with => 'task_results');",
            "SELECT create_distributed_table('live_asset_counts', 'project_id', colocate_with => 'task_results');",
            "SELECT create_reference_table('credentials');",
        ]
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the citus extension is not installed in this database"),
        "{stderr}"
    );
    // Refused before the migrations: the database is as it was.
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!migrated, "a refused --citus must not migrate");
    // Without --citus, the same database migrates as always.
    let plain = vodsnap(&["migrate", "--database-url", db.url()], &[]).await;
    assert!(plain.contains("the database schema is up to date"));
}
