//! The embedded store's webhooks and deliveries, the port on
//! [`crate::webhooks`]'s state.

use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{ProjectId, Secret, Timestamp, WebhookId};
use vodsnap_ports::{
    AuditRecord, ClaimedDelivery, Delivery, FailedAttempt, QueueBacklog, QueueError, Webhook,
    WebhookStore, WebhookStoreError, WorkQueue,
};

use crate::cleanup_queue::fail_all;
use crate::state::{Inner, Shared};

/// The webhooks of a [`crate::MemoryStore`]: the [`WebhookStore`].
#[derive(Debug, Clone)]
pub struct MemoryWebhookStore {
    shared: Shared,
}

impl MemoryWebhookStore {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }
}

#[async_trait]
impl WorkQueue<ClaimedDelivery> for MemoryWebhookStore {
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<ClaimedDelivery>, QueueError> {
        Ok(self.with_inner(|inner| inner.webhooks.claim(worker, max, lease, now)))
    }

    async fn complete(
        &self,
        deliveries: &[ClaimedDelivery],
        worker: &str,
        now: Timestamp,
        _: &(),
    ) -> Result<u64, QueueError> {
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        Ok(
            self.with_inner(|inner| {
                inner.webhooks.queue().complete(&ids, worker, now).len() as u64
            }),
        )
    }

    async fn fail(
        &self,
        failures: &[FailedAttempt<ClaimedDelivery>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| fail_all(inner.webhooks.queue(), failures, worker, now)))
    }

    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| inner.webhooks.queue().retry_parked(&ids, now)))
    }

    async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError> {
        Ok(self.with_inner(|inner| inner.webhooks.queue().backlog(now)))
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhookStore {
    async fn create(
        &self,
        webhook: &Webhook,
        secret: &Secret,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError> {
        self.with_inner(|inner| {
            inner.webhooks.create(webhook, secret);
            inner.audit.push(audit.clone());
        });
        Ok(())
    }

    async fn list(&self, project: &ProjectId) -> Result<Vec<Webhook>, WebhookStoreError> {
        Ok(self.with_inner(|inner| inner.webhooks.list(project)))
    }

    async fn remove(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError> {
        self.with_inner(|inner| {
            inner.webhooks.remove(project, id)?;
            inner.audit.push(audit.clone());
            Ok(())
        })
    }

    async fn deliveries(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        failed_only: bool,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookStoreError> {
        self.with_inner(|inner| {
            inner
                .webhooks
                .deliveries(project, webhook, failed_only, limit)
        })
    }

    async fn redeliver(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        delivery: i64,
        now: Timestamp,
    ) -> Result<(), WebhookStoreError> {
        self.with_inner(|inner| inner.webhooks.redeliver(project, webhook, delivery, now))
    }

    async fn prune(&self, cutoff: Timestamp, max: u32) -> Result<u64, WebhookStoreError> {
        Ok(self.with_inner(|inner| inner.webhooks.prune(cutoff, max)))
    }
}
