//! `vodsnap reconcile`: storage against database, per project, in constant
//! memory: a page of each side at a time, merged by the domain's
//! [`Merge`], orphans queued for the cleanup a page at a time.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{
    Actor, AuditRecord, HeldKey, ListedObject, Merge, ObjectKey, OrphanAction, OutOfOrder,
    ProjectId, RECONCILE_PAGE, ReconcileTally, Step,
};
use vodsnap_ports::{Clock, ImageStoreError, ObjectInventory, ReconcileStore, StoreError};

/// Which projects to reconcile.
#[derive(Debug, Clone)]
pub enum Scope {
    Project(ProjectId),
    /// The projects the database knows and the store's top-level prefixes.
    All,
}

/// `--remove-orphans --older-than`: queue orphans older than the grace
/// period for the cleanup, audited as `actor`.
#[derive(Debug, Clone)]
pub struct RemoveOrphans {
    pub older_than: Duration,
    pub actor: Actor,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("failed to list the object storage")]
    Storage(#[source] ImageStoreError),
    #[error("failed to read the database")]
    Database(#[source] StoreError),
    #[error("the merge stopped")]
    Order(#[source] OutOfOrder),
}

/// The reconciliation.
pub struct Reconciler {
    pub inventory: Arc<dyn ObjectInventory>,
    pub store: Arc<dyn ReconcileStore>,
    pub clock: Arc<dyn Clock>,
}

impl Reconciler {
    /// Reconciles every project of `scope`, one after the other; answers
    /// their sum.
    pub async fn run(
        &self,
        scope: &Scope,
        remove: Option<&RemoveOrphans>,
    ) -> Result<ReconcileTally, ReconcileError> {
        let mut total = ReconcileTally::default();
        let projects = match scope {
            Scope::Project(project) => vec![project.clone()],
            Scope::All => {
                let mut projects: BTreeSet<ProjectId> = self
                    .store
                    .projects()
                    .await
                    .map_err(ReconcileError::Database)?
                    .into_iter()
                    .collect();
                for prefix in self
                    .inventory
                    .top_level_prefixes()
                    .await
                    .map_err(ReconcileError::Storage)?
                {
                    match ProjectId::parse(&prefix) {
                        Ok(project) => {
                            projects.insert(project);
                        }
                        Err(_) => {
                            tracing::warn!(prefix, "a top-level prefix that is no project id");
                            total.foreign_prefixes += 1;
                        }
                    }
                }
                projects.into_iter().collect()
            }
        };
        for project in &projects {
            let tally = self.project(project, remove).await?;
            total.add(&tally);
        }
        Ok(total)
    }

    /// One project: both sides merged a page at a time.
    pub async fn project(
        &self,
        project: &ProjectId,
        remove: Option<&RemoveOrphans>,
    ) -> Result<ReconcileTally, ReconcileError> {
        let mut listing = self
            .inventory
            .list_project(project)
            .await
            .map_err(ReconcileError::Storage)?;
        let (mut listed, mut listing_done) = (VecDeque::<ListedObject>::new(), false);
        let (mut held, mut held_done, mut held_after) =
            (VecDeque::<HeldKey>::new(), false, String::new());
        let mut merge = Merge::default();
        let mut tally = ReconcileTally::default();
        let mut to_queue: Vec<ObjectKey> = Vec::new();
        let now = self.clock.now();
        loop {
            if listed.is_empty() && !listing_done {
                match listing.next_page().await.map_err(ReconcileError::Storage)? {
                    Some(page) => listed = page.into(),
                    None => listing_done = true,
                }
            }
            if held.is_empty() && !held_done {
                let page = self
                    .store
                    .held_keys(project, &held_after, RECONCILE_PAGE)
                    .await
                    .map_err(ReconcileError::Database)?;
                held_done = page.len() < RECONCILE_PAGE as usize;
                if let Some(last) = page.last() {
                    held_after.clone_from(&last.key);
                }
                held = page.into();
            }
            let Some(step) = merge
                .step(listed.front(), held.front())
                .map_err(ReconcileError::Order)?
            else {
                break;
            };
            match step {
                Step::Store(finding) | Step::Both(finding) => {
                    let Some(object) = listed.pop_front() else {
                        break;
                    };
                    tally.record(step, &object.key);
                    if matches!(step, Step::Both(_)) {
                        held.pop_front();
                    }
                    if finding == vodsnap_domain::Finding::Orphan
                        && let Some(remove) = remove
                        && let OrphanAction::Queue(key) =
                            OrphanAction::of(project, &object, now, remove.older_than)
                    {
                        to_queue.push(key);
                        if to_queue.len() >= RECONCILE_PAGE as usize {
                            tally.orphans_queued +=
                                self.queue(project, &mut to_queue, remove).await?;
                        }
                    }
                }
                Step::Database(_) => {
                    let Some(key) = held.pop_front() else {
                        break;
                    };
                    tally.record(step, &key.key);
                }
            }
        }
        if let Some(remove) = remove
            && !to_queue.is_empty()
        {
            tally.orphans_queued += self.queue(project, &mut to_queue, remove).await?;
        }
        Ok(tally)
    }

    /// Queues `keys` (then empties it) with its audit record.
    async fn queue(
        &self,
        project: &ProjectId,
        keys: &mut Vec<ObjectKey>,
        remove: &RemoveOrphans,
    ) -> Result<u64, ReconcileError> {
        let now = self.clock.now();
        let record = AuditRecord::orphans_queued(project, keys, now, &remove.actor);
        let queued = self
            .store
            .queue_orphans(project, keys, &record, now)
            .await
            .map_err(ReconcileError::Database)?;
        keys.clear();
        Ok(queued)
    }
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler").finish_non_exhaustive()
    }
}
