//! Issue 15: a real PostgreSQL outage under running processes, on a
//! PostgreSQL of the test's own (a container started through
//! testcontainers), which the shared server of the other tests cannot give.
//!
//! - `vodsnap serve` while its database hangs (`docker pause`: connections
//!   stay open, nothing answers), then crashes (`docker stop` with SIGKILL:
//!   every connection is lost): `/readyz` 503, reads 503 `VOD.10052`,
//!   deletes by task id 200 with every item `UNKNOW` (during the hang, a
//!   503 `VOD.10052` by the request timeout is the other allowed answer);
//!   back up, the same process serves again and its cleanup removes what
//!   was queued before the outage and what was retried after it.
//! - `vodsnap cleanup run` while its database crashes and comes back: the
//!   same process goes on and removes what is queued after.
//!
//! The host port is fixed, so that a restarted container keeps its URL.
//!
//! The image is `VODSNAP_XTASK_PG_IMAGE` (name:tag) or the official
//! `postgres:16-alpine`. Without a Docker engine (or without that image)
//! the tests say on stderr that they were skipped and pass, unless
//! `VODSNAP_TEST_REQUIRE_DOCKER` is set, which `cargo xtask test` does when
//! it took the testcontainers path itself: there a skip is a failure.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::Value;
use support::http::{self, Api, delete_items};
use support::server::{Process, Secrets, Serve, Server, cleanup_status_at};
use support::storage::FileStorage;
use support::{EVENTUALLY, eventually, keys_of, task_body};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::core::ContainerPort;
use testcontainers_modules::testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt as _};
use vodsnap_test_support::free_port;

const IMAGE_ENV: &str = "VODSNAP_XTASK_PG_IMAGE";
const REQUIRE_ENV: &str = "VODSNAP_TEST_REQUIRE_DOCKER";
const ASSET: &str = "asset_outage";

/// A PostgreSQL server in a container that this test owns.
struct OwnDb {
    container: ContainerAsync<Postgres>,
    url: String,
}

/// `(name, tag)` of the image to use (see the module docs).
fn image() -> (String, String) {
    let value = std::env::var(IMAGE_ENV).unwrap_or_default();
    let value = value.trim();
    if value.is_empty() {
        return ("postgres".to_owned(), "16-alpine".to_owned());
    }
    let last = value.rsplit('/').next().unwrap_or(value);
    let (_, tag) = last
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{IMAGE_ENV}={value:?}: expected name:tag"));
    let name = &value[..value.len() - tag.len() - 1];
    (name.to_owned(), tag.to_owned())
}

/// Starts the database, on `host_port` when given. `None` (after saying so
/// on stderr) when no engine or image is there and none is required.
async fn own_database(test: &str, host_port: Option<u16>) -> Option<OwnDb> {
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    let (name, tag) = image();
    let request = Postgres::default().with_name(&name).with_tag(&tag);
    let started = match host_port {
        Some(port) => {
            request
                .with_mapped_port(port, ContainerPort::Tcp(5432))
                .start()
                .await
        }
        None => request.start().await,
    };
    let container = match started {
        Ok(container) => container,
        Err(err) if required => {
            panic!(
                "{test}: no PostgreSQL container from {name}:{tag}, yet {REQUIRE_ENV} is set: {err}"
            )
        }
        Err(err) => {
            eprintln!(
                "SKIPPED {test}: it needs a Docker engine and the image {name}:{tag} \
                 (set {IMAGE_ENV}=name:tag for another one): {err}"
            );
            return None;
        }
    };
    let host = container.get_host().await.expect("the container's host");
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .expect("the container's port");
    let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
    eprintln!("{test}: PostgreSQL from {name}:{tag} at {url}");
    Some(OwnDb { container, url })
}

/// Task results of the test: one deleted before the outage, one during it,
/// one that stays; each with its files in `storage`.
struct Tasks {
    before: (String, Vec<String>),
    during: (String, Vec<String>),
    live: (String, Vec<String>),
}

impl Tasks {
    fn new(storage: &FileStorage) -> Self {
        let make = |task: &str| {
            let keys = keys_of(ASSET, task, 3);
            keys.iter().for_each(|k| storage.put(k));
            (task.to_owned(), keys)
        };
        Self {
            before: make("before_outage"),
            during: make("during_outage"),
            live: make("live"),
        }
    }

    async fn register(&self, api: &Api) {
        for (task, keys) in [&self.before, &self.during, &self.live] {
            let made = api.register(&task_body(ASSET, task, keys)).await.unwrap();
            assert_eq!(made.status, 201, "register {task}: {}", made.text());
        }
    }

    /// After the outage: the deleted tasks' files go, the live task's stay,
    /// the queue empties, and the live task is the asset's only one.
    async fn cleaned_up(&self, api: &Api, storage: &FileStorage, url: &str) {
        let doomed: Vec<String> = self
            .before
            .1
            .iter()
            .chain(&self.during.1)
            .cloned()
            .collect();
        eventually(
            "the deleted tasks' files are removed",
            EVENTUALLY,
            || async {
                match storage.present(&doomed) {
                    left if left.is_empty() => Ok(()),
                    left => Err(format!("still there: {left:?}")),
                }
            },
        )
        .await;
        eventually("the cleanup queue is empty", EVENTUALLY, || async {
            let status = cleanup_status_at(url).await;
            if status["queued"] == 0 && status["parked"] == 0 {
                Ok(())
            } else {
                Err(status.to_string())
            }
        })
        .await;
        assert_eq!(
            storage.present(&self.live.1),
            self.live.1,
            "a live file went"
        );
        assert_eq!(api.live_tasks_of(ASSET).await, vec![self.live.0.clone()]);
    }
}

async fn readyz(server: &Server) -> (u16, Value) {
    match http::request(server.addr, "GET", "/readyz", &[], &[]).await {
        Ok(r) => (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        ),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

async fn becomes_ready(server: &Server, want: u16) {
    eventually(&format!("/readyz answers {want}"), EVENTUALLY, || async {
        match readyz(server).await {
            (status, _) if status == want => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
}

async fn delete_one(api: &Api, task: &str) -> String {
    let answer = api.delete_tasks(&[task]).await.unwrap();
    let items = delete_items(&answer);
    assert_eq!(items.len(), 1, "{}", answer.text());
    items[0].1.clone()
}

/// While the database is out: not ready, and a read answers 503 VOD.10052.
async fn out_of_service(server: &Server, api: &Api, task: &str) {
    becomes_ready(server, 503).await;
    let (_, body) = readyz(server).await;
    assert_eq!(body["error_code"], "VOD.10052", "{body}");
    let read = api.details(task).await.unwrap();
    assert_eq!(read.status, 503, "{}", read.text());
    assert_eq!(read.json()["error_code"], "VOD.10052", "{}", read.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_rides_out_a_hung_then_a_crashed_database_without_a_restart() {
    // A fixed host port: a restarted container keeps its URL.
    let Some(db) = own_database("serve under an outage", Some(free_port())).await else {
        return;
    };
    // Arrange: a server with one cleanup worker and a short lease (an item
    // leased by a pass cut short by the outage waits for it to expire);
    // its request timeout is above the pool's acquire timeout (5 s), so
    // that a refused connection shows as the database's error.
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let tasks = Tasks::new(&storage);
    let serve = Serve::on(&db.url, &secrets, &storage.url())
        .arg("--request-timeout", "8s")
        .arg("--cleanup-lease", "2s");
    let mut server = serve.start().await;
    let pid = server.pid();
    let api = server.api(&secrets);
    tasks.register(&api).await;
    // Queued before the outage (its files may go before or after it).
    assert_eq!(delete_one(&api, &tasks.before.0).await, "DELETED");

    // Act 1: the database hangs (paused: connections stay open, nothing
    // answers).
    db.container.pause().await.expect("docker pause");

    // Assert: out of service; a delete either fails as the database's
    // error (200, UNKNOW) or, a hang being what it is, runs into the
    // request timeout (503 VOD.10052): both mean "retry", as API.md says.
    out_of_service(&server, &api, &tasks.live.0).await;
    let answer = api.delete_tasks(&[&tasks.during.0]).await.unwrap();
    if answer.status == 503 {
        assert_eq!(
            answer.json()["error_code"],
            "VOD.10052",
            "{}",
            answer.text()
        );
    } else {
        assert_eq!(delete_items(&answer)[0].1, "UNKNOW", "{}", answer.text());
    }
    db.container.unpause().await.expect("docker unpause");
    becomes_ready(&server, 200).await;

    // Act 2: the database crashes (SIGKILL: every connection is lost).
    db.container
        .stop_with_timeout(Some(0))
        .await
        .expect("docker stop");

    // Assert: out of service; a delete by task id is 200, item UNKNOW.
    out_of_service(&server, &api, &tasks.live.0).await;
    assert_eq!(delete_one(&api, &tasks.during.0).await, "UNKNOW");
    assert!(server.running(), "the server died during the outage");

    // Act 3: the database is back.
    db.container.start().await.expect("docker start");

    // Assert: the same process serves again; the delete with an unknown
    // outcome is retried (DELETED whether or not it had committed); the
    // cleanup removes what was queued; the live task is intact.
    becomes_ready(&server, 200).await;
    assert_eq!(delete_one(&api, &tasks.during.0).await, "DELETED");
    let read = api.details(&tasks.live.0).await.unwrap();
    assert_eq!(read.status, 200, "{}", read.text());
    tasks.cleaned_up(&api, &storage, &db.url).await;
    assert!(server.running(), "the server died after the outage");
    assert_eq!(server.pid(), pid);
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_run_goes_on_through_a_database_restart_and_removes_the_queued_files() {
    // A fixed host port: a restarted container keeps its URL.
    let Some(db) = own_database("cleanup run under a restarted database", Some(free_port())).await
    else {
        return;
    };
    // Arrange: a server without workers; `vodsnap cleanup run` does the work.
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let tasks = Tasks::new(&storage);
    let serve = Serve::on(&db.url, &secrets, &storage.url())
        .workers(0)
        .arg("--request-timeout", "2s");
    let server = serve.start().await;
    let api = server.api(&secrets);
    tasks.register(&api).await;
    let storage_url = storage.url();
    let mut cleanup = Process::start(
        &[
            "cleanup",
            "run",
            "--database-url",
            &db.url,
            "--storage",
            &storage_url,
            "--cleanup-workers",
            "1",
            "--cleanup-lease",
            "2s",
            "--cleanup-idle",
            "100ms",
            "--cleanup-retry-base",
            "100ms",
            "--cleanup-retry-max",
            "1s",
        ],
        &[],
    );
    let pid = cleanup.pid();
    // Queued before the outage and removed: `cleanup run` is at work.
    assert_eq!(delete_one(&api, &tasks.before.0).await, "DELETED");
    eventually(
        "cleanup run removes the first files",
        EVENTUALLY,
        || async {
            match storage.present(&tasks.before.1) {
                left if left.is_empty() => Ok(()),
                left => Err(format!("still there: {left:?}")),
            }
        },
    )
    .await;

    // Act: the database goes down at once (SIGKILL: a crash).
    db.container
        .stop_with_timeout(Some(0))
        .await
        .expect("docker stop");
    becomes_ready(&server, 503).await;
    assert!(cleanup.running(), "cleanup run died: {}", cleanup.log());
    db.container.start().await.expect("docker start");

    // Assert: the same `cleanup run` removes what is queued after.
    becomes_ready(&server, 200).await;
    assert_eq!(delete_one(&api, &tasks.during.0).await, "DELETED");
    tasks.cleaned_up(&api, &storage, &db.url).await;
    assert!(cleanup.running(), "cleanup run died: {}", cleanup.log());
    assert_eq!(cleanup.pid(), pid);
}
