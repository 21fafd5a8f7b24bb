//! The use cases over the store under test: the suites call the service,
//! as handlers do, so that they test what a client sees, whichever store.

use std::sync::Arc;

use vodsnap_domain::Timestamp;
use vodsnap_ports::{AuditLog, Clock, TaskResultStore};
use vodsnap_service::Snapshots;

/// A store of task results and the audit trail its changes write, both
/// ports of one fresh, empty adapter.
#[allow(missing_debug_implementations, reason = "ports are not Debug")]
pub struct SuiteStore {
    pub results: Arc<dyn TaskResultStore>,
    pub audit: Arc<dyn AuditLog>,
    /// Whatever must live as long as the ports (a test database).
    pub keep_alive: Arc<dyn std::any::Any + Send + Sync>,
}

/// The cases read the task results directly, as a handler's store would.
impl std::ops::Deref for SuiteStore {
    type Target = dyn TaskResultStore;

    fn deref(&self) -> &Self::Target {
        &*self.results
    }
}

/// A clock that always answers the time a case chose.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The snapshot use cases on a store, with the clock at `at`.
pub trait UseCases {
    fn service(&self, at: Timestamp) -> Snapshots;
}

impl UseCases for Arc<SuiteStore> {
    fn service(&self, at: Timestamp) -> Snapshots {
        Snapshots::new(
            self.results.clone(),
            self.audit.clone(),
            Arc::new(FixedClock(at)),
        )
    }
}
