//! The webhook use cases: managing a project's subscriptions, and the
//! delivery workers.
//!
//! Events are written by the stores with their change (see
//! [`crate::Snapshots`]); a worker claims due deliveries under a lease, as
//! the cleanup does, POSTs each signed event through the
//! [`WebhookSender`], and records the outcome. A failed attempt is retried
//! with exponential backoff and jitter ([`RetryPolicy`]) and parked after
//! the policy's last attempt; an operator redelivers it. Delivery is at
//! least once: a worker that dies after the receiver answered and before
//! the outcome is recorded leaves a lease that runs out, and the delivery
//! is sent again with the same event id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tracing::Instrument;
use vodsnap_domain::{
    DEFAULT_EVENT_RETENTION, EventTypes, PRUNE_BATCH, ProjectId, RetryPolicy, Secret, Timestamp,
    WebhookId, WebhookUrl, prune_cutoff,
};
use vodsnap_ports::{
    Actor, AuditRecord, CheckUrlError, ClaimedDelivery, Clock, Delivery, QueueBacklog, QueueError,
    Webhook, WebhookSender, WebhookStore, WebhookStoreError,
};

use crate::queue::{JobRunner, Outcome, QueueWorker};

/// Why a subscription was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateWebhookError {
    /// Its URL resolves to an address the policy refuses, or not at all.
    #[error(transparent)]
    Url(#[from] CheckUrlError),
    #[error(transparent)]
    Store(#[from] WebhookStoreError),
}

/// The most deliveries one listing answers.
pub const MAX_DELIVERIES_LISTED: u32 = 100;

/// A subscription's signing secret: `whsec_` and 256 random bits in hex.
fn new_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Secret::new(format!("whsec_{hex}"))
}

/// Managing a project's webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            sender,
            clock,
        }
    }

    /// Subscribes `url` to `events` of `project`: the URL's host must
    /// resolve, and only to addresses the policy allows (checked again at
    /// every delivery, as DNS answers change). Answers the webhook and its
    /// signing secret, which is shown this once. Audited with the
    /// subscription (never its secret).
    pub async fn create(
        &self,
        project: &ProjectId,
        url: WebhookUrl,
        events: EventTypes,
        actor: &Actor,
    ) -> Result<(Webhook, Secret), CreateWebhookError> {
        self.sender.check(&url).await?;
        let now = self.clock.now();
        let webhook = Webhook {
            id: WebhookId::from_random(rand::random()),
            project: project.clone(),
            url,
            events,
            created_at: now,
        };
        let secret = new_secret();
        let audit = AuditRecord::webhook_created(
            project,
            &webhook.id,
            &webhook.url,
            &webhook.events,
            now,
            actor,
        );
        self.store.create(&webhook, &secret, &audit).await?;
        // Not the URL: its query may hold the receiver's own token.
        tracing::info!(
            project = project.as_str(),
            webhook = webhook.id.as_str(),
            "webhook created"
        );
        Ok((webhook, secret))
    }

    /// The project's webhooks, oldest first.
    pub async fn list(&self, project: &ProjectId) -> Result<Vec<Webhook>, WebhookStoreError> {
        self.store.list(project).await
    }

    /// Removes a webhook and its undelivered deliveries, audited with the
    /// removal.
    pub async fn remove(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        actor: &Actor,
    ) -> Result<(), WebhookStoreError> {
        let audit = AuditRecord::webhook_deleted(project, id, self.clock.now(), actor);
        self.store.remove(project, id, &audit).await?;
        tracing::info!(
            project = project.as_str(),
            webhook = id.as_str(),
            "webhook removed"
        );
        Ok(())
    }

    /// A webhook's latest deliveries, newest first (only failed ones when
    /// `failed_only`), at most [`MAX_DELIVERIES_LISTED`].
    pub async fn deliveries(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        failed_only: bool,
    ) -> Result<Vec<Delivery>, WebhookStoreError> {
        self.store
            .deliveries(project, id, failed_only, MAX_DELIVERIES_LISTED)
            .await
    }

    /// Sends a delivery again, now, with its attempts reset.
    pub async fn redeliver(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        delivery: i64,
    ) -> Result<(), WebhookStoreError> {
        self.store
            .redeliver(project, id, delivery, self.clock.now())
            .await
    }
}

/// How a delivery worker works.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub policy: RetryPolicy,
    /// Deliveries claimed per pass.
    pub batch: u32,
    /// How long a claim keeps other workers away; longer than the sender's
    /// whole timeout, so a delivery is not sent twice at once.
    pub lease: Duration,
    /// Pause after a pass that found nothing to do.
    pub idle: Duration,
    /// How long a finished event (every delivery delivered or parked)
    /// stays in the outbox before it is pruned with its deliveries.
    pub event_retention: Duration,
    /// How often a worker prunes the outbox (at most [`PRUNE_BATCH`]
    /// events each time).
    pub prune_every: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            batch: 16,
            lease: Duration::from_secs(60),
            idle: Duration::from_secs(1),
            event_retention: DEFAULT_EVENT_RETENTION,
            prune_every: Duration::from_secs(60),
        }
    }
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPass {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub parked: usize,
    /// Finished events pruned from the outbox (with their deliveries).
    pub pruned: u64,
}

/// One delivery worker; cheap to clone (clones share when they last
/// pruned).
#[derive(Clone)]
pub struct Deliverer {
    pub name: String,
    pub store: Arc<dyn WebhookStore>,
    pub sender: Arc<dyn WebhookSender>,
    pub clock: Arc<dyn Clock>,
    pub settings: DeliverySettings,
    /// When this worker last pruned the outbox (`None`: not yet).
    last_prune: Arc<std::sync::Mutex<Option<Timestamp>>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    pub fn new(
        name: String,
        store: Arc<dyn WebhookStore>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            name,
            store,
            sender,
            clock,
            settings,
            last_prune: Arc::default(),
        }
    }

    /// Prunes the outbox if this worker has not for `prune_every`: up to
    /// [`PRUNE_BATCH`] events finished for longer than `event_retention`.
    async fn prune_if_due(&self) -> Result<u64, WebhookStoreError> {
        let now = self.clock.now();
        {
            let mut last = self
                .last_prune
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = last.is_none_or(|at| now.since(at) >= self.settings.prune_every);
            if !due {
                return Ok(0);
            }
            *last = Some(now);
        }
        self.prune(now).await
    }

    /// Prunes the outbox now: up to [`PRUNE_BATCH`] events whose
    /// deliveries all finished (delivered or parked) more than
    /// `event_retention` before `now`, with their deliveries.
    pub async fn prune(&self, now: Timestamp) -> Result<u64, WebhookStoreError> {
        let cutoff = prune_cutoff(now, self.settings.event_retention);
        let pruned = self.store.prune(cutoff, PRUNE_BATCH).await?;
        if pruned > 0 {
            metrics::counter!("vodsnap_webhook_events_pruned_total").increment(pruned);
            tracing::info!(
                worker = self.name.as_str(),
                events = pruned,
                "webhook events pruned from the outbox"
            );
        }
        Ok(pruned)
    }

    /// Claims one batch and sends it, recording each delivery as soon as
    /// it is sent, stopping between deliveries when `stop` turns true (the
    /// rest's leases run out and another pass takes them); then, every
    /// `prune_every`, prunes the outbox of finished events.
    pub async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<DeliveryPass, QueueError> {
        let queue = QueueWorker {
            name: &self.name,
            queue: &*self.store,
            clock: &*self.clock,
            policy: self.settings.policy,
            batch: self.settings.batch,
            lease: self.settings.lease,
        };
        let settled = queue.pass(self, stop).await?;
        let mut pass = DeliveryPass {
            claimed: settled.claimed,
            delivered: settled.done(DELIVERED),
            retried: settled.retried,
            parked: settled.parked,
            pruned: 0,
        };
        for (result, n) in [
            (DELIVERED, pass.delivered),
            ("failed", pass.retried + pass.parked),
            ("parked", pass.parked),
        ] {
            if n > 0 {
                metrics::counter!("vodsnap_webhook_deliveries_total", "result" => result)
                    .increment(n as u64);
            }
        }
        if !*stop.borrow() {
            pass.pruned = self.prune_if_due().await.map_err(|error| match error {
                WebhookStoreError::Unavailable(source) => QueueError::Unavailable(source),
                other => QueueError::Unknown(other.into()),
            })?;
        }
        Ok(pass)
    }

    /// Works until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        tracing::info!(
            worker = self.name.as_str(),
            "webhook delivery worker started"
        );
        let worker = &self;
        crate::polling::run_passes(
            self.settings.idle,
            stop,
            "webhook delivery",
            move |stop| async move {
                worker
                    .pass(&stop)
                    .await
                    .map(|pass| crate::polling::Pace::of(pass.claimed > 0))
            },
        )
        .await;
        tracing::info!(
            worker = self.name.as_str(),
            "webhook delivery worker stopped"
        );
    }
}

/// The label of a delivery the receiver accepted.
const DELIVERED: &str = "delivered";

/// The webhook delivery kind's run: one delivery at a time, POSTed signed
/// through the [`WebhookSender`].
#[async_trait]
impl JobRunner<ClaimedDelivery> for Deliverer {
    fn chunk(&self) -> usize {
        1
    }

    async fn run(
        &self,
        deliveries: Vec<ClaimedDelivery>,
    ) -> Result<Vec<(ClaimedDelivery, Outcome)>, QueueError> {
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            // A child of the change that wrote the event: one event, one
            // cause (the sender puts this span's `traceparent` on the
            // request).
            let span = tracing::debug_span!(
                "webhook delivery",
                project = delivery.project.as_str(),
                webhook = delivery.webhook.as_str(),
                event = delivery.event.id.as_str(),
                event_type = delivery.event.kind.as_str(),
                attempt = delivery.attempts.saturating_add(1),
            );
            if let Some(parent) = &delivery.trace {
                vodsnap_ports::trace::set_parent(&span, parent);
            }
            let sent = self
                .sender
                .send(
                    &delivery.url,
                    &delivery.event,
                    &delivery.secret,
                    self.clock.now(),
                )
                .instrument(span)
                .await;
            let outcome = match sent {
                Ok(()) => {
                    tracing::info!(
                        project = delivery.project.as_str(),
                        webhook = delivery.webhook.as_str(),
                        event = delivery.event.id.as_str(),
                        "webhook delivered"
                    );
                    Outcome::Done(DELIVERED)
                }
                Err(error) => {
                    tracing::warn!(
                        webhook = delivery.webhook.as_str(),
                        event = delivery.event.id.as_str(),
                        attempts = delivery.attempts.saturating_add(1),
                        error = %error,
                        "webhook delivery failed"
                    );
                    Outcome::Failed(error.to_string())
                }
            };
            outcomes.push((delivery, outcome));
        }
        Ok(outcomes)
    }

    fn completion(&self, _now: Timestamp) -> Box<()> {
        Box::new(())
    }
}

/// The delivery queue's figures, as gauges: `vodsnap_webhook_backlog`
/// (`state` pending or parked) and the age of the oldest pending event.
pub async fn record_backlog(
    store: &dyn WebhookStore,
    clock: &dyn Clock,
) -> Result<QueueBacklog, QueueError> {
    let now = clock.now();
    let backlog = store.backlog(now).await?;
    metrics::gauge!("vodsnap_webhook_backlog", "state" => "pending").set(backlog.queued as f64);
    metrics::gauge!("vodsnap_webhook_backlog", "state" => "parked").set(backlog.parked as f64);
    let age = backlog
        .oldest_due
        .map_or(Duration::ZERO, |at| now.since(at));
    metrics::gauge!("vodsnap_webhook_oldest_pending_seconds").set(age.as_secs_f64());
    Ok(backlog)
}
