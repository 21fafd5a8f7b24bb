//! In-memory task results, with tombstones for deleted task ids.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use vodsnap_domain::{
    AssetId, DeleteReport, DeleteSelection, DetailsPage, Existing, ItemError, ItemOutcome,
    ListFilter, ListPage, MAX_TASKS_PER_CALL, NewTaskResult, ProjectId, RegistrationDecision,
    TaskId, TaskResult, Timestamp,
};
use vodsnap_ports::{
    DeleteError, DetailsError, ListError, Listing, PingError, RegisterError, Registered,
    SnapshotPage, TaskResultStore,
};

#[derive(Debug, Default)]
struct Project {
    live: HashMap<TaskId, TaskResult>,
    /// Deleted task ids and the asset each belonged to: ids are never
    /// reused, and a repeated delete answers `DELETED` again.
    deleted: HashMap<TaskId, AssetId>,
}

impl Project {
    fn live_of_asset(&self, asset: &AssetId) -> Vec<&TaskResult> {
        let mut tasks: Vec<&TaskResult> =
            self.live.values().filter(|t| t.asset() == asset).collect();
        tasks.sort_by(|a, b| (a.created_at(), a.task()).cmp(&(b.created_at(), b.task())));
        tasks
    }

    fn delete_one(&mut self, task: &TaskId, asset: Option<&AssetId>) -> ItemOutcome {
        let failed = |error| ItemOutcome::failed(task.clone(), asset.cloned(), error);
        if let Some(owner) = self.deleted.get(task) {
            return match asset {
                Some(wanted) if wanted != owner => failed(ItemError::OtherAsset),
                _ => ItemOutcome::deleted(task.clone(), owner.clone()),
            };
        }
        let Some(result) = self.live.get(task) else {
            return failed(ItemError::UnknownTask);
        };
        if asset.is_some_and(|wanted| wanted != result.asset()) {
            return failed(ItemError::OtherAsset);
        }
        let owner = result.asset().clone();
        self.live.remove(task);
        self.deleted.insert(task.clone(), owner.clone());
        ItemOutcome::deleted(task.clone(), owner)
    }
}

/// Task results held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    projects: Mutex<HashMap<ProjectId, Project>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_projects<T>(&self, f: impl FnOnce(&mut HashMap<ProjectId, Project>) -> T) -> T {
        // A panic while holding the lock cannot leave a half-applied change:
        // every mutation below is a single insert or remove pair after all
        // checks, so the data is still consistent and we keep serving.
        let mut guard = self.projects.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl TaskResultStore for MemoryStore {
    async fn register(
        &self,
        new: NewTaskResult,
        now: Timestamp,
    ) -> Result<Registered, RegisterError> {
        self.with_projects(|projects| {
            let project = projects.entry(new.project().clone()).or_default();
            let existing = if project.deleted.contains_key(new.task()) {
                Existing::Deleted
            } else {
                project
                    .live
                    .get(new.task())
                    .map_or(Existing::Nothing, Existing::Live)
            };
            match new.decide(existing) {
                RegistrationDecision::Create => {
                    let stored = new.into_stored(now);
                    project.live.insert(stored.task().clone(), stored.clone());
                    Ok(Registered::Created(stored))
                }
                RegistrationDecision::AlreadyRegistered => project
                    .live
                    .get(new.task())
                    .cloned()
                    .map(Registered::AlreadyRegistered)
                    .ok_or_else(|| RegisterError::Unknown(anyhow_missing())),
                RegistrationDecision::ConflictsWithLive => Err(RegisterError::ConflictsWithLive),
                RegistrationDecision::ConflictsWithDeleted => {
                    Err(RegisterError::ConflictsWithDeleted)
                }
            }
        })
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
                .live
                .values()
                .filter(|t| filter.asset.as_ref().is_none_or(|a| a == t.asset()))
                .filter(|t| filter.task.as_ref().is_none_or(|id| id == t.task()))
                .collect();
            matches.sort_by(|a, b| (a.created_at(), a.task()).cmp(&(b.created_at(), b.task())));
            Listing {
                total: matches.len() as u64,
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
                .and_then(|p| p.live.get(task))
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
                .and_then(|p| p.live.get(task))
                .cloned()
        }))
    }

    async fn delete(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        _now: Timestamp,
    ) -> Result<DeleteReport, DeleteError> {
        Ok(self.with_projects(|projects| {
            let p = projects.entry(project.clone()).or_default();
            let items: Vec<ItemOutcome> = if selection.is_asset_only() {
                let picked: Vec<TaskId> = selection
                    .asset()
                    .map(|asset| {
                        p.live_of_asset(asset)
                            .into_iter()
                            .take(MAX_TASKS_PER_CALL)
                            .map(|t| t.task().clone())
                            .collect()
                    })
                    .unwrap_or_default();
                picked
                    .iter()
                    .map(|task| p.delete_one(task, selection.asset()))
                    .collect()
            } else {
                selection
                    .tasks()
                    .iter()
                    .map(|task| p.delete_one(task, selection.asset()))
                    .collect()
            };
            let remaining = selection
                .asset()
                .map_or(0, |asset| p.live_of_asset(asset).len() as u64);
            DeleteReport { items, remaining }
        }))
    }

    async fn ping(&self) -> Result<(), PingError> {
        Ok(())
    }
}

fn anyhow_missing() -> anyhow::Error {
    anyhow::anyhow!("a task result vanished while its project was locked")
}

#[cfg(test)]
mod tests {
    use super::*;

    vodsnap_store_suite::task_result_store_tests!(|| async {
        std::sync::Arc::new(MemoryStore::new()) as std::sync::Arc<dyn TaskResultStore>
    });

    mod credentials {
        use crate::MemoryCredentialStore;
        use vodsnap_ports::CredentialStore;

        vodsnap_store_suite::credential_store_tests!(|| async {
            std::sync::Arc::new(MemoryCredentialStore::new()) as std::sync::Arc<dyn CredentialStore>
        });
    }
}
