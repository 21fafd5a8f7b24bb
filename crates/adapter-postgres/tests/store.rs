//! The PostgreSQL adapter against a real server: the shared store suite,
//! then what only a database has (many connections, several processes,
//! migrations, secrets at rest).
//!
//! Each test gets its own database, `vodsnap_t_<random>`, created on the
//! server named by `DATABASE_URL` and dropped when the test ends. Without
//! `DATABASE_URL` every test fails with a message saying so: these tests
//! never skip silently.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};
use vodsnap_adapter_postgres::bulk::{BulkTaskResults, stored_thumbnail_para};
use vodsnap_adapter_postgres::{
    ACQUIRE_TIMEOUT, CredentialCipher, PgCredentialStore, PgDatabase, PgTaskResultStore, connect,
    connect_with, migrate,
};
use vodsnap_domain::{
    DeleteReport, DeleteSelection, DeleteStatus, DetailsPage, ListFilter, ListPage, NewTaskResult,
    ObjectKey, ProjectId, Secret, Snapshot, TaskId, TaskResult, ThumbnailPara, ThumbnailParaInput,
    Timestamp,
};
use vodsnap_ports::{
    AuditError, AuditLog, AuditQuery, AuditRecord, CommittedDelete, Credential, CredentialError,
    CredentialStore, DeleteError, DeletePlanner, DetailsError, Inserted, ListError, Listing,
    PingError, PreviewPlanner, PreviewedDelete, RegisterError, Registered, SnapshotPage,
    TaskResultStore,
};
use vodsnap_service::Snapshots;
use vodsnap_store_suite::fixtures::{actor, asset, at, project, result, task};
use vodsnap_store_suite::use_cases::{FixedClock, SuiteStore};

// ---------------------------------------------------------------------------
// A database per test

fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: these tests need a PostgreSQL server on which they may \
         create databases, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
    );
    PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a valid PostgreSQL URL")
}

/// A database of its own, dropped (connections and all) when this is.
struct TestDb {
    name: String,
    admin: PgConnectOptions,
    pool: PgPool,
}

impl TestDb {
    /// A fresh, migrated database with a pool of 8 connections.
    async fn migrated() -> Self {
        let db = Self::empty().await;
        migrate(&db.pool).await.expect("migrate the test database");
        db
    }

    /// A fresh database without the schema.
    async fn empty() -> Self {
        let admin = admin_options();
        let name = format!("vodsnap_t_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connect to the server named by DATABASE_URL");
        // The name is ours (a fixed prefix and hex digits), so it is safe
        // to splice into the statement; CREATE DATABASE takes no binds.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.expect("close the admin connection");
        let pool = connect_with(admin.clone().database(&name), 8)
            .await
            .expect("connect to the test database");
        Self { name, admin, pool }
    }

    /// Another pool on the same database, as a second process would have.
    async fn another_pool(&self, max_connections: u32) -> PgPool {
        connect_with(self.admin.clone().database(&self.name), max_connections)
            .await
            .expect("connect a second pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await, and may run on the test's runtime: a thread
        // with its own runtime does the async work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

fn cipher_of(keys: &[(&str, u8)]) -> CredentialCipher {
    let specs: Vec<String> = keys
        .iter()
        .map(|(id, byte)| {
            format!(
                "{id}:{}",
                base64::engine::general_purpose::STANDARD.encode([*byte; 32])
            )
        })
        .collect();
    CredentialCipher::from_specs(&specs).expect("valid test keys")
}

/// The snapshot use cases on a store, with the clock at `at`.
trait UseCases {
    fn service(&self, at: Timestamp) -> Snapshots;
}

impl UseCases for PgTaskResultStore {
    fn service(&self, at: Timestamp) -> Snapshots {
        Snapshots::new(
            Arc::new(self.clone()),
            Arc::new(self.clone()),
            Arc::new(FixedClock(at)),
        )
    }
}

/// A store that owns its database, so that the database is dropped when
/// the suite's case lets go of the store.
struct Scoped<S> {
    // Declared first so that it is dropped before the database.
    store: S,
    _db: TestDb,
}

#[async_trait]
impl TaskResultStore for Scoped<PgTaskResultStore> {
    async fn insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> Result<Inserted, RegisterError> {
        self.store.insert(new, now, audit).await
    }
    async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError> {
        self.store.list(project, filter, page).await
    }
    async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError> {
        self.store.details(project, task, page).await
    }
    async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError> {
        self.store.get(project, task).await
    }
    async fn delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'a>,
    ) -> Result<CommittedDelete, DeleteError> {
        self.store.delete(project, selection, planner).await
    }
    async fn preview_delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'a>,
    ) -> Result<PreviewedDelete, DeleteError> {
        self.store.preview_delete(project, selection, planner).await
    }
    async fn ping(&self) -> Result<(), PingError> {
        self.store.ping().await
    }
}

#[async_trait]
impl AuditLog for Scoped<PgTaskResultStore> {
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        self.store.records(query).await
    }
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.store.append(record).await
    }
}

#[async_trait]
impl CredentialStore for Scoped<PgCredentialStore> {
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        self.store.find(access_key).await
    }
    async fn upsert(&self, credential: Credential) -> Result<(), CredentialError> {
        self.store.upsert(credential).await
    }
}

async fn fresh_task_store() -> Arc<dyn SuiteStore> {
    let db = TestDb::migrated().await;
    Arc::new(Scoped {
        store: PgTaskResultStore::new(db.pool.clone()),
        _db: db,
    })
}

async fn fresh_credential_store() -> Arc<dyn CredentialStore> {
    let db = TestDb::migrated().await;
    Arc::new(Scoped {
        store: PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)])),
        _db: db,
    })
}

mod suite {
    use super::*;

    vodsnap_store_suite::task_result_store_tests!(fresh_task_store);
}

async fn fresh_cleanup_stores() -> vodsnap_store_suite::cleanup_cases::Stores {
    let db = TestDb::migrated().await;
    let store = Arc::new(PgTaskResultStore::new(db.pool.clone()));
    vodsnap_store_suite::cleanup_cases::Stores {
        results: store.clone(),
        cleanup: store.clone(),
        audit: store,
        keep_alive: Arc::new(db),
    }
}

mod cleanup_suite {
    use super::*;

    vodsnap_store_suite::cleanup_queue_tests!(fresh_cleanup_stores);
}

mod credential_suite {
    use super::*;

    vodsnap_store_suite::credential_store_tests!(fresh_credential_store);
}

// What Citus needs of the statements (issue 16), on plain PostgreSQL.
mod citus;

// ---------------------------------------------------------------------------
// What only a database has

fn by_tasks(ids: &[String]) -> DeleteSelection {
    DeleteSelection::new(None, ids.iter().map(|t| task(t)).collect()).unwrap()
}

async fn register(store: &PgTaskResultStore, a: &str, t: &str, when: i64) {
    let outcome = store
        .service(at(when))
        .register(result("p", a, t, 3), &actor())
        .await
        .expect("register");
    assert!(matches!(outcome, Registered::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_over_eight_connections_record_the_deletion_once() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    let ids: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        register(&store, "a", id, 100 + i as i64).await;
    }
    let nows: Vec<i64> = (0..8).map(|i| 1_000_000 + i).collect();

    // Act: eight callers, each with its own `now`, race over one pool.
    let callers: Vec<_> = nows
        .iter()
        .map(|&now| {
            let store = store.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                store
                    .service(at(now))
                    .delete(&project("p"), &by_tasks(&ids), &actor())
                    .await
            })
        })
        .collect();
    let reports = futures::future::join_all(callers).await;

    // Assert: everyone hears DELETED, and one caller's `now` is on every row.
    for report in reports {
        let report = report.expect("joined").expect("delete");
        assert!(
            report
                .items
                .iter()
                .all(|i| i.status() == DeleteStatus::Deleted && i.asset_id() == Some(&asset("a")))
        );
    }
    let stamps: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT deleted_at FROM task_results WHERE project_id = 'p' ORDER BY task_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(stamps.len(), 10);
    let distinct: HashSet<i64> = stamps.iter().map(DateTime::timestamp_micros).collect();
    assert_eq!(
        distinct.len(),
        1,
        "the deletion was recorded more than once"
    );
    let first = distinct.into_iter().next().unwrap();
    assert!(
        nows.contains(&first),
        "deleted_at {first} is no caller's now"
    );

    // A later delete answers DELETED again and leaves the record alone.
    let later = store
        .service(at(9_000_000))
        .delete(&project("p"), &by_tasks(&ids), &actor())
        .await
        .unwrap();
    assert!(
        later
            .items
            .iter()
            .all(|i| i.status() == DeleteStatus::Deleted)
    );
    let after: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT DISTINCT deleted_at FROM task_results WHERE project_id = 'p'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        after
            .iter()
            .map(DateTime::timestamp_micros)
            .collect::<Vec<_>>(),
        [first]
    );
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(snapshots, 0, "the snapshots of deleted tasks are gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn asset_deletes_from_two_processes_never_skip_or_repeat_a_task() {
    // Arrange: two pools stand for two server processes.
    let db = TestDb::migrated().await;
    let total = 83;
    let first = PgTaskResultStore::new(db.pool.clone());
    for i in 0..total {
        register(&first, "a", &format!("t{i:03}"), 100 + i).await;
    }
    register(&first, "b", "keep", 1).await;
    let second = PgTaskResultStore::new(db.another_pool(4).await);

    // Act: three workers per process empty the asset concurrently.
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                let selection = DeleteSelection::new(Some(asset("a")), Vec::new()).unwrap();
                let mut mine = Vec::new();
                loop {
                    let report = store
                        .service(at(5000 + i))
                        .delete(&project("p"), &selection, &actor())
                        .await
                        .expect("delete");
                    assert!(report.items.len() <= 10);
                    mine.extend(report.items.into_iter().map(|i| i.task_id().clone()));
                    if report.remaining == 0 {
                        return mine;
                    }
                }
            })
        })
        .collect();
    let mut all: Vec<TaskId> = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker.expect("joined"));
    }

    // Assert
    let distinct: HashSet<&TaskId> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a task was deleted twice");
    assert_eq!(all.len(), total as usize, "a task was skipped");
    let (tombstones, live): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL), \
                count(*) FILTER (WHERE deleted_at IS NULL) FROM task_results",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((tombstones, live), (total, 1));
}

#[tokio::test]
async fn migrations_are_idempotent_and_may_race() {
    // Arrange
    let db = TestDb::empty().await;
    let other = db.another_pool(2).await;

    // Act: two processes migrate at once, then one again.
    let (a, b) = tokio::join!(migrate(&db.pool), migrate(&other));
    a.expect("first migrator");
    b.expect("second migrator");
    migrate(&db.pool).await.expect("migrating again");

    // Assert
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied, files as i64);
}

#[tokio::test]
async fn every_project_table_is_keyed_by_project_first() {
    let db = TestDb::migrated().await;
    let leading: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
         WHERE i.indisprimary AND n.nspname = 'public' AND c.relname NOT LIKE '\\_sqlx%' \
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        leading,
        [
            ("audit_log".to_owned(), "project_id".to_owned()),
            ("cleanup_drained".to_owned(), "project_id".to_owned()),
            ("cleanup_items".to_owned(), "project_id".to_owned()),
            ("credentials".to_owned(), "access_key".to_owned()),
            ("snapshots".to_owned(), "project_id".to_owned()),
            ("task_results".to_owned(), "project_id".to_owned()),
        ],
        "credentials are global; every other table leads with project_id"
    );
}

#[tokio::test]
async fn every_thumbnail_type_round_trips() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    let paras = [
        ThumbnailParaInput {
            kind: Some("dots".into()),
            dots: Some(vec![0, 7, 3]),
            cover_position: Some(2),
            aspect_ratio: Some(0),
            max_length: Some(480),
            ..ThumbnailParaInput::default()
        },
        ThumbnailParaInput {
            kind: Some("quantity".into()),
            quantity: Some(4),
            quantity_time: Some(9),
            ..ThumbnailParaInput::default()
        },
        ThumbnailParaInput {
            kind: Some("quantity".into()),
            quantity: Some(1),
            ..ThumbnailParaInput::default()
        },
    ];
    for (i, input) in paras.into_iter().enumerate() {
        let t = format!("t{i}");
        let snapshot = Snapshot::new(
            i64::from(i32::MAX),
            ObjectKey::parse(&format!("p/a/{t}/ü ñ.jpg")).unwrap(),
        )
        .unwrap();
        let new = NewTaskResult::new(
            project("p"),
            asset("a"),
            task(&t),
            ThumbnailPara::parse(input).unwrap(),
            vec![snapshot],
        )
        .unwrap();
        let Registered::Created(created) = store
            .service(at(1))
            .register(new.clone(), &actor())
            .await
            .unwrap()
        else {
            panic!("expected Created");
        };
        assert_eq!(
            store.get(&project("p"), &task(&t)).await.unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            store.service(at(2)).register(new, &actor()).await.unwrap(),
            Registered::AlreadyRegistered(created)
        );
    }
}

#[tokio::test]
async fn ties_are_broken_by_task_id_bytes_whatever_the_server_locale() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    for t in ["a", "_x", "B", "-y", "A0"] {
        register(&store, "a", t, 100).await;
    }
    let listing = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await
        .unwrap();
    let ids: Vec<&str> = listing.items.iter().map(|s| s.task.as_str()).collect();
    assert_eq!(ids, ["-y", "A0", "B", "_x", "a"]);
    // This server's own locale may already sort bytewise; the schema must
    // not depend on it.
    let collations: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, collation_name::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name IN ('project_id', 'task_id', 'asset_id') \
         ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    // task_results: 3, snapshots: 2, cleanup_items: 1, audit_log: 2,
    // cleanup_drained: 1.
    assert_eq!(collations.len(), 9);
    for (table, column, collation) in collations {
        assert_eq!(collation.as_deref(), Some("C"), "{table}.{column}");
    }
}

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_unknown() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    db.pool.close().await;

    assert!(store.ping().await.is_err());
    let registered = store
        .service(at(1))
        .register(result("p", "a", "t", 1), &actor())
        .await;
    assert!(
        matches!(registered, Err(RegisterError::Unavailable(_))),
        "{registered:?}"
    );
    // The port itself, not the service (which answers UNKNOW items).
    let plan_nothing = |found| vodsnap_ports::PlannedDelete {
        plan: vodsnap_domain::DeletePlan::decide(&by_tasks(&["t".to_owned()]), found),
        audit: AuditRecord::deletion(&project("p"), &by_tasks(&[]), &[], at(1), &actor()),
        at: at(1),
    };
    let deleted = store
        .delete(&project("p"), &by_tasks(&["t".to_owned()]), &plan_nothing)
        .await;
    assert!(
        matches!(deleted, Err(DeleteError::Unavailable(_))),
        "{deleted:?}"
    );
    let answered = store
        .service(at(1))
        .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor())
        .await
        .expect("named tasks answer UNKNOW items");
    assert!(
        answered
            .items
            .iter()
            .all(|i| i.status() == DeleteStatus::Unknow)
    );
    let listed = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await;
    assert!(
        matches!(listed, Err(ListError::Unavailable(_))),
        "{listed:?}"
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_fast() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let outcome = connect("postgres://postgres@127.0.0.1:1/postgres", 2).await;
    assert!(outcome.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Credentials

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secret_keys_are_not_stored_in_plain_text() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));

    // Act
    let (created_ak, created_sk) = store.create(&[project("p1"), project("p2")]).await.unwrap();
    let chosen = Secret::new("plain-secret-that-must-not-appear");
    store
        .upsert(Credential::new(
            "AKCHOSEN".into(),
            chosen.clone(),
            vec![project("p1")],
        ))
        .await
        .unwrap();

    // Assert
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT access_key, secret_ciphertext, nonce FROM credentials")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for (ak, ciphertext, nonce) in &rows {
        for sk in [&created_sk, &chosen] {
            let plain = sk.expose().as_bytes();
            assert!(!contains(ciphertext, plain), "the SK of {ak} is in clear");
            assert!(!contains(nonce, plain));
        }
    }
    let found = store
        .find(&created_ak)
        .await
        .unwrap()
        .expect("created credential");
    assert_eq!(found.secret_key(), &created_sk);
    assert_eq!(found.projects(), [project("p1"), project("p2")]);
    assert_eq!(
        store.find("AKCHOSEN").await.unwrap().unwrap().secret_key(),
        &chosen
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let db = TestDb::migrated().await;
    let store = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (victim, _) = store.create(&[project("p1")]).await.unwrap();
    let (attacker, _) = store.create(&[project("p2")]).await.unwrap();
    sqlx::query(
        "UPDATE credentials SET (secret_ciphertext, nonce) = \
         (SELECT secret_ciphertext, nonce FROM credentials WHERE access_key = $1) \
         WHERE access_key = $2",
    )
    .bind(&victim)
    .bind(&attacker)
    .execute(&db.pool)
    .await
    .unwrap();
    assert!(matches!(
        store.find(&attacker).await,
        Err(CredentialError::Unknown(_))
    ));
}

#[tokio::test]
async fn keys_rotate_without_losing_a_secret() {
    // Arrange: secrets sealed with k1, one of them revoked.
    let db = TestDb::migrated().await;
    let old = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (ak1, sk1) = old.create(&[project("p")]).await.unwrap();
    let (ak2, _) = old.create(&[project("p")]).await.unwrap();
    assert!(old.revoke(&ak2).await.unwrap());

    // Act 1: k2 becomes current, k1 still opens.
    let both = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k2", 2), ("k1", 1)]));
    assert_eq!(both.find(&ak1).await.unwrap().unwrap().secret_key(), &sk1);
    let new_only = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k2", 2)]));
    assert!(
        new_only.find(&ak1).await.is_err(),
        "k1 may not be dropped before the re-encryption"
    );
    let resealed = both.reencrypt_all().await.unwrap();

    // Assert: every row is under k2, and k1 can go.
    assert_eq!(resealed, 2);
    assert_eq!(both.reencrypt_all().await.unwrap(), 0);
    let infos = both.list().await.unwrap();
    assert!(infos.iter().all(|c| c.key_id == "k2"), "{infos:?}");
    assert_eq!(
        new_only.find(&ak1).await.unwrap().unwrap().secret_key(),
        &sk1
    );
    // The revoked credential was re-sealed too, and stays revoked: an
    // upsert (a restart's --seed-credential) never brings it back.
    let reseeded = Credential::new(ak2.clone(), Secret::new("fresh"), vec![project("p")]);
    new_only.upsert(reseeded).await.unwrap();
    assert_eq!(new_only.find(&ak2).await.unwrap(), None);
}

#[tokio::test]
async fn a_revoked_credential_stays_revoked_through_upsert() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (ak, sk) = store.create(&[project("p")]).await.unwrap();

    // Act
    let revoked = store.revoke(&ak).await.unwrap();

    // Assert
    assert!(revoked);
    assert_eq!(store.find(&ak).await.unwrap(), None);
    assert!(!store.revoke(&ak).await.unwrap(), "already revoked");
    assert!(!store.revoke("NO-SUCH-AK").await.unwrap());
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let info = listed.first().unwrap();
    assert!(info.revoked);
    assert_eq!(
        (info.access_key.as_str(), info.projects.as_slice()),
        (ak.as_str(), [project("p")].as_slice())
    );
    assert!(!format!("{listed:?}").contains(sk.expose()));

    // Seeding the same AK again (a restart with --seed-credential) does
    // not bring it back, nor change its secret or projects.
    store
        .upsert(Credential::new(
            ak.clone(),
            Secret::new("another-sk"),
            vec![project("p"), project("q")],
        ))
        .await
        .unwrap();
    assert_eq!(store.find(&ak).await.unwrap(), None);
    let listed = store.list().await.unwrap();
    let info = listed.first().unwrap();
    assert!(info.revoked);
    assert_eq!(info.projects, [project("p")]);
}

#[tokio::test]
async fn the_find_cache_forgets_local_changes_at_once_and_remote_ones_after_its_ttl() {
    let db = TestDb::migrated().await;
    let here = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]))
        .with_find_cache(Duration::from_secs(600));
    let elsewhere = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (ak, _) = here.create(&[project("p1")]).await.unwrap();
    assert!(here.find(&ak).await.unwrap().is_some());

    // Revoked through another instance: this one still answers from its
    // cache until the TTL runs out.
    assert!(elsewhere.revoke(&ak).await.unwrap());
    assert!(here.find(&ak).await.unwrap().is_some());

    // Changed through this instance: seen at once.
    let (ak2, _) = here.create(&[project("p1")]).await.unwrap();
    assert!(here.find(&ak2).await.unwrap().is_some());
    here.upsert(Credential::new(
        ak2.clone(),
        Secret::new("new-sk"),
        vec![project("p2")],
    ))
    .await
    .unwrap();
    let found = here.find(&ak2).await.unwrap().expect("still active");
    assert_eq!(found.secret_key().expose(), "new-sk");
    assert!(here.revoke(&ak2).await.unwrap());
    assert_eq!(here.find(&ak2).await.unwrap(), None);

    let uncached = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]))
        .with_find_cache(Duration::ZERO);
    assert_eq!(uncached.find(&ak).await.unwrap(), None);
}

// ---------------------------------------------------------------------------
// Connections kept between operations (PgDatabase)

/// A connection outside the pool that holds row locks on task results until
/// it commits, so that a store's operation waits on them.
async fn lock_tasks(db: &TestDb, tasks: &[&str]) -> PgConnection {
    let mut blocker = PgConnection::connect_with(&db.admin.clone().database(&db.name))
        .await
        .expect("connect the blocker");
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query(
        "SELECT 1 FROM task_results WHERE project_id = 'p' AND task_id = ANY($1) FOR UPDATE",
    )
    .bind(tasks)
    .execute(&mut blocker)
    .await
    .expect("lock the tasks");
    blocker
}

/// Ends the blocker's transaction, freeing its locks.
async fn unlock(blocker: &mut PgConnection) {
    sqlx::query("COMMIT")
        .execute(blocker)
        .await
        .expect("commit the blocker");
}

/// Deletes task `t` of project `p` in a task of its own.
fn spawn_delete(
    store: &PgTaskResultStore,
    t: &str,
) -> tokio::task::JoinHandle<Result<DeleteReport, DeleteError>> {
    let store = store.clone();
    let selection = by_tasks(&[t.to_owned()]);
    tokio::spawn(async move {
        store
            .service(at(5))
            .delete(&project("p"), &selection, &actor())
            .await
    })
}

/// Waits until some session of the test database waits for a lock.
async fn until_a_session_waits_for_a_lock(observer: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE NOT l.granted AND a.datname = current_database()",
        )
        .fetch_one(&mut *observer)
        .await
        .expect("read pg_locks");
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no session ever waited for a lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_waits_for_and_skips_the_rows_a_delete_would() {
    // Arrange: another transaction holds t1 and tombstones it, as a
    // concurrent delete does before it commits.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    for (t, when) in [("t1", 1), ("t2", 2), ("t3", 3)] {
        register(&store, "a", t, when).await;
    }
    let mut blocker = lock_tasks(&db, &["t1"]).await;
    sqlx::query("UPDATE task_results SET deleted_at = now() WHERE task_id = 't1'")
        .execute(&mut blocker)
        .await
        .expect("tombstone t1");

    // Act and assert: an asset-only dry run skips the held row at once,
    // and still counts it as live, as the delete does.
    let of_asset = DeleteSelection::new(Some(asset("a")), Vec::new()).unwrap();
    let preview = store
        .service(at(5))
        .delete_dry_run(&project("p"), &of_asset)
        .await
        .expect("dry run of the asset");
    let picked: Vec<&str> = preview.items.iter().map(|i| i.task_id().as_str()).collect();
    assert_eq!((picked, preview.remaining), (vec!["t2", "t3"], 1));

    // A dry run naming t1 waits for the holder, then sees its tombstone.
    let named = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .service(at(5))
                .delete_dry_run(&project("p"), &by_tasks(&["t1".to_owned()]))
                .await
        })
    };
    let mut observer = PgConnection::connect_with(&db.admin.clone().database(&db.name))
        .await
        .expect("connect the observer");
    until_a_session_waits_for_a_lock(&mut observer).await;
    unlock(&mut blocker).await;
    let report = named.await.expect("joined").expect("dry run of t1");
    assert_eq!(report.items[0].status(), DeleteStatus::Deleted);

    // Nothing but the holder's tombstone was written.
    let (tombstones, queued, audited): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM task_results WHERE deleted_at IS NOT NULL), \
                (SELECT count(*) FROM cleanup_items), \
                (SELECT count(*) FROM audit_log WHERE action = 'delete')",
    )
    .fetch_one(&mut observer)
    .await
    .expect("count what was written");
    assert_eq!((tombstones, queued, audited), (1, 0, 0));
}

#[tokio::test]
async fn operations_one_after_another_reuse_one_kept_connection() {
    let db = TestDb::migrated().await;
    let pool = db.another_pool(8).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    let credentials = PgCredentialStore::new(database.clone(), cipher_of(&[("k1", 1)]));

    register(&store, "a", "t", 1).await;
    for _ in 0..5 {
        store
            .list(&project("p"), &ListFilter::default(), ListPage::default())
            .await
            .expect("list");
        credentials.find("NOSUCHAK").await.expect("find");
    }

    assert_eq!(
        database.kept_idle(),
        1,
        "the connection is kept between operations"
    );
    assert_eq!(pool.size(), 1, "one connection served every operation");
    assert_eq!(pool.num_idle(), 0, "it never went back to sqlx's pool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_delete_is_not_kept_and_leaves_no_transaction_open() {
    // Arrange: the delete will wait on a lock another connection holds.
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let mut blocker = lock_tasks(&db, &["t"]).await;

    // Act: the caller gives up while the delete waits (as a request
    // timeout does), then the lock goes away.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        store
            .service(at(5))
            .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor()),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the delete should still be waiting: {gave_up:?}"
    );
    unlock(&mut blocker).await;

    // Assert: the abandoned connection was not kept, its transaction is
    // rolled back (nothing is left idle in a transaction, nothing was
    // deleted), and the task can be deleted at once.
    assert_eq!(database.kept_idle(), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut blocker)
        .await
        .expect("read pg_stat_activity");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} sessions stay idle in a transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_results WHERE task_id = 't' AND deleted_at IS NULL",
    )
    .fetch_one(&mut blocker)
    .await
    .expect("count live tasks");
    assert_eq!(live, 1, "the abandoned delete changed nothing");
    let report = tokio::time::timeout(
        Duration::from_secs(5),
        store
            .service(at(6))
            .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor()),
    )
    .await
    .expect("the delete does not wait on a leftover lock")
    .expect("delete");
    assert_eq!(report.items[0].status(), DeleteStatus::Deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_leave_one_for_other_users_of_the_pool() {
    // Arrange: a pool of two, both in use by deletes waiting on locks.
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t1", 1).await;
    register(&store, "a", "t2", 2).await;
    let mut blocker = lock_tasks(&db, &["t1", "t2"]).await;
    let deletes: Vec<_> = ["t1", "t2"]
        .into_iter()
        .map(|t| spawn_delete(&store, t))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pool.size(), 2, "both connections are in use");

    // Act
    unlock(&mut blocker).await;
    for delete in futures::future::join_all(deletes).await {
        delete.expect("joined").expect("delete");
    }

    // Assert: one is kept, the other is back in the pool for anyone.
    assert_eq!(database.kept_idle(), 1);
    let direct = tokio::time::timeout(Duration::from_secs(2), pool.acquire())
        .await
        .expect("a direct user of the pool is not starved")
        .expect("acquire");
    drop(direct);

    // Closing through the database gives the kept connection back first.
    tokio::time::timeout(Duration::from_secs(5), database.close())
        .await
        .expect("close does not wait for kept connections");
    assert!(
        store.ping().await.is_err(),
        "a closed database is unavailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_sustained_load_every_operation_gets_its_turn() {
    // Arrange: far more callers than connections, for longer than a caller
    // may wait for one (ACQUIRE_TIMEOUT): a caller passed over again and
    // again by newcomers would time out.
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.another_pool(8).await);
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let until = Instant::now() + ACQUIRE_TIMEOUT + Duration::from_secs(1);

    // Act
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut done = 0_u64;
                while Instant::now() < until {
                    store
                        .list(&project("p"), &ListFilter::default(), ListPage::default())
                        .await?;
                    done += 1;
                }
                Ok::<_, ListError>(done)
            })
        })
        .collect();

    // Assert
    for caller in futures::future::join_all(callers).await {
        let done = caller
            .expect("joined")
            .expect("no caller waits past its turn");
        assert!(done > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_database_gives_its_kept_connections_back_to_the_pool() {
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    store.ping().await.expect("ping");
    assert_eq!(database.kept_idle(), 1);

    // Nothing else happens: the kept connection goes back to sqlx, and a
    // direct user may then take both of the pool's connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while database.kept_idle() > 0 {
        assert!(
            Instant::now() < deadline,
            "the kept connection never went back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = pool.acquire().await.expect("first");
    let second = tokio::time::timeout(Duration::from_secs(4), pool.acquire())
        .await
        .expect("the idle database's connection is back in the pool")
        .expect("second");
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_waiting_while_another_user_holds_a_connection_gets_the_next_one() {
    // Arrange: a pool of two; a direct user holds one connection, a delete
    // waiting on a lock holds the other, and a list waits behind them.
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let outsider = pool.acquire().await.expect("the direct user's connection");
    let mut blocker = lock_tasks(&db, &["t"]).await;
    let delete = spawn_delete(&store, "t");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let list = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .list(&project("p"), &ListFilter::default(), ListPage::default())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act: the delete finishes; the direct user keeps its connection.
    unlock(&mut blocker).await;
    delete.await.expect("joined").expect("delete");

    // Assert: the list gets the delete's connection, well before it would
    // time out.
    let listed = tokio::time::timeout(Duration::from_secs(4), list)
        .await
        .expect("the waiting list is not left behind a kept connection")
        .expect("joined");
    assert!(listed.is_ok(), "{listed:?}");
    drop(outsider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_an_operation_runs_keeps_nothing_and_finishes() {
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.another_pool(4).await);
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let mut blocker = lock_tasks(&db, &["t"]).await;
    let delete = spawn_delete(&store, "t");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Close while the delete waits, then let the delete finish.
    let closing = {
        let database = database.clone();
        tokio::spawn(async move { database.close().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    unlock(&mut blocker).await;
    let _ = delete.await.expect("joined");

    // Its connection was not kept (kept, it would hold the pool's close up
    // until it idled out)...
    assert_eq!(database.kept_idle(), 0);
    // ...and the close finishes.
    tokio::time::timeout(Duration::from_secs(5), closing)
        .await
        .expect("close finishes once the operation in flight is done")
        .expect("joined");
}

// ---------------------------------------------------------------------------
// Bulk loading (the benchmark's data set)

#[tokio::test]
async fn bulk_loaded_task_results_are_stored_as_a_registration_stores_them() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    register(&store, "a_reg", "t_reg", 1).await;
    let like = result("p", "a0", "t0", 3);
    let bulk = BulkTaskResults {
        project: project("p"),
        task_id_sql: "'t' || n".into(),
        asset_id_sql: "'a' || (n % 2)".into(),
        para: like.para().clone(),
        images: 3,
        numbers: 0..4,
    };

    sqlx::raw_sql(AssertSqlSafe(bulk.sql()))
        .execute(&db.pool)
        .await
        .unwrap();

    // The same registrations again are idempotent only if the rows hold
    // exactly what a registration would have stored.
    for n in 0..4 {
        let again = store
            .service(at(5))
            .register(
                result("p", &format!("a{}", n % 2), &format!("t{n}"), 3),
                &actor(),
            )
            .await
            .unwrap();
        assert!(
            matches!(again, Registered::AlreadyRegistered(_)),
            "t{n}: {again:?}"
        );
    }
    let paras: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT thumbnail_para::text FROM task_results WHERE project_id = 'p'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        paras.len(),
        1,
        "bulk and registered paras differ: {paras:?}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&paras[0]).unwrap(),
        serde_json::from_str::<serde_json::Value>(&stored_thumbnail_para(like.para())).unwrap()
    );
    let miscounted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_results r WHERE snapshot_count <> \
         (SELECT count(*) FROM snapshots s \
          WHERE s.project_id = r.project_id AND s.task_id = r.task_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(miscounted, 0);
}
