//! In-memory task results, with tombstones for deleted task ids: the
//! embedded store's [`TaskResultStore`].

use std::collections::HashMap;

use async_trait::async_trait;
use vodsnap_domain::recycle::in_window;
use vodsnap_domain::{
    AssetId, BinAction, BinSelection, BinState, BinnedTask, DeleteSelection, DeletedTask,
    DetailsPage, Event, FoundTask, ListFilter, ListPage, MAX_TASKS_PER_CALL, NewTaskResult,
    ProjectId, TaskId, TaskResult, Timestamp,
};
use vodsnap_ports::{
    AuditRecord, BinError, BinPlanner, CommittedDelete, DeleteError, DeletePlanner, DeletedListing,
    DetailsError, Inserted, ListError, Listing, PingError, PlannedBinChange, PreviewPlanner,
    PreviewedDelete, RegisterError, SnapshotPage, Stored, TaskResultStore,
};

use crate::cleanup::CleanupState;
use crate::state::{Inner, Project, Shared, Tombstone};
use crate::{MemoryAuditLog, MemoryCleanupQueue, MemoryWebhookStore};

impl Project {
    fn live_of_asset(&self, asset: &AssetId) -> Vec<&TaskResult> {
        let mut tasks: Vec<&TaskResult> = self
            .live()
            .values()
            .filter(|t| t.asset() == asset && self.visible(t))
            .collect();
        tasks.sort_by(|a, b| (a.created_at(), a.task()).cmp(&(b.created_at(), b.task())));
        tasks
    }

    /// Fails unless every task a plan dooms is live: a store writes only
    /// tombstones of live tasks.
    pub(crate) fn check_doomed(&self, doomed: &[TaskId]) -> Result<(), DeleteError> {
        match doomed.iter().find(|t| !self.live().contains_key(*t)) {
            Some(task) => Err(DeleteError::Unknown(anyhow::anyhow!(
                "the plan dooms task {task}, which is not live"
            ))),
            None => Ok(()),
        }
    }

    /// The live task results of the selection's asset once `doomed` are
    /// gone (`None` when the selection names no asset). Counted before
    /// any write, so that a delete and its dry run count alike.
    fn live_left_after(&self, selection: &DeleteSelection, doomed: &[TaskId]) -> Option<u64> {
        selection.asset().map(|asset| {
            self.live_of_asset(asset)
                .into_iter()
                .filter(|t| !doomed.contains(t.task()))
                .count() as u64
        })
    }

    /// The selected tasks that exist, live or tombstoned; for an asset-only
    /// selection, the asset's oldest live ones.
    fn find(&self, selection: &DeleteSelection) -> Vec<FoundTask> {
        if selection.is_asset_only() {
            return selection
                .asset()
                .map(|asset| {
                    self.live_of_asset(asset)
                        .into_iter()
                        .take(MAX_TASKS_PER_CALL)
                        .map(|t| FoundTask::live(t.task().clone(), asset.clone()))
                        .collect()
                })
                .unwrap_or_default();
        }
        selection
            .tasks()
            .iter()
            .filter_map(|task| {
                if let Some(tombstone) = self.deleted.get(task) {
                    return Some(FoundTask {
                        task: task.clone(),
                        asset: tombstone.result.asset().clone(),
                        deleted: true,
                    });
                }
                self.live().get(task).map(|t| FoundTask {
                    task: task.clone(),
                    asset: t.asset().clone(),
                    // A task of an asset being purged is deleted already.
                    deleted: !self.visible(t),
                })
            })
            .collect()
    }
}

/// Task results held in memory: the [`TaskResultStore`]. The other ports
/// of the embedded store share its state and its lock, so that a change
/// and what it queues (cleanup items, deliveries, its audit record) are one
/// atomic step: [`MemoryStore::audit_log`], [`MemoryStore::cleanup_queue`],
/// [`MemoryStore::webhook_store`].
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    shared: Shared,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The audit trail of this store's changes.
    pub fn audit_log(&self) -> MemoryAuditLog {
        MemoryAuditLog::new(self.shared.clone())
    }

    /// The cleanup queue of this store's deleted objects.
    pub fn cleanup_queue(&self) -> MemoryCleanupQueue {
        MemoryCleanupQueue::new(self.shared.clone())
    }

    /// The asset purges of this store's projects.
    pub fn purge_queue(&self) -> crate::MemoryPurgeQueue {
        crate::MemoryPurgeQueue::new(self.shared.clone())
    }

    /// The webhooks of this store's projects, and their deliveries.
    pub fn webhook_store(&self) -> MemoryWebhookStore {
        MemoryWebhookStore::new(self.shared.clone())
    }

    /// What `vodsnap reconcile` reads of this store, and its queueing of
    /// orphans.
    pub fn reconcile_store(&self) -> crate::MemoryReconcileStore {
        crate::MemoryReconcileStore::new(self.shared.clone())
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }

    fn with_projects<T>(&self, f: impl FnOnce(&mut HashMap<ProjectId, Project>) -> T) -> T {
        self.with_inner(|inner| f(&mut inner.projects))
    }

    /// A restore or a purge, in one lock for find, plan and write: the
    /// tasks the domain's plan changes (checked with
    /// [`vodsnap_domain::BinPlan::may_change`] before any write) go through
    /// `change` (the project, the cleanup queue, the task, the plan's
    /// time), then the audit record and the events are written.
    fn bin_change(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'_>,
        action: BinAction,
        mut change: impl FnMut(&mut Project, &mut CleanupState, &TaskId, Timestamp),
    ) -> Result<PlannedBinChange, BinError> {
        self.with_inner(|inner| {
            let p = inner.projects.entry(project.clone()).or_default();
            let found = find_binned(p, &inner.cleanup, project, selection);
            let planned = planner(found.clone());
            planned
                .plan
                .may_change(action, &found)
                .map_err(|e| BinError::Unknown(e.into()))?;
            for task in planned.plan.changed() {
                change(p, &mut inner.cleanup, task, planned.at);
            }
            inner.audit.push(planned.audit.clone());
            inner.webhooks.enqueue(&planned.events, None);
            Ok(planned)
        })
    }
}

#[async_trait]
impl TaskResultStore for MemoryStore {
    async fn insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        audit: &AuditRecord,
        events: &[Event],
    ) -> Result<Inserted, RegisterError> {
        Ok(self.with_inner(|inner| {
            let project = inner.projects.entry(new.project().clone()).or_default();
            if project.deleted.contains_key(new.task()) {
                return Inserted::Taken(Stored::Deleted);
            }
            if let Some(live) = project.live().get(new.task()) {
                if !project.visible(live) {
                    return Inserted::Taken(Stored::Deleted);
                }
                return Inserted::Taken(Stored::Live(live.clone()));
            }
            if project.purging.contains(new.asset()) {
                return Inserted::AssetPurging;
            }
            let stored = new.clone().into_stored(now);
            project.insert_live(stored.clone());
            inner.audit.push(audit.clone());
            inner.webhooks.enqueue(events, None);
            Inserted::Created(stored)
        }))
    }

    async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError> {
        Ok(self.with_projects(|projects| {
            let Some(p) = projects.get(project) else {
                return Listing {
                    total: 0,
                    items: Vec::new(),
                };
            };
            let mut matches: Vec<&TaskResult> = p
                .live()
                .values()
                .filter(|t| p.visible(t))
                .filter(|t| filter.asset.as_ref().is_none_or(|a| a == t.asset()))
                .filter(|t| filter.task.as_ref().is_none_or(|id| id == t.task()))
                .collect();
            matches.sort_by(|a, b| (a.created_at(), a.task()).cmp(&(b.created_at(), b.task())));
            // By asset alone, the total is the asset's count (as
            // PostgreSQL's `live_asset_counts`), not the matches counted.
            let total = match (&filter.asset, &filter.task) {
                (Some(asset), None) => p.visible_of_asset(asset),
                _ => matches.len() as u64,
            };
            Listing {
                total,
                items: matches
                    .into_iter()
                    .skip(page.offset() as usize)
                    .take(page.limit() as usize)
                    .map(TaskResult::summary)
                    .collect(),
            }
        }))
    }

    async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError> {
        self.with_projects(|projects| {
            let result = projects
                .get(project)
                .and_then(|p| p.live().get(task).filter(|t| p.visible(t)))
                .ok_or(DetailsError::NotFound)?;
            Ok(SnapshotPage {
                total: result.snapshots().len() as u64,
                items: result
                    .snapshots()
                    .iter()
                    .skip(page.offset() as usize)
                    .take(page.limit() as usize)
                    .cloned()
                    .collect(),
            })
        })
    }

    async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError> {
        Ok(self.with_projects(|projects| {
            projects
                .get(project)
                .and_then(|p| p.live().get(task).filter(|t| p.visible(t)))
                .cloned()
        }))
    }

    async fn delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'a>,
    ) -> Result<CommittedDelete, DeleteError> {
        // One lock for the whole unit of work: find, plan, write.
        self.with_inner(|inner| {
            let p = inner.projects.entry(project.clone()).or_default();
            let planned = planner(p.find(selection));
            // Checked before any write, so a wrong plan changes nothing.
            p.check_doomed(planned.plan.doomed())?;
            let live_left = p.live_left_after(selection, planned.plan.doomed());
            inner.tombstone(project, &planned);
            Ok(CommittedDelete { planned, live_left })
        })
    }

    async fn preview_delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'a>,
    ) -> Result<PreviewedDelete, DeleteError> {
        // The same find, plan and check as a delete, under the same lock;
        // then nothing is written (not even an empty entry for a project
        // never seen).
        self.with_inner(|inner| {
            let unseen = Project::default();
            let p = inner.projects.get(project).unwrap_or(&unseen);
            let plan = planner(p.find(selection));
            p.check_doomed(plan.doomed())?;
            let live_left = p.live_left_after(selection, plan.doomed());
            Ok(PreviewedDelete { plan, live_left })
        })
    }

    async fn restore<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError> {
        // The cleanup's claim takes the same lock, so it cannot take a
        // restored task's items meanwhile.
        let action = BinAction::Restore;
        self.bin_change(
            project,
            selection,
            planner,
            action,
            |p, cleanup, task, _| {
                if let Some(tombstone) = p.deleted.remove(task) {
                    cleanup.remove_task(project, task);
                    p.insert_live(tombstone.result);
                }
            },
        )
    }

    async fn purge<'a>(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        planner: BinPlanner<'a>,
    ) -> Result<PlannedBinChange, BinError> {
        let action = BinAction::Purge;
        self.bin_change(
            project,
            selection,
            planner,
            action,
            |p, cleanup, task, at| {
                if let Some(tombstone) = p.deleted.get_mut(task) {
                    tombstone.purge_at = tombstone.purge_at.min(at);
                    cleanup.due_now(project, task, at);
                }
            },
        )
    }

    async fn deleted(
        &self,
        project: &ProjectId,
        asset: Option<AssetId>,
        page: ListPage,
        now: Timestamp,
    ) -> Result<DeletedListing, ListError> {
        Ok(self.with_projects(|projects| {
            let Some(p) = projects.get(project) else {
                return DeletedListing {
                    total: 0,
                    items: Vec::new(),
                };
            };
            let mut matches: Vec<(&TaskId, &Tombstone)> = p
                .deleted
                .iter()
                .filter(|(_, t)| in_window(t.purge_at, now))
                .filter(|(_, t)| asset.as_ref().is_none_or(|a| a == t.result.asset()))
                .collect();
            matches.sort_by(|a, b| (a.1.deleted_at, a.0).cmp(&(b.1.deleted_at, b.0)));
            DeletedListing {
                total: matches.len() as u64,
                items: matches
                    .into_iter()
                    .skip(page.offset() as usize)
                    .take(page.limit() as usize)
                    .map(|(task, t)| DeletedTask {
                        task: task.clone(),
                        asset: t.result.asset().clone(),
                        snapshot_count: t.result.snapshots().len(),
                        deleted_at: t.deleted_at,
                        purge_at: t.purge_at,
                    })
                    .collect(),
            }
        }))
    }

    async fn ping(&self) -> Result<(), PingError> {
        Ok(())
    }
}

/// The named tasks that exist, for a restore or a purge: live, or a
/// tombstone with its window and whether its queued objects are intact.
fn find_binned(
    p: &Project,
    cleanup: &CleanupState,
    project: &ProjectId,
    selection: &BinSelection,
) -> Vec<BinnedTask> {
    selection
        .tasks()
        .iter()
        .filter_map(|task| {
            if let Some(t) = p.deleted.get(task) {
                return Some(BinnedTask {
                    task: task.clone(),
                    asset: t.result.asset().clone(),
                    state: BinState::Deleted {
                        purge_at: t.purge_at,
                        intact: cleanup.task_intact(project, task, t.result.snapshots().len()),
                    },
                });
            }
            p.live().get(task).map(|t| BinnedTask {
                task: task.clone(),
                asset: t.asset().clone(),
                state: BinState::Live,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    vodsnap_store_suite::task_result_store_tests!(|| async {
        let store = MemoryStore::new();
        std::sync::Arc::new(vodsnap_store_suite::use_cases::SuiteStore {
            audit: std::sync::Arc::new(store.audit_log()),
            results: std::sync::Arc::new(store),
            keep_alive: std::sync::Arc::new(()),
        })
    });

    /// One embedded store behind every port the cleanup and recycle bin
    /// suites use.
    fn stores() -> vodsnap_store_suite::cleanup_cases::Stores {
        let store = MemoryStore::new();
        vodsnap_store_suite::cleanup_cases::Stores {
            cleanup: std::sync::Arc::new(store.cleanup_queue()),
            audit: std::sync::Arc::new(store.audit_log()),
            results: std::sync::Arc::new(store),
            keep_alive: std::sync::Arc::new(()),
        }
    }

    mod cleanup {
        vodsnap_store_suite::cleanup_queue_tests!(|| async { super::stores() });
    }

    mod recycle_bin {
        vodsnap_store_suite::recycle_bin_tests!(|| async { super::stores() });
    }

    mod asset_purges {
        use crate::MemoryStore;
        use std::sync::Arc;
        use vodsnap_store_suite::purge_cases::PurgeStores;

        vodsnap_store_suite::asset_purge_tests!(|| async {
            let store = MemoryStore::new();
            PurgeStores {
                cleanup: Arc::new(store.cleanup_queue()),
                audit: Arc::new(store.audit_log()),
                purges: Arc::new(store.purge_queue()),
                webhooks: Arc::new(store.webhook_store()),
                results: Arc::new(store),
                keep_alive: Arc::new(()),
            }
        });
    }

    mod reconcile {
        use crate::MemoryStore;
        use std::sync::Arc;
        use vodsnap_store_suite::reconcile_cases::ReconcileStores;

        vodsnap_store_suite::reconcile_store_tests!(|| async {
            let store = MemoryStore::new();
            ReconcileStores {
                cleanup: Arc::new(store.cleanup_queue()),
                audit: Arc::new(store.audit_log()),
                reconcile: Arc::new(store.reconcile_store()),
                results: Arc::new(store),
                keep_alive: Arc::new(()),
            }
        });
    }

    mod webhooks {
        use crate::MemoryStore;
        use std::sync::Arc;
        use vodsnap_store_suite::webhook_cases::WebhookStores;

        vodsnap_store_suite::webhook_store_tests!(|| async {
            let store = MemoryStore::new();
            WebhookStores {
                cleanup: Arc::new(store.cleanup_queue()),
                audit: Arc::new(store.audit_log()),
                webhooks: Arc::new(store.webhook_store()),
                results: Arc::new(store),
                keep_alive: Arc::new(()),
            }
        });
    }

    mod credentials {
        use crate::MemoryCredentialStore;
        use vodsnap_ports::CredentialStore;

        vodsnap_store_suite::credential_store_tests!(|| async {
            std::sync::Arc::new(MemoryCredentialStore::new()) as std::sync::Arc<dyn CredentialStore>
        });
    }
}
