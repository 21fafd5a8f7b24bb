//! Mocks of the ports that extend the work queue: mockall's `automock`
//! cannot implement a supertrait, so these are written with `mock!`, each
//! method as its trait declares it.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{AssetId, ObjectKey, ProjectId, PurgeProgress, Secret, Timestamp, WebhookId};

use crate::purge::{PlannedPurges, PurgeBatchPlanner, PurgeJob, PurgeQueue, PurgedBatch};

use crate::audit::AuditRecord;
use crate::cleanup::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, ParkedItem, PurgePlan,
};
use crate::queue::{FailedAttempt, QueueBacklog, QueueError, WorkQueue};
use crate::webhooks::{ClaimedDelivery, Delivery, Webhook, WebhookStore, WebhookStoreError};

mockall::mock! {
    pub CleanupQueue {}

    #[async_trait]
    impl WorkQueue<CleanupItem> for CleanupQueue {
        async fn claim(&self, worker: &str, max: u32, lease: Duration, now: Timestamp) -> Result<Vec<CleanupItem>, QueueError>;
        async fn complete(&self, jobs: &[CleanupItem], worker: &str, now: Timestamp, completion: &PurgePlan) -> Result<u64, QueueError>;
        async fn fail(&self, failures: &[FailedAttempt<CleanupItem>], worker: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn give_back(&self, jobs: &[CleanupItem], worker: &str, error: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError>;
        async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError>;
    }

    #[async_trait]
    impl CleanupQueue for CleanupQueue {
        async fn is_referenced(&self, project: &ProjectId, key: &ObjectKey) -> Result<bool, CleanupError>;
        async fn referenced(&self, project: &ProjectId, keys: &[ObjectKey]) -> Result<BTreeSet<ObjectKey>, CleanupError>;
        async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError>;
        async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError>;
    }
}

mockall::mock! {
    pub WebhookStore {}

    #[async_trait]
    impl WorkQueue<ClaimedDelivery> for WebhookStore {
        async fn claim(&self, worker: &str, max: u32, lease: Duration, now: Timestamp) -> Result<Vec<ClaimedDelivery>, QueueError>;
        async fn complete(&self, jobs: &[ClaimedDelivery], worker: &str, now: Timestamp, completion: &()) -> Result<u64, QueueError>;
        async fn fail(&self, failures: &[FailedAttempt<ClaimedDelivery>], worker: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn give_back(&self, jobs: &[ClaimedDelivery], worker: &str, error: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError>;
        async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError>;
    }

    #[async_trait]
    impl WebhookStore for WebhookStore {
        async fn create(&self, webhook: &Webhook, secret: &Secret, audit: &AuditRecord) -> Result<(), WebhookStoreError>;
        async fn list(&self, project: &ProjectId) -> Result<Vec<Webhook>, WebhookStoreError>;
        async fn remove(&self, project: &ProjectId, id: &WebhookId, audit: &AuditRecord) -> Result<(), WebhookStoreError>;
        async fn deliveries(&self, project: &ProjectId, webhook: &WebhookId, failed_only: bool, limit: u32) -> Result<Vec<Delivery>, WebhookStoreError>;
        async fn redeliver(&self, project: &ProjectId, webhook: &WebhookId, delivery: i64, now: Timestamp) -> Result<(), WebhookStoreError>;
        async fn prune(&self, cutoff: Timestamp, max: u32) -> Result<u64, WebhookStoreError>;
    }
}

mockall::mock! {
    pub PurgeQueue {}

    #[async_trait]
    impl WorkQueue<PurgeJob> for PurgeQueue {
        async fn claim(&self, worker: &str, max: u32, lease: Duration, now: Timestamp) -> Result<Vec<PurgeJob>, QueueError>;
        async fn complete(&self, jobs: &[PurgeJob], worker: &str, now: Timestamp, completion: &()) -> Result<u64, QueueError>;
        async fn fail(&self, failures: &[FailedAttempt<PurgeJob>], worker: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn give_back(&self, jobs: &[PurgeJob], worker: &str, error: &str, now: Timestamp) -> Result<u64, QueueError>;
        async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError>;
        async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError>;
    }

    #[async_trait]
    impl PurgeQueue for PurgeQueue {
        async fn record(&self, project: &ProjectId, planned: &PlannedPurges) -> Result<(), QueueError>;
        async fn preview(&self, project: &ProjectId, assets: &[AssetId]) -> Result<Vec<u64>, QueueError>;
        async fn progress(&self, project: &ProjectId, asset: &AssetId) -> Result<Option<PurgeProgress>, QueueError>;
        async fn purge_batch<'a>(&self, job: &PurgeJob, worker: &str, planner: PurgeBatchPlanner<'a>, now: Timestamp, lease: Duration) -> Result<Option<PurgedBatch>, QueueError>;
    }
}
