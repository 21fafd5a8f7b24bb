//! The [`ReconcileStore`] port on PostgreSQL: a project's keys in byte
//! order, keyset-paginated (`object_key` is in the "C" collation, migration
//! 0014, and both tables have an index on `(project_id, object_key)`), and
//! the queueing of orphans with their audit record in one statement.

use async_trait::async_trait;
use vodsnap_domain::{AuditRecord, HeldKey, ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{ReconcileStore, StoreError};

use sqlx::Row as _;

use crate::audit;
use crate::database::PgDatabase;
use crate::db_error::DbResultExt as _;
use crate::rows::{parse_stored, to_db_time};

/// `$1` project, `$2` the last key of the page before (`''`: none), `$3`
/// the page's size: the next keys the project holds, each once, `live`
/// when a live task references it. The two index scans are merged in key
/// order and grouped as they stream, so a page reads about `$3` entries of
/// each index, wherever it starts.
pub(crate) const HELD_KEYS: &str = "\
    SELECT object_key, bool_or(live) AS live FROM ( \
        SELECT object_key, true AS live FROM snapshots \
        WHERE project_id = $1 AND object_key > $2 \
        UNION ALL \
        SELECT object_key, false AS live FROM cleanup_items \
        WHERE project_id = $1 AND object_key > $2 \
    ) AS k GROUP BY object_key ORDER BY object_key LIMIT $3";

/// Every project with task results or cleanup items. The one statement
/// here that names no project (it finds them): a read without locks,
/// which under Citus fans out to every shard, once per run.
pub(crate) const PROJECTS: &str = "\
    SELECT project_id FROM task_results GROUP BY project_id \
    UNION SELECT project_id FROM cleanup_items GROUP BY project_id \
    ORDER BY 1";

/// `$1`..`$10` the audit record (`$1` its project), `$11` now, `$12` the
/// keys: queues each key not already queued in the project, due now and
/// tied to no task, and writes the audit record naming them; answers how
/// many it queued; in one call of `vodsnap_queue_orphans` (migration
/// 0014).
pub(crate) const QUEUE_ORPHANS: &str =
    "SELECT vodsnap_queue_orphans($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The reconciliation's reads and its queueing, on PostgreSQL. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct PgReconcileStore {
    database: PgDatabase,
}

impl PgReconcileStore {
    /// On a migrated database (see [`crate::migrate`]).
    pub fn new(database: impl Into<PgDatabase>) -> Self {
        Self {
            database: database.into(),
        }
    }
}

#[async_trait]
impl ReconcileStore for PgReconcileStore {
    async fn projects(&self) -> Result<Vec<ProjectId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(PROJECTS)
            .fetch_all(&mut *self.database.acquire().await?)
            .await
            .db("failed to list the projects")?;
        Ok(rows
            .iter()
            .map(|(p,)| parse_stored(ProjectId::parse, p))
            .collect::<Result<_, _>>()?)
    }

    async fn held_keys(
        &self,
        project: &ProjectId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<HeldKey>, StoreError> {
        let rows: Vec<(String, bool)> = sqlx::query_as(HELD_KEYS)
            .bind(project.as_str())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.database.acquire().await?)
            .await
            .db("failed to read the project's object keys")?;
        Ok(rows
            .into_iter()
            .map(|(key, live)| HeldKey { key, live })
            .collect())
    }

    async fn queue_orphans(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
        record: &AuditRecord,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        debug_assert_eq!(&record.project, project);
        let keys: Vec<&str> = keys.iter().map(ObjectKey::as_str).collect();
        let row = audit::bind(sqlx::query(QUEUE_ORPHANS), record)?
            .bind(to_db_time(now)?)
            .bind(keys)
            .fetch_one(&mut *self.database.acquire().await?)
            .await
            .db("failed to queue the orphans")?;
        let queued: i64 = row.try_get(0).db("failed to read the orphans queued")?;
        Ok(u64::try_from(queued).unwrap_or_default())
    }
}
