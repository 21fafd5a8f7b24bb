//! The task-result store: registrations, lists, details and deletes.

use async_trait::async_trait;

use crate::audit::Actor;
use vodsnap_domain::{
    DeleteReport, DeleteSelection, DetailsPage, ListFilter, ListPage, NewTaskResult, ProjectId,
    Snapshot, TaskId, TaskResult, TaskSummary, Timestamp,
};

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

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

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
    /// Registers a task result, stamped `now` if it is new.
    ///
    /// - MUST return `Created` and store it if the task id was never used.
    /// - MUST return `AlreadyRegistered` with the stored result, changing
    ///   nothing, if the same result is stored (see `NewTaskResult::decide`).
    /// - MUST return `ConflictsWithLive` if another result is stored under
    ///   the id, and `ConflictsWithDeleted` if the id was deleted.
    /// - Concurrent identical registrations MUST give exactly one `Created`.
    /// - A registration answered `Created` or `AlreadyRegistered` MUST be
    ///   recorded in the audit trail, atomically with its effect.
    async fn register(
        &self,
        new: NewTaskResult,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Registered, RegisterError>;

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

    /// Deletes the selected task results.
    ///
    /// - By task ids: one item per selected id, in selection order; a task
    ///   deleted before (by anyone) MUST answer `DELETED` again; an unknown
    ///   task MUST fail with `UnknownTask`; with an asset as well, a task of
    ///   another asset MUST fail with `OtherAsset` and stay.
    /// - By asset alone: the asset's oldest live results, at most 10, each
    ///   `DELETED`, and `remaining` = the asset's live results left.
    /// - A deletion MUST be recorded once, however many callers race, and
    ///   MUST be durable before this returns.
    /// - Every answered call MUST be recorded in the audit trail,
    ///   atomically with its effect.
    async fn delete(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<DeleteReport, DeleteError>;

    /// Whether the store answers; for readiness.
    async fn ping(&self) -> Result<(), PingError>;
}
