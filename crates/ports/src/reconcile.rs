//! Storage against database (`vodsnap reconcile`): what each side lists,
//! in ascending byte order of key, a page at a time, and the queueing of
//! orphans for the cleanup.
//!
//! Both sides stream: nothing here holds a project's keys at once, so a
//! reconciliation runs in constant memory whatever the project's size (the
//! file store's walk holds the directories on the current path; see
//! `vodsnap-adapter-objects`).

use async_trait::async_trait;
use vodsnap_domain::{AuditRecord, HeldKey, ListedObject, ObjectKey, ProjectId, Timestamp};

use crate::error::StoreError;
use crate::images::ImageStoreError;

/// One project's objects, a page at a time.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ObjectListing: Send {
    /// The next objects, at most [`vodsnap_domain::RECONCILE_PAGE`] (an S3
    /// page), every key strictly after every key of the pages before, in
    /// ascending byte order; `None` once the listing is done.
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ImageStoreError>;
}

/// What the object storage holds, listed.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ObjectInventory: Send + Sync + 'static {
    /// The objects under `{project}/` (exactly that segment: `p` does not
    /// list `p2/...`), in ascending byte order of key.
    async fn list_project(
        &self,
        project: &ProjectId,
    ) -> Result<Box<dyn ObjectListing>, ImageStoreError>;

    /// The names of the store's top-level prefixes (directories), each
    /// once, whether or not they are project ids.
    async fn top_level_prefixes(&self) -> Result<Vec<String>, ImageStoreError>;
}

/// What the database holds, listed, and the orphans' way to the cleanup.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ReconcileStore: Send + Sync + 'static {
    /// Every project that has task results or queued cleanup items.
    async fn projects(&self) -> Result<Vec<ProjectId>, StoreError>;

    /// The keys `project` holds (referenced by a task result, live or in
    /// the recycle bin, or queued for the cleanup, parked included) that
    /// sort strictly after `after` (`""`: from the first), in ascending byte order, each key once
    /// (`live` when a live task result references it), at most `limit`.
    /// One statement naming the project.
    async fn held_keys(
        &self,
        project: &ProjectId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<HeldKey>, StoreError>;

    /// Queues `keys` of `project` for the cleanup, due at `now`, tied to no
    /// task, with `record` (a `reconcile.queue` audit record), in one
    /// atomic step. The cleanup's reference check still decides: a key a
    /// live task references by then is kept. Answers how many it queued.
    async fn queue_orphans(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
        record: &AuditRecord,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
}
