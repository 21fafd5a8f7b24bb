//! The embedded store's state: every project's task results, the queues
//! and the audit trail, behind one lock shared by the store's ports.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use vodsnap_domain::{AssetId, ObjectKey, ProjectId, TaskId, TaskResult, Timestamp};
use vodsnap_ports::{AuditRecord, PlannedDelete};

use crate::cleanup::CleanupState;
use crate::purge_state::PurgeState;
use crate::webhooks::WebhookState;

/// A deleted task result: kept whole, so that a restore in its window
/// makes it live exactly as it was.
#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    pub result: TaskResult,
    pub deleted_at: Timestamp,
    pub purge_at: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct Project {
    /// Live task results; changed only through [`Project::insert_live`]
    /// and [`Project::remove_live`], which keep `live_per_asset` with it.
    live: HashMap<TaskId, TaskResult>,
    /// Each asset's number of live task results (visible or not), so that
    /// a list by asset answers its `total` without a scan, as PostgreSQL's
    /// `live_asset_counts` does. An asset's entry goes when it reaches 0.
    live_per_asset: HashMap<AssetId, u64>,
    /// Deleted task ids: ids are never reused, a repeated delete answers
    /// `DELETED` again with the task's asset, and a restore in the window
    /// brings the result back.
    pub deleted: HashMap<TaskId, Tombstone>,
    /// Assets with an unfinished purge: their live tasks read as deleted
    /// until the purge has tombstoned them.
    pub purging: HashSet<AssetId>,
}

impl Project {
    /// Whether a live task reads as live: not of an asset being purged.
    pub fn visible(&self, task: &TaskResult) -> bool {
        !self.purging.contains(task.asset())
    }

    /// The live task results, by id.
    pub fn live(&self) -> &HashMap<TaskId, TaskResult> {
        &self.live
    }

    /// `result` live (a registration, or a restore of its tombstone).
    pub fn insert_live(&mut self, result: TaskResult) {
        let asset = result.asset().clone();
        if let Some(replaced) = self.live.insert(result.task().clone(), result) {
            // Not reached: a task id is inserted once, or restored from its
            // tombstone; kept so the counts cannot drift if it were.
            self.uncount(replaced.asset());
        }
        *self.live_per_asset.entry(asset).or_default() += 1;
    }

    /// `task` no longer live; its result, if it was.
    pub fn remove_live(&mut self, task: &TaskId) -> Option<TaskResult> {
        let removed = self.live.remove(task)?;
        self.uncount(removed.asset());
        Some(removed)
    }

    fn uncount(&mut self, asset: &AssetId) {
        if let Some(n) = self.live_per_asset.get_mut(asset) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.live_per_asset.remove(asset);
            }
        }
    }

    /// The asset's live task results as a read sees them: 0 while it is
    /// being purged. One map lookup, whatever the asset's size.
    pub fn visible_of_asset(&self, asset: &AssetId) -> u64 {
        if self.purging.contains(asset) {
            return 0;
        }
        self.live_per_asset.get(asset).copied().unwrap_or(0)
    }

    /// The asset's live task results, purging or not (what a purge of it
    /// would tombstone).
    pub fn live_of_asset_count(&self, asset: &AssetId) -> u64 {
        self.live_per_asset.get(asset).copied().unwrap_or(0)
    }
}

/// Task results and the cleanup queue, behind one lock so that a delete
/// and the enqueueing of its objects are one atomic step.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub projects: HashMap<ProjectId, Project>,
    pub cleanup: CleanupState,
    pub audit: Vec<AuditRecord>,
    pub webhooks: WebhookState,
    pub purges: PurgeState,
}

impl Inner {
    /// Writes a planned delete whose doomed tasks are live (checked by the
    /// caller): their tombstones, their objects queued for the cleanup, the
    /// audit record and the events. Answers how many objects it queued.
    pub(crate) fn tombstone(&mut self, project: &ProjectId, planned: &PlannedDelete) -> u64 {
        let inner = self;
        let p = inner.projects.entry(project.clone()).or_default();
        let mut freed: Vec<(TaskId, ObjectKey)> = Vec::new();
        for task in planned.plan.doomed() {
            if let Some(removed) = p.remove_live(task) {
                freed.extend(
                    removed
                        .snapshots()
                        .iter()
                        .map(|s| (task.clone(), s.object_key().clone())),
                );
                p.deleted.insert(
                    task.clone(),
                    Tombstone {
                        result: removed,
                        deleted_at: planned.at,
                        purge_at: planned.purge_at,
                    },
                );
            }
        }
        let queued = freed.len() as u64;
        for (task, key) in freed {
            inner
                .cleanup
                .enqueue(project.clone(), task, key, planned, planned.purge_at);
        }
        inner.audit.push(planned.audit.clone());
        inner
            .webhooks
            .enqueue(&planned.events, planned.trace.as_ref());
        queued
    }
}

/// The state and its lock, shared by the store's ports (cheap to clone).
#[derive(Debug, Default, Clone)]
pub(crate) struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    /// Runs `f` under the lock: one atomic step.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave a half-applied change:
        // every mutation happens after all checks, so the data is still
        // consistent and we keep serving.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}
