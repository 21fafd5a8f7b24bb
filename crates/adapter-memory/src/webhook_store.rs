//! The embedded store's webhooks and deliveries, the port on
//! [`crate::webhooks`]'s state.

use async_trait::async_trait;
use vodsnap_domain::{ProjectId, Secret, Timestamp, WebhookId};
use vodsnap_ports::{
    AuditRecord, ClaimedDelivery, Delivery, Webhook, WebhookStore, WebhookStoreError,
};

use crate::queue::JobQueue;
use crate::state::Inner;
use crate::webhooks::Sending;
use crate::work_queue::{MemoryKind, MemoryQueue};

/// The webhook delivery kind of the embedded store's work queue.
#[derive(Debug)]
pub struct Deliveries;

/// The webhooks of a [`crate::MemoryStore`]: the [`WebhookStore`].
pub type MemoryWebhookStore = MemoryQueue<Deliveries>;

impl MemoryKind for Deliveries {
    type Job = ClaimedDelivery;
    type Payload = Sending;

    fn queue(inner: &mut Inner) -> &mut JobQueue<Sending> {
        inner.webhooks.queue()
    }

    fn job(inner: &Inner, id: i64) -> Option<ClaimedDelivery> {
        inner.webhooks.claimed(id)
    }

    /// Delivered: kept, listed as such, until pruned.
    fn complete(
        inner: &mut Inner,
        deliveries: &[ClaimedDelivery],
        worker: &str,
        now: Timestamp,
        _: &(),
    ) -> u64 {
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        inner.webhooks.queue().complete(&ids, worker, now).len() as u64
    }
}

#[async_trait]
impl WebhookStore for MemoryQueue<Deliveries> {
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
