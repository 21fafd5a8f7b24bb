//! What the files of this suite share: a database per test, the keys of
//! the SK cipher, and the ways a test holds locks and waits for another
//! session to wait on them.

#![allow(
    unused_imports,
    reason = "one prelude for every file of the suite; each uses a part"
)]

pub use std::collections::HashSet;
pub use std::str::FromStr;
pub use std::sync::Arc;
pub use std::time::{Duration, Instant};

pub use async_trait::async_trait;
pub use base64::Engine as _;
pub use chrono::{DateTime, Utc};
pub use sqlx::postgres::PgConnectOptions;
pub use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};
pub use vodsnap_adapter_postgres::bulk::{BulkTaskResults, stored_thumbnail_para};
pub use vodsnap_adapter_postgres::{
    ACQUIRE_TIMEOUT, CredentialCipher, PgAuditLog, PgCleanupQueue, PgCredentialStore, PgDatabase,
    PgTaskResultStore, connect, connect_with, migrate,
};
pub use vodsnap_domain::{
    CredentialState, DeleteReport, DeleteSelection, DeleteStatus, DetailsPage, ListFilter,
    ListPage, NewTaskResult, ObjectKey, ProjectId, Secret, SeedDecision, Snapshot, TaskId,
    TaskResult, ThumbnailPara, ThumbnailParaInput, Timestamp,
};
pub use vodsnap_ports::{
    AuditError, AuditLog, AuditQuery, AuditRecord, CommittedDelete, Credential, CredentialError,
    CredentialInfo, CredentialStore, DeleteError, DeletePlanner, DetailsError, Inserted, ListError,
    Listing, PingError, PreviewPlanner, PreviewedDelete, RegisterError, Registered, SnapshotPage,
    SystemClock, TaskResultStore,
};
pub use vodsnap_service::{CredentialAdmin, KeyRotation, Snapshots};
pub use vodsnap_store_suite::fixtures::{actor, asset, at, project, result, task};
pub use vodsnap_store_suite::use_cases::{FixedClock, SuiteStore};

/// A database of its own (`vodsnap-test-support`), with a pool of 8
/// connections; dropped (connections and all) when this is.
pub struct TestDb {
    pub pool: PgPool,
    db: vodsnap_test_support::db::TestDb,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        migrate(&db.pool).await.expect("migrate the test database");
        db
    }

    /// A fresh database without the schema.
    pub async fn empty() -> Self {
        let db = tokio::task::spawn_blocking(vodsnap_test_support::db::TestDb::create)
            .await
            .expect("the database creation thread");
        let options = PgConnectOptions::from_str(db.url()).expect("the test database's URL");
        let pool = connect_with(options, 8)
            .await
            .expect("connect to the test database");
        Self { pool, db }
    }

    /// Another pool on the same database, as a second process would have.
    pub async fn another_pool(&self, max_connections: u32) -> PgPool {
        connect_with(self.options(), max_connections)
            .await
            .expect("connect a second pool")
    }

    /// A connection of its own, outside every pool.
    pub async fn connection(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options()).await
    }

    fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(self.db.url()).expect("the test database's URL")
    }
}

/// The snapshot use cases on a store, with the clock at `at`.
pub trait UseCases {
    fn service(&self, at: Timestamp) -> Snapshots;
}

impl UseCases for PgTaskResultStore {
    fn service(&self, at: Timestamp) -> Snapshots {
        Snapshots::new(
            Arc::new(self.clone()),
            Arc::new(PgAuditLog::new(self.database().clone())),
            Arc::new(FixedClock(at)),
        )
    }
}

pub fn cipher_of(keys: &[(&str, u8)]) -> CredentialCipher {
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

pub fn by_tasks(ids: &[String]) -> DeleteSelection {
    DeleteSelection::new(None, ids.iter().map(|t| task(t)).collect()).unwrap()
}

pub async fn register(store: &PgTaskResultStore, a: &str, t: &str, when: i64) {
    let outcome = store
        .service(at(when))
        .register(result("p", a, t, 3), &actor())
        .await
        .expect("register");
    assert!(matches!(outcome, Registered::Created(_)));
}

/// A connection outside the pool that holds row locks on task results until
/// it commits, so that a store's operation waits on them.
pub async fn lock_tasks(db: &TestDb, tasks: &[&str]) -> PgConnection {
    let mut blocker = db.connection().await.expect("connect the blocker");
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
pub async fn unlock(blocker: &mut PgConnection) {
    sqlx::query("COMMIT")
        .execute(blocker)
        .await
        .expect("commit the blocker");
}

/// Deletes task `t` of project `p` in a task of its own.
pub fn spawn_delete(
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

/// How long a test waits for a condition it needs before it acts (another
/// session blocked, an operation queued): generous, as the machine is small
/// and shared; the polls are short.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it holds; fails the test, naming `what`,
/// after [`PATIENCE`].
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: still not so after {}s",
            PATIENCE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sessions of the test database waiting for a lock (`pg_locks`, or on
/// Citus `citus_lock_waits`). The
/// observer may be in a transaction (the blocker itself): the activity
/// statistics it read before are dropped first, or it would see them again.
pub async fn sessions_waiting_for_a_lock(observer: &mut PgConnection) -> i64 {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *observer)
        .await
        .expect("drop the statistics snapshot");
    // On Citus the waits happen on the workers, behind the coordinator's
    // sessions: `citus_lock_waits` gathers them across the cluster.
    let sql = if vodsnap_test_support::db::on_citus() {
        "SELECT count(DISTINCT waiting_gpid) FROM citus_lock_waits"
    } else {
        "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE NOT l.granted AND a.datname = current_database()"
    };
    sqlx::query_scalar(sql)
        .fetch_one(&mut *observer)
        .await
        .expect("read pg_locks")
}

/// Waits until `n` sessions of the test database wait for a lock.
pub async fn until_sessions_wait_for_a_lock(observer: &mut PgConnection, n: i64) {
    let deadline = Instant::now() + PATIENCE;
    while sessions_waiting_for_a_lock(observer).await < n {
        assert!(
            Instant::now() < deadline,
            "{n} session(s) waiting for a lock: still not so after {}s",
            PATIENCE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until some session of the test database waits for a lock.
pub async fn until_a_session_waits_for_a_lock(observer: &mut PgConnection) {
    until_sessions_wait_for_a_lock(observer, 1).await;
}
