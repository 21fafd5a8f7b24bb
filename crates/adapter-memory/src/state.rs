//! The embedded store's state: every project's task results, the queues
//! and the audit trail, behind one lock shared by the store's ports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vodsnap_domain::{ProjectId, TaskId, TaskResult, Timestamp};
use vodsnap_ports::AuditRecord;

use crate::cleanup::CleanupState;
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
    pub live: HashMap<TaskId, TaskResult>,
    /// Deleted task ids: ids are never reused, a repeated delete answers
    /// `DELETED` again with the task's asset, and a restore in the window
    /// brings the result back.
    pub deleted: HashMap<TaskId, Tombstone>,
}

/// Task results and the cleanup queue, behind one lock so that a delete
/// and the enqueueing of its objects are one atomic step.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub projects: HashMap<ProjectId, Project>,
    pub cleanup: CleanupState,
    pub audit: Vec<AuditRecord>,
    pub webhooks: WebhookState,
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
