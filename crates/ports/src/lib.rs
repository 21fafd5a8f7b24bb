//! The ports: what vodsnap needs from the outside world, as traits.
//!
//! Adapters implement them (memory, PostgreSQL, HTTP's token signer); the
//! HTTP adapter and the app use them through `Arc<dyn Port>`. Each operation
//! has its own error enum: the business cases by name, then `Unavailable`
//! (a dependency is down; retry later) and `Unknown` (a bug or a surprise).

pub mod audit;
pub mod cleanup;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod images;
pub mod links;
#[cfg(feature = "mocks")]
mod mocks;
pub mod purge;
pub mod queue;
pub mod reconcile;
pub mod store;
pub mod tokens;
pub mod trace;
pub mod webhooks;

pub use audit::{
    Actor, AuditAction, AuditError, AuditLog, AuditOutcome, AuditQuery, AuditRecord, AuditedWebhook,
};
pub use cleanup::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, ParkedItem, PurgePlan, PurgePlanner,
};
pub use clock::{Clock, SystemClock};
pub use credentials::{
    Credential, CredentialError, CredentialInfo, CredentialSealing, CredentialStore,
};
pub use error::StoreError;
pub use images::{ImageStore, ImageStoreError};
pub use links::{LinkError, LinkProof, LinkRefused, SnapshotLinks};
pub use purge::{
    PlannedPurgeBatch, PlannedPurges, PurgeBatchPlanner, PurgeFinish, PurgeJob, PurgeQueue,
    PurgedBatch,
};
pub use queue::{FailedAttempt, Job, QueueBacklog, QueueError, WorkQueue};
pub use reconcile::{ObjectInventory, ObjectListing, ReconcileStore};
pub use store::{
    BinError, BinPlanner, CommittedDelete, DeleteError, DeletePlanner, DeletedListing,
    DetailsError, Inserted, ListError, Listing, PingError, PlannedBinChange, PlannedDelete,
    PreviewPlanner, PreviewedDelete, RegisterError, Registered, SnapshotPage, Stored,
    TaskResultStore,
};
pub use tokens::{TokenAuthority, TokenClaims, TokenError};
pub use webhooks::{
    CheckUrlError, ClaimedDelivery, Delivery, SendError, Webhook, WebhookSender, WebhookStore,
    WebhookStoreError,
};

#[cfg(feature = "mocks")]
pub use audit::MockAuditLog;
#[cfg(feature = "mocks")]
pub use clock::MockClock;
#[cfg(feature = "mocks")]
pub use credentials::{MockCredentialSealing, MockCredentialStore};
#[cfg(feature = "mocks")]
pub use images::MockImageStore;
#[cfg(feature = "mocks")]
pub use links::MockSnapshotLinks;
#[cfg(feature = "mocks")]
pub use mocks::{MockCleanupQueue, MockPurgeQueue, MockWebhookStore};
#[cfg(feature = "mocks")]
pub use queue::MockWorkQueue;
#[cfg(feature = "mocks")]
pub use reconcile::{MockObjectInventory, MockObjectListing, MockReconcileStore};
#[cfg(feature = "mocks")]
pub use store::MockTaskResultStore;
#[cfg(feature = "mocks")]
pub use tokens::MockTokenAuthority;
#[cfg(feature = "mocks")]
pub use webhooks::MockWebhookSender;
