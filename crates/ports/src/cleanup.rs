//! The cleanup queue: image objects of deleted task results, waiting to be
//! removed from object storage.
//!
//! A store enqueues the object keys of a task result in the same atomic
//! step that makes the task `DELETED` (for PostgreSQL: the same
//! transaction), so a deletion is never acknowledged without its cleanup
//! being recorded. Workers claim items under a lease, remove the objects,
//! and complete them; failures are retried with backoff and parked after
//! the retry policy's last attempt.

use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{ObjectKey, ProjectId, Timestamp};

/// One object to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupItem {
    pub id: i64,
    pub project: ProjectId,
    pub object_key: ObjectKey,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// An item that ran out of attempts and waits for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedItem {
    pub item: CleanupItem,
    pub last_error: String,
    pub enqueued_at: Timestamp,
}

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
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CleanupQueue: Send + Sync + 'static {
    /// Leases up to `max` items to `worker` until `now + lease`: items not
    /// parked, due (`retry at <= now`), and not under another live lease.
    /// Concurrent callers (in any process) MUST never receive the same item
    /// while its lease lives. The batch MUST be shared among the projects
    /// with due items as [`vodsnap_domain::ClaimShares`] says, projects
    /// served oldest due item first (ties by project id), each project's
    /// items oldest due first (ties by id): a project with a large backlog
    /// cannot starve the others. Fewer than `max` items may come back while
    /// other claimers hold some (they are skipped, not waited for).
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<CleanupItem>, CleanupError>;

    /// Whether a live task result of `project` references `key`. Such an
    /// object MUST NOT be removed. Other projects are never looked at: one
    /// tenant cannot keep another's deleted images alive.
    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError>;

    /// The item is done (its object is gone, or it is still referenced):
    /// removes it. Returns false, changing nothing, if the lease is no
    /// longer `worker`'s.
    async fn complete(&self, item: &CleanupItem, worker: &str) -> Result<bool, CleanupError>;

    /// Records a failed attempt and releases the lease: due again at
    /// `retry_at`, or parked at `now` when it is `None`. The time comes from
    /// the caller's clock, never the store's. Returns false, changing
    /// nothing, if the lease is no longer `worker`'s.
    async fn fail(
        &self,
        item: &CleanupItem,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, CleanupError>;

    /// The queue's figures at `now`.
    async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError>;

    /// Parked items, oldest first, at most `limit`.
    async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError>;

    /// Makes parked items due at `now` with their attempts reset: those
    /// with the given ids, or all when `ids` is empty. Returns how many.
    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, CleanupError>;
}
