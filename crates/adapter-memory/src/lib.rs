//! The embedded store: task results and credentials in memory.
//!
//! It is the default when no database is configured. Every operation takes
//! one lock for its whole duration, so each is atomic: no lost update, and a
//! task deleted once answers `DELETED` to every caller. Nothing outlives the
//! process.

mod audit_log;
mod cleanup;
mod cleanup_queue;
mod credentials;
mod purge_state;
mod purges;
mod queue;
mod reconcile;
mod state;
mod store;
mod webhook_store;
mod webhooks;
mod work_queue;

pub use audit_log::MemoryAuditLog;
pub use cleanup_queue::{Cleanup, MemoryCleanupQueue};
pub use credentials::MemoryCredentialStore;
pub use purges::{MemoryPurgeQueue, Purges};
pub use reconcile::MemoryReconcileStore;
pub use store::MemoryStore;
pub use webhook_store::{Deliveries, MemoryWebhookStore};
pub use work_queue::MemoryQueue;
