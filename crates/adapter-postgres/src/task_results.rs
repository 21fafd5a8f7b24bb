//! Task results and their snapshots in PostgreSQL, with tombstones for
//! deleted task ids.

use crate::audit;
use crate::database::PgDatabase;
use crate::outbox::bind_events;
use crate::rows::{from_db_time, parse_stored, to_db_time};
use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};
use tracing::Instrument as _;
use vodsnap_domain::{
    AssetId, BinSelection, DeleteSelection, DetailsPage, Event, FoundTask, ListFilter, ListPage,
    MAX_TASKS_PER_CALL, NewTaskResult, ObjectKey, ProjectId, Snapshot, TaskId, TaskResult,
    TaskSummary, ThumbnailPara, ThumbnailParaInput, Timestamp, TraceContext,
};
use vodsnap_ports::{
    AuditRecord, BinError, BinPlanner, CommittedDelete, DeleteError, DeletePlanner, DeletedListing,
    DetailsError, Inserted, ListError, Listing, PingError, PlannedBinChange, PlannedDelete,
    PreviewPlanner, PreviewedDelete, RegisterError, SnapshotPage, Stored, TaskResultStore,
};

use crate::db_error::{DbError, DbResultExt as _, MAX_ATTEMPTS};

/// Task results in PostgreSQL. Cheap to clone: it is a handle on the
/// database.
#[derive(Debug, Clone)]
pub struct PgTaskResultStore {
    database: PgDatabase,
}

impl PgTaskResultStore {
    /// A store on a migrated database (see [`crate::migrate`]): a
    /// [`PgDatabase`] shared with the process's other stores, or a pool.
    pub fn new(database: impl Into<PgDatabase>) -> Self {
        Self {
            database: database.into(),
        }
    }

    /// The database it runs on, for the other stores of the same process.
    pub fn database(&self) -> &PgDatabase {
        &self.database
    }
}

// ---------------------------------------------------------------------------
// Row conversions

/// `thumbnail_para` as stored: Huawei's `Thumbnail` field names, defaults
/// filled in, so that the column reads naturally in `psql`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredPara {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dots: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantity_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cover_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aspect_ratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<i64>,
}

impl StoredPara {
    pub(crate) fn from_domain(para: &ThumbnailPara) -> Self {
        let input = para.to_input();
        Self {
            kind: para.kind_name().to_owned(),
            time: input.time,
            dots: input.dots,
            quantity: input.quantity,
            quantity_time: input.quantity_time,
            cover_position: input.cover_position,
            format: input.format,
            aspect_ratio: input.aspect_ratio,
            max_length: input.max_length,
        }
    }

    /// Parses the stored value with the domain's rules again: a row that no
    /// longer obeys them is corrupt, and is reported rather than served.
    fn into_domain(self) -> Result<ThumbnailPara, DbError> {
        ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some(self.kind),
            time: self.time,
            dots: self.dots,
            quantity: self.quantity,
            quantity_time: self.quantity_time,
            cover_position: self.cover_position,
            format: self.format,
            aspect_ratio: self.aspect_ratio,
            max_length: self.max_length,
        })
        .context("failed to parse a stored thumbnail_para")
        .map_err(DbError::unknown)
    }
}

/// The condition of a task row (its asset named by `$asset`) of an asset
/// with no unfinished purge (migration 0012): every read of live tasks
/// adds it, so that from a `DeleteAssets` answer on the asset's tasks read
/// as deleted, in the read's one statement. `$1` is the project.
macro_rules! not_purging {
    ($asset:literal) => {
        concat!(
            " NOT EXISTS (SELECT 1 FROM asset_purges p WHERE p.project_id = $1 \
               AND p.asset_id = ",
            $asset,
            " AND p.finished_at IS NULL) "
        )
    };
}

fn count(total: i64) -> u64 {
    u64::try_from(total).unwrap_or(0)
}

/// One task result with its snapshots, read in one statement so that a
/// concurrent delete can never show a live row without its snapshots. Each
/// subquery names the project and task itself (not `r.project_id`), so that
/// with Citus the whole statement routes to one shard.
pub(crate) const READ_ONE: &str = concat!(
    "SELECT r.asset_id, r.thumbnail_para, r.created_at, \
        (r.deleted_at IS NOT NULL OR NOT",
    not_purging!("r.asset_id"),
    ") AS deleted, \
        ARRAY(SELECT s.offset_s FROM snapshots s \
              WHERE s.project_id = $1 AND s.task_id = $2 \
              ORDER BY s.offset_s) AS offsets, \
        ARRAY(SELECT s.object_key FROM snapshots s \
              WHERE s.project_id = $1 AND s.task_id = $2 \
              ORDER BY s.offset_s) AS object_keys \
    FROM task_results r WHERE r.project_id = $1 AND r.task_id = $2"
);

#[derive(sqlx::FromRow)]
struct ResultRow {
    asset_id: String,
    thumbnail_para: Json<StoredPara>,
    created_at: DateTime<Utc>,
    deleted: bool,
    offsets: Vec<i32>,
    object_keys: Vec<String>,
}

impl ResultRow {
    fn into_stored(self, project: &ProjectId, task: &TaskId) -> Result<Stored, DbError> {
        if self.deleted {
            return Ok(Stored::Deleted);
        }
        let asset = parse_stored(AssetId::parse, &self.asset_id)?;
        let para = self.thumbnail_para.0.into_domain()?;
        let snapshots = self
            .offsets
            .into_iter()
            .zip(self.object_keys)
            .map(|(offset, key)| {
                let key = parse_stored(ObjectKey::parse, &key)?;
                Snapshot::new(i64::from(offset), key)
                    .context("failed to rebuild a stored snapshot")
                    .map_err(DbError::unknown)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = TaskResult::restore(
            project.clone(),
            asset,
            task.clone(),
            para,
            snapshots,
            from_db_time(self.created_at),
        )
        .context("failed to rebuild a stored task result")
        .map_err(DbError::unknown)?;
        Ok(Stored::Live(result))
    }
}

impl PgTaskResultStore {
    async fn read_one(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<Stored>, DbError> {
        let mut conn = self.database.acquire().await?;
        let row: Option<ResultRow> = sqlx::query_as(READ_ONE)
            .bind(project.as_str())
            .bind(task.as_str())
            .fetch_optional(&mut *conn)
            .instrument(crate::statement::span("READ_ONE"))
            .await
            .db("failed to read a task result")?;
        conn.release();
        row.map(|r| r.into_stored(project, task)).transpose()
    }
}

// ---------------------------------------------------------------------------
// Registration

/// A registration in one call of `vodsnap_register` (migration 0013), so
/// one round trip and no explicit transaction: the task result unless its
/// id is taken (live or deleted) or its asset is being purged, then its
/// snapshots from two arrays, the live count, its audit record and its
/// events (`$19`..`$22`, see [`bind_events`]). `ON CONFLICT DO NOTHING`
/// waits for a concurrent insert of the same id to commit or roll back,
/// so of many concurrent registrations exactly one inserts. Answers
/// whether it inserted the task result. Under Citus the call runs whole
/// on the project's node (docs/SCHEMA.md, "Scaling out with Citus").
pub(crate) const REGISTER: &str = "SELECT vodsnap_register($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) AS inserted";

impl PgTaskResultStore {
    /// Inserts the task result unless its id is taken (live or deleted).
    /// Returns whether it was inserted.
    async fn try_insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        record: &AuditRecord,
        events: &[Event],
    ) -> Result<bool, DbError> {
        let count = i32::try_from(new.snapshots().len())
            .context("failed to count the snapshots")
            .map_err(DbError::unknown)?;
        let offsets = new
            .snapshots()
            .iter()
            .map(|s| i32::try_from(s.offset()))
            .collect::<Result<Vec<i32>, _>>()
            .context("failed to convert a snapshot offset")
            .map_err(DbError::unknown)?;
        let keys: Vec<&str> = new
            .snapshots()
            .iter()
            .map(|s| s.object_key().as_str())
            .collect();
        let query = sqlx::query(REGISTER)
            .bind(new.project().as_str())
            .bind(new.task().as_str())
            .bind(new.asset().as_str())
            .bind(Json(StoredPara::from_domain(new.para())))
            .bind(count)
            .bind(to_db_time(now)?)
            .bind(offsets)
            .bind(keys);
        let query = bind_events(audit::bind(query, record)?, events)?;
        let mut conn = self
            .database
            .acquire()
            .instrument(crate::statement::span("REGISTER"))
            .await?;
        let inserted: bool = query
            .fetch_one(&mut *conn)
            .await
            .db("failed to register a task result")?
            .try_get("inserted")
            .db("failed to read a registration")?;
        conn.release();
        Ok(inserted)
    }
}

// ---------------------------------------------------------------------------
// Lists and details

/// The list call, in one statement so that `total` and the page agree. The
/// count row always comes back, with the page's columns NULL when the page
/// is empty. One query per filter combination, rather than
/// `$n IS NULL OR ...`, so that each has a plan that uses its index.
macro_rules! list_query {
    ($filter:literal) => {
        list_query!(
            concat!(
                "SELECT count(*) AS total FROM task_results \
                 WHERE project_id = $1 AND deleted_at IS NULL AND",
                not_purging!("task_results.asset_id"),
                $filter
            ),
            $filter
        )
    };
    ($count:expr, $filter:literal) => {
        concat!(
            "SELECT m.total, r.task_id, r.asset_id, r.thumbnail_para, r.snapshot_count, r.created_at \
             FROM (",
            $count,
            ") m \
             LEFT JOIN LATERAL ( \
                 SELECT task_id, asset_id, thumbnail_para, snapshot_count, created_at \
                 FROM task_results WHERE project_id = $1 AND deleted_at IS NULL AND",
            not_purging!("task_results.asset_id"),
            $filter,
            " ORDER BY created_at, task_id LIMIT $2 OFFSET $3) r ON true"
        )
    };
}

/// The whole project's list takes its total from `live_task_counts`
/// (migration 0009): counting every live row grew with the data. Less the
/// live tasks of assets being purged, which read as deleted already (their
/// counts in `live_asset_counts`, one row a running purge; nothing
/// without one).
pub(crate) const LIST_ALL: &str = list_query!(
    "SELECT COALESCE(sum(live), 0)::bigint \
            - (SELECT COALESCE(sum(c.live), 0)::bigint FROM asset_purges p \
               JOIN live_asset_counts c ON c.project_id = $1 AND c.asset_id = p.asset_id \
               WHERE p.project_id = $1 AND p.finished_at IS NULL) AS total \
     FROM live_task_counts WHERE project_id = $1",
    ""
);
/// A list by asset takes its total from the asset's one row of
/// `live_asset_counts` (migration 0016), so that it costs the same for an
/// asset of 10 tasks and of 100,000; 0 while the asset is being purged.
pub(crate) const LIST_BY_ASSET: &str = list_query!(
    concat!(
        "SELECT CASE WHEN",
        not_purging!("$4"),
        "THEN COALESCE((SELECT live FROM live_asset_counts \
                        WHERE project_id = $1 AND asset_id = $4), 0) \
              ELSE 0 END::bigint AS total"
    ),
    "AND asset_id = $4"
);
pub(crate) const LIST_BY_TASK: &str = list_query!("AND task_id = $4");
pub(crate) const LIST_BY_TASK_AND_ASSET: &str = list_query!("AND task_id = $4 AND asset_id = $5");

#[derive(sqlx::FromRow)]
struct ListRow {
    total: i64,
    task_id: Option<String>,
    asset_id: Option<String>,
    thumbnail_para: Option<Json<StoredPara>>,
    snapshot_count: Option<i32>,
    created_at: Option<DateTime<Utc>>,
}

impl ListRow {
    /// The page's item on this row, if the page is not empty.
    fn into_summary(self) -> Result<Option<TaskSummary>, DbError> {
        let (Some(task), Some(asset), Some(para), Some(snapshot_count), Some(created_at)) = (
            self.task_id,
            self.asset_id,
            self.thumbnail_para,
            self.snapshot_count,
            self.created_at,
        ) else {
            return Ok(None);
        };
        Ok(Some(TaskSummary {
            task: parse_stored(TaskId::parse, &task)?,
            asset: parse_stored(AssetId::parse, &asset)?,
            para: para.0.into_domain()?,
            snapshot_count: usize::try_from(snapshot_count).unwrap_or(0),
            created_at: from_db_time(created_at),
        }))
    }
}

/// One task's snapshots, with the total, in one statement; no row at all
/// means no live task.
pub(crate) const DETAILS: &str = concat!(
    "SELECT t.total, s.offset_s, s.object_key \
    FROM (SELECT snapshot_count AS total FROM task_results \
          WHERE project_id = $1 AND task_id = $2 AND deleted_at IS NULL AND",
    not_purging!("task_results.asset_id"),
    ") t \
    LEFT JOIN LATERAL ( \
        SELECT offset_s, object_key FROM snapshots \
        WHERE project_id = $1 AND task_id = $2 \
        ORDER BY offset_s LIMIT $3 OFFSET $4) s ON true"
);

#[derive(sqlx::FromRow)]
struct DetailsRow {
    total: i32,
    offset_s: Option<i32>,
    object_key: Option<String>,
}

// ---------------------------------------------------------------------------
// Deletes

/// The first rows of a delete by task ids: each existing selected task,
/// locked. Locks are taken in task id order, so two deletes that share
/// tasks queue behind each other instead of deadlocking; a delete that
/// waited sees the other's tombstones once it gets the lock.
/// A live task of an asset being purged is found deleted.
pub(crate) const LOCK_SELECTED: &str = concat!(
    "SELECT task_id, asset_id, (deleted_at IS NOT NULL OR NOT",
    not_purging!("task_results.asset_id"),
    ") AS deleted FROM task_results \
    WHERE project_id = $1 AND task_id = ANY($2) \
    ORDER BY task_id FOR UPDATE"
);

/// The asset's oldest live results that no concurrent delete holds. Rows
/// another transaction has locked are skipped, not waited for, so
/// concurrent asset-only deletes (in this process or another) take
/// disjoint batches: none skips a task for good (it stays live and counted
/// in `remaining` until its holder commits) and none deletes a task twice.
pub(crate) const PICK_OLDEST_OF_ASSET: &str = concat!(
    "SELECT task_id, asset_id, false AS deleted FROM task_results \
    WHERE project_id = $1 AND asset_id = $2 AND deleted_at IS NULL AND",
    not_purging!("$2"),
    "ORDER BY created_at, task_id LIMIT $3 FOR UPDATE SKIP LOCKED"
);

/// A purge batch's tasks (`$1` project, `$2` asset, `$3` at most): the
/// asset's live ones, hidden or not, locked in task id order, the order
/// deletes and restores lock in (so that a purge and a delete of the
/// same tasks never deadlock). It waits for rows a delete or restore
/// holds rather than skipping them, so that a batch that finds fewer
/// than `$3` has taken the last of them.
pub(crate) const PICK_FOR_PURGE: &str = "\
    SELECT task_id FROM task_results \
    WHERE project_id = $1 AND asset_id = $2 AND deleted_at IS NULL \
    ORDER BY task_id LIMIT $3 FOR UPDATE";

#[derive(sqlx::FromRow)]
struct LockedRow {
    task_id: String,
    asset_id: String,
    deleted: bool,
}

impl LockedRow {
    fn into_found(self) -> Result<FoundTask, DbError> {
        Ok(FoundTask {
            task: parse_stored(TaskId::parse, &self.task_id)?,
            asset: parse_stored(AssetId::parse, &self.asset_id)?,
            deleted: self.deleted,
        })
    }
}

/// Finds and locks the rows of a delete (or of its dry run) in `tx`: the
/// selected tasks ([`LOCK_SELECTED`]) or the asset's oldest live ones
/// ([`PICK_OLDEST_OF_ASSET`]).
async fn lock_selected(
    tx: &mut PgConnection,
    project: &ProjectId,
    selection: &DeleteSelection,
) -> Result<Vec<FoundTask>, DbError> {
    let rows: Vec<LockedRow> = match (selection.is_asset_only(), selection.asset()) {
        (true, Some(asset)) => sqlx::query_as(PICK_OLDEST_OF_ASSET)
            .bind(project.as_str())
            .bind(asset.as_str())
            .bind(i64::try_from(MAX_TASKS_PER_CALL).unwrap_or(10))
            .fetch_all(&mut *tx)
            .instrument(crate::statement::span("PICK_OLDEST_OF_ASSET"))
            .await
            .db("failed to pick the asset's oldest task results")?,
        _ => {
            let ids: Vec<&str> = selection.tasks().iter().map(TaskId::as_str).collect();
            sqlx::query_as(LOCK_SELECTED)
                .bind(project.as_str())
                .bind(ids)
                .fetch_all(&mut *tx)
                .instrument(crate::statement::span("LOCK_SELECTED"))
                .await
                .db("failed to lock the selected task results")?
        }
    };
    rows.into_iter().map(LockedRow::into_found).collect()
}

impl PgTaskResultStore {
    /// `BEGIN`, lock (or pick), [`TOMBSTONE`], `COMMIT`: the planner runs
    /// between the lock and the write, on the rows this transaction holds.
    async fn try_delete(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'_>,
    ) -> Result<CommittedDelete, DbError> {
        let mut conn = self.database.acquire().await?;
        let mut tx = conn.begin().await.db("failed to begin a delete")?;
        let found = lock_selected(&mut tx, project, selection).await?;
        let planned = planner(found);
        let done = tombstone(&mut tx, project, selection.asset(), &planned).await?;
        // Once this commits the deletion is durable; only then is DELETED
        // answered.
        tx.commit().await.db("failed to commit a delete")?;
        conn.release();
        Ok(CommittedDelete {
            planned,
            live_left: selection.asset().map(|_| count(done.live_left)),
        })
    }

    /// `BEGIN`, lock (or pick) as [`Self::try_delete`] does, [`PREVIEW`],
    /// `ROLLBACK`: the dry run waits for and skips exactly the rows the
    /// delete would, and writes nothing.
    async fn try_preview(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'_>,
    ) -> Result<PreviewedDelete, DbError> {
        let mut conn = self.database.acquire().await?;
        let mut tx = conn.begin().await.db("failed to begin a dry run")?;
        let found = lock_selected(&mut tx, project, selection).await?;
        let plan = planner(found);
        let doomed: Vec<&str> = plan.doomed().iter().map(TaskId::as_str).collect();
        let counted: Previewed = sqlx::query_as(PREVIEW)
            .bind(project.as_str())
            .bind(&doomed)
            .bind(selection.asset().map(AssetId::as_str))
            .fetch_one(&mut *tx)
            .instrument(crate::statement::span("PREVIEW"))
            .await
            .db("failed to count what a delete would leave")?;
        tx.rollback().await.db("failed to end a dry run")?;
        conn.release();
        // As in [`tombstone`]: the rows are locked, so every doomed task
        // must be live.
        if counted.live_doomed != doomed.len() as i64 {
            return Err(DbError::unknown(anyhow!(
                "{} of {} locked task results are live",
                counted.live_doomed,
                doomed.len()
            )));
        }
        Ok(PreviewedDelete {
            plan,
            live_left: selection.asset().map(|_| count(counted.live_left)),
        })
    }
}

/// What a dry run counts, once the doomed tasks are known and locked:
/// how many of them are live (all, or the plan is wrong), and the asset's
/// live tasks the delete would leave (`$3`, NULL for none: then 0; 0
/// while the asset is purged), as [`TOMBSTONE`] reads them: the asset's
/// row of `live_asset_counts` (one row, whatever the asset's size), less
/// its doomed live tasks (at most ten).
pub(crate) const PREVIEW: &str = concat!(
    "SELECT (SELECT count(*) FROM task_results \
            WHERE project_id = $1 AND task_id = ANY($2) AND deleted_at IS NULL) AS live_doomed, \
           CASE WHEN $3::text IS NULL OR NOT",
    not_purging!("$3"),
    "THEN 0 ELSE GREATEST( \
              COALESCE((SELECT c.live FROM live_asset_counts c \
                        WHERE c.project_id = $1 AND c.asset_id = $3), 0) \
              - (SELECT count(*) FROM task_results WHERE project_id = $1 \
                 AND task_id = ANY($2) AND asset_id = $3 AND deleted_at IS NULL), 0) \
           END AS live_left"
);

#[derive(sqlx::FromRow)]
struct Previewed {
    live_doomed: i64,
    live_left: i64,
}

/// The rest of a delete, in one call of `vodsnap_tombstone` (migration
/// 0013) once the doomed tasks are known and locked: their tombstones
/// with their `purge_at` (`$15`), their snapshot rows moved to the cleanup
/// queue, due at `purge_at`, with their task and offset for a restore (so
/// that a durable DELETED always comes with the removal of its objects),
/// the project's live count, the audit record, the events (`$16`..`$19`,
/// see [`bind_events`]), and the asset's live tasks left (`$4`, NULL for
/// none: then 0); its 20-argument overload (migration 0017) stores the
/// delete's trace (`$20`, NULL when untraced) with its items and events.
pub(crate) const TOMBSTONE: &str = "SELECT marked, queued, live_left FROM vodsnap_tombstone($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

#[derive(sqlx::FromRow)]
pub(crate) struct Tombstoned {
    marked: i64,
    pub(crate) queued: i64,
    live_left: i64,
}

/// Runs [`TOMBSTONE`] for the plan's doomed tasks, which this transaction
/// has locked.
pub(crate) async fn tombstone(
    conn: &mut PgConnection,
    project: &ProjectId,
    asset: Option<&AssetId>,
    planned: &PlannedDelete,
) -> Result<Tombstoned, DbError> {
    let doomed: Vec<&str> = planned.plan.doomed().iter().map(TaskId::as_str).collect();
    let query = sqlx::query(TOMBSTONE)
        .bind(project.as_str())
        .bind(&doomed)
        .bind(to_db_time(planned.at)?)
        .bind(asset.map(AssetId::as_str));
    let query = audit::bind(query, &planned.audit)?.bind(to_db_time(planned.purge_at)?);
    let row = bind_events(query, &planned.events)?
        .bind(planned.trace.as_ref().map(TraceContext::as_str))
        .fetch_one(conn)
        .instrument(crate::statement::span("TOMBSTONE"))
        .await
        .db("failed to mark task results deleted")?;
    let done =
        <Tombstoned as sqlx::FromRow<_>>::from_row(&row).db("failed to read what a delete did")?;
    // The rows are locked by this transaction, so every one must still be
    // live; anything else is a bug, and the transaction is rolled back.
    if done.marked != doomed.len() as i64 {
        return Err(DbError::unknown(anyhow!(
            "marked {} of {} locked task results deleted",
            done.marked,
            doomed.len()
        )));
    }
    tracing::debug!(
        tasks = doomed.len(),
        snapshots = done.queued,
        "task results deleted"
    );
    Ok(done)
}

// ---------------------------------------------------------------------------
// The port

#[async_trait]
impl TaskResultStore for PgTaskResultStore {
    #[tracing::instrument(level = "debug", skip_all, fields(project = %new.project(), task = %new.task()))]
    async fn insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        audit: &AuditRecord,
        events: &[Event],
    ) -> Result<Inserted, RegisterError> {
        let mut attempt = 1;
        loop {
            match self.try_insert(new, now, audit, events).await {
                Ok(true) => return Ok(Inserted::Created(new.clone().into_stored(now))),
                Ok(false) => break,
                // ON CONFLICT makes this unreachable for the primary key;
                // should it happen, the id is taken, which is read below.
                Err(e) if e.is_unique_violation() => break,
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
        // The id is taken, by a committed row: task results are never
        // removed, only tombstoned, so that row is still there. No row:
        // the insert was held back by the asset's purge.
        match self.read_one(new.project(), new.task()).await? {
            Some(stored) => Ok(Inserted::Taken(stored)),
            None => Ok(Inserted::AssetPurging),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError> {
        let sql = match (&filter.task, &filter.asset) {
            (None, None) => LIST_ALL,
            (None, Some(_)) => LIST_BY_ASSET,
            (Some(_), None) => LIST_BY_TASK,
            (Some(_), Some(_)) => LIST_BY_TASK_AND_ASSET,
        };
        let mut query = sqlx::query_as::<_, ListRow>(sql)
            .bind(project.as_str())
            .bind(i64::from(page.limit()))
            .bind(i64::from(page.offset()));
        // Binds follow the placeholders of the chosen query: the task
        // before the asset.
        if let Some(task) = &filter.task {
            query = query.bind(task.as_str());
        }
        if let Some(asset) = &filter.asset {
            query = query.bind(asset.as_str());
        }
        let mut conn = self
            .database
            .acquire()
            .instrument(crate::statement::span("FINISH"))
            .await?;
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .db("failed to list task results")?;
        conn.release();
        let total = rows.first().map_or(0, |r| count(r.total));
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(summary) = row.into_summary()? {
                items.push(summary);
            }
        }
        Ok(Listing { total, items })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project, task = %task))]
    async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError> {
        let mut conn = self.database.acquire().await?;
        let rows: Vec<DetailsRow> = sqlx::query_as(DETAILS)
            .bind(project.as_str())
            .bind(task.as_str())
            .bind(i64::from(page.limit()))
            .bind(i64::from(page.offset()))
            .fetch_all(&mut *conn)
            .instrument(crate::statement::span("DETAILS"))
            .await
            .db("failed to read a task result's snapshots")?;
        conn.release();
        let Some(first) = rows.first() else {
            return Err(DetailsError::NotFound);
        };
        let total = count(i64::from(first.total));
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(offset), Some(key)) = (row.offset_s, row.object_key) else {
                continue;
            };
            let key = parse_stored(ObjectKey::parse, &key)?;
            let snapshot = Snapshot::new(i64::from(offset), key)
                .context("failed to rebuild a stored snapshot")
                .map_err(DbError::unknown)?;
            items.push(snapshot);
        }
        Ok(SnapshotPage { total, items })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project, task = %task))]
    async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError> {
        Ok(match self.read_one(project, task).await? {
            Some(Stored::Live(result)) => Some(result),
            Some(Stored::Deleted) | None => None,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'a>,
    ) -> Result<CommittedDelete, DeleteError> {
        let mut attempt = 1;
        loop {
            match self.try_delete(project, selection, planner).await {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = ?e, "delete aborted by the database; retrying");
                    attempt += 1;
                }
                other => return other.map_err(DeleteError::from),
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn preview_delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'a>,
    ) -> Result<PreviewedDelete, DeleteError> {
        let mut attempt = 1;
        loop {
            match self.try_preview(project, selection, planner).await {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = ?e, "dry run aborted by the database; retrying");
                    attempt += 1;
                }
                other => return other.map_err(DeleteError::from),
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn restore<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError> {
        self.restore_tasks(project, selection, planner).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn purge<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError> {
        self.purge_tasks(project, selection, planner).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
    async fn deleted(
        &self,
        project: &ProjectId,
        asset: Option<AssetId>,
        page: ListPage,
        now: Timestamp,
    ) -> Result<DeletedListing, ListError> {
        self.list_deleted(project, asset, page, now).await
    }

    async fn ping(&self) -> Result<(), PingError> {
        let mut conn = self.database.acquire().await?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .instrument(crate::statement::span("PING"))
            .await
            .db("failed to reach the database")?;
        conn.release();
        Ok(())
    }
}
