//! Webhooks: subscriptions per project, the delivery queue, and the sender
//! that POSTs one signed event to one URL.
//!
//! Events reach the queue through the task-result store, in the same
//! atomic step as their change (the outbox: `insert`'s `events`,
//! [`crate::PlannedDelete::events`]): a store writes one delivery per event
//! and per subscription of the event's project that asks for its type.
//! The deliveries are a kind of the work queue ([`crate::queue`]): workers
//! claim them under a lease, as the cleanup claims its items, send them, and
//! record the outcome; failures are retried with backoff and parked after
//! the retry policy's last attempt.

use async_trait::async_trait;
use vodsnap_domain::{
    DeliveryState, Event, EventTypes, ProjectId, Secret, Timestamp, TraceContext, WebhookId,
    WebhookUrl,
};

use crate::audit::AuditRecord;
use crate::queue::WorkQueue;

/// A subscription, as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub project: ProjectId,
    pub url: WebhookUrl,
    pub events: EventTypes,
    pub created_at: Timestamp,
}

/// One event's delivery to one webhook, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook: WebhookId,
    pub event: Event,
    pub state: DeliveryState,
    /// Attempts made so far (failed ones, and the successful one).
    pub attempts: u32,
    /// The last failure's cause (an HTTP status, a network error, a
    /// refused address), empty if none.
    pub last_error: String,
    /// When it is due (pending), was delivered or was parked.
    pub updated_at: Timestamp,
}

/// A delivery leased to a worker, what it needs to send it: a job of the
/// webhook delivery kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub project: ProjectId,
    pub webhook: WebhookId,
    pub url: WebhookUrl,
    /// The webhook's signing secret, opened by the store.
    pub secret: Secret,
    pub event: Event,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The trace of the change that wrote the event, if it was traced.
    pub trace: Option<TraceContext>,
}

crate::impl_job!(ClaimedDelivery, (), "webhook delivery", traced);

#[derive(Debug, thiserror::Error)]
pub enum WebhookStoreError {
    /// No such webhook in the project (or no such delivery of it).
    #[error("no such webhook or delivery in this project")]
    NotFound,
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// Where subscriptions and their deliveries live. Every call but the
/// queue's `claim` and `backlog` names one project, and nothing of another
/// project is ever visible through it.
///
/// The deliveries are the webhook delivery kind of the work queue
/// ([`WorkQueue`] of [`ClaimedDelivery`]): a claim leases due deliveries
/// (pending, due, no live lease) with what sending them takes, and
/// [`WorkQueue::complete`] records each as delivered at `now` (one more
/// attempt), kept for the listing until pruned.
#[async_trait]
pub trait WebhookStore: WorkQueue<ClaimedDelivery> {
    /// Stores a subscription with its signing secret, and `audit`, in one
    /// atomic step. The secret MUST be kept so that it can be read back for
    /// signing (sealed at rest where the store is durable), and MUST never
    /// be returned by `list` nor written to the audit trail.
    async fn create(
        &self,
        webhook: &Webhook,
        secret: &Secret,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError>;

    /// The project's subscriptions, oldest first.
    async fn list(&self, project: &ProjectId) -> Result<Vec<Webhook>, WebhookStoreError>;

    /// Removes a subscription and its undelivered deliveries, and writes
    /// `audit`, in one atomic step; later events are not queued for it.
    /// MUST return `NotFound`, writing nothing, if the project has no such
    /// webhook.
    async fn remove(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError>;

    /// A webhook's deliveries, newest first, at most `limit`; only those
    /// whose last attempt failed (pending with attempts, or parked) when
    /// `failed_only`. MUST return `NotFound` for an unknown webhook.
    async fn deliveries(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        failed_only: bool,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookStoreError>;

    /// Makes a delivery due again at `now` with its attempts reset, whatever
    /// its state (a delivered one is sent again, with the same event id).
    /// MUST return `NotFound` for an unknown webhook or delivery.
    async fn redeliver(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        delivery: i64,
        now: Timestamp,
    ) -> Result<(), WebhookStoreError>;

    /// Removes from the outbox up to `max` events that the domain's
    /// [`vodsnap_domain::is_prunable`] lets go at `cutoff` (no pending
    /// delivery, each delivered or parked before `cutoff`; without
    /// deliveries, occurred before `cutoff`), with their deliveries,
    /// oldest first. A delivery made pending again meanwhile (a
    /// redelivery) MUST keep its event. Returns how many events went.
    /// Every statement but a first lock-free look for the projects with
    /// old events names one project.
    async fn prune(&self, cutoff: Timestamp, max: u32) -> Result<u64, WebhookStoreError>;
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The URL's host resolves to an address the policy refuses; nothing
    /// was sent.
    #[error("refused address: {0}")]
    Refused(String),
    /// The receiver answered, but not 2xx.
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    /// No answer: DNS, connection, TLS, timeout.
    #[error("{0}")]
    Network(String),
}

/// Why a URL cannot be subscribed.
#[derive(Debug, thiserror::Error)]
pub enum CheckUrlError {
    /// It resolves to an address the policy refuses.
    #[error("the url resolves to a refused address ({0})")]
    Refused(String),
    /// Its host does not resolve.
    #[error("the url's host does not resolve")]
    Unresolvable,
}

/// Sends events to subscribers.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Resolves `url`'s host and checks every address against the address
    /// policy, sending nothing.
    async fn check(&self, url: &WebhookUrl) -> Result<(), CheckUrlError>;

    /// POSTs `event` to `url`, signed with `secret` at `now`, with bounded
    /// timeouts and no redirects. MUST connect only to addresses the policy
    /// allows, checked on the addresses actually resolved for this attempt.
    /// `Ok(())` means the receiver answered 2xx.
    async fn send(
        &self,
        url: &WebhookUrl,
        event: &Event,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<(), SendError>;
}
