//! Asset purges (Huawei's `DeleteAssets`): the third kind of the work
//! queue ([`crate::queue`]). A call records one purge per asset and is
//! answered at once; from then on the asset's tasks read as deleted, and
//! a worker tombstones them in batches, each batch written as a delete is
//! (tombstones, cleanup items, audit record, events), until none is left.

use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{AssetId, AuditRecord, Event, FoundTask, ProjectId, PurgeProgress, Timestamp};

use crate::queue::{QueueError, WorkQueue};
use crate::store::PlannedDelete;

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

/// A `DeleteAssets` call decided by the service: the assets to purge, in
/// the order given, when, and the call's audit records (one per asset,
/// with the caller: [`AuditRecord::asset_deletions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPurges {
    pub assets: Vec<AssetId>,
    pub at: Timestamp,
    /// Written in the same unit of work as the purges.
    pub audit: Vec<AuditRecord>,
}

/// The end of a purge, decided with its last batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeFinish {
    /// The purge's `finished_at`.
    pub at: Timestamp,
    /// Its `asset.purged` event, written to the outbox with the batch.
    pub events: Vec<Event>,
}

/// One batch of a purge, decided under the store's locks: the batch's
/// delete, and, when it took the asset's last live tasks, the purge's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPurgeBatch {
    pub delete: PlannedDelete,
    pub finish: Option<PurgeFinish>,
}

/// Decides a purge batch from the purge as locked (its progress before
/// the batch) and the asset's live tasks the store found and locked. A
/// store MAY call it more than once (a transaction retried) and commits
/// only what its last call answered.
pub type PurgeBatchPlanner<'a> =
    &'a (dyn Fn(&PurgeProgress, Vec<FoundTask>) -> PlannedPurgeBatch + Send + Sync);

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
    /// The batch closed the purge (the planner's [`PurgeFinish`]).
    pub finished: bool,
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
/// A purge ends with its last batch ([`PurgeQueue::purge_batch`] with a
/// [`PurgeFinish`]), in that batch's unit of work: it is then finished
/// (its progress stays readable), and the asset reads normally again, so
/// registration starts it afresh and a restore of one of its tasks brings
/// that task back for good. [`WorkQueue::complete`] of purge jobs marks
/// unfinished ones finished at `now` (none, when every batch was planned
/// by the service's [`PurgeBatchPlanner`]).
#[async_trait]
pub trait PurgeQueue: WorkQueue<PurgeJob> {
    /// Records a purge of each of `planned.assets` in `project` at
    /// `planned.at`, due at once, with the asset's live tasks counted as
    /// its `tasks_total`; an asset whose purge is unfinished keeps that
    /// one (a repeated call records nothing more). An asset with no task
    /// gets a purge too: it finishes at its first batch. Writes
    /// `planned.audit` with them. A constant number of statements,
    /// whatever the assets' sizes; all or nothing.
    async fn record(&self, project: &ProjectId, planned: &PlannedPurges) -> Result<(), QueueError>;

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
    /// - asks `planner` (with the purge's progress as locked) and writes
    ///   the planned delete exactly as [`crate::TaskResultStore::delete`]
    ///   does (tombstones with their `purge_at`, snapshots moved to the
    ///   cleanup queue, the live count, the audit record, the events);
    /// - adds the batch to the job's progress and extends its lease to
    ///   `now + lease`;
    /// - with a [`PurgeFinish`], marks the purge finished at its `at`
    ///   (lease released) and writes its events, in the same unit of work.
    async fn purge_batch<'a>(
        &self,
        job: &PurgeJob,
        worker: &str,
        planner: PurgeBatchPlanner<'a>,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<PurgedBatch>, QueueError>;
}
