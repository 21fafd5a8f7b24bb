//! The cleanup queue: image objects of deleted task results, waiting to be
//! removed from object storage.
//!
//! A store enqueues the object keys of a task result in the same atomic
//! step that makes the task `DELETED` (for PostgreSQL: the same
//! transaction), so a deletion is never acknowledged without its cleanup
//! being recorded. The items are the cleanup kind of the work queue
//! ([`crate::queue`]): workers claim them under a lease, remove the objects,
//! and complete them; failures are retried with backoff and parked after
//! the retry policy's last attempt.

use std::collections::BTreeSet;

use async_trait::async_trait;
use vodsnap_domain::{Event, EventTask, ObjectKey, ProjectId, Timestamp, TraceContext};

use crate::queue::{QueueError, WorkQueue};

/// One object to remove: a job of the cleanup kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupItem {
    pub id: i64,
    pub project: ProjectId,
    pub object_key: ObjectKey,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The trace of the delete that queued it, if it was traced.
    pub trace: Option<TraceContext>,
}

crate::impl_job!(CleanupItem, PurgePlan, "cleanup", traced);

/// An item that ran out of attempts and waits for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedItem {
    pub item: CleanupItem,
    pub last_error: String,
    pub enqueued_at: Timestamp,
}

/// Decides the `thumbnails.purged` event of a completion in one project
/// (the domain's [`vodsnap_domain::Event::of_purge`]): given the deleted
/// tasks whose last queued item the completion removed, each with its
/// asset, ordered by task id, the event to write with the completion, if
/// any. A store MAY call it more than once (a transaction retried) and
/// writes only what its last call answered.
pub type PurgePlan = dyn Fn(&ProjectId, Vec<EventTask>) -> Option<Event> + Send + Sync;

/// A borrowed [`PurgePlan`].
pub type PurgePlanner<'a> = &'a PurgePlan;

/// The queue's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupStatus {
    /// Items not parked (due, waiting for a retry, or leased), but not
    /// those in a recycle bin.
    pub queued: u64,
    /// Objects of deleted tasks still in their recycle-bin window: never
    /// attempted, not leased, not parked, due after `now`. Not backlog:
    /// they wait on purpose.
    pub recycle_bin: u64,
    /// Of those, items under a live lease (being worked on).
    pub leased: u64,
    /// Items parked after their last attempt.
    pub parked: u64,
    /// When the oldest queued item (not parked, not in a recycle bin) was
    /// enqueued.
    pub oldest_enqueued_at: Option<Timestamp>,
    /// Failed attempts recorded on queued and parked items.
    pub failed_attempts: u64,
    /// Items completed (removed or kept) during the
    /// [`vodsnap_domain::RATE_WINDOW`] before `now`, by every worker.
    pub drained_in_window: u64,
}

/// The cleanup queue's errors are the work queue's.
pub type CleanupError = QueueError;

/// The cleanup kind of the work queue ([`WorkQueue`] of [`CleanupItem`]),
/// and what only the cleanup asks of its store.
///
/// [`WorkQueue::complete`] of cleanup items removes them and counts them as
/// drained at `now` (see [`CleanupStatus::drained_in_window`]). Per project
/// among the items, atomically with their removal: the deleted tasks of
/// which no item is left in the queue afterwards (parked ones count as
/// left; items queued without a task count for none) go to the completion's
/// [`PurgePlan`], and the event it answers is queued for the project's
/// webhooks that ask for its type. Concurrent completions of one task's
/// last items (any process) MUST find it finished exactly once. A constant
/// number of statements per project, whatever the number of items.
#[async_trait]
pub trait CleanupQueue: WorkQueue<CleanupItem> {
    /// Whether a live task result of `project` references `key`. Such an
    /// object MUST NOT be removed. Other projects are never looked at: one
    /// tenant cannot keep another's deleted images alive.
    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError>;

    /// Which of `keys` a live task result of `project` references, in one
    /// look (one statement for the whole batch's keys of a project), with
    /// the same contract as [`CleanupQueue::is_referenced`].
    async fn referenced(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
    ) -> Result<BTreeSet<ObjectKey>, CleanupError>;

    /// The queue's figures at `now`, with the cleanup's own: the recycle
    /// bin and the drain rate.
    async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError>;

    /// Parked items, oldest first, at most `limit`.
    async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError>;
}
