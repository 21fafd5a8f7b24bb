//! vodsnap's use cases, each written once on the ports.
//!
//! Handlers (`adapter-http`) and commands (`app`) call these; stores only
//! read and write. Every decision a use case needs comes from the domain:
//! the registration decision, the delete plan, the outage answer, the
//! cleanup decision for one object and its retry policy, the format an
//! image is served as, what seeding a credential does.

pub mod asset_purge;
pub mod audit;
pub mod cleanup;
pub mod credentials;
pub mod images;
mod polling;
pub mod queue;
pub mod reconcile;
pub mod recycle_bin;
pub mod snapshots;
pub mod webhooks;

pub use asset_purge::{AssetPurges, PurgePass, PurgeSettings, Purger};
pub use audit::AuditTrail;
pub use cleanup::{CleanupAdmin, Pass, Worker, WorkerSettings};
pub use credentials::{CredentialAdmin, KeyRotation};
pub use images::{OpenImageError, ServedImage, SnapshotImages};
pub use queue::{JobRunner, Outcome, Settled};
pub use reconcile::{ReconcileError, Reconciler, RemoveOrphans, Scope};
pub use snapshots::Snapshots;
pub use webhooks::{
    CreateWebhookError, Deliverer, DeliveryPass, DeliverySettings, MAX_DELIVERIES_LISTED, Webhooks,
    record_backlog,
};
