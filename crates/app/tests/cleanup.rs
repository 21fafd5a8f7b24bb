//! Issue 4 on real processes: the images of deleted task results go, all of
//! them and only them, through `kill -9`, a storage outage, and two
//! instances at work on one queue; and `vodsnap cleanup` for operators.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use support::db::TestDb;
use support::http::{Api, delete_items};
use support::proxy::{Mode, Proxy};
use support::server::{Secrets, Serve, Server, cleanup_status, vodsnap};
use support::storage::{FileStorage, Moto};
use support::{EVENTUALLY, eventually, keys_of, task_body};

/// Task results of one asset, split into those a test deletes and those it
/// keeps, with one key shared by a deleted and a live task.
#[derive(Debug)]
struct Tasks {
    asset: &'static str,
    /// (task, its keys), to be deleted.
    doomed: Vec<(String, Vec<String>)>,
    /// (task, its keys), to stay.
    live: Vec<(String, Vec<String>)>,
    shared: String,
}

impl Tasks {
    fn new(asset: &'static str, doomed: usize, live: usize, images: usize) -> Self {
        let make = |prefix: &str, n: usize| -> Vec<(String, Vec<String>)> {
            (0..n)
                .map(|i| {
                    let task = format!("{prefix}_{i:02}");
                    let keys = keys_of(asset, &task, images);
                    (task, keys)
                })
                .collect()
        };
        let shared = format!("{}/{asset}/shared.jpg", support::PROJECT);
        let mut doomed = make("doomed", doomed);
        let mut live = make("live", live);
        if let (Some(d), Some(l)) = (doomed.first_mut(), live.first_mut()) {
            d.1.push(shared.clone());
            l.1.push(shared.clone());
        }
        Self {
            asset,
            doomed,
            live,
            shared,
        }
    }

    fn all(&self) -> impl Iterator<Item = &(String, Vec<String>)> {
        self.doomed.iter().chain(&self.live)
    }

    /// Every key, once.
    fn all_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.all().flat_map(|(_, k)| k.iter().cloned()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every key to be removed: the deleted tasks' keys but the shared one.
    fn doomed_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .doomed
            .iter()
            .flat_map(|(_, k)| k.iter().cloned())
            .filter(|k| *k != self.shared)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every key that must stay: the live tasks' keys, the shared one too.
    fn live_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .live
            .iter()
            .flat_map(|(_, k)| k.iter().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    async fn register(&self, api: &Api) {
        for (task, keys) in self.all() {
            let made = api
                .register(&task_body(self.asset, task, keys))
                .await
                .unwrap();
            assert_eq!(made.status, 201, "register {task}: {}", made.text());
        }
    }

    /// Deletes the doomed tasks, ten per call; every one answered DELETED.
    async fn delete(&self, api: &Api) {
        for chunk in self.doomed.chunks(10) {
            let names: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
            let answer = api.delete_tasks(&names).await.unwrap();
            for (task, status) in delete_items(&answer) {
                assert_eq!(status, "DELETED", "{task}");
            }
        }
    }
}

/// Waits until the cleanup queue holds nothing, parked or not.
async fn queue_drained(db: &TestDb) {
    eventually("the cleanup queue is empty", EVENTUALLY, || async {
        let status = cleanup_status(db).await;
        if status["queued"] == 0 && status["parked"] == 0 {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_before_cleanup_then_restart_removes_every_deleted_file_and_no_live_one() {
    // Arrange: files on disk, registered; a server that does no cleanup.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let tasks = Tasks::new("asset_crash", 6, 4, 3);
    tasks.all_keys().iter().for_each(|k| storage.put(k));
    let serve = Serve::new(&db, &secrets, &storage.url());
    let mut server = serve.clone().workers(0).start().await;
    let api = server.api(&secrets);
    tasks.register(&api).await;

    // Act: deletions acknowledged, then kill -9 before any file went.
    tasks.delete(&api).await;
    assert_eq!(
        storage.present(&tasks.doomed_keys()),
        tasks.doomed_keys(),
        "without workers no file may go yet"
    );
    server.kill();
    let _server = serve.start().await;

    // Assert
    eventually(
        "every file of the deleted tasks is gone",
        EVENTUALLY,
        || async {
            let left = storage.present(&tasks.doomed_keys());
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left: {left:?}"))
            }
        },
    )
    .await;
    queue_drained(&db).await;
    let live = tasks.live_keys();
    assert_eq!(
        storage.present(&live),
        live,
        "a live task's file was removed"
    );
    assert!(storage.exists(&tasks.shared));
}

/// moto behind a proxy that can fail, a database, and the task results.
struct S3World {
    // Servers go first when dropped, the database last.
    server: Server,
    serve: Serve,
    api: Api,
    proxy: Proxy,
    moto: Moto,
    tasks: Tasks,
    db: TestDb,
}

impl S3World {
    async fn start(serve_flags: &[(&str, &str)], tasks: Tasks) -> Self {
        let db = TestDb::create().await;
        let (secrets, moto) = tokio::join!(Secrets::generate(), Moto::start());
        let proxy = Proxy::start(moto.addr).await.expect("start the proxy");
        for key in tasks.all_keys() {
            moto.put(&key).await;
        }
        let mut serve = Serve::new(&db, &secrets, &format!("s3://{}", support::storage::BUCKET))
            .env(Moto::env_for(proxy.addr));
        for (flag, value) in serve_flags {
            serve = serve.arg(flag, value);
        }
        let server = serve.start().await;
        let api = server.api(&secrets);
        tasks.register(&api).await;
        Self {
            server,
            serve,
            api,
            proxy,
            moto,
            tasks,
            db,
        }
    }

    /// A new server in place of the current one (killed if it still runs).
    async fn restart(&mut self) {
        self.server.kill();
        self.server = self.serve.start().await;
        self.api = self.server.api(&self.serve.secrets);
    }

    async fn assert_all_doomed_present(&self, when: &str) {
        let doomed = self.tasks.doomed_keys();
        assert_eq!(self.moto.present(&doomed).await, doomed, "{when}");
    }

    async fn assert_doomed_go_and_live_stay(&self) {
        let doomed = self.tasks.doomed_keys();
        eventually(
            "every object of the deleted tasks is gone",
            EVENTUALLY,
            || async {
                let left = self.moto.present(&doomed).await;
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("left: {left:?}"))
                }
            },
        )
        .await;
        queue_drained(&self.db).await;
        let live = self.tasks.live_keys();
        assert_eq!(
            self.moto.present(&live).await,
            live,
            "a live object was removed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_a_worker_holds_items_then_restart_removes_them_after_the_lease() {
    // Arrange: storage that hangs, so a worker claims items and never
    // finishes them. The lease outlives a status poll, not the test.
    let mut world = S3World::start(
        &[("--cleanup-lease", "5s")],
        Tasks::new("asset_stall", 3, 2, 2),
    )
    .await;
    world.proxy.set(Mode::Stalled);
    world.tasks.delete(&world.api).await;
    eventually("a worker holds items", EVENTUALLY, || async {
        let status = cleanup_status(&world.db).await;
        if status["leased"].as_u64() > Some(0) {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;

    // Act: kill -9 with the leases held, then restart with storage back.
    world.server.kill();
    world
        .assert_all_doomed_present("nothing could go while storage hung")
        .await;
    world.proxy.set_up(true);
    world.restart().await;

    // Assert: the dead worker's items are taken again once its lease ran out.
    world.assert_doomed_go_and_live_stay().await;
}

/// Issue 25: an object-store outage longer than every attempt allows
/// parks nothing and spends no attempt. With `--cleanup-max-attempts 3`
/// and the tests' `--cleanup-retry-max 1s`, an item failing on its own is
/// parked within 3 s of failing (in practice 0.3 s: 100 ms, then 200 ms);
/// the outage lasts 6 s, twice the bound, as a 15-minute outage is to the
/// defaults' (10 attempts, `--cleanup-retry-max 5m`: parked after about
/// 17 minutes, so 9 minutes parked a good share in issue 25's trial).
#[tokio::test(flavor = "multi_thread")]
async fn s3_outage_loses_nothing_and_leaves_nothing() {
    let world = S3World::start(
        &[("--cleanup-max-attempts", "3")],
        Tasks::new("asset_outage", 3, 2, 2),
    )
    .await;

    // Act: storage gone while tasks are deleted, for longer than the
    // attempts would last.
    world.proxy.set_up(false);
    world.tasks.delete(&world.api).await;
    eventually("the worker finds the store down", EVENTUALLY, || async {
        let log = world.server.stderr_lines();
        if log.iter().any(|l| l.contains("the image store is down")) {
            Ok(())
        } else {
            Err("no outage logged yet".into())
        }
    })
    .await;
    // The outage itself: what the test plays, not a wait for a signal.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Assert: the work waits, no attempt spent, nothing parked. The shared
    // key needs no storage (a live task keeps it), so its item is done;
    // every other item stays queued.
    let waiting = world.tasks.doomed_keys().len();
    let status = cleanup_status(&world.db).await;
    assert_eq!(status["queued"], waiting, "nothing lost: {status}");
    assert_eq!(status["parked"], 0, "nothing parked: {status}");
    assert_eq!(status["failed_attempts"], 0, "no attempt spent: {status}");
    world
        .assert_all_doomed_present("nothing can go while storage is down")
        .await;

    // Storage back: everything of the deleted tasks goes, nothing else;
    // the outage is logged once as it starts and once as it ends.
    world.proxy.set_up(true);
    let back = std::time::Instant::now();
    world.assert_doomed_go_and_live_stay().await;
    eprintln!("drained {:?} after the store came back", back.elapsed());
    let log = world.server.stderr_lines();
    let count = |what: &str| log.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("the image store is down"), 1, "{log:#?}");
    assert_eq!(count("the image store answers again"), 1, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn items_park_after_max_attempts_and_cleanup_retry_sends_them_again() {
    let world = S3World::start(
        &[("--cleanup-max-attempts", "2")],
        Tasks::new("asset_park", 2, 1, 2),
    )
    .await;
    let doomed = world.tasks.doomed_keys().len();

    // A storage that refuses the keys (403): the keys' own failure, which
    // counts their attempts (an outage would not: see above).
    world.proxy.set(Mode::Forbidding);
    world.tasks.delete(&world.api).await;

    // The removals that need storage fail twice and park; the shared key
    // needs no storage (a live task keeps it) and completes.
    eventually("items are parked", EVENTUALLY, || async {
        let status = cleanup_status(&world.db).await;
        if status["parked"] == doomed && status["queued"] == 0 {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
    let parked: Vec<Value> = vodsnap(
        &["cleanup", "parked", "--database-url", world.db.url()],
        &[],
    )
    .await
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let mut parked_keys: Vec<String> = parked
        .iter()
        .map(|p| p["object_key"].as_str().unwrap().to_owned())
        .collect();
    parked_keys.sort();
    assert_eq!(parked_keys, world.tasks.doomed_keys());
    for item in &parked {
        assert_eq!(item["attempts"], 2, "{item}");
        assert_ne!(item["last_error"], "", "{item}");
    }

    // Storage back: parked items wait for an operator...
    world.proxy.set_up(true);
    world
        .assert_all_doomed_present("parked items stay until retried")
        .await;
    let retried = vodsnap(&["cleanup", "retry", "--database-url", world.db.url()], &[]).await;
    let retried: Value = serde_json::from_str(retried.trim()).unwrap();
    assert_eq!(retried["retried"], doomed);

    // ...and go once retried.
    world.assert_doomed_go_and_live_stay().await;
}

/// The `key` and `worker` of each "object removed" line of a log.
fn removals(log: &[String]) -> Vec<(String, String)> {
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_owned())
    };
    log.iter()
        .filter(|l| l.contains("object removed key="))
        .map(|l| {
            let key = field(l, "key").unwrap_or_else(|| panic!("no key= in {l}"));
            let worker = field(l, "worker").unwrap_or_else(|| panic!("no worker= in {l}"));
            (key, worker)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_remove_every_object_once() {
    // Arrange: two servers with two workers each, on one database and one
    // storage; 40 tasks of 5 images.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let tasks = Tasks::new("asset_pair", 40, 0, 5);
    tasks.all_keys().iter().for_each(|k| storage.put(k));
    let serve = Serve::new(&db, &secrets, &storage.url()).workers(2);
    let (mut one, mut two) = tokio::join!(serve.start(), serve.start());
    let (a, b) = (one.api(&secrets), two.api(&secrets));
    tasks.register(&a).await;

    // Act: deletes through both instances at once.
    let (first, second) = tasks.doomed.split_at(20);
    let delete_via = |api: Api, part: Vec<(String, Vec<String>)>| async move {
        for chunk in part.chunks(10) {
            let names: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
            for (task, status) in delete_items(&api.delete_tasks(&names).await.unwrap()) {
                assert_eq!(status, "DELETED", "{task}");
            }
        }
    };
    tokio::join!(
        delete_via(a.clone(), first.to_vec()),
        delete_via(b.clone(), second.to_vec())
    );

    // Assert: every object gone...
    let doomed = tasks.doomed_keys();
    assert_eq!(doomed.len(), 200);
    eventually("every object is gone", EVENTUALLY, || async {
        let left = storage.present(&doomed);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{} left", left.len()))
        }
    })
    .await;
    queue_drained(&db).await;
    // ...each removed by exactly one worker of one instance. A clean stop
    // writes every log line out.
    tokio::join!(one.terminate(), two.terminate());
    let mut log = one.stderr_lines();
    log.extend(two.stderr_lines());
    let removed = removals(&log);
    let mut by_key = BTreeMap::<&str, Vec<&str>>::new();
    for (key, worker) in &removed {
        by_key.entry(key).or_default().push(worker);
    }
    let twice: Vec<_> = by_key.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "objects removed more than once: {twice:?}"
    );
    let expected: Vec<&str> = doomed.iter().map(String::as_str).collect();
    assert_eq!(by_key.keys().copied().collect::<Vec<_>>(), expected);
    assert!(
        !log.iter().any(|l| l.contains("after the lease ran out")),
        "a worker removed an object another had claimed"
    );
    let mut per_worker = BTreeMap::<&str, usize>::new();
    for (_, worker) in &removed {
        *per_worker.entry(worker).or_default() += 1;
    }
    eprintln!("removals per worker: {per_worker:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_run_once_works_the_queue_and_reports() {
    // Arrange: deletions queued by a server without workers, now stopped.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let tasks = Tasks::new("asset_once", 3, 1, 3);
    tasks.all_keys().iter().for_each(|k| storage.put(k));
    let mut server = Serve::new(&db, &secrets, &storage.url())
        .workers(0)
        .start()
        .await;
    let api = server.api(&secrets);
    tasks.register(&api).await;
    tasks.delete(&api).await;
    server.terminate().await;
    assert_eq!(
        cleanup_status(&db).await["queued"],
        tasks.doomed_keys().len() + 1
    );

    // Act
    let out = vodsnap(
        &[
            "cleanup",
            "run",
            "--once",
            "--database-url",
            db.url(),
            "--storage",
            &storage.url(),
        ],
        &[],
    )
    .await;

    // Assert
    let report: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("cleanup run --once printed no JSON ({e}): {out}"));
    assert_eq!(report["removed"], tasks.doomed_keys().len(), "{report}");
    assert_eq!(report["kept"], 1, "the shared key is kept: {report}");
    assert_eq!(report["parked"], 0, "{report}");
    assert!(storage.present(&tasks.doomed_keys()).is_empty());
    let live = tasks.live_keys();
    assert_eq!(storage.present(&live), live);
    let status = cleanup_status(&db).await;
    assert_eq!(
        (status["queued"].as_u64(), status["parked"].as_u64()),
        (Some(0), Some(0))
    );
}
