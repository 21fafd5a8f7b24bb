//! The recycle bin on PostgreSQL: restores, early purges and the list of
//! restorable tombstones.
//!
//! A tombstone's snapshots wait in `cleanup_items`, due at its `purge_at`
//! and tagged with their task and offset. A restore or purge locks the
//! task rows (in task id order, as a delete does), then the tombstones'
//! items: a claim in flight is waited for, and a later claim skips them
//! (`SKIP LOCKED`) until the change commits. Whether an item was ever
//! claimed is then read from its committed row, so a restore never revives
//! a task whose objects the cleanup may have removed.

use std::collections::HashMap;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection};
use tracing::Instrument as _;
use vodsnap_domain::{
    AssetId, BinAction, BinSelection, BinState, BinnedTask, DeletedTask, ListPage, ProjectId,
    QueuedObjects, TaskId, Timestamp,
};
use vodsnap_ports::{BinError, BinPlanner, DeletedListing, ListError, PlannedBinChange};

use crate::audit;
use crate::db_error::{DbError, DbResultExt as _, MAX_ATTEMPTS};
use crate::outbox::bind_events;
use crate::rows::{from_db_time, parse_stored, to_db_time};
use crate::task_results::PgTaskResultStore;

/// The named tasks that exist, locked in task id order. A tombstone
/// written before the recycle bin has no `purge_at`: its window closed
/// when it was deleted.
pub(crate) const LOCK_BINNED: &str = "\
    SELECT task_id, asset_id, deleted_at IS NOT NULL AS deleted, \
           COALESCE(purge_at, deleted_at) AS purge_at, snapshot_count \
    FROM task_results WHERE project_id = $1 AND task_id = ANY($2) \
    ORDER BY task_id FOR UPDATE";

/// The queued items of the named tombstones, locked (waiting for a claim
/// in flight), counted per task by what may have happened to them: the
/// facts of [`QueuedObjects`], from which the domain decides whether the
/// tombstone is intact.
pub(crate) const LOCK_BIN_ITEMS: &str = "\
    SELECT l.task_id, count(*) AS queued, \
           count(*) FILTER (WHERE l.lease_owner IS NOT NULL) AS leased, \
           count(*) FILTER (WHERE l.attempts <> 0) AS attempted, \
           count(*) FILTER (WHERE l.parked_at IS NOT NULL) AS parked, \
           count(*) FILTER (WHERE l.offset_s IS NULL) AS unrestorable \
    FROM (SELECT task_id, offset_s, lease_owner, attempts, parked_at FROM cleanup_items \
          WHERE project_id = $1 AND task_id = ANY($2) \
          ORDER BY id FOR UPDATE) l \
    GROUP BY l.task_id";

/// A restore of tombstones this transaction has locked, intact, in one
/// call of `vodsnap_restore` (migration 0013): live again, their items
/// taken back out of the queue into `snapshots`, the project's live count,
/// the audit record, the events (`$13`..`$16`, see [`bind_events`]).
/// Answers how many tasks and snapshots came back.
pub(crate) const RESTORE: &str = "SELECT changed, items FROM vodsnap_restore($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// An early purge of tombstones this transaction has locked, in one call
/// of `vodsnap_purge` (migration 0013): their window closes at `$3`, their
/// items not parked are due then (none later), the audit record, the
/// events (`$14`..`$17`; a purge plans none today).
pub(crate) const PURGE: &str = "SELECT changed, items FROM vodsnap_purge($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// The deleted list, in one statement so that `total` and the page agree
/// (as the list call's). `purge_at > deleted_at` selects the tombstones
/// that had a window, through `task_results_recycle_bin`; `purge_at > $4`
/// those still in it.
macro_rules! deleted_query {
    ($filter:literal) => {
        concat!(
            "SELECT m.total, r.task_id, r.asset_id, r.snapshot_count, r.deleted_at, r.purge_at \
             FROM (SELECT count(*) AS total FROM task_results \
                   WHERE project_id = $1 AND purge_at > deleted_at AND purge_at > $4 ",
            $filter,
            ") m \
             LEFT JOIN LATERAL ( \
                 SELECT task_id, asset_id, snapshot_count, deleted_at, purge_at \
                 FROM task_results \
                 WHERE project_id = $1 AND purge_at > deleted_at AND purge_at > $4 ",
            $filter,
            " ORDER BY deleted_at, task_id LIMIT $2 OFFSET $3) r ON true"
        )
    };
}

pub(crate) const DELETED_ALL: &str = deleted_query!("");
pub(crate) const DELETED_BY_ASSET: &str = deleted_query!("AND asset_id = $5");

#[derive(sqlx::FromRow)]
struct BinnedRow {
    task_id: String,
    asset_id: String,
    deleted: bool,
    purge_at: Option<DateTime<Utc>>,
    snapshot_count: i32,
}

#[derive(sqlx::FromRow)]
struct ItemCount {
    task_id: String,
    queued: i64,
    leased: i64,
    attempted: i64,
    parked: i64,
    unrestorable: i64,
}

impl ItemCount {
    fn objects(&self) -> Result<QueuedObjects, DbError> {
        let count = |n: i64| {
            u64::try_from(n).map_err(|_| DbError::unknown(anyhow!("a negative count: {n}")))
        };
        Ok(QueuedObjects {
            queued: count(self.queued)?,
            leased: count(self.leased)?,
            attempted: count(self.attempted)?,
            parked: count(self.parked)?,
            unrestorable: count(self.unrestorable)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct Changed {
    changed: i64,
    items: i64,
}

#[derive(sqlx::FromRow)]
struct DeletedRow {
    total: i64,
    task_id: Option<String>,
    asset_id: Option<String>,
    snapshot_count: Option<i32>,
    deleted_at: Option<DateTime<Utc>>,
    purge_at: Option<DateTime<Utc>>,
}

/// A named task as found, with its snapshot count (what an intact
/// tombstone has queued, and a restore puts back).
struct Found {
    task: BinnedTask,
    snapshot_count: i64,
}

/// Locks the named tasks and their tombstones' items ([`LOCK_BINNED`],
/// [`LOCK_BIN_ITEMS`]) in `tx`.
async fn lock_binned(
    tx: &mut PgConnection,
    project: &ProjectId,
    selection: &BinSelection,
) -> Result<Vec<Found>, DbError> {
    let ids: Vec<&str> = selection.tasks().iter().map(TaskId::as_str).collect();
    let rows: Vec<BinnedRow> = sqlx::query_as(LOCK_BINNED)
        .bind(project.as_str())
        .bind(&ids)
        .fetch_all(&mut *tx)
        .instrument(crate::statement::span("LOCK_BINNED"))
        .await
        .db("failed to lock the named task results")?;
    let tombstones: Vec<&str> = rows
        .iter()
        .filter(|r| r.deleted)
        .map(|r| r.task_id.as_str())
        .collect();
    let counts: Vec<ItemCount> = if tombstones.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(LOCK_BIN_ITEMS)
            .bind(project.as_str())
            .bind(&tombstones)
            .fetch_all(&mut *tx)
            .instrument(crate::statement::span("LOCK_BIN_ITEMS"))
            .await
            .db("failed to lock the queued objects of deleted task results")?
    };
    let counts: HashMap<&str, &ItemCount> =
        counts.iter().map(|c| (c.task_id.as_str(), c)).collect();
    rows.iter()
        .map(|row| {
            let snapshot_count = i64::from(row.snapshot_count);
            let state = if row.deleted {
                let queued = match counts.get(row.task_id.as_str()) {
                    Some(c) => c.objects()?,
                    None => QueuedObjects::default(),
                };
                let intact = u64::try_from(snapshot_count).is_ok_and(|n| queued.intact(n));
                let purge_at = row.purge_at.ok_or_else(|| {
                    DbError::unknown(anyhow!("tombstone {} has no deletion time", row.task_id))
                })?;
                BinState::Deleted {
                    purge_at: from_db_time(purge_at),
                    intact,
                }
            } else {
                BinState::Live
            };
            Ok(Found {
                task: BinnedTask {
                    task: parse_stored(TaskId::parse, &row.task_id)?,
                    asset: parse_stored(AssetId::parse, &row.asset_id)?,
                    state,
                },
                snapshot_count,
            })
        })
        .collect()
}

impl PgTaskResultStore {
    /// `BEGIN`, [`lock_binned`], the planner, [`RESTORE`] or [`PURGE`],
    /// `COMMIT`.
    async fn try_bin_change(
        &self,
        action: BinAction,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'_>,
    ) -> Result<PlannedBinChange, DbError> {
        let mut conn = self.database().acquire().await?;
        let mut tx = conn
            .begin()
            .await
            .db("failed to begin a recycle-bin change")?;
        let found = lock_binned(&mut tx, project, selection).await?;
        let binned: Vec<BinnedTask> = found.iter().map(|f| f.task.clone()).collect();
        let planned = planner(binned.clone());
        planned
            .plan
            .may_change(action, &binned)
            .map_err(|e| DbError::unknown(e.into()))?;
        let changed: Vec<&Found> = planned
            .plan
            .changed()
            .iter()
            .filter_map(|t| found.iter().find(|f| f.task.task == *t))
            .collect();
        let ids: Vec<&str> = planned.plan.changed().iter().map(TaskId::as_str).collect();
        let done: Changed = match action {
            BinAction::Restore => {
                let query = sqlx::query(RESTORE).bind(project.as_str()).bind(&ids);
                let row = bind_events(audit::bind(query, &planned.audit)?, &planned.events)?
                    .fetch_one(&mut *tx)
                    .instrument(crate::statement::span("RESTORE"))
                    .await
                    .db("failed to restore task results")?;
                <Changed as sqlx::FromRow<_>>::from_row(&row).db("failed to read a restore")?
            }
            BinAction::Purge => {
                let query = sqlx::query(PURGE)
                    .bind(project.as_str())
                    .bind(&ids)
                    .bind(to_db_time(planned.at)?);
                let row = bind_events(audit::bind(query, &planned.audit)?, &planned.events)?
                    .fetch_one(&mut *tx)
                    .instrument(crate::statement::span("PURGE"))
                    .await
                    .db("failed to purge task results")?;
                <Changed as sqlx::FromRow<_>>::from_row(&row).db("failed to read a purge")?
            }
        };
        let snapshots: i64 = changed.iter().map(|f| f.snapshot_count).sum();
        let consistent = done.changed == ids.len() as i64
            && (action == BinAction::Purge || done.items == snapshots);
        if !consistent {
            // Rolled back when `tx` drops.
            return Err(DbError::unknown(anyhow!(
                "changed {} of {} locked tombstones ({} objects)",
                done.changed,
                ids.len(),
                done.items
            )));
        }
        tx.commit()
            .await
            .db("failed to commit a recycle-bin change")?;
        conn.release();
        tracing::debug!(
            tasks = ids.len(),
            objects = done.items,
            "recycle bin changed"
        );
        Ok(planned)
    }

    async fn bin_change(
        &self,
        action: BinAction,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'_>,
    ) -> Result<PlannedBinChange, BinError> {
        let mut attempt = 1;
        loop {
            match self
                .try_bin_change(action, project, selection, planner)
                .await
            {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = ?e, "recycle-bin change aborted; retrying");
                    attempt += 1;
                }
                other => return other.map_err(BinError::from),
            }
        }
    }

    pub(crate) async fn restore_tasks(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'_>,
    ) -> Result<PlannedBinChange, BinError> {
        self.bin_change(BinAction::Restore, project, selection, planner)
            .await
    }

    pub(crate) async fn purge_tasks(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'_>,
    ) -> Result<PlannedBinChange, BinError> {
        self.bin_change(BinAction::Purge, project, selection, planner)
            .await
    }

    pub(crate) async fn list_deleted(
        &self,
        project: &ProjectId,
        asset: Option<AssetId>,
        page: ListPage,
        now: Timestamp,
    ) -> Result<DeletedListing, ListError> {
        let sql = if asset.is_some() {
            DELETED_BY_ASSET
        } else {
            DELETED_ALL
        };
        let mut query = sqlx::query_as::<_, DeletedRow>(sql)
            .bind(project.as_str())
            .bind(i64::from(page.limit()))
            .bind(i64::from(page.offset()))
            .bind(to_db_time(now)?);
        if let Some(asset) = &asset {
            query = query.bind(asset.as_str());
        }
        let mut conn = self.database().acquire().await?;
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .db("failed to list the recycle bin")?;
        conn.release();
        let total = rows
            .first()
            .map_or(0, |r| u64::try_from(r.total).unwrap_or(0));
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(task), Some(asset), Some(count), Some(deleted_at), Some(purge_at)) = (
                row.task_id,
                row.asset_id,
                row.snapshot_count,
                row.deleted_at,
                row.purge_at,
            ) else {
                continue;
            };
            items.push(DeletedTask {
                task: parse_stored(TaskId::parse, &task)?,
                asset: parse_stored(AssetId::parse, &asset)?,
                snapshot_count: usize::try_from(count).unwrap_or(0),
                deleted_at: from_db_time(deleted_at),
                purge_at: from_db_time(purge_at),
            });
        }
        Ok(DeletedListing { total, items })
    }
}
