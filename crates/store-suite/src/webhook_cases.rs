//! The cases every `WebhookStore` passes, with the `TaskResultStore` of the
//! same adapter (its changes write the outbox), through the service's use
//! cases (`Snapshots`, `Webhooks`, `Deliverer`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use vodsnap_domain::{
    DeleteSelection, DeliveryState, Event, EventType, EventTypes, RetryPolicy, Secret, Timestamp,
    WebhookUrl,
};
use vodsnap_ports::{
    AuditLog, CheckUrlError, ClaimedDelivery, SendError, TaskResultStore, WebhookSender,
    WebhookStore, WebhookStoreError,
};
use vodsnap_service::{Deliverer, DeliverySettings, Webhooks};

use crate::fixtures::{actor, asset, at, project, result, task};
use crate::use_cases::FixedClock;

/// The ports of one adapter, sharing its data.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects without Debug; never printed"
)]
#[derive(Clone)]
pub struct WebhookStores {
    pub results: Arc<dyn TaskResultStore>,
    pub audit: Arc<dyn AuditLog>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Whatever must live as long as the stores.
    pub keep_alive: Arc<dyn std::any::Any + Send + Sync>,
}

/// A sender that records what it is asked to send and fails the first
/// `fail` attempts; its URL check accepts everything.
#[derive(Debug, Default)]
pub struct RecordingSender {
    pub sent: Mutex<Vec<(String, Event, String)>>,
    pub fail: Mutex<u32>,
}

#[async_trait]
impl WebhookSender for RecordingSender {
    async fn check(&self, _url: &WebhookUrl) -> Result<(), CheckUrlError> {
        Ok(())
    }

    async fn send(
        &self,
        url: &WebhookUrl,
        event: &Event,
        secret: &Secret,
        _now: Timestamp,
    ) -> Result<(), SendError> {
        let mut fail = self.fail.lock().expect("lock");
        if *fail > 0 {
            *fail -= 1;
            return Err(SendError::Status(503));
        }
        self.sent.lock().expect("lock").push((
            url.as_str().to_owned(),
            event.clone(),
            secret.expose().to_owned(),
        ));
        Ok(())
    }
}

impl WebhookStores {
    fn snapshots(&self, now: Timestamp) -> vodsnap_service::Snapshots {
        vodsnap_service::Snapshots::new(
            self.results.clone(),
            self.audit.clone(),
            Arc::new(FixedClock(now)),
        )
    }

    fn admin(&self, now: Timestamp) -> Webhooks {
        Webhooks::new(
            self.webhooks.clone(),
            Arc::new(RecordingSender::default()),
            Arc::new(FixedClock(now)),
        )
    }

    fn deliverer(&self, name: &str, sender: Arc<RecordingSender>, now: Timestamp) -> Deliverer {
        Deliverer {
            name: name.to_owned(),
            store: self.webhooks.clone(),
            sender,
            clock: Arc::new(FixedClock(now)),
            settings: DeliverySettings {
                policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3)
                    .expect("policy"),
                ..DeliverySettings::default()
            },
        }
    }

    async fn subscribe(&self, p: &str, url: &str, events: Option<&[&str]>) -> (String, Secret) {
        let (webhook, secret) = self
            .admin(at(10))
            .create(
                &project(p),
                WebhookUrl::parse(url).expect("url"),
                EventTypes::parse(events).expect("events"),
            )
            .await
            .expect("create");
        (webhook.id.as_str().to_owned(), secret)
    }

    async fn register(&self, p: &str, t: &str) {
        self.snapshots(at(100))
            .register(result(p, "a", t, 2), &actor())
            .await
            .expect("register");
    }

    async fn delete(&self, p: &str, tasks: &[&str]) {
        let selection =
            DeleteSelection::new(None, tasks.iter().map(|t| task(t)).collect()).expect("selection");
        self.snapshots(at(200))
            .delete(&project(p), &selection, &actor())
            .await
            .expect("delete");
    }

    async fn claim(&self, worker: &str, now: i64) -> Vec<ClaimedDelivery> {
        self.webhooks
            .claim(worker, 100, LEASE, at(now))
            .await
            .expect("claim")
    }
}

const LEASE: Duration = Duration::from_secs(60);

fn never() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    std::mem::forget(tx);
    rx
}

fn kinds(claimed: &[ClaimedDelivery], url: &str) -> Vec<EventType> {
    claimed
        .iter()
        .filter(|c| c.url.as_str() == url)
        .map(|c| c.event.kind)
        .collect()
}

pub async fn changes_queue_one_delivery_per_subscribed_webhook(s: WebhookStores) {
    let (_, all_secret) = s.subscribe("p", "https://all.example/", None).await;
    s.subscribe(
        "p",
        "https://deletes.example/",
        Some(&["thumbnails.deleted"]),
    )
    .await;
    s.subscribe("q", "https://other.example/", None).await;

    s.register("p", "t1").await;
    s.delete("p", &["t1", "nope"]).await;

    let claimed = s.claim("w", 1_000).await;
    assert_eq!(
        kinds(&claimed, "https://all.example/"),
        [EventType::Registered, EventType::Deleted]
    );
    assert_eq!(
        kinds(&claimed, "https://deletes.example/"),
        [EventType::Deleted]
    );
    assert!(kinds(&claimed, "https://other.example/").is_empty());
    let deleted = &claimed
        .iter()
        .find(|c| c.event.kind == EventType::Deleted)
        .expect("a deleted event")
        .event;
    assert_eq!(deleted.project, project("p"));
    assert_eq!(deleted.asset, None);
    assert_eq!(deleted.occurred_at, at(200));
    assert_eq!(
        deleted
            .tasks
            .iter()
            .map(|t| (t.task.clone(), t.asset.clone()))
            .collect::<Vec<_>>(),
        [(task("t1"), asset("a"))]
    );
    // One event, delivered to each webhook under the same id.
    let ids: HashSet<_> = claimed
        .iter()
        .filter(|c| c.event.kind == EventType::Deleted)
        .map(|c| c.event.id.clone())
        .collect();
    assert_eq!(ids.len(), 1);
    // The signing secret comes back as it was given (sealed at rest).
    let all = claimed
        .iter()
        .find(|c| c.url.as_str() == "https://all.example/")
        .expect("the all webhook");
    assert_eq!(all.secret, all_secret);
}

pub async fn a_change_that_changes_nothing_queues_nothing(s: WebhookStores) {
    s.subscribe("p", "https://all.example/", None).await;
    s.register("p", "t1").await;
    s.delete("p", &["t1"]).await;
    let first = s.claim("w", 1_000).await;
    assert_eq!(first.len(), 2);

    // A repeated registration, a repeated delete, a delete of unknown ids.
    let again = s
        .snapshots(at(300))
        .register(result("p", "a", "t2", 1), &actor())
        .await;
    assert!(again.is_ok());
    let repeated = s
        .snapshots(at(300))
        .register(result("p", "a", "t2", 1), &actor())
        .await;
    assert!(repeated.is_ok());
    s.delete("p", &["t1", "nope"]).await;

    let later = s.claim("w2", 1_000).await;
    assert_eq!(
        kinds(&later, "https://all.example/"),
        [EventType::Registered]
    );
}

pub async fn a_lease_excludes_other_workers_until_it_expires(s: WebhookStores) {
    s.subscribe("p", "https://all.example/", None).await;
    s.register("p", "t1").await;
    let first = s.claim("w1", 1_000).await;
    assert_eq!(first.len(), 1);
    assert!(s.claim("w2", 1_000).await.is_empty());
    let after_lease = s.claim("w2", 1_000 + 61_000_000).await;
    assert_eq!(after_lease.len(), 1);
    assert_eq!(after_lease[0].event.id, first[0].event.id);
    // The first worker's lease is gone: it cannot record an outcome.
    assert!(
        !s.webhooks
            .delivered(&first[0], "w1", at(2_000))
            .await
            .expect("delivered")
    );
}

pub async fn concurrent_claims_never_share_a_delivery(s: WebhookStores) {
    s.subscribe("p", "https://a.example/", None).await;
    s.subscribe("p", "https://b.example/", None).await;
    for i in 0..20 {
        s.register("p", &format!("t{i}")).await;
    }
    let claims = (0..4).map(|i| {
        let store = s.webhooks.clone();
        tokio::spawn(async move {
            store
                .claim(&format!("w{i}"), 7, LEASE, at(1_000))
                .await
                .expect("claim")
        })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for claim in claims {
        for d in claim.await.expect("join") {
            total += 1;
            assert!(seen.insert(d.id), "delivery {} claimed twice", d.id);
        }
    }
    assert_eq!(total, 28);
}

pub async fn a_delivery_is_sent_once_and_listed_delivered(s: WebhookStores) {
    let (id, secret) = s.subscribe("p", "https://all.example/", None).await;
    s.register("p", "t1").await;
    let sender = Arc::new(RecordingSender::default());

    let pass = s
        .deliverer("w", sender.clone(), at(1_000))
        .pass(&never())
        .await
        .expect("pass");
    let again = s
        .deliverer("w", sender.clone(), at(2_000))
        .pass(&never())
        .await
        .expect("pass");

    assert_eq!((pass.claimed, pass.delivered, again.claimed), (1, 1, 0));
    let sent = sender.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2, secret.expose());
    let webhook = vodsnap_domain::WebhookId::parse(&id).expect("id");
    let listed = s
        .admin(at(3_000))
        .deliveries(&project("p"), &webhook, false)
        .await
        .expect("deliveries");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state, listed[0].attempts),
        (DeliveryState::Delivered, 1)
    );
    let failed = s
        .admin(at(3_000))
        .deliveries(&project("p"), &webhook, true)
        .await
        .expect("deliveries");
    assert!(failed.is_empty());
}

pub async fn failures_retry_later_then_park_and_redeliver_resets(s: WebhookStores) {
    let (id, _) = s.subscribe("p", "https://all.example/", None).await;
    let webhook = vodsnap_domain::WebhookId::parse(&id).expect("id");
    s.register("p", "t1").await;
    let sender = Arc::new(RecordingSender::default());
    *sender.fail.lock().expect("lock") = 10;

    // Policy: 3 attempts, 1 s apart at most; each pass is 2 s later.
    let mut passes = Vec::new();
    for i in 0..4 {
        passes.push(
            s.deliverer("w", sender.clone(), at(1_000_000 + i * 2_000_000))
                .pass(&never())
                .await
                .expect("pass"),
        );
    }
    let summary: Vec<_> = passes.iter().map(|p| (p.retried, p.parked)).collect();
    assert_eq!(summary, [(1, 0), (1, 0), (0, 1), (0, 0)]);
    let failed = s
        .admin(at(10_000_000))
        .deliveries(&project("p"), &webhook, true)
        .await
        .expect("deliveries");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].state, failed[0].attempts),
        (DeliveryState::Parked, 3)
    );
    assert!(
        failed[0].last_error.contains("503"),
        "{}",
        failed[0].last_error
    );
    assert_eq!(s.webhooks.backlog().await.expect("backlog").parked, 1);

    *sender.fail.lock().expect("lock") = 0;
    s.admin(at(20_000_000))
        .redeliver(&project("p"), &webhook, failed[0].id)
        .await
        .expect("redeliver");
    let pass = s
        .deliverer("w", sender.clone(), at(20_000_000))
        .pass(&never())
        .await
        .expect("pass");
    assert_eq!(pass.delivered, 1);
    assert_eq!(
        sender.sent.lock().expect("lock")[0].1.id,
        failed[0].event.id
    );
}

pub async fn webhooks_are_per_project_and_removal_drops_undelivered(s: WebhookStores) {
    let (id, _) = s.subscribe("p", "https://all.example/", None).await;
    let webhook = vodsnap_domain::WebhookId::parse(&id).expect("id");
    s.register("p", "t1").await;
    let listed = s.admin(at(0)).list(&project("p")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url.as_str(), "https://all.example/");
    assert_eq!(listed[0].events, EventTypes::all());
    assert!(
        s.admin(at(0))
            .list(&project("q"))
            .await
            .expect("list")
            .is_empty()
    );

    // Another project sees none of it.
    for result in [
        s.admin(at(0)).remove(&project("q"), &webhook).await,
        s.admin(at(0))
            .deliveries(&project("q"), &webhook, false)
            .await
            .map(|_| ()),
        s.admin(at(0)).redeliver(&project("q"), &webhook, 1).await,
    ] {
        assert!(
            matches!(result, Err(WebhookStoreError::NotFound)),
            "{result:?}"
        );
    }

    s.admin(at(0))
        .remove(&project("p"), &webhook)
        .await
        .expect("remove");
    assert!(
        s.admin(at(0))
            .list(&project("p"))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(s.claim("w", 1_000).await.is_empty());
    assert_eq!(s.webhooks.backlog().await.expect("backlog").pending, 0);
    assert!(matches!(
        s.admin(at(0)).remove(&project("p"), &webhook).await,
        Err(WebhookStoreError::NotFound)
    ));
}
