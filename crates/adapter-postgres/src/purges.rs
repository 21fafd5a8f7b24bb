//! Asset purges in PostgreSQL: the purge kind's queue statements
//! ([`queue_statements!`] on `asset_purges`), its batch, and the
//! [`PurgeQueue`] port. Every statement names its project (under Citus,
//! one shard); a batch is one transaction: lock the purge, lock the
//! asset's oldest live tasks, write them as a delete does
//! ([`task_results::tombstone`]), add to the progress, and, the last
//! batch, close the purge with its `asset.purged` event ([`CLOSE`]).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use tracing::Instrument as _;
use vodsnap_domain::{AssetId, FoundTask, PURGE_BATCH, ProjectId, PurgeProgress, Timestamp};
use vodsnap_ports::{
    PlannedPurges, PurgeBatchPlanner, PurgeJob, PurgeQueue, PurgedBatch, QueueError,
};

use crate::audit;
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _, MAX_ATTEMPTS};
use crate::outbox::bind_events;
use crate::queue::{Leasing, PgKind, PgQueue, Statements, finish_by_project, queue_statements};
use crate::rows::{from_db_time, parse_stored, to_db_time};
use crate::task_results::{self, PICK_FOR_PURGE};

pub(crate) const QUEUE: Statements = queue_statements!(
    what: "asset purges",
    table: "asset_purges",
    pending: "finished_at IS NULL AND parked_at IS NULL",
    unfinished: "finished_at IS NULL",
    select: "l.id, l.asset_id, l.attempts",
    joins: "",
    fail_touch: "",
    retry_touch: "",
);

/// The claim's first step ([`Statements::due_projects`]).
pub(crate) const DUE_PROJECTS: &str = QUEUE.due_projects;
/// The claim's second step, per project ([`Statements::claim_in_project`]).
pub(crate) const CLAIM_IN_PROJECT: &str = QUEUE.claim_in_project;

/// `$1` project, `$2` assets, `$3` now, `$4` the call's audit records
/// (JSON, [`audit::bind_many`]): a purge of each asset that has none
/// unfinished, with its live tasks (its row of `live_asset_counts`,
/// migration 0016: one row read, whatever the asset's size); an unfinished purge that was
/// parked is due again, its attempts reset (asking again is how a caller
/// gets an asset out of a parked purge); the call's audit records. One
/// call of `vodsnap_record_purges` (migration 0013) for the whole request;
/// a concurrent call recording the same asset waits on the unique index
/// and then records nothing. A function, not an INSERT ... SELECT with the
/// counts as subqueries: Citus could not plan that one's parameters.
pub(crate) const RECORD: &str = "SELECT vodsnap_record_purges($1, $2, $3, $4)";

/// `$1` project, `$2` assets: each asset's live tasks, in the order given,
/// from its row of `live_asset_counts` (as [`RECORD`] takes them).
pub(crate) const PREVIEW: &str = "\
    SELECT COALESCE((SELECT c.live FROM live_asset_counts c \
            WHERE c.project_id = $1 AND c.asset_id = a.asset_id), 0) AS live \
    FROM UNNEST($2::text[]) WITH ORDINALITY AS a(asset_id, n) ORDER BY a.n";

/// `$1` project, `$2` asset: its latest purge.
pub(crate) const PROGRESS: &str = "\
    SELECT asset_id, tasks_total, tasks_deleted, objects_queued, started_at, finished_at \
    FROM asset_purges WHERE project_id = $1 AND asset_id = $2 ORDER BY id DESC LIMIT 1";

/// `$1` project, `$2` purge, `$3` worker: the purge, locked, with its
/// progress, if the worker still holds it and it is unfinished: a batch's
/// first step, so that two workers never run batches of one purge at once.
pub(crate) const LOCK_PURGE: &str = "\
    SELECT asset_id, tasks_total, tasks_deleted, objects_queued, started_at, finished_at \
    FROM asset_purges \
    WHERE project_id = $1 AND id = $2 AND lease_owner = $3 \
      AND finished_at IS NULL AND parked_at IS NULL \
    FOR UPDATE";

/// `$1` project, `$2` purge, `$3` tasks, `$4` objects, `$5` the lease's
/// new end: a batch added to the progress.
pub(crate) const ADVANCE: &str = "\
    UPDATE asset_purges SET tasks_deleted = tasks_deleted + $3, \
        objects_queued = objects_queued + $4, \
        tasks_total = GREATEST(tasks_total, tasks_deleted + $3), lease_until = $5 \
    WHERE project_id = $1 AND id = $2";

/// `$1` project, `$2` purge, `$3` the end, `$4`..`$7` its events (see
/// [`bind_events`]): the purge closed by its last batch, in the batch's
/// transaction (which holds it locked: [`LOCK_PURGE`]), with its
/// `asset.purged` event, in one call of `vodsnap_close_purge` (migration
/// 0013). Answers how many purges it closed.
pub(crate) const CLOSE: &str = "SELECT vodsnap_close_purge($1, $2, $3, $4, $5, $6, $7) AS closed";

/// `$1` project, `$2` ids, `$3` worker, `$4` now: purges done, of one
/// project, that the worker still holds (none, when every batch was
/// planned by the service: the last one closes its purge, [`CLOSE`]).
pub(crate) const FINISH: &str = "\
    UPDATE asset_purges SET finished_at = $4, attempts = attempts + 1, \
        lease_owner = NULL, lease_until = NULL \
    WHERE project_id = $1 AND id = ANY($2) AND lease_owner = $3 \
      AND finished_at IS NULL AND parked_at IS NULL";

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    asset_id: String,
    attempts: i32,
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    asset_id: String,
    tasks_total: i64,
    tasks_deleted: i64,
    objects_queued: i64,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl ProgressRow {
    fn progress(self) -> Result<PurgeProgress, DbError> {
        Ok(PurgeProgress {
            asset: parse_stored(AssetId::parse, &self.asset_id)?,
            tasks_total: count(self.tasks_total),
            tasks_deleted: count(self.tasks_deleted),
            objects_queued: count(self.objects_queued),
            started_at: from_db_time(self.started_at),
            finished_at: self.finished_at.map(from_db_time),
        })
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The asset purge kind on PostgreSQL: nothing of its own to keep.
#[derive(Debug, Clone, Default)]
pub struct PgPurges;

/// Asset purges in PostgreSQL: the [`PurgeQueue`]. Cheap to clone.
pub type PgPurgeQueue = PgQueue<PgPurges>;

impl PgQueue<PgPurges> {
    pub fn new(database: impl Into<PgDatabase>) -> Self {
        Self {
            database: database.into(),
            kind: PgPurges,
        }
    }

    /// One batch in one transaction; `None` when the worker no longer
    /// holds the purge.
    async fn try_batch(
        &self,
        job: &PurgeJob,
        worker: &str,
        planner: PurgeBatchPlanner<'_>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<PurgedBatch>, DbError> {
        let mut conn = self.database.acquire().await?;
        let mut tx = conn.begin().await.db("failed to begin a purge batch")?;
        let held: Option<ProgressRow> = sqlx::query_as(LOCK_PURGE)
            .bind(job.project.as_str())
            .bind(job.id)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .instrument(crate::statement::span("PURGE_LOCK"))
            .await
            .db("failed to lock an asset purge")?;
        let Some(held) = held else {
            tx.rollback().await.db("failed to end a purge batch")?;
            return Ok(None);
        };
        let progress = held.progress()?;
        let rows: Vec<(String,)> = sqlx::query_as(PICK_FOR_PURGE)
            .bind(job.project.as_str())
            .bind(job.asset.as_str())
            .bind(i64::try_from(PURGE_BATCH).unwrap_or(1_000))
            .fetch_all(&mut *tx)
            .instrument(crate::statement::span("PURGE_PICK"))
            .await
            .db("failed to lock an asset's task results for its purge")?;
        let found = rows
            .iter()
            .map(|(task,)| {
                Ok(FoundTask::live(
                    parse_stored(vodsnap_domain::TaskId::parse, task)?,
                    job.asset.clone(),
                ))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let batch_found = found.len();
        let planned = planner(&progress, found);
        let tasks = planned.delete.plan.doomed().len() as i64;
        let objects = if tasks > 0 {
            task_results::tombstone(&mut tx, &job.project, None, &planned.delete)
                .await?
                .queued
        } else {
            0
        };
        sqlx::query(ADVANCE)
            .bind(job.project.as_str())
            .bind(job.id)
            .bind(tasks)
            .bind(objects)
            .bind(lease_until)
            .execute(&mut *tx)
            .instrument(crate::statement::span("PURGE_ADVANCE"))
            .await
            .db("failed to record a purge batch")?;
        if let Some(finish) = &planned.finish {
            let query = sqlx::query(CLOSE)
                .bind(job.project.as_str())
                .bind(job.id)
                .bind(to_db_time(finish.at)?);
            let closed: i64 = bind_events(query, &finish.events)?
                .fetch_one(&mut *tx)
                .instrument(crate::statement::span("PURGE_CLOSE"))
                .await
                .and_then(|row| sqlx::Row::try_get(&row, 0))
                .db("failed to close an asset purge")?;
            if closed != 1 {
                // Rolled back when `tx` drops.
                return Err(DbError::unknown(anyhow::anyhow!(
                    "closed {closed} purges for purge {} locked unfinished",
                    job.id
                )));
            }
        }
        tx.commit().await.db("failed to commit a purge batch")?;
        conn.release();
        Ok(Some(PurgedBatch {
            found: batch_found,
            tasks: count(tasks),
            objects: count(objects),
            finished: planned.finish.is_some(),
        }))
    }
}

#[async_trait]
impl PgKind for PgPurges {
    type Job = PurgeJob;
    const QUEUE: Statements = QUEUE;

    async fn claim(
        &self,
        database: &PgDatabase,
        leasing: &Leasing<'_>,
        _now: Timestamp,
        max: u32,
    ) -> Result<Vec<PurgeJob>, DbError> {
        QUEUE
            .claim(database, leasing, max, |project, row: ClaimRow| {
                Ok(PurgeJob {
                    id: row.id,
                    project: project.clone(),
                    asset: parse_stored(AssetId::parse, &row.asset_id)?,
                    attempts: u32::try_from(row.attempts).unwrap_or(0),
                })
            })
            .await
    }

    /// [`FINISH`] once per project among `jobs`.
    async fn complete(
        &self,
        database: &PgDatabase,
        jobs: &[PurgeJob],
        worker: &str,
        now: Timestamp,
        _: &(),
    ) -> Result<u64, DbError> {
        let failed = "failed to finish asset purges";
        finish_by_project(database, FINISH, jobs, worker, now, failed).await
    }
}

#[async_trait]
impl PurgeQueue for PgQueue<PgPurges> {
    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn record(&self, project: &ProjectId, planned: &PlannedPurges) -> Result<(), QueueError> {
        let assets: Vec<&str> = planned.assets.iter().map(AssetId::as_str).collect();
        let at = to_db_time(planned.at)?;
        let mut attempt = 1;
        loop {
            let mut conn = self.database.acquire().await?;
            let query = sqlx::query(RECORD)
                .bind(project.as_str())
                .bind(&assets)
                .bind(at);
            let result = match audit::bind_many(query, project, &planned.audit) {
                Ok(query) => query
                    .execute(&mut *conn)
                    .instrument(crate::statement::span("PURGE_RECORD"))
                    .await
                    .db("failed to record asset purges"),
                Err(e) => Err(e),
            };
            conn.release();
            match result {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn preview(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
    ) -> Result<Vec<u64>, QueueError> {
        let names: Vec<&str> = assets.iter().map(AssetId::as_str).collect();
        let mut conn = self.database.acquire().await?;
        let counts: Vec<i64> = sqlx::query_scalar(PREVIEW)
            .bind(project.as_str())
            .bind(&names)
            .fetch_all(&mut *conn)
            .instrument(crate::statement::span("PURGE_PREVIEW"))
            .await
            .db("failed to count what a purge would delete")?;
        conn.release();
        Ok(counts.into_iter().map(count).collect())
    }

    async fn progress(
        &self,
        project: &ProjectId,
        asset: &AssetId,
    ) -> Result<Option<PurgeProgress>, QueueError> {
        let mut conn = self.database.acquire().await?;
        let row: Option<ProgressRow> = sqlx::query_as(PROGRESS)
            .bind(project.as_str())
            .bind(asset.as_str())
            .fetch_optional(&mut *conn)
            .instrument(crate::statement::span("PURGE_PROGRESS"))
            .await
            .db("failed to read an asset purge")?;
        conn.release();
        row.map(ProgressRow::progress)
            .transpose()
            .map_err(|e: DbError| e.into())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %job.project, purge = job.id))]
    async fn purge_batch<'a>(
        &self,
        job: &PurgeJob,
        worker: &str,
        planner: PurgeBatchPlanner<'a>,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<PurgedBatch>, QueueError> {
        let lease_until = to_db_time(now + lease)?;
        let mut attempt = 1;
        loop {
            match self.try_batch(job, worker, planner, lease_until).await {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = ?e, "purge batch aborted by the database; retrying");
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
                Ok(done) => return Ok(done),
            }
        }
    }
}
