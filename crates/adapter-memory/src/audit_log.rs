//! The embedded store's audit trail.

use async_trait::async_trait;
use vodsnap_ports::{AuditError, AuditLog, AuditQuery, AuditRecord};

use crate::state::{Inner, Shared};

/// The audit trail of a [`crate::MemoryStore`]: the [`AuditLog`].
#[derive(Debug, Clone)]
pub struct MemoryAuditLog {
    shared: Shared,
}

impl MemoryAuditLog {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        Ok(self.with_inner(|inner| {
            inner
                .audit
                .iter()
                .filter(|r| r.project == query.project)
                .filter(|r| query.since.is_none_or(|since| r.at >= since))
                .filter(|r| {
                    query.task.as_ref().is_none_or(|t| {
                        r.requested.contains(t) || r.outcomes.iter().any(|o| &o.task == t)
                    })
                })
                .take(query.limit as usize)
                .cloned()
                .collect()
        }))
    }

    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.with_inner(|inner| inner.audit.push(record.clone()));
        Ok(())
    }
}
