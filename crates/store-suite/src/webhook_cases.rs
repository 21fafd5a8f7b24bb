//! The cases every `WebhookStore` passes, with the `TaskResultStore` and
//! `CleanupQueue` of the same adapter (their changes write the outbox),
//! through the service's use cases (`Snapshots`, `Webhooks`, `Deliverer`,
//! the cleanup's `Worker`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use vodsnap_domain::{
    BinSelection, DeleteSelection, DeliveryState, Event, EventType, EventTypes, ObjectKey,
    Retention, RetryPolicy, Secret, Timestamp, WebhookUrl,
};
use vodsnap_ports::{
    AuditAction, AuditLog, AuditQuery, CheckUrlError, ClaimedDelivery, CleanupQueue, FailedAttempt,
    ImageStore, ImageStoreError, SendError, TaskResultStore, WebhookSender, WebhookStore,
    WebhookStoreError,
};
use vodsnap_service::{Deliverer, DeliverySettings, Webhooks, Worker, WorkerSettings};

use crate::fixtures::{actor, asset, at, project, result, task};
use crate::use_cases::FixedClock;

/// A time after every other of these cases: a backlog read then counts
/// every pending delivery.
const LATER: i64 = 1_000_000_000_000;

/// The ports of one adapter, sharing its data.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects without Debug; never printed"
)]
#[derive(Clone)]
pub struct WebhookStores {
    pub results: Arc<dyn TaskResultStore>,
    pub cleanup: Arc<dyn CleanupQueue>,
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
        Deliverer::new(
            name.to_owned(),
            self.webhooks.clone(),
            sender,
            Arc::new(FixedClock(now)),
            DeliverySettings {
                policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3)
                    .expect("policy"),
                ..DeliverySettings::default()
            },
        )
    }

    async fn subscribe(&self, p: &str, url: &str, events: Option<&[&str]>) -> (String, Secret) {
        let (webhook, secret) = self
            .admin(at(10))
            .create(
                &project(p),
                WebhookUrl::parse(url).expect("url"),
                EventTypes::parse(events).expect("events"),
                &actor(),
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
    assert_eq!(
        s.webhooks
            .complete(&first, "w1", at(2_000), &())
            .await
            .expect("delivered"),
        0
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
    assert_eq!(
        s.webhooks.backlog(at(LATER)).await.expect("backlog").parked,
        1
    );

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
        s.admin(at(0))
            .remove(&project("q"), &webhook, &actor())
            .await,
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
        .remove(&project("p"), &webhook, &actor())
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
    assert_eq!(
        s.webhooks.backlog(at(LATER)).await.expect("backlog").queued,
        0
    );
    assert!(matches!(
        s.admin(at(0))
            .remove(&project("p"), &webhook, &actor())
            .await,
        Err(WebhookStoreError::NotFound)
    ));
}

// ---------------------------------------------------------------------------
// Restored and purged events, pruning, the audit of webhooks

/// Object storage for the cleanup's worker: removes every key but those
/// told to fail.
#[derive(Debug, Default)]
pub struct FlakyImages {
    pub failing: Mutex<HashSet<String>>,
}

#[async_trait]
impl ImageStore for FlakyImages {
    async fn delete(&self, key: &ObjectKey) -> Result<(), ImageStoreError> {
        if self.failing.lock().expect("lock").contains(key.as_str()) {
            return Err(ImageStoreError::unreachable(anyhow::anyhow!("down")));
        }
        Ok(())
    }

    async fn delete_many(&self, keys: &[ObjectKey]) -> Vec<Result<(), ImageStoreError>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.delete(key).await);
        }
        out
    }

    async fn put(&self, _: &ObjectKey, _: Vec<u8>) -> Result<(), ImageStoreError> {
        Ok(())
    }

    async fn get(&self, _: &ObjectKey) -> Result<Option<Vec<u8>>, ImageStoreError> {
        Ok(None)
    }

    async fn exists(&self, _: &ObjectKey) -> Result<bool, ImageStoreError> {
        Ok(false)
    }

    fn describe(&self) -> String {
        "flaky".into()
    }
}

impl WebhookStores {
    fn bin(&self, now: i64, window: Duration) -> vodsnap_service::Snapshots {
        self.snapshots(at(now))
            .with_retention(Retention::new(window).expect("retention"))
    }

    /// A cleanup worker at `now`, taking `batch` items a pass, parking an
    /// object after its first failure.
    fn worker(&self, name: &str, images: Arc<FlakyImages>, now: i64, batch: u32) -> Worker {
        Worker::new(
            name.to_owned(),
            self.cleanup.clone(),
            images,
            Arc::new(FixedClock(at(now))),
            WorkerSettings {
                policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 1)
                    .expect("policy"),
                batch,
                ..WorkerSettings::default()
            },
        )
    }

    async fn events(&self, worker: &str, now: i64, kind: EventType) -> Vec<Event> {
        self.claim(worker, now)
            .await
            .into_iter()
            .map(|c| c.event)
            .filter(|e| e.kind == kind)
            .collect()
    }
}

fn tasks_of(event: &Event) -> Vec<(String, String)> {
    event
        .tasks
        .iter()
        .map(|t| (t.task.as_str().to_owned(), t.asset.as_str().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
        .collect()
}

pub async fn a_restore_that_brought_tasks_back_sends_one_restored_event(s: WebhookStores) {
    let window = Duration::from_secs(3_600);
    s.subscribe("p", "https://all.example/", None).await;
    s.subscribe(
        "p",
        "https://deletes.example/",
        Some(&["thumbnails.deleted"]),
    )
    .await;
    for (t, a) in [("t1", "a1"), ("t2", "a2"), ("live", "a1")] {
        s.bin(100, window)
            .register(result("p", a, t, 2), &actor())
            .await
            .expect("register");
    }
    let selection = DeleteSelection::new(None, vec![task("t1"), task("t2")]).expect("selection");
    s.bin(200, window)
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    let before = s.claim("w0", 1_000).await.len();
    assert_eq!(
        before,
        3 + 2,
        "three registered, one deleted, to two webhooks"
    );

    let named = BinSelection::new(vec![task("t2"), task("live"), task("nope"), task("t1")])
        .expect("selection");
    s.bin(300, window)
        .restore(&project("p"), &named, &actor())
        .await
        .expect("restore");
    // Again: every task is live now, nothing comes back, nothing is sent.
    s.bin(400, window)
        .restore(&project("p"), &named, &actor())
        .await
        .expect("restore");
    // A purge sends nothing either (its event comes from the cleanup).
    let deleted_again = DeleteSelection::new(None, vec![task("live")]).expect("selection");
    s.bin(500, window)
        .delete(&project("p"), &deleted_again, &actor())
        .await
        .expect("delete");
    s.bin(600, window)
        .purge(
            &project("p"),
            &BinSelection::new(vec![task("live")]).expect("sel"),
            &actor(),
        )
        .await
        .expect("purge");

    let claimed = s.claim("w1", 2_000).await;
    assert_eq!(
        kinds(&claimed, "https://all.example/"),
        [EventType::Restored, EventType::Deleted]
    );
    assert_eq!(
        kinds(&claimed, "https://deletes.example/"),
        [EventType::Deleted]
    );
    let restored = &claimed
        .iter()
        .find(|c| c.event.kind == EventType::Restored)
        .expect("restored")
        .event;
    assert_eq!(restored.asset, None);
    assert_eq!(restored.occurred_at, at(300));
    assert_eq!(tasks_of(restored), pairs(&[("t2", "a2"), ("t1", "a1")]));
}

pub async fn the_cleanup_sends_purged_once_a_deleted_tasks_objects_are_gone(s: WebhookStores) {
    s.subscribe("p", "https://purges.example/", Some(&["thumbnails.purged"]))
        .await;
    s.subscribe("q", "https://q.example/", Some(&["thumbnails.purged"]))
        .await;
    s.register("p", "t1").await;
    s.register("p", "t2").await;
    s.register("q", "t9").await;
    // A live task sharing an object with t2 keeps that object: it still
    // counts as t2's item finished.
    s.snapshots(at(150))
        .register(
            vodsnap_domain::NewTaskResult::new(
                project("p"),
                asset("b"),
                task("keeper"),
                crate::fixtures::para(10),
                vec![
                    vodsnap_domain::Snapshot::new(
                        0,
                        ObjectKey::parse("p/a/t2/0.jpg").expect("key"),
                    )
                    .expect("snapshot"),
                ],
            )
            .expect("result"),
            &actor(),
        )
        .await
        .expect("register");
    // Retention 0: every object is due at once.
    s.delete("p", &["t1", "t2"]).await;
    s.delete("q", &["t9"]).await;
    assert!(s.events("w0", 250, EventType::Purged).await.is_empty());

    let images = Arc::new(FlakyImages::default());
    let pass = s
        .worker("c1", images, 1_000, 1_000)
        .pass(&never())
        .await
        .expect("pass");
    assert_eq!((pass.removed, pass.kept), (5, 1));

    let purged = s.events("w1", 2_000, EventType::Purged).await;
    assert_eq!(purged.len(), 2, "one per project of the batch");
    let in_p = purged
        .iter()
        .find(|e| e.project == project("p"))
        .expect("p's event");
    assert_eq!(in_p.asset, None);
    assert_eq!(in_p.occurred_at, at(1_000));
    assert_eq!(tasks_of(in_p), pairs(&[("t1", "a"), ("t2", "a")]));
    let in_q = purged
        .iter()
        .find(|e| e.project == project("q"))
        .expect("q's event");
    assert_eq!(tasks_of(in_q), pairs(&[("t9", "a")]));
}

pub async fn a_parked_object_holds_back_the_purged_event_until_its_retry_succeeds(
    s: WebhookStores,
) {
    s.subscribe("p", "https://all.example/", None).await;
    s.register("p", "t1").await;
    s.register("p", "t2").await;
    s.delete("p", &["t1", "t2"]).await;
    let images = Arc::new(FlakyImages::default());
    images
        .failing
        .lock()
        .expect("lock")
        .insert("p/a/t1/1.jpg".to_owned());

    let first = s
        .worker("c1", images.clone(), 1_000, 1_000)
        .pass(&never())
        .await
        .expect("pass");
    assert_eq!((first.removed, first.parked), (3, 1));
    let purged = s.events("w1", 1_500, EventType::Purged).await;
    assert_eq!(purged.len(), 1);
    assert_eq!(tasks_of(&purged[0]), pairs(&[("t2", "a")]), "t1 waits");

    images.failing.lock().expect("lock").clear();
    let admin =
        vodsnap_service::CleanupAdmin::new(s.cleanup.clone(), Arc::new(FixedClock(at(2_000))));
    assert_eq!(admin.retry_parked(Vec::new()).await.expect("retry"), 1);
    let second = s
        .worker("c1", images, 3_000, 1_000)
        .pass(&never())
        .await
        .expect("pass");
    assert_eq!(second.removed, 1);
    let purged = s.events("w2", 3_500, EventType::Purged).await;
    assert_eq!(purged.len(), 1);
    assert_eq!(tasks_of(&purged[0]), pairs(&[("t1", "a")]));
    assert_eq!(purged[0].occurred_at, at(3_000));
}

pub async fn concurrent_workers_purge_each_task_exactly_once(s: WebhookStores) {
    s.subscribe("p", "https://all.example/", Some(&["thumbnails.purged"]))
        .await;
    let names: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for t in &names {
        s.snapshots(at(100))
            .register(result("p", "a", t, 5), &actor())
            .await
            .expect("register");
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    s.delete("p", &refs).await;

    // Small batches, four workers at once: a task's objects are spread
    // over several workers' batches, completed concurrently.
    let images = Arc::new(FlakyImages::default());
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 50, "the queue does not drain");
        let passes = futures::future::join_all((0..4).map(|i| {
            let worker = s.worker(&format!("c{i}"), images.clone(), 1_000 + rounds, 3);
            async move { worker.pass(&never()).await.expect("pass") }
        }))
        .await;
        if passes.iter().all(|p| p.claimed == 0) {
            break;
        }
    }
    let purged = s.events("w", 5_000, EventType::Purged).await;
    let mut seen: Vec<String> = purged
        .iter()
        .flat_map(|e| e.tasks.iter().map(|t| t.task.as_str().to_owned()))
        .collect();
    seen.sort();
    assert_eq!(seen, names, "every task once, none twice");
}

/// Claims every due delivery at `now` and records it delivered, or
/// failed with `retry_at` (`None`: parked).
async fn settle(s: &WebhookStores, now: i64, outcome: Option<Option<i64>>) -> usize {
    let claimed = s.claim("settler", now).await;
    let recorded = match outcome {
        None => s.webhooks.complete(&claimed, "settler", at(now), &()).await,
        Some(retry_at) => {
            let failures: Vec<FailedAttempt<ClaimedDelivery>> = claimed
                .iter()
                .map(|d| FailedAttempt {
                    item: d.clone(),
                    error: "HTTP 503".to_owned(),
                    retry_at: retry_at.map(at),
                })
                .collect();
            s.webhooks.fail(&failures, "settler", at(now)).await
        }
    };
    assert_eq!(recorded.expect("record"), claimed.len() as u64);
    claimed.len()
}

pub async fn finished_events_are_pruned_after_the_retention_and_pending_ones_never(
    s: WebhookStores,
) {
    let (id, _) = s.subscribe("p", "https://all.example/", None).await;
    s.subscribe("q", "https://q.example/", None).await;
    let webhook = vodsnap_domain::WebhookId::parse(&id).expect("id");
    s.register("p", "delivered").await;
    assert_eq!(settle(&s, 1_000, None).await, 1);
    s.register("p", "parked").await;
    assert_eq!(settle(&s, 2_000, Some(None)).await, 1);
    s.register("p", "pending").await;
    assert_eq!(settle(&s, 3_000, Some(Some(1_000_000_000))).await, 1);
    s.register("q", "other").await;
    assert_eq!(settle(&s, 4_000, None).await, 1);

    // Finished at 1000 and 2000: not before a cutoff of 1000; the first
    // before 1001.
    assert_eq!(s.webhooks.prune(at(1_000), 100).await.expect("prune"), 0);
    assert_eq!(s.webhooks.prune(at(1_001), 100).await.expect("prune"), 1);
    let listed = s
        .admin(at(0))
        .deliveries(&project("p"), &webhook, false)
        .await
        .expect("deliveries");
    let left: Vec<String> = listed
        .iter()
        .map(|d| d.event.tasks[0].task.as_str().to_owned())
        .collect();
    assert_eq!(left, ["pending", "parked"]);
    // At most `max` at a time; then the rest (q's too), but never a
    // pending one, however old.
    assert_eq!(
        s.webhooks.prune(at(999_999_999), 1).await.expect("prune"),
        1
    );
    assert_eq!(
        s.webhooks.prune(at(999_999_999), 100).await.expect("prune"),
        1
    );
    assert_eq!(
        s.webhooks.prune(at(999_999_999), 100).await.expect("prune"),
        0
    );
    let listed = s
        .admin(at(0))
        .deliveries(&project("p"), &webhook, false)
        .await
        .expect("deliveries");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, DeliveryState::Pending);
    assert_eq!(
        s.webhooks.backlog(at(LATER)).await.expect("backlog").queued,
        1
    );
}

pub async fn a_redelivered_event_is_not_pruned(s: WebhookStores) {
    let (id, _) = s.subscribe("p", "https://all.example/", None).await;
    let webhook = vodsnap_domain::WebhookId::parse(&id).expect("id");
    s.register("p", "t1").await;
    assert_eq!(settle(&s, 1_000, Some(None)).await, 1);
    let parked = s
        .admin(at(0))
        .deliveries(&project("p"), &webhook, true)
        .await
        .expect("deliveries");
    s.admin(at(5_000))
        .redeliver(&project("p"), &webhook, parked[0].id)
        .await
        .expect("redeliver");
    assert_eq!(s.webhooks.prune(at(10_000), 100).await.expect("prune"), 0);
    assert_eq!(s.claim("w", 6_000).await.len(), 1);
}

pub async fn delivery_workers_prune_on_their_clock_at_most_every_prune_interval(s: WebhookStores) {
    s.subscribe("p", "https://all.example/", None).await;
    s.register("p", "t1").await;
    let sender = Arc::new(RecordingSender::default());
    let settings = DeliverySettings {
        event_retention: Duration::from_secs(10),
        prune_every: Duration::from_secs(60),
        ..DeliverySettings::default()
    };
    let worker = |now: i64| {
        Deliverer::new(
            "w".into(),
            s.webhooks.clone(),
            sender.clone(),
            Arc::new(FixedClock(at(now))),
            settings.clone(),
        )
    };
    // Delivered at 1 s; within the retention at 5 s.
    let first = worker(1_000_000).pass(&never()).await.expect("pass");
    assert_eq!((first.delivered, first.pruned), (1, 0));
    assert_eq!(
        worker(5_000_000).pass(&never()).await.expect("pass").pruned,
        0
    );
    // Past it: pruned.
    let late = worker(12_000_000);
    assert_eq!(late.pass(&never()).await.expect("pass").pruned, 1);
    // The same worker prunes again only a minute later.
    s.register("p", "t2").await;
    let delivered = late.pass(&never()).await.expect("pass");
    assert_eq!((delivered.delivered, delivered.pruned), (1, 0));
}

pub async fn webhook_changes_are_audited_without_the_secret(s: WebhookStores) {
    let (webhook, secret) = s
        .admin(at(10))
        .create(
            &project("p"),
            WebhookUrl::parse("https://hooks.example/in?token=abc#frag").expect("url"),
            EventTypes::parse(Some(&["thumbnails.purged", "thumbnails.deleted"])).expect("events"),
            &actor(),
        )
        .await
        .expect("create");
    s.admin(at(20))
        .remove(&project("p"), &webhook.id, &actor())
        .await
        .expect("remove");
    // A removal that removes nothing is not audited.
    assert!(
        s.admin(at(30))
            .remove(&project("p"), &webhook.id, &actor())
            .await
            .is_err()
    );

    let records = s
        .audit
        .records(&AuditQuery {
            project: project("p"),
            since: None,
            task: None,
            limit: 100,
        })
        .await
        .expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0].action, records[1].action),
        (AuditAction::WebhookCreate, AuditAction::WebhookDelete)
    );
    assert_eq!((records[0].at, records[1].at), (at(10), at(20)));
    assert_eq!(records[0].actor, actor());
    let created = records[0].webhook.clone().expect("webhook");
    assert_eq!(created.id, webhook.id);
    assert_eq!(created.url.as_deref(), Some("https://hooks.example/in"));
    assert_eq!(
        created.events.expect("events").as_slice(),
        [EventType::Deleted, EventType::Purged]
    );
    let removed = records[1].webhook.clone().expect("webhook");
    assert_eq!(
        (removed.id, removed.url, removed.events),
        (webhook.id, None, None)
    );
    assert!(!format!("{records:?}").contains(secret.expose()));
    assert!(
        s.audit
            .records(&AuditQuery {
                project: project("q"),
                since: None,
                task: None,
                limit: 100,
            })
            .await
            .expect("records")
            .is_empty()
    );
}
