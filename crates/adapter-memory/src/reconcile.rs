//! The embedded store's [`ReconcileStore`]: a project's keys in byte order
//! (live task results' snapshots, and the cleanup queue's items, which hold
//! the recycle bin's), and the queueing of orphans with their audit record
//! under the store's lock, as PostgreSQL does them (`vodsnap_queue_orphans`).
//!
//! A page scans the project's keys: the embedded store holds everything in
//! memory anyway, and `vodsnap reconcile` runs against PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use vodsnap_domain::{AuditRecord, HeldKey, ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{ReconcileStore, StoreError};

use crate::state::{Inner, Shared};

/// The reconciliation's reads and its queueing on a [`crate::MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryReconcileStore {
    shared: Shared,
}

impl MemoryReconcileStore {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }
}

#[async_trait]
impl ReconcileStore for MemoryReconcileStore {
    async fn projects(&self) -> Result<Vec<ProjectId>, StoreError> {
        Ok(self.with_inner(|inner| {
            let mut projects: BTreeSet<ProjectId> = inner
                .projects
                .iter()
                .filter(|(_, p)| !p.live().is_empty() || !p.deleted.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            projects.extend(inner.cleanup.projects().cloned());
            projects.into_iter().collect()
        }))
    }

    async fn held_keys(
        &self,
        project: &ProjectId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<HeldKey>, StoreError> {
        Ok(self.with_inner(|inner| {
            let live = inner
                .projects
                .get(project)
                .into_iter()
                .flat_map(|p| p.live().values())
                .flat_map(|task| task.snapshots())
                .map(|snapshot| (snapshot.object_key(), true));
            let queued = inner.cleanup.queued_keys(project).map(|key| (key, false));
            page_after(live.chain(queued), after, limit as usize)
        }))
    }

    async fn queue_orphans(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
        record: &AuditRecord,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        debug_assert_eq!(&record.project, project);
        Ok(self.with_inner(|inner| {
            let queued = inner.cleanup.enqueue_orphans(project, keys, now);
            inner.audit.push(record.clone());
            queued
        }))
    }
}

/// The `limit` smallest distinct keys of `keys` after `after`, in order,
/// each `live` when any of its entries is: only the page is kept, however
/// many keys there are.
fn page_after<'a>(
    keys: impl Iterator<Item = (&'a ObjectKey, bool)>,
    after: &str,
    limit: usize,
) -> Vec<HeldKey> {
    let mut page: BTreeMap<&'a str, bool> = BTreeMap::new();
    for (key, live) in keys {
        let key = key.as_str();
        if key <= after {
            continue;
        }
        if let Some(held) = page.get_mut(key) {
            *held |= live;
            continue;
        }
        if page.len() >= limit {
            match page.last_key_value() {
                Some((last, _)) if key < *last => {
                    page.pop_last();
                }
                _ => continue,
            }
        }
        page.insert(key, live);
    }
    page.into_iter()
        .map(|(key, live)| HeldKey {
            key: key.to_owned(),
            live,
        })
        .collect()
}
