//! In-memory webhooks and their delivery queue, kept under the store's
//! lock so that an event is queued in the same atomic step as its change.

use std::collections::BTreeMap;
use std::time::Duration;

use vodsnap_domain::{
    ClaimShares, DeliveryState, Event, EventId, ProjectId, Secret, Timestamp, WebhookId,
    is_prunable,
};
use vodsnap_ports::{ClaimedDelivery, Delivery, DeliveryBacklog, Webhook, WebhookStoreError};

#[derive(Debug)]
struct Subscription {
    webhook: Webhook,
    secret: Secret,
}

#[derive(Debug)]
struct Queued {
    project: ProjectId,
    webhook: WebhookId,
    event: Event,
    state: DeliveryState,
    attempts: u32,
    last_error: String,
    due_at: Timestamp,
    updated_at: Timestamp,
    lease: Option<(String, Timestamp)>,
}

impl Queued {
    fn lease_live(&self, now: Timestamp) -> bool {
        self.lease.as_ref().is_some_and(|(_, until)| *until > now)
    }

    fn leased_to(&self, worker: &str) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|(owner, _)| owner == worker)
    }
}

/// An event's time and its deliveries' states and `updated_at`.
type EventDeliveries = (Timestamp, Vec<(DeliveryState, Timestamp)>);

/// Subscriptions in creation order, deliveries by id.
#[derive(Debug, Default)]
pub(crate) struct WebhookState {
    subscriptions: Vec<Subscription>,
    deliveries: BTreeMap<i64, Queued>,
    next_id: i64,
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(at.as_micros().saturating_add(micros))
}

impl WebhookState {
    /// Queues one delivery per event and per subscription of its project
    /// that asks for its type.
    pub(crate) fn enqueue(&mut self, events: &[Event]) {
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
                self.next_id += 1;
                self.deliveries.insert(
                    self.next_id,
                    Queued {
                        project: event.project.clone(),
                        webhook,
                        event: event.clone(),
                        state: DeliveryState::Pending,
                        attempts: 0,
                        last_error: String::new(),
                        due_at: event.occurred_at,
                        updated_at: event.occurred_at,
                        lease: None,
                    },
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
        self.deliveries.retain(|_, q| {
            !(&q.project == project && &q.webhook == id && q.state != DeliveryState::Delivered)
        });
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
            .iter()
            .rev()
            .filter(|(_, q)| &q.project == project && &q.webhook == id)
            .filter(|(_, q)| {
                !failed_only || (q.state != DeliveryState::Delivered && q.attempts > 0)
            })
            .take(limit as usize)
            .map(|(id, q)| Delivery {
                id: *id,
                webhook: q.webhook.clone(),
                event: q.event.clone(),
                state: q.state,
                attempts: q.attempts,
                last_error: q.last_error.clone(),
                updated_at: q.updated_at,
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
        match self.deliveries.get_mut(&delivery) {
            Some(q) if &q.project == project && &q.webhook == id => {
                q.state = DeliveryState::Pending;
                q.attempts = 0;
                q.due_at = now;
                q.updated_at = now;
                q.lease = None;
                Ok(())
            }
            _ => Err(WebhookStoreError::NotFound),
        }
    }

    pub(crate) fn claim(
        &mut self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Vec<ClaimedDelivery> {
        let until = plus(now, lease);
        let mut due: Vec<(Timestamp, i64)> = self
            .deliveries
            .iter()
            .filter(|(_, q)| {
                q.state == DeliveryState::Pending && q.due_at <= now && !q.lease_live(now)
            })
            .map(|(id, q)| (q.due_at, *id))
            .collect();
        due.sort_unstable();
        let mut by_project: BTreeMap<ProjectId, Vec<i64>> = BTreeMap::new();
        let mut order: Vec<ProjectId> = Vec::new();
        for (_, id) in due {
            let Some(project) = self.deliveries.get(&id).map(|q| q.project.clone()) else {
                continue;
            };
            let ids = by_project.entry(project.clone()).or_default();
            if ids.is_empty() {
                order.push(project);
            }
            ids.push(id);
        }
        let mut shares = ClaimShares::new(max, order);
        let mut claimed = Vec::new();
        loop {
            let round = shares.round();
            if round.is_empty() {
                break;
            }
            for (project, asked) in round {
                let ids = by_project.entry(project.clone()).or_default();
                let take = ids.len().min(asked as usize);
                let got: Vec<i64> = ids.drain(..take).collect();
                shares.took(&project, asked, u32::try_from(got.len()).unwrap_or(asked));
                for id in got {
                    let Some(q) = self.deliveries.get_mut(&id) else {
                        continue;
                    };
                    let Some(sub) = self
                        .subscriptions
                        .iter()
                        .find(|s| s.webhook.project == q.project && s.webhook.id == q.webhook)
                    else {
                        continue;
                    };
                    q.lease = Some((worker.to_owned(), until));
                    claimed.push(ClaimedDelivery {
                        id,
                        project: q.project.clone(),
                        webhook: q.webhook.clone(),
                        url: sub.webhook.url.clone(),
                        secret: sub.secret.clone(),
                        event: q.event.clone(),
                        attempts: q.attempts,
                    });
                }
            }
        }
        claimed.sort_by_key(|d| d.id);
        claimed
    }

    pub(crate) fn delivered(&mut self, id: i64, worker: &str, now: Timestamp) -> bool {
        match self.deliveries.get_mut(&id) {
            Some(q) if q.leased_to(worker) => {
                q.state = DeliveryState::Delivered;
                q.attempts = q.attempts.saturating_add(1);
                q.updated_at = now;
                q.lease = None;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn failed(
        &mut self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        match self.deliveries.get_mut(&id) {
            Some(q) if q.leased_to(worker) => {
                q.attempts = q.attempts.saturating_add(1);
                q.last_error = error.to_owned();
                q.lease = None;
                match retry_at {
                    Some(at) => {
                        q.due_at = at;
                        q.updated_at = at;
                    }
                    None => {
                        q.state = DeliveryState::Parked;
                        q.updated_at = now;
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// Drops up to `max` events that [`is_prunable`] lets go at `cutoff`,
    /// oldest first, with their deliveries; answers how many. An event
    /// lives here only in its deliveries: one whose webhooks were all
    /// removed before delivering it is gone already.
    pub(crate) fn prune(&mut self, cutoff: Timestamp, max: u32) -> u64 {
        let mut events: BTreeMap<(ProjectId, EventId), EventDeliveries> = BTreeMap::new();
        for q in self.deliveries.values() {
            events
                .entry((q.project.clone(), q.event.id.clone()))
                .or_insert_with(|| (q.event.occurred_at, Vec::new()))
                .1
                .push((q.state, q.updated_at));
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
            .retain(|_, q| !doomed.contains(&(q.project.clone(), q.event.id.clone())));
        doomed.len() as u64
    }

    pub(crate) fn backlog(&self) -> DeliveryBacklog {
        let mut backlog = DeliveryBacklog::default();
        for q in self.deliveries.values() {
            match q.state {
                DeliveryState::Pending => {
                    backlog.pending += 1;
                    let at = q.due_at;
                    backlog.oldest_pending =
                        Some(backlog.oldest_pending.map_or(at, |o: Timestamp| o.min(at)));
                }
                DeliveryState::Parked => backlog.parked += 1,
                DeliveryState::Delivered => {}
            }
        }
        backlog
    }
}
