//! In-memory webhooks and their delivery queue, kept under the store's
//! lock so that an event is queued in the same atomic step as its change.

use std::collections::BTreeMap;

use vodsnap_domain::{
    DeliveryState, Event, EventId, ProjectId, Secret, Timestamp, TraceContext, WebhookId,
    is_prunable,
};
use vodsnap_ports::{ClaimedDelivery, Delivery, Webhook, WebhookStoreError};

use crate::queue::{Entry, JobQueue};

#[derive(Debug)]
struct Subscription {
    webhook: Webhook,
    secret: Secret,
}

/// What a delivery job keeps: the webhook and the event.
#[derive(Debug)]
pub(crate) struct Sending {
    webhook: WebhookId,
    event: Event,
    /// The trace of the change that wrote the event, kept as given.
    trace: Option<TraceContext>,
}

/// A delivery's state, from its queue state.
fn state(e: &Entry<Sending>) -> DeliveryState {
    if e.finished_at.is_some() {
        DeliveryState::Delivered
    } else if e.parked_at.is_some() {
        DeliveryState::Parked
    } else {
        DeliveryState::Pending
    }
}

fn of_webhook(e: &Entry<Sending>, project: &ProjectId, id: &WebhookId) -> bool {
    &e.project == project && &e.payload.webhook == id
}

/// An event's time and its deliveries' states and `updated_at`.
type EventDeliveries = (Timestamp, Vec<(DeliveryState, Timestamp)>);

/// Subscriptions in creation order, deliveries by id.
#[derive(Debug, Default)]
pub(crate) struct WebhookState {
    subscriptions: Vec<Subscription>,
    deliveries: JobQueue<Sending>,
}

impl WebhookState {
    /// Queues one delivery per event and per subscription of its project
    /// that asks for its type.
    pub(crate) fn enqueue(&mut self, events: &[Event], trace: Option<&TraceContext>) {
        for event in events {
            let targets: Vec<WebhookId> = self
                .subscriptions
                .iter()
                .filter(|s| {
                    s.webhook.project == event.project && s.webhook.events.contains(event.kind)
                })
                .map(|s| s.webhook.id.clone())
                .collect();
            for webhook in targets {
                let sending = Sending {
                    webhook,
                    event: event.clone(),
                    trace: trace.cloned(),
                };
                self.deliveries.push(
                    event.project.clone(),
                    sending,
                    event.occurred_at,
                    event.occurred_at,
                );
            }
        }
    }

    pub(crate) fn create(&mut self, webhook: &Webhook, secret: &Secret) {
        self.subscriptions.push(Subscription {
            webhook: webhook.clone(),
            secret: secret.clone(),
        });
    }

    pub(crate) fn list(&self, project: &ProjectId) -> Vec<Webhook> {
        self.subscriptions
            .iter()
            .filter(|s| &s.webhook.project == project)
            .map(|s| s.webhook.clone())
            .collect()
    }

    fn exists(&self, project: &ProjectId, id: &WebhookId) -> bool {
        self.subscriptions
            .iter()
            .any(|s| &s.webhook.project == project && &s.webhook.id == id)
    }

    pub(crate) fn remove(
        &mut self,
        project: &ProjectId,
        id: &WebhookId,
    ) -> Result<(), WebhookStoreError> {
        if !self.exists(project, id) {
            return Err(WebhookStoreError::NotFound);
        }
        self.subscriptions
            .retain(|s| !(&s.webhook.project == project && &s.webhook.id == id));
        self.deliveries
            .retain(|e| !(of_webhook(e, project, id) && e.finished_at.is_none()));
        Ok(())
    }

    pub(crate) fn deliveries(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        failed_only: bool,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookStoreError> {
        if !self.exists(project, id) {
            return Err(WebhookStoreError::NotFound);
        }
        Ok(self
            .deliveries
            .entries()
            .rev()
            .filter(|e| of_webhook(e, project, id))
            .filter(|e| !failed_only || (e.finished_at.is_none() && e.attempts > 0))
            .take(limit as usize)
            .map(|e| Delivery {
                id: e.id,
                webhook: e.payload.webhook.clone(),
                event: e.payload.event.clone(),
                state: state(e),
                attempts: e.attempts,
                last_error: e.last_error.clone(),
                updated_at: e.updated_at,
            })
            .collect())
    }

    pub(crate) fn redeliver(
        &mut self,
        project: &ProjectId,
        id: &WebhookId,
        delivery: i64,
        now: Timestamp,
    ) -> Result<(), WebhookStoreError> {
        match self.deliveries.get_mut(delivery) {
            Some(e) if of_webhook(e, project, id) => {
                JobQueue::requeue(e, now);
                Ok(())
            }
            _ => Err(WebhookStoreError::NotFound),
        }
    }

    pub(crate) fn queue(&mut self) -> &mut JobQueue<Sending> {
        &mut self.deliveries
    }

    /// The delivery with id `id`, with what sending it takes (the
    /// webhook's URL and secret).
    pub(crate) fn claimed(&self, id: i64) -> Option<ClaimedDelivery> {
        let e = self.deliveries.get(id)?;
        let sub = self
            .subscriptions
            .iter()
            .find(|s| of_webhook(e, &s.webhook.project, &s.webhook.id))?;
        Some(ClaimedDelivery {
            id: e.id,
            project: e.project.clone(),
            webhook: e.payload.webhook.clone(),
            url: sub.webhook.url.clone(),
            secret: sub.secret.clone(),
            event: e.payload.event.clone(),
            attempts: e.attempts,
            trace: e.payload.trace.clone(),
        })
    }

    /// Drops up to `max` events that [`is_prunable`] lets go at `cutoff`,
    /// oldest first, with their deliveries; answers how many. An event
    /// lives here only in its deliveries: one whose webhooks were all
    /// removed before delivering it is gone already.
    pub(crate) fn prune(&mut self, cutoff: Timestamp, max: u32) -> u64 {
        let mut events: BTreeMap<(ProjectId, EventId), EventDeliveries> = BTreeMap::new();
        for e in self.deliveries.entries() {
            events
                .entry((e.project.clone(), e.payload.event.id.clone()))
                .or_insert_with(|| (e.payload.event.occurred_at, Vec::new()))
                .1
                .push((state(e), e.updated_at));
        }
        let mut doomed: Vec<(Timestamp, ProjectId, EventId)> = events
            .into_iter()
            .filter(|(_, (occurred_at, deliveries))| {
                is_prunable(*occurred_at, deliveries.iter().copied(), cutoff)
            })
            .map(|((project, id), (occurred_at, _))| (occurred_at, project, id))
            .collect();
        doomed.sort();
        doomed.truncate(max as usize);
        let doomed: std::collections::BTreeSet<(ProjectId, EventId)> =
            doomed.into_iter().map(|(_, p, id)| (p, id)).collect();
        self.deliveries
            .retain(|e| !doomed.contains(&(e.project.clone(), e.payload.event.id.clone())));
        doomed.len() as u64
    }
}
