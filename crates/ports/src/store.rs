//! The task-result store: what registrations, lists, details and deletes
//! read and write. The store decides nothing: the service asks the domain
//! (`NewTaskResult::decide`, `DeletePlan::decide`) and the store writes
//! what it was told, atomically with its audit record and cleanup items.

use async_trait::async_trait;

use crate::audit::AuditRecord;
use crate::error::StoreError;
use vodsnap_domain::{
    AssetId, BinPlan, BinSelection, BinnedTask, DeletePlan, DeleteSelection, DeletedTask,
    DetailsPage, Event, FoundTask, ListFilter, ListPage, NewTaskResult, ProjectId, Snapshot,
    TaskId, TaskResult, TaskSummary, Timestamp, TraceContext,
};

/// What a store holds under a task id it refused to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Live(TaskResult),
    /// A tombstone: the id was deleted, and is never reused.
    Deleted,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now, with its audit record.
    Created(TaskResult),
    /// The id is taken; nothing was written.
    Taken(Stored),
    /// The id is free but the asset has an unfinished purge
    /// ([`crate::PurgeQueue`]); nothing was written.
    AssetPurging,
}

/// A delete decided under the store's lock: the plan, its audit record,
/// the time of its tombstones, when they leave the recycle bin (their
/// objects' due time; `at` itself without a recycle bin), and the events to
/// write to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelete {
    pub plan: DeletePlan,
    pub audit: AuditRecord,
    pub at: Timestamp,
    pub purge_at: Timestamp,
    /// Written with the change: one delivery per event and per webhook of
    /// the project that asks for its type (see [`crate::webhooks`]).
    pub events: Vec<Event>,
    /// The trace of the call that asked for it, stored with its cleanup
    /// items and its events so that the work they queue continues it
    /// (see [`crate::trace`]); `None` when nothing is traced.
    pub trace: Option<TraceContext>,
}

/// A committed delete: what was planned, and the live task results of the
/// selection's asset left after it (`None` when it names no asset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedDelete {
    pub planned: PlannedDelete,
    pub live_left: Option<u64>,
}

/// Decides a delete from the rows a store found under its lock. A store
/// MAY call it more than once (a transaction retried after a deadlock) and
/// commits only what its last call answered.
pub type DeletePlanner<'a> = &'a (dyn Fn(Vec<FoundTask>) -> PlannedDelete + Send + Sync);

/// Decides a dry run from the rows a store found under its lock: the plan
/// alone, as nothing is written. A store MAY call it more than once.
pub type PreviewPlanner<'a> = &'a (dyn Fn(Vec<FoundTask>) -> DeletePlan + Send + Sync);

/// A delete previewed, not committed: what it would do, and the live task
/// results of the selection's asset it would leave (`None` when it names
/// no asset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewedDelete {
    pub plan: DeletePlan,
    pub live_left: Option<u64>,
}

/// A restore or a purge decided under the store's lock: the plan, and
/// what the store writes with the change, in the same atomic step: the
/// audit record and the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBinChange {
    pub plan: BinPlan,
    pub audit: AuditRecord,
    /// The time of the change: a purge's new `purge_at` and due time.
    pub at: Timestamp,
    /// Written with the change, as [`PlannedDelete::events`] are: a
    /// restore's `thumbnails.restored` (none when it brought no task back);
    /// a purge's none (its `thumbnails.purged` comes when the cleanup has
    /// removed the objects).
    pub events: Vec<Event>,
}

/// Decides a restore or a purge from the named tasks a store found (and
/// locked). A store MAY call it more than once (a transaction retried) and
/// commits only what its last call answered.
pub type BinPlanner<'a> = &'a (dyn Fn(Vec<BinnedTask>) -> PlannedBinChange + Send + Sync);

/// A page of the recycle bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedListing {
    /// All restorable matches, not only this page's.
    pub total: u64,
    pub items: Vec<DeletedTask>,
}

#[derive(Debug, thiserror::Error)]
pub enum BinError {
    /// Nothing was changed, or the store cannot say whether it was: the
    /// call is safe to retry (restore and purge are idempotent).
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Stored now (201).
    Created(TaskResult),
    /// The same result was already stored (200); nothing changed.
    AlreadyRegistered(TaskResult),
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("another task result is registered under this task_id")]
    ConflictsWithLive,
    #[error("this task_id was deleted; task ids are never reused")]
    ConflictsWithDeleted,
    #[error("the asset is being purged; register its task results once the purge is done")]
    AssetPurging,
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// A page of the list call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// All live matches, not only this page's.
    pub total: u64,
    pub items: Vec<TaskSummary>,
}

pub type ListError = StoreError;

/// A page of one task's snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// All snapshots of the task.
    pub total: u64,
    pub items: Vec<Snapshot>,
}

#[derive(Debug, thiserror::Error)]
pub enum DetailsError {
    #[error("no live task result with this task_id")]
    NotFound,
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Nothing was deleted, or the store cannot say what was: every item's
    /// outcome is unknown and the call is safe to retry.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("the store is unavailable")]
pub struct PingError(#[source] pub anyhow::Error);

/// Where task results live. Every method is scoped to one project; nothing
/// of one project is ever visible through another.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TaskResultStore: Send + Sync + 'static {
    /// Inserts `new`, stamped `now`, with its snapshots, `audit` and
    /// `events` (queued for the project's webhooks that ask for their
    /// type), in one atomic step, unless its task id is taken.
    ///
    /// - MUST insert and return `Created` if the id was never used.
    /// - MUST return `Taken` with what it holds, writing nothing (no event
    ///   either), if the id is live or deleted (a live task of an asset
    ///   being purged is deleted: see [`crate::PurgeQueue`]).
    /// - Else MUST return `AssetPurging`, writing nothing, if the asset has
    ///   an unfinished purge.
    /// - Of concurrent inserts of one id, exactly one MUST return `Created`.
    ///
    /// Only `Unavailable` and `Unknown` errors.
    async fn insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        audit: &AuditRecord,
        events: &[Event],
    ) -> Result<Inserted, RegisterError>;

    /// Lists live task results matching `filter`, oldest first, ties by
    /// task id, with the total of all matches.
    async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError>;

    /// One live task result's snapshots, ordered by offset.
    ///
    /// MUST return `NotFound` for an unknown or deleted task.
    async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError>;

    /// One live task result, or `None` if unknown or deleted.
    async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError>;

    /// A delete as one unit of work: find and lock the rows, ask `planner`,
    /// commit what it planned.
    ///
    /// - By task ids: finds each selected task of `project` that exists,
    ///   live or tombstoned, and locks it; concurrent deletes sharing tasks
    ///   MUST queue, not deadlock, and the later one MUST see the earlier
    ///   one's tombstones.
    /// - By asset alone: finds the asset's oldest live task results, at most
    ///   10, oldest first (ties by task id), skipping (not waiting for) the
    ///   ones another delete holds, so concurrent asset deletes take
    ///   disjoint batches.
    /// - Then, atomically and durably before returning: tombstones exactly
    ///   `plan.doomed()` (each MUST be live and locked, else nothing is
    ///   written and `Unknown` is returned), stamps them `purge_at`, moves
    ///   their snapshots (offsets and object keys, tagged with the task)
    ///   to the cleanup queue, due at `purge_at`, writes `audit`, and queues
    ///   `events` for the project's webhooks that ask for their type.
    /// - Counts the live task results of the selection's asset left after
    ///   the commit (tasks being deleted by other calls still count).
    ///
    /// Only `Unavailable` and `Unknown` errors: either means the outcome is
    /// unknown.
    async fn delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'a>,
    ) -> Result<CommittedDelete, DeleteError>;

    /// A dry run of [`TaskResultStore::delete`]: the same unit of work up
    /// to the plan, then nothing written.
    ///
    /// - MUST find and lock the rows exactly as `delete` does (waiting for
    ///   a concurrent delete of the same tasks, skipping the asset's rows
    ///   another delete holds), and ask `planner`.
    /// - MUST check, as `delete` does, that every task of `plan.doomed()`
    ///   is live, else return `Unknown`.
    /// - MUST write nothing: no tombstone, no cleanup item, no audit
    ///   record; locks are released (a transaction rolled back).
    /// - Counts the live task results of the selection's asset that the
    ///   delete would leave: those live now, less the doomed ones.
    ///
    /// Only `Unavailable` and `Unknown` errors; nothing changed either way.
    async fn preview_delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'a>,
    ) -> Result<PreviewedDelete, DeleteError>;

    /// A restore from the recycle bin as one unit of work.
    ///
    /// - Finds each named task of `project` that exists, live or
    ///   tombstoned, and locks it (in task id order, as a delete does, so
    ///   that a restore and a delete of the same tasks queue); for a
    ///   tombstone, also locks its objects' cleanup items, waiting for a
    ///   claim in flight, so that no claim can take them until the restore
    ///   commits. Reports each as [`vodsnap_domain::BinState`]: a
    ///   tombstone is `intact` when every one of its snapshots' items is
    ///   still queued, never claimed, never attempted, never parked.
    /// - Asks `planner`, then atomically: for each task of
    ///   `plan.changed()` (each MUST be a locked, intact tombstone, else
    ///   nothing is written and `Unknown` is returned), removes its cleanup
    ///   items and makes it live again exactly as it was (the same
    ///   snapshots, asset, parameters and `created_at`); writes `audit`
    ///   and queues `events` for the project's webhooks that ask for their
    ///   type.
    async fn restore<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError>;

    /// An early purge from the recycle bin as one unit of work.
    ///
    /// - Finds and locks the named tasks as [`TaskResultStore::restore`]
    ///   does (`intact` need not be exact: a purge does not read it).
    /// - Asks `planner`, then atomically: for each task of
    ///   `plan.changed()` (each MUST be a tombstone, else nothing is
    ///   written and `Unknown` is returned), sets its `purge_at` to `at`
    ///   and makes its queued items not parked due at `at` (none later);
    ///   writes `audit` and queues `events` as `restore` does.
    async fn purge<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError>;

    /// The recycle bin: tombstones of `project` (of `asset` only, if
    /// given) still restorable at `now` (`now < purge_at`, as
    /// [`vodsnap_domain::recycle::in_window`] says), oldest deletion first,
    /// ties by task id, with the total of all of them.
    async fn deleted(
        &self,
        project: &ProjectId,
        asset: Option<AssetId>,
        page: ListPage,
        now: Timestamp,
    ) -> Result<DeletedListing, ListError>;

    /// Whether the store answers; for readiness.
    async fn ping(&self) -> Result<(), PingError>;
}
