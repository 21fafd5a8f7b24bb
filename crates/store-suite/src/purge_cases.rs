//! The cases every `PurgeQueue` passes with the `TaskResultStore`,
//! `CleanupQueue` and `AuditLog` of the same adapter: `DeleteAssets`
//! hides an asset's tasks at once, the purge job tombstones them in
//! batches, resumes after a lost lease, keeps to the cleanup's reference
//! rule and the recycle bin, and races registrations, deletes and restores
//! without losing or leaking an image.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vodsnap_domain::{
    AssetId, BinSelection, DeletePlan, DeleteSelection, DetailsPage, Event, EventId, EventType,
    EventTypes, FoundTask, ListFilter, ListPage, NewTaskResult, ObjectKey, PurgeProgress,
    PurgeState, Retention, Snapshot, Timestamp, WebhookUrl, purge_has_more,
};
use vodsnap_ports::{
    AuditAction, AuditLog, AuditQuery, AuditRecord, CleanupQueue, DetailsError, FailedAttempt,
    PlannedDelete, PlannedPurgeBatch, PurgeBatchPlanner, PurgeFinish, PurgeJob, PurgeQueue,
    RegisterError, TaskResultStore, WebhookStore,
};
use vodsnap_service::Webhooks;
use vodsnap_service::{AssetPurges, PurgeSettings, Purger, Snapshots};

use crate::fixtures::{actor, asset, at, para, project, result, task};
use crate::use_cases::FixedClock;

/// The ports of one adapter, sharing its data.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects without Debug; never printed"
)]
#[derive(Clone)]
pub struct PurgeStores {
    pub results: Arc<dyn TaskResultStore>,
    pub cleanup: Arc<dyn CleanupQueue>,
    pub audit: Arc<dyn AuditLog>,
    pub purges: Arc<dyn PurgeQueue>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub keep_alive: Arc<dyn std::any::Any + Send + Sync>,
}

const HOUR: Duration = Duration::from_secs(3_600);

impl PurgeStores {
    fn snapshots(&self, now: Timestamp) -> Snapshots {
        Snapshots::new(
            self.results.clone(),
            self.audit.clone(),
            Arc::new(FixedClock(now)),
        )
        .with_retention(Retention::new(HOUR).expect("retention"))
    }

    fn purges(&self, now: Timestamp) -> AssetPurges {
        AssetPurges::new(self.purges.clone(), Arc::new(FixedClock(now)))
    }

    fn purger(&self, name: &str, now: Timestamp, retention: Retention) -> Purger {
        Purger {
            name: name.to_owned(),
            queue: self.purges.clone(),
            clock: Arc::new(FixedClock(now)),
            settings: PurgeSettings {
                retention,
                ..PurgeSettings::default()
            },
        }
    }

    /// Runs purge passes at `now` until none is claimed.
    async fn purge_all(&self, now: Timestamp, retention: Retention) {
        let (_tx, stop) = watch::channel(false);
        let purger = self.purger("suite-purger", now, retention);
        while purger.pass(&stop).await.expect("purge pass").claimed > 0 {}
    }

    async fn listed(&self, p: &str, a: Option<&str>) -> (u64, Vec<String>) {
        let filter = ListFilter {
            asset: a.map(asset),
            task: None,
        };
        let page = ListPage::new(Some(0), Some(100)).expect("page");
        let listing = self
            .results
            .list(&project(p), &filter, page)
            .await
            .expect("list");
        (
            listing.total,
            listing
                .items
                .iter()
                .map(|t| t.task.as_str().to_owned())
                .collect(),
        )
    }

    /// Subscribes a webhook of `p` to `events`.
    async fn subscribe(&self, p: &str, url: &str, events: &[&str]) {
        let sender = Arc::new(crate::webhook_cases::RecordingSender::default());
        Webhooks::new(self.webhooks.clone(), sender, Arc::new(FixedClock(at(10))))
            .create(
                &project(p),
                WebhookUrl::parse(url).expect("url"),
                EventTypes::parse(Some(events)).expect("events"),
                &actor(),
            )
            .await
            .expect("subscribe");
    }

    /// The events of every delivery due by a far future, in the order
    /// claimed (each claimed once: a second call sees none of them).
    async fn delivered_events(&self) -> Vec<Event> {
        let claimed = self
            .webhooks
            .claim(
                "suite-inspector",
                1_000,
                Duration::from_secs(1),
                at(i64::MAX / 2),
            )
            .await
            .expect("claim deliveries");
        claimed.into_iter().map(|c| c.event).collect()
    }

    /// Every queued cleanup item's key, with how often it is queued.
    async fn queued_keys(&self) -> BTreeMap<String, usize> {
        let mut keys = BTreeMap::new();
        let far = at(i64::MAX / 2);
        loop {
            let items = self
                .cleanup
                .claim("suite-inspector", 1_000, Duration::from_secs(1), far)
                .await
                .expect("claim");
            if items.is_empty() {
                return keys;
            }
            for item in items {
                *keys.entry(item.object_key.as_str().to_owned()).or_insert(0) += 1;
            }
        }
    }
}

async fn register(s: &PurgeStores, p: &str, a: &str, t: &str, now: i64) {
    s.snapshots(at(now))
        .register(result(p, a, t, 2), &actor())
        .await
        .expect("register");
}

pub async fn delete_assets_hides_the_tasks_at_once_and_the_purge_tombstones_them(s: PurgeStores) {
    // Arrange
    for t in ["t1", "t2", "t3"] {
        register(&s, "p1", "a", t, 100).await;
    }
    register(&s, "p1", "b", "tb", 100).await;
    register(&s, "p2", "a", "other", 100).await;

    // Act
    let answer = s
        .purges(at(200))
        .delete_assets(&project("p1"), &[asset("a"), asset("never")], &actor())
        .await
        .expect("delete assets");

    // Assert: answered for each asset, in order; the tasks gone at once.
    let statuses: Vec<(&str, &str)> = answer
        .iter()
        .map(|(a, st)| (a.as_str(), st.as_str()))
        .collect();
    assert_eq!(statuses, [("a", "DELETED"), ("never", "DELETED")]);
    assert_eq!(s.listed("p1", Some("a")).await, (0, vec![]));
    assert_eq!(s.listed("p1", None).await, (1, vec!["tb".to_owned()]));
    let page = DetailsPage::new(None, None).expect("page");
    assert!(matches!(
        s.results.details(&project("p1"), &task("t1"), page).await,
        Err(DetailsError::NotFound)
    ));
    assert!(
        s.results
            .get(&project("p1"), &task("t1"))
            .await
            .expect("get")
            .is_none()
    );
    let by_id = DeleteSelection::new(None, vec![task("t2")]).expect("selection");
    let report = s
        .snapshots(at(210))
        .delete(&project("p1"), &by_id, &actor())
        .await
        .expect("delete");
    assert_eq!(report.items[0].status().as_str(), "DELETED");
    let by_asset = DeleteSelection::new(Some(asset("a")), vec![]).expect("selection");
    let report = s
        .snapshots(at(210))
        .delete(&project("p1"), &by_asset, &actor())
        .await
        .expect("delete");
    assert!(report.items.is_empty());
    assert_eq!(report.remaining, 0);
    assert!(matches!(
        s.snapshots(at(220))
            .register(result("p1", "a", "new", 1), &actor())
            .await,
        Err(RegisterError::AssetPurging)
    ));
    let progress = s
        .purges(at(230))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(progress.state(), PurgeState::Purging);
    assert_eq!(progress.tasks_total, 3);
    assert_eq!(progress.started_at, at(200));
    // Another project's same asset id is untouched.
    assert_eq!(
        s.listed("p2", Some("a")).await,
        (1, vec!["other".to_owned()])
    );

    // Act: the purge runs.
    s.purge_all(at(300), Retention::NONE).await;

    // Assert
    let progress = s
        .purges(at(400))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(progress.state(), PurgeState::Purged);
    assert_eq!(
        (
            progress.tasks_total,
            progress.tasks_deleted,
            progress.objects_queued
        ),
        (3, 3, 6)
    );
    assert_eq!(progress.finished_at, Some(at(300)));
    let never = s
        .purges(at(400))
        .progress(&project("p1"), &asset("never"))
        .await
        .expect("progress")
        .expect("a purge of an empty asset");
    assert_eq!((never.state(), never.tasks_total), (PurgeState::Purged, 0));
    assert!(
        s.purges(at(400))
            .progress(&project("p2"), &asset("a"))
            .await
            .expect("progress")
            .is_none()
    );
    let queued = s.queued_keys().await;
    assert_eq!(queued.len(), 6);
    assert!(queued.keys().all(|k| k.starts_with("p1/a/")));
    assert_eq!(
        s.listed("p2", Some("a")).await,
        (1, vec!["other".to_owned()])
    );
    assert_eq!(s.listed("p1", None).await, (1, vec!["tb".to_owned()]));
    // The batch is audited as a delete of the asset.
    let records = s
        .audit
        .records(&AuditQuery {
            project: project("p1"),
            since: None,
            task: None,
            limit: 100,
        })
        .await
        .expect("audit");
    assert!(records.iter().any(|r| r.action == AuditAction::Delete
        && r.asset == Some(asset("a"))
        && r.outcomes.len() == 3
        && r.actor.principal == "system:asset-purge"));
    // The call itself, with its caller: one record per asset, in order.
    let calls: Vec<_> = records
        .iter()
        .filter(|r| r.action == AuditAction::AssetDelete)
        .map(|r| (r.asset.clone(), r.actor.clone(), r.at, r.outcomes.len()))
        .collect();
    assert_eq!(
        calls,
        [
            (Some(asset("a")), actor(), at(200), 0),
            (Some(asset("never")), actor(), at(200), 0)
        ]
    );
    // Registration starts the asset afresh; the purged ids stay deleted.
    register(&s, "p1", "a", "fresh", 500).await;
    assert_eq!(
        s.listed("p1", Some("a")).await,
        (1, vec!["fresh".to_owned()])
    );
    assert!(matches!(
        s.snapshots(at(500))
            .register(result("p1", "a", "t1", 2), &actor())
            .await,
        Err(RegisterError::ConflictsWithDeleted)
    ));
}

pub async fn a_repeated_call_keeps_the_running_purge_and_a_dry_run_changes_nothing(s: PurgeStores) {
    register(&s, "p1", "a", "t1", 100).await;
    register(&s, "p1", "a", "t2", 100).await;

    let preview = s
        .purges(at(150))
        .preview(&project("p1"), &[asset("a"), asset("b")])
        .await
        .expect("preview");
    assert_eq!(
        preview
            .iter()
            .map(|(a, n)| (a.as_str(), *n))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 0)]
    );
    assert!(
        s.purges(at(150))
            .progress(&project("p1"), &asset("a"))
            .await
            .expect("progress")
            .is_none()
    );
    assert_eq!(s.listed("p1", Some("a")).await.0, 2);

    let purges = s.purges(at(200));
    purges
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("first");
    s.purges(at(250))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("second");
    let progress = purges
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!((progress.started_at, progress.tasks_total), (at(200), 2));
    let backlog = s.purges.backlog(at(300)).await.expect("backlog");
    assert_eq!(backlog.queued, 1);
}

/// A purge parked after its last attempt keeps its asset hidden; asking
/// for the asset's deletion again makes it due again, and it finishes.
pub async fn deleting_an_asset_again_revives_its_parked_purge(s: PurgeStores) {
    register(&s, "p1", "a", "t1", 100).await;
    s.purges(at(200))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("delete assets");
    let claimed = s
        .purges
        .claim("w1", 10, Duration::from_secs(60), at(300))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let parked = [FailedAttempt {
        item: claimed[0].clone(),
        error: "down".to_owned(),
        retry_at: None,
    }];
    assert_eq!(
        s.purges.fail(&parked, "w1", at(400)).await.expect("park"),
        1
    );
    let backlog = s.purges.backlog(at(500)).await.expect("backlog");
    assert_eq!((backlog.queued, backlog.parked), (0, 1));
    assert_eq!(s.listed("p1", Some("a")).await.0, 0, "still hidden");

    s.purges(at(600))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("again");
    let backlog = s.purges.backlog(at(700)).await.expect("backlog");
    assert_eq!((backlog.queued, backlog.parked), (1, 0));
    s.purge_all(at(800), Retention::new(Duration::ZERO).expect("no bin"))
        .await;
    let progress = s
        .purges(at(900))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(
        (progress.tasks_deleted, progress.finished_at.is_some()),
        (1, true)
    );
}

pub async fn a_purge_runs_in_batches_and_another_worker_resumes_it_after_the_lease(s: PurgeStores) {
    // Arrange: more than one batch.
    let n = vodsnap_domain::PURGE_BATCH + 5;
    for i in 0..n {
        register(&s, "p1", "big", &format!("t{i:05}"), 100 + i as i64).await;
    }
    s.purges(at(10_000))
        .delete_assets(&project("p1"), &[asset("big")], &actor())
        .await
        .expect("record");
    let lease = Duration::from_secs(60);
    let jobs = s
        .purges
        .claim("w1", 1, lease, at(20_000))
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);

    s.subscribe("p1", "https://purged.example/", &["asset.purged"])
        .await;

    // Act: w1 runs one batch, then "crashes".
    let planner = batch_planner(&jobs[0], at(20_000));
    let planner: PurgeBatchPlanner<'_> = &planner;
    let first = s
        .purges
        .purge_batch(&jobs[0], "w1", planner, at(20_000), lease)
        .await
        .expect("batch")
        .expect("held");
    assert_eq!(first.tasks, vodsnap_domain::PURGE_BATCH as u64);
    assert_eq!(first.found, vodsnap_domain::PURGE_BATCH);
    assert!(!first.finished);
    assert!(
        s.delivered_events().await.is_empty(),
        "no asset.purged before the last batch"
    );

    // The lease (extended by the batch) keeps others away until it ends.
    assert!(
        s.purges
            .claim("w2", 1, lease, at(20_000 + 59_000_000))
            .await
            .expect("claim")
            .is_empty()
    );
    let later = at(20_000 + 61_000_000);
    s.purge_all(later, Retention::NONE).await;

    // Assert: the rest done once; w1 can no longer write.
    let progress = s
        .purges(later)
        .progress(&project("p1"), &asset("big"))
        .await
        .expect("progress")
        .expect("purge");
    assert_eq!(progress.state(), PurgeState::Purged);
    assert_eq!(progress.tasks_deleted, n as u64);
    assert_eq!(progress.objects_queued, 2 * n as u64);
    assert!(
        s.purges
            .purge_batch(&jobs[0], "w1", planner, later, lease)
            .await
            .expect("batch")
            .is_none()
    );
    assert_eq!(s.queued_keys().await.len(), 2 * n);
    // One asset.purged, written with the last batch.
    let events = s.delivered_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind,
            events[0].asset.clone(),
            events[0].tasks_total
        ),
        (EventType::AssetPurged, Some(asset("big")), Some(n as u64))
    );
    assert_eq!(events[0].occurred_at, later);
}

/// A planner as the service's purge worker plans (`Purger`): the batch a
/// delete of the asset, and the last batch (fewer than a full one) the
/// purge's end with its `asset.purged` event.
fn batch_planner(
    job: &PurgeJob,
    now: Timestamp,
) -> impl Fn(&PurgeProgress, Vec<FoundTask>) -> PlannedPurgeBatch + Send + Sync + 'static {
    let job = job.clone();
    move |progress: &PurgeProgress, found: Vec<FoundTask>| {
        let last = !purge_has_more(found.len());
        let selection = DeleteSelection::new(Some(job.asset.clone()), vec![]).expect("selection");
        let plan = DeletePlan::of_purge(&job.asset, found);
        let tombstoned = plan.doomed().len() as u64;
        PlannedPurgeBatch {
            delete: PlannedDelete {
                trace: None,
                audit: AuditRecord::deletion(&job.project, &selection, plan.items(), now, &actor()),
                plan,
                at: now,
                purge_at: now,
                events: vec![],
            },
            finish: last.then(|| PurgeFinish {
                at: now,
                events: vec![Event::of_asset_purge(
                    EventId::from_random(u128::from(job.id.unsigned_abs())),
                    job.project.clone(),
                    job.asset.clone(),
                    progress.total_after(tombstoned),
                    now,
                )],
            }),
        }
    }
}

/// The purge's end and its `asset.purged` event, once per purge (an asset
/// with no task included), only to the project's webhooks that ask for it.
pub async fn each_purge_ends_with_one_asset_purged_event(s: PurgeStores) {
    // Arrange
    s.subscribe("p1", "https://purged.example/", &["asset.purged"])
        .await;
    s.subscribe("p1", "https://deleted.example/", &["thumbnails.deleted"])
        .await;
    s.subscribe("p2", "https://other.example/", &["asset.purged"])
        .await;
    for t in ["t1", "t2", "t3"] {
        register(&s, "p1", "a", t, 100).await;
    }
    s.purges(at(200))
        .delete_assets(&project("p1"), &[asset("a"), asset("empty")], &actor())
        .await
        .expect("delete assets");
    assert!(s.delivered_events().await.is_empty(), "none at the call");

    // Act
    s.purge_all(at(300), Retention::NONE).await;

    // Assert
    let events = s.delivered_events().await;
    let mut purged: Vec<(String, Option<u64>)> = events
        .iter()
        .filter(|e| e.kind == EventType::AssetPurged)
        .map(|e| {
            assert_eq!((e.project.as_str(), e.occurred_at), ("p1", at(300)));
            assert!(e.tasks.is_empty());
            (
                e.asset
                    .as_ref()
                    .map(AssetId::as_str)
                    .unwrap_or("")
                    .to_owned(),
                e.tasks_total,
            )
        })
        .collect();
    purged.sort();
    assert_eq!(
        purged,
        [("a".to_owned(), Some(3)), ("empty".to_owned(), Some(0))]
    );
    let deleted: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventType::Deleted)
        .collect();
    assert_eq!(deleted.len(), 1, "the batch's thumbnails.deleted");
    assert_eq!(deleted[0].tasks.len(), 3);
    // Another purge of the same asset is another purge: one more event.
    register(&s, "p1", "a", "t4", 400).await;
    s.purges(at(500))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("again");
    s.purge_all(at(600), Retention::NONE).await;
    let again: Vec<Option<u64>> = s
        .delivered_events()
        .await
        .iter()
        .filter(|e| e.kind == EventType::AssetPurged)
        .map(|e| e.tasks_total)
        .collect();
    assert_eq!(again, [Some(1)]);
}

/// The purge is closed by its last batch, in the same unit of work: a
/// restore that lands right after that batch (before the worker records
/// anything more) finds the asset no longer purging, and its task comes
/// back live, with its images, for good.
pub async fn a_restore_right_after_the_last_batch_finds_the_purge_closed(s: PurgeStores) {
    // Arrange: t1 in the recycle bin, t2 live; the asset's purge claimed.
    register(&s, "p1", "a", "t1", 100).await;
    register(&s, "p1", "a", "t2", 100).await;
    let one = DeleteSelection::new(None, vec![task("t1")]).expect("selection");
    s.snapshots(at(150))
        .delete(&project("p1"), &one, &actor())
        .await
        .expect("delete");
    s.purges(at(200))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("record");
    let lease = Duration::from_secs(60);
    let jobs = s
        .purges
        .claim("w1", 1, lease, at(300))
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);

    // Act: the last batch, then at once a restore of t1 (nothing else).
    let planner = batch_planner(&jobs[0], at(300));
    let batch = s
        .purges
        .purge_batch(&jobs[0], "w1", &planner, at(300), lease)
        .await
        .expect("batch")
        .expect("held");
    let bin = BinSelection::new(vec![task("t1")]).expect("selection");
    let restored = s
        .snapshots(at(400))
        .restore(&project("p1"), &bin, &actor())
        .await
        .expect("restore");

    // Assert: closed with its batch; t1 live and listed, with its images.
    assert!(batch.finished);
    assert_eq!(restored[0].status().as_str(), "RESTORED");
    let progress = s
        .purges(at(400))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(
        (
            progress.state(),
            progress.finished_at,
            progress.tasks_deleted
        ),
        (PurgeState::Purged, Some(at(300)), 1)
    );
    assert_eq!(s.listed("p1", Some("a")).await, (1, vec!["t1".to_owned()]));
    let page = DetailsPage::new(None, None).expect("page");
    let details = s
        .results
        .details(&project("p1"), &task("t1"), page)
        .await
        .expect("details of the restored task");
    assert_eq!(details.total, 2);
    // The worker finds nothing left to record, and claims nothing more.
    assert!(s.purges.backlog(at(500)).await.expect("backlog").queued == 0);
    let queued = s.queued_keys().await;
    assert_eq!(
        queued.keys().cloned().collect::<Vec<_>>(),
        ["p1/a/t2/0.jpg", "p1/a/t2/1.jpg"]
    );
}

pub async fn an_image_of_a_live_task_of_another_asset_stays_referenced(s: PurgeStores) {
    let shared = ObjectKey::parse("p1/shared.jpg").expect("key");
    let with_shared = |a: &str, t: &str| {
        NewTaskResult::new(
            project("p1"),
            asset(a),
            task(t),
            para(10),
            vec![Snapshot::new(0, shared.clone()).expect("snapshot")],
        )
        .expect("result")
    };
    for (a, t) in [("a", "ta"), ("b", "tb")] {
        s.snapshots(at(100))
            .register(with_shared(a, t), &actor())
            .await
            .expect("register");
    }
    s.purges(at(200))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("record");
    s.purge_all(at(300), Retention::NONE).await;

    // The key is queued, and the cleanup's reference check keeps it.
    assert_eq!(s.queued_keys().await.get("p1/shared.jpg"), Some(&1));
    let referenced = s
        .cleanup
        .referenced(&project("p1"), std::slice::from_ref(&shared))
        .await
        .expect("referenced");
    assert!(referenced.contains(&shared));
    assert_eq!(s.listed("p1", Some("b")).await.0, 1);
}

pub async fn with_retention_purged_tasks_go_to_the_recycle_bin(s: PurgeStores) {
    register(&s, "p1", "a", "t1", 100).await;
    register(&s, "p1", "a", "t2", 100).await;
    s.purges(at(200))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("record");
    s.purge_all(at(300), Retention::new(HOUR).expect("retention"))
        .await;

    let page = ListPage::new(None, None).expect("page");
    let bin = s
        .snapshots(at(400))
        .deleted(&project("p1"), None, page)
        .await
        .expect("bin");
    assert_eq!(bin.total, 2);
    // Not due before the window ends.
    assert!(
        s.cleanup
            .claim("w", 100, Duration::from_secs(1), at(500))
            .await
            .expect("claim")
            .is_empty()
    );
    let one = BinSelection::new(vec![task("t1")]).expect("selection");
    let restored = s
        .snapshots(at(500))
        .restore(&project("p1"), &one, &actor())
        .await
        .expect("restore");
    assert_eq!(restored[0].status().as_str(), "RESTORED");
    assert_eq!(s.listed("p1", Some("a")).await, (1, vec!["t1".to_owned()]));
}

/// A purge racing registrations, deletes and restores of the same asset:
/// at the end every registered task is either live with none of its keys
/// queued, or deleted with each of its keys queued exactly once.
pub async fn a_purge_racing_registrations_deletes_and_restores_loses_and_leaks_no_image(
    s: PurgeStores,
) {
    for i in 0..40 {
        register(&s, "p1", "a", &format!("old{i:02}"), 100 + i).await;
    }
    // Some deleted before, restorable during the race.
    let early = DeleteSelection::new(None, (0..5).map(|i| task(&format!("old{i:02}"))).collect())
        .expect("selection");
    s.snapshots(at(1_000))
        .delete(&project("p1"), &early, &actor())
        .await
        .expect("delete");
    s.purges(at(2_000))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("record");

    let retention = Retention::new(HOUR).expect("retention");
    let purging = {
        let s = s.clone();
        tokio::spawn(async move { s.purge_all(at(3_000), retention).await })
    };
    let registering = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut created = Vec::new();
            for i in 0..20 {
                let t = format!("new{i:02}");
                match s
                    .snapshots(at(3_000 + i))
                    .register(result("p1", "a", &t, 2), &actor())
                    .await
                {
                    Ok(_) => created.push(t),
                    Err(RegisterError::AssetPurging) => {}
                    Err(e) => panic!("register: {e}"),
                }
                tokio::task::yield_now().await;
            }
            created
        })
    };
    let deleting = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in (10..40).step_by(3) {
                let sel = DeleteSelection::new(None, vec![task(&format!("old{i:02}"))])
                    .expect("selection");
                s.snapshots(at(3_000))
                    .delete(&project("p1"), &sel, &actor())
                    .await
                    .expect("delete");
            }
        })
    };
    let restoring = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..5 {
                let sel = BinSelection::new(vec![task(&format!("old{i:02}"))]).expect("sel");
                s.snapshots(at(3_000))
                    .restore(&project("p1"), &sel, &actor())
                    .await
                    .expect("restore");
            }
        })
    };
    purging.await.expect("purge task");
    let created = registering.await.expect("register task");
    deleting.await.expect("delete task");
    restoring.await.expect("restore task");

    // Assert: the purge is over (closed by its last batch, nothing more
    // to run), and each task is live with its images and none of them
    // queued, or deleted with each image queued exactly once. A task is
    // live only if it came (back) after the last batch: a restore or a
    // registration once the purge was closed.
    let progress = s
        .purges(at(4_000))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(progress.state(), PurgeState::Purged);
    assert_eq!(
        s.purges.backlog(at(4_000)).await.expect("backlog").queued,
        0
    );
    let queued = s.queued_keys().await;
    let mut all: BTreeSet<String> = (0..40).map(|i| format!("old{i:02}")).collect();
    all.extend(created);
    let mut live_tasks = 0;
    let page = DetailsPage::new(None, None).expect("page");
    for t in &all {
        let live = s.results.get(&project("p1"), &task(t)).await.expect("get");
        if live.is_some() {
            live_tasks += 1;
            let details = s
                .results
                .details(&project("p1"), &task(t), page)
                .await
                .expect("details of a live task");
            assert_eq!(details.total, 2, "live {t} lost images");
        }
        for i in 0..2 {
            let key = format!("p1/a/{t}/{i}.jpg");
            let times = queued.get(&key).copied().unwrap_or(0);
            match &live {
                Some(_) => assert_eq!(times, 0, "{key} of live {t} is queued"),
                None => assert_eq!(times, 1, "{key} of deleted {t} queued {times} times"),
            }
        }
    }
    assert_eq!(s.listed("p1", Some("a")).await.0, live_tasks);
    // Nothing else was queued: no image of a task unknown here.
    assert!(
        queued
            .keys()
            .all(|k| all.iter().any(|t| k.starts_with(&format!("p1/a/{t}/")))),
        "{queued:?}"
    );
}

/// Asserts the asset's list `total` (the store's count of the asset,
/// issue 24 part 6) equals both `expected` and the live tasks it lists.
async fn assert_asset_total(s: &PurgeStores, p: &str, a: &str, expected: u64) {
    let (total, items) = s.listed(p, Some(a)).await;
    assert_eq!(
        (total, items.len() as u64),
        (expected, expected),
        "asset {a} of {p}: total and listed tasks"
    );
}

/// An asset's `total` follows every kind of change: registrations,
/// repeats that change nothing, a delete by ids spanning two assets, a
/// delete by asset, a restore, and a purge (0 from DeleteAssets on, whose
/// `tasks_total` is the count), then a fresh start.
pub async fn the_asset_total_stays_exact_through_every_change(s: PurgeStores) {
    // Arrange
    for i in 0..15 {
        register(&s, "p1", "a", &format!("a{i:02}"), 100 + i).await;
    }
    for i in 0..4 {
        register(&s, "p1", "b", &format!("b{i}"), 100 + i).await;
    }
    register(&s, "p2", "a", "other", 100).await;
    let repeat = s
        .snapshots(at(150))
        .register(result("p1", "a", "a00", 2), &actor())
        .await;
    assert!(repeat.is_ok(), "a repeated registration is answered");
    assert_asset_total(&s, "p1", "a", 15).await;
    assert_asset_total(&s, "p1", "b", 4).await;

    // Act: a delete by ids over two assets, an unknown id, a repeat.
    let across = DeleteSelection::new(None, vec![task("a00"), task("a01"), task("b0"), task("no")])
        .expect("selection");
    for when in [200, 210] {
        s.snapshots(at(when))
            .delete(&project("p1"), &across, &actor())
            .await
            .expect("delete by ids");
    }
    // Assert
    assert_asset_total(&s, "p1", "a", 13).await;
    assert_asset_total(&s, "p1", "b", 3).await;

    // Act: a delete by asset (its ten oldest), whose `remaining` is the
    // count too.
    let by_asset = DeleteSelection::new(Some(asset("a")), vec![]).expect("selection");
    let report = s
        .snapshots(at(300))
        .delete(&project("p1"), &by_asset, &actor())
        .await
        .expect("delete by asset");
    // Assert
    assert_eq!(report.remaining, 3);
    assert_asset_total(&s, "p1", "a", 3).await;

    // Act: a restore of tasks of both assets, one twice.
    let back = BinSelection::new(vec![task("a00"), task("a05"), task("b0")]).expect("selection");
    for when in [400, 410] {
        s.snapshots(at(when))
            .restore(&project("p1"), &back, &actor())
            .await
            .expect("restore");
    }
    // Assert
    assert_asset_total(&s, "p1", "a", 5).await;
    assert_asset_total(&s, "p1", "b", 4).await;

    // Act: DeleteAssets, its dry run first.
    let preview = s
        .purges
        .preview(&project("p1"), &[asset("a"), asset("b"), asset("never")])
        .await
        .expect("preview");
    assert_eq!(preview, [5, 4, 0]);
    s.purges(at(500))
        .delete_assets(&project("p1"), &[asset("a")], &actor())
        .await
        .expect("delete assets");
    // Assert: 0 at once, the purge's total from the count.
    assert_asset_total(&s, "p1", "a", 0).await;
    let progress = s
        .purges(at(510))
        .progress(&project("p1"), &asset("a"))
        .await
        .expect("progress")
        .expect("a purge");
    assert_eq!(progress.tasks_total, 5);
    assert_eq!(s.listed("p1", None).await.0, 4);

    // Act: the purge runs; then the asset starts afresh.
    s.purge_all(at(600), Retention::new(HOUR).expect("retention"))
        .await;
    assert_asset_total(&s, "p1", "a", 0).await;
    assert_eq!(s.listed("p1", None).await.0, 4);
    register(&s, "p1", "a", "fresh", 700).await;
    // A restore of a purged task counts it again.
    let purged = BinSelection::new(vec![task("a14")]).expect("selection");
    s.snapshots(at(800))
        .restore(&project("p1"), &purged, &actor())
        .await
        .expect("restore");

    // Assert
    assert_asset_total(&s, "p1", "a", 2).await;
    assert_asset_total(&s, "p1", "b", 4).await;
    assert_asset_total(&s, "p2", "a", 1).await;
    assert_eq!(s.listed("p1", None).await.0, 6);
}

/// Concurrent registrations and deletes (by ids and by asset) of one
/// asset leave its `total` equal to its live tasks.
pub async fn concurrent_writes_of_one_asset_keep_its_total_exact(s: PurgeStores) {
    // Arrange
    for i in 0..30 {
        register(&s, "p1", "a", &format!("old{i:02}"), 100 + i).await;
    }

    // Act
    let registering: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    register(&s, "p1", "a", &format!("new{w}-{i}"), 200 + i).await;
                }
            })
        })
        .collect();
    let by_ids: Vec<_> = (0..3)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in (w..30).step_by(6) {
                    let sel = DeleteSelection::new(None, vec![task(&format!("old{i:02}"))])
                        .expect("selection");
                    s.snapshots(at(300))
                        .delete(&project("p1"), &sel, &actor())
                        .await
                        .expect("delete by ids");
                }
            })
        })
        .collect();
    let by_asset: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let sel = DeleteSelection::new(Some(asset("a")), vec![]).expect("selection");
                for _ in 0..2 {
                    s.snapshots(at(300))
                        .delete(&project("p1"), &sel, &actor())
                        .await
                        .expect("delete by asset");
                }
            })
        })
        .collect();
    for job in registering.into_iter().chain(by_ids).chain(by_asset) {
        job.await.expect("joined");
    }

    // Assert: the total is the live tasks listed, whatever the interleaving.
    let page = ListPage::new(Some(0), Some(100)).expect("page");
    let filter = ListFilter {
        asset: Some(asset("a")),
        task: None,
    };
    let listing = s
        .results
        .list(&project("p1"), &filter, page)
        .await
        .expect("list");
    assert_eq!(listing.total, listing.items.len() as u64);
    assert!(listing.total < 70, "the deletes took some");
    let preview = s
        .purges
        .preview(&project("p1"), &[asset("a")])
        .await
        .expect("preview");
    assert_eq!(preview, [listing.total]);
}
