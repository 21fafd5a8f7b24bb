//! Audit queries: who registered and deleted what.

use std::sync::Arc;

use vodsnap_ports::{AuditError, AuditLog, AuditQuery, AuditRecord};

/// Reads the audit trail.
#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail").finish_non_exhaustive()
    }
}

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    /// The records `query` selects, oldest first.
    pub async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        self.log.records(query).await
    }
}
