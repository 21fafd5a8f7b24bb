//! Asset purges (Huawei's `DeleteAssets`): the third kind of the work
//! queue ([`crate::queue`]). A call records one purge per asset and is
//! answered at once; from then on the asset's tasks read as deleted, and
//! a worker tombstones them in batches, each batch written as a delete is
//! (tombstones, cleanup items, audit record, events), until none is left.

use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{AssetId, ProjectId, PurgeProgress, Timestamp};

use crate::queue::{QueueError, WorkQueue};
use crate::store::DeletePlanner;

/// One recorded purge of one asset: a job of the purge kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeJob {
    pub id: i64,
    pub project: ProjectId,
    pub asset: AssetId,
    /// Failed attempts so far.
    pub attempts: u32,
}

// Completing a purge writes its finish; nothing from the service.
crate::impl_job!(PurgeJob, (), "asset-purge");

/// What one batch of a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedBatch {
    /// The asset's live tasks the batch found (and locked), at most
    /// [`vodsnap_domain::PURGE_BATCH`]; fewer: it took the last of them
    /// ([`vodsnap_domain::purge_has_more`]).
    pub found: usize,
    /// Tasks it tombstoned.
    pub tasks: u64,
    /// Image objects it queued for the cleanup.
    pub objects: u64,
}

/// The purge kind of the work queue, and what only purges ask of a store.
///
/// **Reads.** While a purge of an asset is unfinished (running, waiting
/// for a retry or parked), every live task of that asset in that project
/// reads as deleted: absent from lists (and their totals) and details, a
/// tombstone to a delete by task id, not found by an asset-only delete.
/// The task-result store MUST answer so in the same single read it makes
/// anyway (PostgreSQL: one statement). A registration of a new task id
/// for such an asset MUST write nothing and answer
/// [`crate::Inserted::AssetPurging`].
///
/// [`WorkQueue::complete`] of purge jobs marks them finished at `now`
/// (their progress stays readable); the asset then reads normally again,
/// so registration starts it afresh.
#[async_trait]
pub trait PurgeQueue: WorkQueue<PurgeJob> {
    /// Records a purge of each of `assets` in `project` at `now`, due at
    /// once, with the asset's live tasks counted as its `tasks_total`;
    /// an asset whose purge is unfinished keeps that one (a repeated call
    /// records nothing more). An asset with no task gets a purge too: it
    /// finishes at its first batch. A constant number of statements,
    /// whatever the assets' sizes; all or nothing.
    async fn record(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
        now: Timestamp,
    ) -> Result<(), QueueError>;

    /// What [`PurgeQueue::record`] would purge, writing nothing: each
    /// asset's live tasks (the unfinished purge's included), in the order
    /// given. One statement.
    async fn preview(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
    ) -> Result<Vec<u64>, QueueError>;

    /// The latest purge of `asset` in `project`, or `None` if it never
    /// had one.
    async fn progress(
        &self,
        project: &ProjectId,
        asset: &AssetId,
    ) -> Result<Option<PurgeProgress>, QueueError>;

    /// One batch of `job`, as one unit of work, only while `worker` holds
    /// its lease (else `None`, nothing written):
    /// - locks the job, then the asset's oldest live tasks (of the job's
    ///   project only), at most [`vodsnap_domain::PURGE_BATCH`], waiting
    ///   for (not skipping) rows a delete or restore holds;
    /// - asks `planner` ([`vodsnap_domain::DeletePlan::of_purge`]) and
    ///   writes what it planned exactly as
    ///   [`crate::TaskResultStore::delete`] does (tombstones with their
    ///   `purge_at`, snapshots moved to the cleanup queue, the live count,
    ///   the audit record, the events);
    /// - adds the batch to the job's progress and extends its lease to
    ///   `now + lease`.
    async fn purge_batch<'a>(
        &self,
        job: &PurgeJob,
        worker: &str,
        planner: DeletePlanner<'a>,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<PurgedBatch>, QueueError>;
}
