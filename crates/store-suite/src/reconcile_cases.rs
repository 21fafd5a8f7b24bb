//! The cases every `ReconcileStore` passes, together with the other ports
//! of the same adapter (registrations, deletes and the cleanup make the
//! keys it lists): the keys a project holds, in byte order, each once,
//! paged; the projects it knows; orphans queued once, due now, audited.

use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{DeleteSelection, HeldKey, ObjectKey, Retention, Timestamp};
use vodsnap_ports::{
    AuditAction, AuditLog, AuditQuery, AuditRecord, CleanupQueue, ReconcileStore, TaskResultStore,
};
use vodsnap_service::Snapshots;

use crate::fixtures::{actor, at, no_events, project, result, task};
use crate::use_cases::FixedClock;

/// The ports of one adapter, sharing its data.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects without Debug; never printed"
)]
#[derive(Clone)]
pub struct ReconcileStores {
    pub results: Arc<dyn TaskResultStore>,
    pub cleanup: Arc<dyn CleanupQueue>,
    pub audit: Arc<dyn AuditLog>,
    pub reconcile: Arc<dyn ReconcileStore>,
    pub keep_alive: Arc<dyn std::any::Any + Send + Sync>,
}

const LEASE: Duration = Duration::from_secs(60);
/// The recycle bin's window of these cases: deleted tasks' keys stay
/// queued, not due, while the cases run.
const WINDOW: Duration = Duration::from_secs(3_600);

impl ReconcileStores {
    fn service(&self, now: Timestamp) -> Snapshots {
        Snapshots::new(
            self.results.clone(),
            self.audit.clone(),
            Arc::new(FixedClock(now)),
        )
        .with_retention(Retention::new(WINDOW).expect("retention"))
    }

    async fn register(&self, p: &str, a: &str, t: &str, images: i64) {
        self.service(at(100))
            .register(result(p, a, t, images), &actor())
            .await
            .expect("register");
    }

    async fn delete(&self, p: &str, t: &str) {
        let selection = DeleteSelection::new(None, vec![task(t)]).expect("selection");
        self.service(at(200))
            .delete(&project(p), &selection, &actor())
            .await
            .expect("delete");
    }

    async fn queue(&self, p: &str, keys: &[&str], now: i64) -> u64 {
        let keys: Vec<ObjectKey> = keys.iter().map(|k| key(k)).collect();
        let record = AuditRecord::orphans_queued(&project(p), &keys, at(now), &actor());
        self.reconcile
            .queue_orphans(&project(p), &keys, &record, at(now))
            .await
            .expect("queue orphans")
    }

    async fn held(&self, p: &str, after: &str, limit: u32) -> Vec<HeldKey> {
        self.reconcile
            .held_keys(&project(p), after, limit)
            .await
            .expect("held keys")
    }
}

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).expect("valid key")
}

fn held(raw: &str, live: bool) -> HeldKey {
    HeldKey {
        key: raw.to_owned(),
        live,
    }
}

/// Live keys, the recycle bin's and queued orphans, in ascending byte
/// order (`B` before `a`, `10.jpg` before `2.jpg`, whatever the database's
/// locale), each marked live only when a live task references it; another
/// project's keys (`p2`, which `p` prefixes) are not listed.
pub async fn held_keys_are_live_binned_and_queued_keys_in_byte_order(s: ReconcileStores) {
    // Arrange
    s.register("p", "a", "t1", 11).await;
    s.register("p", "B", "t2", 2).await;
    s.delete("p", "t2").await;
    assert_eq!(s.queue("p", &["p/zz/orphan.jpg"], 300).await, 1);
    s.register("p2", "a", "t9", 1).await;

    // Act
    let keys = s.held("p", "", 1_000).await;

    // Assert
    let mut expected = vec![held("p/B/t2/0.jpg", false), held("p/B/t2/1.jpg", false)];
    let mut live: Vec<String> = (0..11).map(|i| format!("p/a/t1/{i}.jpg")).collect();
    live.sort();
    assert_eq!(live[1], "p/a/t1/1.jpg");
    assert_eq!(live[2], "p/a/t1/10.jpg");
    expected.extend(live.iter().map(|k| held(k, true)));
    expected.push(held("p/zz/orphan.jpg", false));
    assert_eq!(keys, expected);
    assert_eq!(s.held("p2", "", 1_000).await, [held("p2/a/t9/0.jpg", true)]);
    assert_eq!(s.held("nobody", "", 1_000).await, []);
}

/// Pages of `limit` keys after the last key of the page before list every
/// key once, in order, whatever the page size.
pub async fn pages_list_every_key_once_in_order(s: ReconcileStores) {
    // Arrange
    s.register("p", "a", "t1", 25).await;
    s.register("p", "a", "t2", 4).await;
    s.delete("p", "t2").await;
    s.queue("p", &["p/a/t1/x.jpg", "p/0.jpg"], 300).await;
    let whole = s.held("p", "", 1_000).await;
    assert_eq!(whole.len(), 25 + 4 + 2);

    for limit in [1, 4, 30, 31] {
        // Act
        let (mut paged, mut after) = (Vec::new(), String::new());
        loop {
            let page = s.held("p", &after, limit).await;
            assert!(page.len() <= limit as usize, "limit {limit}");
            let Some(last) = page.last() else { break };
            after.clone_from(&last.key);
            paged.extend(page);
        }

        // Assert
        assert_eq!(paged, whole, "limit {limit}");
    }
    assert!(
        whole
            .windows(2)
            .all(|w| w[0].key.as_bytes() < w[1].key.as_bytes())
    );
    // After it: t1/x.jpg, then t2/0.jpg to t2/3.jpg.
    assert_eq!(s.held("p", "p/a/t1/9.jpg", 1_000).await.len(), 5);
}

/// A key both a live task references and the queue holds is listed once,
/// live; queueing it changes nothing of the cleanup's rule: the reference
/// check still finds it referenced.
pub async fn a_live_key_queued_is_held_once_and_stays_referenced(s: ReconcileStores) {
    // Arrange
    s.register("p", "a", "t1", 2).await;

    // Act
    let queued = s.queue("p", &["p/a/t1/0.jpg"], 300).await;

    // Assert
    assert_eq!(queued, 1);
    assert_eq!(
        s.held("p", "", 1_000).await,
        [held("p/a/t1/0.jpg", true), held("p/a/t1/1.jpg", true)]
    );
    let referenced = s
        .cleanup
        .referenced(&project("p"), &[key("p/a/t1/0.jpg")])
        .await
        .expect("referenced");
    assert!(referenced.contains(&key("p/a/t1/0.jpg")));
}

/// Orphans are queued once each (a key repeated, or already queued, is not
/// queued again), due at once and tied to no task, and every call is
/// audited with the keys it was given.
pub async fn orphans_are_queued_once_due_now_and_audited(s: ReconcileStores) {
    // Act
    let first = s
        .queue("p", &["p/o/1.jpg", "p/o/2.jpg", "p/o/1.jpg"], 300)
        .await;
    let second = s.queue("p", &["p/o/2.jpg", "p/o/3.jpg"], 400).await;

    // Assert
    assert_eq!((first, second), (2, 1));
    let claimed = s
        .cleanup
        .claim("w1", 100, LEASE, at(400))
        .await
        .expect("claim");
    let mut keys: Vec<&str> = claimed.iter().map(|i| i.object_key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["p/o/1.jpg", "p/o/2.jpg", "p/o/3.jpg"]);
    let query = AuditQuery {
        project: project("p"),
        since: None,
        task: None,
        limit: 100,
    };
    let records = s.audit.records(&query).await.expect("audit");
    let audited: Vec<(AuditAction, Vec<&str>)> = records
        .iter()
        .map(|r| (r.action, r.objects.iter().map(ObjectKey::as_str).collect()))
        .collect();
    assert_eq!(
        audited,
        [
            (
                AuditAction::ReconcileQueue,
                vec!["p/o/1.jpg", "p/o/2.jpg", "p/o/1.jpg"]
            ),
            (AuditAction::ReconcileQueue, vec!["p/o/2.jpg", "p/o/3.jpg"]),
        ]
    );
    assert_eq!(records[0].actor, actor());
}

/// The projects are those with task results (live or deleted) or queued
/// items, each once, in order; a project whose objects the cleanup took
/// stays known by its deleted task results.
pub async fn projects_are_those_with_task_results_or_queued_items(s: ReconcileStores) {
    // Arrange
    s.register("p1", "a", "t1", 1).await;
    s.register("p2", "a", "t1", 1).await;
    let selection = DeleteSelection::new(None, vec![task("t1")]).expect("selection");
    Snapshots::new(
        s.results.clone(),
        s.audit.clone(),
        Arc::new(FixedClock(at(200))),
    )
    .delete(&project("p2"), &selection, &actor())
    .await
    .expect("delete without retention");
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(300))
        .await
        .expect("claim");
    assert_eq!(items.len(), 1);
    s.cleanup
        .complete(&items, "w1", at(300), &no_events)
        .await
        .expect("complete");
    s.queue("p3", &["p3/o.jpg"], 400).await;

    // Act
    let projects = s.reconcile.projects().await.expect("projects");

    // Assert
    assert_eq!(projects, [project("p1"), project("p2"), project("p3")]);
    assert_eq!(s.held("p2", "", 1_000).await, []);
}
