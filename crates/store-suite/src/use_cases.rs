//! The use cases over the store under test: the suites call the service,
//! as handlers do, so that they test what a client sees, whichever store.

use std::sync::Arc;

use vodsnap_domain::Timestamp;
use vodsnap_ports::{AuditLog, Clock, TaskResultStore};
use vodsnap_service::Snapshots;

/// A store of task results that also keeps their audit trail, as both
/// adapters do.
pub trait SuiteStore: TaskResultStore + AuditLog {}

impl<T: TaskResultStore + AuditLog> SuiteStore for T {}

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

impl UseCases for Arc<dyn SuiteStore> {
    fn service(&self, at: Timestamp) -> Snapshots {
        Snapshots::new(self.clone(), self.clone(), Arc::new(FixedClock(at)))
    }
}
