//! The embedded store's cleanup queue, the port on [`crate::cleanup`]'s
//! state.

use std::collections::BTreeSet;

use async_trait::async_trait;
use vodsnap_domain::{EventTask, ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, ParkedItem, PurgePlan,
};

use crate::cleanup::Removal;
use crate::queue::JobQueue;
use crate::state::Inner;
use crate::work_queue::{MemoryKind, MemoryQueue};

/// The cleanup kind of the embedded store's work queue.
#[derive(Debug)]
pub struct Cleanup;

/// The cleanup queue of a [`crate::MemoryStore`]: the [`CleanupQueue`].
pub type MemoryCleanupQueue = MemoryQueue<Cleanup>;

impl MemoryKind for Cleanup {
    type Job = CleanupItem;
    type Payload = Removal;

    fn queue(inner: &mut Inner) -> &mut JobQueue<Removal> {
        inner.cleanup.queue()
    }

    fn job(inner: &Inner, id: i64) -> Option<CleanupItem> {
        inner.cleanup.item(id)
    }

    /// Removes the items, and writes the `thumbnails.purged` event of the
    /// deleted tasks whose last item they were, in the same step.
    fn complete(
        inner: &mut Inner,
        items: &[CleanupItem],
        worker: &str,
        now: Timestamp,
        purged: &PurgePlan,
    ) -> u64 {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
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
                inner.webhooks.enqueue(std::slice::from_ref(&event), None);
            }
        }
        done
    }
}

#[async_trait]
impl CleanupQueue for MemoryQueue<Cleanup> {
    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError> {
        Ok(self.with_inner(|inner| {
            inner.projects.get(project).is_some_and(|p| {
                p.live()
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
            p.live()
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
