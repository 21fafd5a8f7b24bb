//! The embedded store's cleanup queue, the port on [`crate::cleanup`]'s
//! state.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{EventTask, ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, FailedAttempt, Job, ParkedItem,
    PurgePlan, QueueBacklog, QueueError, WorkQueue,
};

use crate::queue::JobQueue;
use crate::state::{Inner, Shared};

/// The cleanup queue of a [`crate::MemoryStore`]: the [`CleanupQueue`].
#[derive(Debug, Clone)]
pub struct MemoryCleanupQueue {
    shared: Shared,
}

impl MemoryCleanupQueue {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }
}

#[async_trait]
impl WorkQueue<CleanupItem> for MemoryCleanupQueue {
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<CleanupItem>, QueueError> {
        Ok(self.with_inner(|inner| inner.cleanup.claim(worker, max, lease, now)))
    }

    async fn complete(
        &self,
        items: &[CleanupItem],
        worker: &str,
        now: Timestamp,
        purged: &PurgePlan,
    ) -> Result<u64, QueueError> {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        // Under the one lock: the removal, the finished tasks and their
        // events are one atomic step.
        Ok(self.with_inner(|inner| {
            let (done, finished) = inner.cleanup.complete_all(&ids, worker, now);
            for (project, tasks) in finished {
                let Some(p) = inner.projects.get(&project) else {
                    continue;
                };
                let tasks: Vec<EventTask> = tasks
                    .into_iter()
                    .filter_map(|task| {
                        let asset = p.deleted.get(&task)?.result.asset().clone();
                        Some(EventTask { task, asset })
                    })
                    .collect();
                if let Some(event) = purged(&project, tasks) {
                    inner.webhooks.enqueue(std::slice::from_ref(&event));
                }
            }
            done
        }))
    }

    async fn fail(
        &self,
        failures: &[FailedAttempt<CleanupItem>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| fail_all(inner.cleanup.queue(), failures, worker, now)))
    }

    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| inner.cleanup.queue().retry_parked(&ids, now)))
    }

    async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError> {
        Ok(self.with_inner(|inner| inner.cleanup.queue().backlog(now)))
    }
}

/// Records failed attempts on `queue`; answers how many it recorded.
pub(crate) fn fail_all<P, J: Job>(
    queue: &mut JobQueue<P>,
    failures: &[FailedAttempt<J>],
    worker: &str,
    now: Timestamp,
) -> u64 {
    failures
        .iter()
        .filter(|f| queue.fail(f.item.id(), worker, &f.error, f.retry_at, now))
        .count() as u64
}

#[async_trait]
impl CleanupQueue for MemoryCleanupQueue {
    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError> {
        Ok(self.with_inner(|inner| {
            inner.projects.get(project).is_some_and(|p| {
                p.live
                    .values()
                    .any(|t| t.snapshots().iter().any(|s| s.object_key() == key))
            })
        }))
    }

    async fn referenced(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
    ) -> Result<BTreeSet<ObjectKey>, CleanupError> {
        Ok(self.with_inner(|inner| {
            let Some(p) = inner.projects.get(project) else {
                return BTreeSet::new();
            };
            let wanted: BTreeSet<&ObjectKey> = keys.iter().collect();
            p.live
                .values()
                .flat_map(|t| t.snapshots().iter().map(|s| s.object_key()))
                .filter(|k| wanted.contains(k))
                .cloned()
                .collect()
        }))
    }

    async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError> {
        Ok(self.with_inner(|inner| inner.cleanup.status(now)))
    }

    async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError> {
        Ok(self.with_inner(|inner| inner.cleanup.parked(limit)))
    }
}
