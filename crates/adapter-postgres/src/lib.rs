//! vodsnap's PostgreSQL store: task results, snapshots and AK/SK credentials.
//!
//! Queries are built at run time with `sqlx::query` and binds, not with the
//! compile-time `query!` macros. The build then needs no database and there
//! is no `.sqlx/` offline cache to keep current; in exchange, nothing checks
//! the SQL at compile time, so the integration tests (`tests/store/`) run
//! every query against a real PostgreSQL: the shared store suite that the
//! memory adapter also passes, plus the cases only a database has
//! (concurrent connections, separate processes, migrations, encryption at
//! rest).
//!
//! Every operation runs at READ COMMITTED. Writes take row locks in a fixed
//! order (or skip locked rows) so that they need no serialization retries;
//! a deadlock or serialization failure, should one happen anyway, is
//! retried a bounded number of times because its transaction rolled back
//! entirely.
//!
//! **Architecture Invariant:** only this crate knows sqlx and PostgreSQL
//! error codes; it answers with the ports' errors and domain values.

mod audit;
pub mod bulk;
mod cipher;
pub mod citus;
mod cleanup;
mod credentials;
mod database;
mod db_error;
mod outbox;
mod purges;
mod queue;
mod reconcile;
mod recycle_bin;
mod reseal;
mod rows;
pub mod schema;
mod statement;
mod task_results;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;

pub use audit::PgAuditLog;
pub use cipher::{CipherKeyError, CredentialCipher};
pub use cleanup::{PgCleanup, PgCleanupQueue};
pub use credentials::PgCredentialStore;
pub use database::PgDatabase;
pub use purges::{PgPurgeQueue, PgPurges};
pub use queue::PgQueue;
pub use reconcile::PgReconcileStore;
pub use sqlx::PgPool;
pub use sqlx::postgres::PgConnectOptions;
pub use task_results::PgTaskResultStore;
pub use webhooks::{PgDeliveries, PgWebhookStore};

/// How long a caller waits for a pooled connection. A dead database must
/// turn into `Unavailable` (a 503 the client can retry) within seconds,
/// not hang a request until the client gives up.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest one statement may run (PostgreSQL's `statement_timeout`).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);
const STATEMENT_TIMEOUT_SQL: &str = "20s";

/// The schema, embedded in the binary so that `vodsnap migrate` needs no
/// files next to it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects a pool of at most `max_connections` to the database at `url`
/// (`postgres://user:pass@host:port/db?...`). Fails at once if the database
/// cannot be reached, so that a misconfigured server does not start.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url).context("failed to parse the database URL")?;
    connect_with(options, max_connections).await
}

/// As [`connect`], with options already parsed (e.g. another database on
/// the same server).
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    pool_options(max_connections)
        .connect_with(
            options
                .application_name("vodsnap")
                // A statement that runs longer is cancelled, so a stuck
                // query turns into an error the caller can retry instead of
                // a request that never ends.
                .options([("statement_timeout", STATEMENT_TIMEOUT_SQL)]),
        )
        .await
        .context("failed to connect to the database")
}

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Connections idle for long are closed so that a failover or a
        // restarted server is noticed by a fresh connection, not a stale one.
        .idle_timeout(Duration::from_secs(300))
        // No ping before every checkout: it doubled the round trips of a
        // read (see docs/benchmarks.md). A connection that died is found
        // by its first query, which fails as Unavailable (a 503 or UNKNOW,
        // safe to retry), and the pool replaces it.
        .test_before_acquire(false)
}

/// Every statement that a request or a cleanup worker runs, by name: the
/// ones that must keep to what Citus runs on one shard (see docs/SCHEMA.md,
/// "Scaling out with Citus"). A test reads their text and fails on a
/// construct Citus refuses, since Citus itself cannot run here.
pub fn hot_statements() -> &'static [(&'static str, &'static str)] {
    const HOT: &[(&str, &str)] = &[
        ("READ_ONE", task_results::READ_ONE),
        ("REGISTER", task_results::REGISTER),
        ("LIST_ALL", task_results::LIST_ALL),
        ("LIST_BY_ASSET", task_results::LIST_BY_ASSET),
        ("LIST_BY_TASK", task_results::LIST_BY_TASK),
        (
            "LIST_BY_TASK_AND_ASSET",
            task_results::LIST_BY_TASK_AND_ASSET,
        ),
        ("DETAILS", task_results::DETAILS),
        ("LOCK_SELECTED", task_results::LOCK_SELECTED),
        ("PICK_OLDEST_OF_ASSET", task_results::PICK_OLDEST_OF_ASSET),
        ("TOMBSTONE", task_results::TOMBSTONE),
        ("PREVIEW", task_results::PREVIEW),
        ("LOCK_BINNED", recycle_bin::LOCK_BINNED),
        ("LOCK_BIN_ITEMS", recycle_bin::LOCK_BIN_ITEMS),
        ("RESTORE", recycle_bin::RESTORE),
        ("PURGE", recycle_bin::PURGE),
        ("DELETED_ALL", recycle_bin::DELETED_ALL),
        ("DELETED_BY_ASSET", recycle_bin::DELETED_BY_ASSET),
        ("AUDIT_INSERT", audit::INSERT),
        ("CREDENTIAL_FIND", credentials::FIND),
        ("DUE_PROJECTS", cleanup::DUE_PROJECTS),
        ("CLAIM_IN_PROJECT", cleanup::CLAIM_IN_PROJECT),
        ("IS_REFERENCED", cleanup::IS_REFERENCED),
        ("REFERENCED", cleanup::REFERENCED),
        ("LOCK_COMPLETED_TASKS", cleanup::LOCK_COMPLETED_TASKS),
        ("COMPLETE", cleanup::COMPLETE),
        ("PURGED_OUTBOX", cleanup::PURGED_OUTBOX),
        ("FAIL", cleanup::FAIL),
        ("GIVE_BACK", cleanup::GIVE_BACK),
        ("WEBHOOK_CREATE", webhooks::CREATE),
        ("WEBHOOK_LIST", webhooks::LIST),
        ("WEBHOOK_REMOVE", webhooks::REMOVE),
        ("WEBHOOK_EXISTS", webhooks::EXISTS),
        ("WEBHOOK_DELIVERIES", webhooks::DELIVERIES),
        ("WEBHOOK_REDELIVER", webhooks::REDELIVER),
        ("WEBHOOK_DUE_PROJECTS", webhooks::DUE_PROJECTS),
        ("WEBHOOK_CLAIM_IN_PROJECT", webhooks::CLAIM_IN_PROJECT),
        ("WEBHOOK_DELIVERED", webhooks::DELIVERED),
        ("WEBHOOK_FAIL", webhooks::FAIL),
        ("WEBHOOK_PRUNE_PROJECTS", webhooks::PRUNE_PROJECTS),
        ("WEBHOOK_PRUNE", webhooks::PRUNE),
        ("PURGE_RECORD", purges::RECORD),
        ("PURGE_PREVIEW", purges::PREVIEW),
        ("PURGE_PROGRESS", purges::PROGRESS),
        ("PURGE_DUE_PROJECTS", purges::DUE_PROJECTS),
        ("PURGE_CLAIM_IN_PROJECT", purges::CLAIM_IN_PROJECT),
        ("PURGE_LOCK", purges::LOCK_PURGE),
        ("PURGE_PICK", task_results::PICK_FOR_PURGE),
        ("PURGE_ADVANCE", purges::ADVANCE),
        ("PURGE_FINISH", purges::FINISH),
        ("PURGE_CLOSE", purges::CLOSE),
    ];
    HOT
}

/// Brings the schema up to date. Idempotent: applied migrations are
/// skipped, and concurrent callers serialise on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("failed to apply the database migrations")
}
