//! The audit trail: who registered, deleted, restored or purged what, and
//! who subscribed or removed which webhook, when, from where.
//!
//! What a record says (its action, each task's status) is the domain's
//! ([`vodsnap_domain::audit`]); this port reads and appends records.

use async_trait::async_trait;
use vodsnap_domain::{ProjectId, TaskId, Timestamp};

use crate::error::StoreError;

// Re-exported so that `vodsnap_ports::AuditRecord` and its kin keep their
// paths: they moved into the domain with the decisions they make.
pub use vodsnap_domain::audit::{Actor, AuditAction, AuditOutcome, AuditRecord, AuditedWebhook};

/// Which records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub project: ProjectId,
    pub since: Option<Timestamp>,
    /// Only records that named or touched this task.
    pub task: Option<TaskId>,
    pub limit: u32,
}

/// Reading or appending the audit trail fails only as a store does.
pub type AuditError = StoreError;

/// The audit trail. Changes write their records through the store that
/// makes them, atomically; this port reads them and appends the records of
/// calls that changed nothing.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Records of `query.project`, oldest first, at most `query.limit`.
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError>;

    /// Appends the record of a call that changed nothing (a repeated
    /// registration). MUST be durable before it returns.
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError>;
}
