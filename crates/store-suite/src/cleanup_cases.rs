//! The cases every `CleanupQueue` passes, together with the
//! `TaskResultStore` of the same adapter (deletes feed the queue).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{DeleteSelection, ObjectKey, Timestamp};
use vodsnap_ports::{
    AuditAction, AuditLog, AuditQuery, CleanupItem, CleanupQueue, FailedAttempt, TaskResultStore,
};

use crate::fixtures::{actor, asset, at, no_events, project, result, task};

/// The ports of one adapter, sharing its data.
#[allow(
    missing_debug_implementations,
    reason = "holds trait objects without Debug; never printed"
)]
#[derive(Clone)]
pub struct Stores {
    pub results: Arc<dyn TaskResultStore>,
    pub cleanup: Arc<dyn CleanupQueue>,
    pub audit: Arc<dyn AuditLog>,
    /// Whatever must live as long as the stores (e.g. a test database that
    /// is dropped with its guard).
    pub keep_alive: Arc<dyn std::any::Any + Send + Sync>,
}

impl Stores {
    /// The snapshot use cases on these stores, with the clock at `at`.
    pub fn service(&self, at: vodsnap_domain::Timestamp) -> vodsnap_service::Snapshots {
        vodsnap_service::Snapshots::new(
            self.results.clone(),
            self.audit.clone(),
            std::sync::Arc::new(crate::use_cases::FixedClock(at)),
        )
    }
}

const LEASE: Duration = Duration::from_secs(60);
const LEASE_MICROS: i64 = 60_000_000;

async fn register_and_delete(s: &Stores, p: &str, t: &str, count: i64) {
    s.service(at(100))
        .register(result(p, "a", t, count), &actor())
        .await
        .expect("register");
    let selection = DeleteSelection::new(None, vec![task(t)]).expect("selection");
    s.service(at(200))
        .delete(&project(p), &selection, &actor())
        .await
        .expect("delete");
}

/// Completes one item through the batch operation; whether it was done.
async fn complete_one(s: &Stores, item: &CleanupItem, worker: &str) -> bool {
    s.cleanup
        .complete(std::slice::from_ref(item), worker, at(1_000), &no_events)
        .await
        .expect("complete")
        == 1
}

/// Records one failed attempt through the batch operation; whether it was.
async fn fail_one(
    s: &Stores,
    item: &CleanupItem,
    worker: &str,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    let failure = FailedAttempt {
        item: item.clone(),
        error: error.to_owned(),
        retry_at,
    };
    s.cleanup.fail(&[failure], worker, now).await.expect("fail") == 1
}

fn keys(items: &[vodsnap_ports::CleanupItem]) -> Vec<String> {
    let mut keys: Vec<String> = items
        .iter()
        .map(|i| i.object_key.as_str().to_owned())
        .collect();
    keys.sort();
    keys
}

pub async fn a_delete_enqueues_each_object_once(s: Stores) {
    register_and_delete(&s, "p", "t1", 3).await;
    // Deleting again, or failing to delete, enqueues nothing more.
    let again =
        DeleteSelection::new(Some(asset("a")), vec![task("t1"), task("nope")]).expect("selection");
    s.service(at(300))
        .delete(&project("p"), &again, &actor())
        .await
        .expect("delete");

    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(
        keys(&items),
        ["p/a/t1/0.jpg", "p/a/t1/1.jpg", "p/a/t1/2.jpg"]
    );
    assert!(
        items
            .iter()
            .all(|i| i.project == project("p") && i.attempts == 0)
    );
}

/// Issue 25: a batch given back while the object store is down spends no
/// attempt, is claimable again at once, and only by the holder's word.
pub async fn a_given_back_item_is_claimed_again_with_no_attempt_spent(s: Stores) {
    // Arrange: two items leased to w1.
    register_and_delete(&s, "p", "t1", 2).await;
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(items.len(), 2);

    // Act: another worker's word changes nothing; w1 gives them back.
    let by_stranger = s
        .cleanup
        .give_back(&items, "w2", "the image store is down", at(1_000))
        .await
        .expect("give back");
    let given = s
        .cleanup
        .give_back(&items, "w1", "the image store is down", at(1_000))
        .await
        .expect("give back");

    // Assert: claimable again at once, attempts unchanged, nothing parked
    // and no failed attempt counted.
    assert_eq!((by_stranger, given), (0, 2));
    let again = s
        .cleanup
        .claim("w2", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(keys(&again), keys(&items));
    assert!(again.iter().all(|i| i.attempts == 0), "{again:?}");
    let status = s.cleanup.status(at(1_000)).await.expect("status");
    assert_eq!(
        (status.parked, status.failed_attempts),
        (0, 0),
        "{status:?}"
    );
    assert_eq!(status.queued, 2, "{status:?}");
}

pub async fn a_live_task_enqueues_nothing(s: Stores) {
    s.service(at(100))
        .register(result("p", "a", "t1", 2), &actor())
        .await
        .expect("register");
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert!(items.is_empty());
    let status = s.cleanup.status(at(1_000)).await.expect("status");
    assert_eq!(status.queued, 0);
}

pub async fn a_lease_excludes_other_workers_until_it_expires(s: Stores) {
    register_and_delete(&s, "p", "t1", 2).await;
    let first = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(first.len(), 2);
    let during = s
        .cleanup
        .claim("w2", 100, LEASE, at(1_001))
        .await
        .expect("claim");
    assert!(during.is_empty());
    let status = s.cleanup.status(at(1_001)).await.expect("status");
    assert_eq!((status.queued, status.leased), (2, 2));

    let after = s
        .cleanup
        .claim("w2", 100, LEASE, at(1_000 + LEASE_MICROS + 1))
        .await
        .expect("claim");
    assert_eq!(keys(&after), keys(&first));
    // The first worker's lease is gone: it can no longer complete.
    let item = first.first().expect("item");
    assert!(!complete_one(&s, item, "w1").await);
}

pub async fn complete_removes_the_item(s: Stores) {
    register_and_delete(&s, "p", "t1", 2).await;
    let items = s
        .cleanup
        .claim("w1", 1, LEASE, at(1_000))
        .await
        .expect("claim");
    let item = items.first().expect("one item");
    assert!(complete_one(&s, item, "w1").await);
    let status = s.cleanup.status(at(1_000)).await.expect("status");
    assert_eq!(status.queued, 1);
    let later = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000 + 2 * LEASE_MICROS))
        .await
        .expect("claim");
    assert_eq!(later.len(), 1);
    assert_ne!(later.first().map(|i| i.id), Some(item.id));
}

pub async fn failures_retry_later_then_park(s: Stores) {
    register_and_delete(&s, "p", "t1", 1).await;
    let item = s
        .cleanup
        .claim("w1", 1, LEASE, at(1_000))
        .await
        .expect("claim")
        .pop()
        .expect("item");
    assert!(
        fail_one(
            &s,
            &item,
            "w1",
            "storage unavailable",
            Some(at(5_000)),
            at(1_500)
        )
        .await
    );
    assert!(
        s.cleanup
            .claim("w1", 1, LEASE, at(4_999))
            .await
            .expect("claim")
            .is_empty()
    );
    let retried = s
        .cleanup
        .claim("w1", 1, LEASE, at(5_000))
        .await
        .expect("claim")
        .pop()
        .expect("due again");
    assert_eq!(retried.attempts, 1);

    assert!(fail_one(&s, &retried, "w1", "still down", None, at(5_500)).await);
    assert!(
        s.cleanup
            .claim("w1", 1, LEASE, at(9_999_999))
            .await
            .expect("claim")
            .is_empty()
    );
    let status = s.cleanup.status(at(6_000)).await.expect("status");
    assert_eq!(
        (status.queued, status.parked, status.failed_attempts),
        (0, 1, 2)
    );
    let parked = s.cleanup.parked(10).await.expect("parked");
    assert_eq!(parked.len(), 1);
    let first = parked.first().expect("parked item");
    assert_eq!(first.last_error, "still down");
    assert_eq!(first.item.object_key.as_str(), "p/a/t1/0.jpg");

    assert_eq!(
        s.cleanup
            .retry_parked(Vec::new(), at(7_000))
            .await
            .expect("retry"),
        1
    );
    let back = s
        .cleanup
        .claim("w2", 1, LEASE, at(7_000))
        .await
        .expect("claim")
        .pop()
        .expect("claimable again");
    assert_eq!(back.attempts, 0);
}

pub async fn retry_parked_takes_only_the_named_items(s: Stores) {
    register_and_delete(&s, "p", "t1", 2).await;
    let items = s
        .cleanup
        .claim("w1", 10, LEASE, at(1_000))
        .await
        .expect("claim");
    for item in &items {
        assert!(fail_one(&s, item, "w1", "boom", None, at(1_500)).await);
    }
    let chosen = items.first().expect("item").id;
    assert_eq!(
        s.cleanup
            .retry_parked(vec![chosen], at(2_000))
            .await
            .expect("retry"),
        1
    );
    let status = s.cleanup.status(at(2_000)).await.expect("status");
    assert_eq!((status.queued, status.parked), (1, 1));
}

pub async fn another_workers_item_cannot_be_failed_or_completed(s: Stores) {
    register_and_delete(&s, "p", "t1", 1).await;
    let item = s
        .cleanup
        .claim("w1", 1, LEASE, at(1_000))
        .await
        .expect("claim")
        .pop()
        .expect("item");
    assert!(!fail_one(&s, &item, "w2", "x", None, at(1_500)).await);
    assert!(!complete_one(&s, &item, "w2").await);
    assert!(complete_one(&s, &item, "w1").await);
}

pub async fn a_key_of_a_live_task_is_referenced(s: Stores) {
    let key = ObjectKey::parse("p/a/t1/0.jpg").expect("key");
    assert!(
        !s.cleanup
            .is_referenced(&project("p"), &key)
            .await
            .expect("check")
    );
    s.service(at(100))
        .register(result("p", "a", "t1", 1), &actor())
        .await
        .expect("register");
    assert!(
        s.cleanup
            .is_referenced(&project("p"), &key)
            .await
            .expect("check")
    );
    register_and_delete(&s, "p2", "t1", 1).await;
    assert!(
        s.cleanup
            .is_referenced(&project("p"), &key)
            .await
            .expect("check"),
        "another project's deletion does not free this project's live object"
    );
    assert!(
        !s.cleanup
            .is_referenced(&project("p2"), &key)
            .await
            .expect("check"),
        "another project's live tasks are never looked at"
    );
    let selection = DeleteSelection::new(None, vec![task("t1")]).expect("selection");
    s.service(at(300))
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    assert!(
        !s.cleanup
            .is_referenced(&project("p"), &key)
            .await
            .expect("check")
    );
}

pub async fn one_look_finds_the_referenced_keys_of_a_batch(s: Stores) {
    // p: t1 live with 2 keys; p2: t1 live with the same key names.
    s.service(at(100))
        .register(result("p", "a", "t1", 2), &actor())
        .await
        .expect("register");
    let key = |raw: &str| ObjectKey::parse(raw).expect("key");
    let asked = [
        key("p/a/t1/0.jpg"),
        key("p/a/t1/1.jpg"),
        key("p/a/t1/7.jpg"),
        key("p/a/t9/0.jpg"),
    ];
    let found = s
        .cleanup
        .referenced(&project("p"), &asked)
        .await
        .expect("check");
    assert_eq!(
        found.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
        ["p/a/t1/0.jpg", "p/a/t1/1.jpg"]
    );
    assert!(
        s.cleanup
            .referenced(&project("p2"), &asked)
            .await
            .expect("check")
            .is_empty(),
        "another project's live tasks are never looked at"
    );
    assert!(
        s.cleanup
            .referenced(&project("p"), &[])
            .await
            .expect("check")
            .is_empty()
    );
}

pub async fn a_batch_over_projects_completes_and_fails_in_one_call_each(s: Stores) {
    register_and_delete(&s, "p", "t1", 3).await;
    register_and_delete(&s, "q", "t1", 3).await;
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(items.len(), 6);
    // Two of each project done, one of each failed differently.
    let (done, failed): (Vec<CleanupItem>, Vec<CleanupItem>) = items
        .iter()
        .cloned()
        .partition(|i| !i.object_key.as_str().ends_with("2.jpg"));
    let failures: Vec<FailedAttempt<CleanupItem>> = failed
        .iter()
        .map(|i| FailedAttempt {
            item: i.clone(),
            error: format!("down for {}", i.project.as_str()),
            retry_at: (i.project == project("p")).then(|| at(50_000_000)),
        })
        .collect();

    assert_eq!(
        s.cleanup
            .complete(&done, "w2", at(2_000), &no_events)
            .await
            .expect("complete"),
        0,
        "another worker's items are left alone"
    );
    assert_eq!(
        s.cleanup
            .complete(&done, "w1", at(2_000), &no_events)
            .await
            .expect("complete"),
        4
    );
    assert_eq!(
        s.cleanup
            .fail(&failures, "w1", at(3_000))
            .await
            .expect("fail"),
        2
    );

    let status = s.cleanup.status(at(4_000)).await.expect("status");
    assert_eq!(
        (status.queued, status.parked, status.failed_attempts),
        (1, 1, 2)
    );
    let parked = s.cleanup.parked(10).await.expect("parked");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].item.object_key.as_str(), "q/a/t1/2.jpg");
    assert_eq!(parked[0].last_error, "down for q");
    let retried = s
        .cleanup
        .claim("w3", 100, LEASE, at(50_000_000))
        .await
        .expect("claim");
    assert_eq!(keys(&retried), ["p/a/t1/2.jpg"]);
    assert_eq!(retried[0].attempts, 1);
}

pub async fn the_drain_counts_the_items_completed_in_the_last_minute(s: Stores) {
    const MINUTE: i64 = 60_000_000;
    register_and_delete(&s, "p", "t1", 5).await;
    register_and_delete(&s, "q", "t1", 2).await;
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    let (early, late): (Vec<CleanupItem>, Vec<CleanupItem>) = items
        .into_iter()
        .partition(|i| i.project == project("p") && !i.object_key.as_str().ends_with("4.jpg"));
    assert_eq!((early.len(), late.len()), (4, 3));
    s.cleanup
        .complete(&early, "w1", at(10 * MINUTE), &no_events)
        .await
        .expect("complete");
    s.cleanup
        .complete(&late, "w1", at(10 * MINUTE + 30_000_000), &no_events)
        .await
        .expect("complete");

    let drained = |now: i64| {
        let cleanup = s.cleanup.clone();
        async move {
            cleanup
                .status(at(now))
                .await
                .expect("status")
                .drained_in_window
        }
    };
    assert_eq!(drained(10 * MINUTE + 30_000_000).await, 7);
    assert_eq!(
        drained(11 * MINUTE).await,
        3,
        "the first batch left the window"
    );
    assert_eq!(drained(12 * MINUTE).await, 0);
}

pub async fn the_oldest_enqueued_item_is_reported(s: Stores) {
    register_and_delete(&s, "p", "t1", 1).await;
    let status = s.cleanup.status(at(10_000)).await.expect("status");
    assert_eq!(status.oldest_enqueued_at, Some(at(200)));
}

pub async fn concurrent_claims_never_share_an_item(s: Stores) {
    for t in 0..6 {
        register_and_delete(&s, "p", &format!("t{t}"), 10).await;
    }
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let cleanup = s.cleanup.clone();
            tokio::spawn(async move {
                let name = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let items = cleanup
                        .claim(&name, 4, LEASE, at(1_000))
                        .await
                        .expect("claim");
                    if items.is_empty() {
                        return mine;
                    }
                    for item in items {
                        assert_eq!(
                            cleanup
                                .complete(std::slice::from_ref(&item), &name, at(1_000), &no_events)
                                .await
                                .expect("complete"),
                            1
                        );
                        mine.push(item.id);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker.expect("joined"));
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an item was claimed twice");
    assert_eq!(all.len(), 60);
}

/// A project with a large backlog gets its share of a batch, not the
/// batch: the others' items are claimed in the same pass, and the room they
/// leave goes back to it ([`vodsnap_domain::ClaimShares`]).
pub async fn a_busy_project_does_not_starve_the_others(s: Stores) {
    // "big" has the oldest items, and many of them.
    s.service(at(100))
        .register(result("big", "a", "t1", 30), &actor())
        .await
        .expect("register");
    s.service(at(200))
        .delete(
            &project("big"),
            &DeleteSelection::new(None, vec![task("t1")]).expect("selection"),
            &actor(),
        )
        .await
        .expect("delete");
    for p in ["small1", "small2"] {
        s.service(at(300))
            .register(result(p, "a", "t1", 2), &actor())
            .await
            .expect("register");
        s.service(at(400))
            .delete(
                &project(p),
                &DeleteSelection::new(None, vec![task("t1")]).expect("selection"),
                &actor(),
            )
            .await
            .expect("delete");
    }

    let items = s
        .cleanup
        .claim("w1", 8, LEASE, at(1_000))
        .await
        .expect("claim");

    let of = |p: &str| items.iter().filter(|i| i.project == project(p)).count();
    // Shares 3, 3, 2; the small ones give 2 each, the 1 left goes to big.
    assert_eq!((of("big"), of("small1"), of("small2")), (4, 2, 2));
    // Within a project, oldest first (ties by id): big's rest come after.
    let rest = s
        .cleanup
        .claim("w2", 100, LEASE, at(1_000))
        .await
        .expect("claim the rest");
    assert_eq!(rest.len(), 26);
    assert!(rest.iter().all(|i| i.project == project("big")));
    let first_max = items
        .iter()
        .filter(|i| i.project == project("big"))
        .map(|i| i.id)
        .max();
    let rest_min = rest.iter().map(|i| i.id).min();
    assert!(first_max < rest_min, "{first_max:?} < {rest_min:?}");
}

/// A store may remember which projects had due items between claims (the
/// PostgreSQL store does, for a second: [`vodsnap_domain::DueProjects`]);
/// a worker still never idles while items wait. The remembered project
/// has run dry, so the next claim, at the same instant, finds the project
/// whose items became due after the listing.
pub async fn a_project_due_after_a_claim_is_claimed_when_the_others_run_dry(s: Stores) {
    register_and_delete(&s, "first", "t1", 4).await;
    let first = s
        .cleanup
        .claim("w1", 4, LEASE, at(1_000))
        .await
        .expect("claim");
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|i| i.project == project("first")));

    register_and_delete(&s, "later", "t1", 3).await;
    let later = s
        .cleanup
        .claim("w2", 4, LEASE, at(1_000))
        .await
        .expect("claim again");
    assert_eq!(later.len(), 3, "{later:?}");
    assert!(later.iter().all(|i| i.project == project("later")));
}

/// Many workers over many projects: every item claimed exactly once.
pub async fn concurrent_claims_over_many_projects_never_share_an_item(s: Stores) {
    for p in 0..5 {
        register_and_delete(&s, &format!("p{p}"), "t1", 12).await;
    }
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let cleanup = s.cleanup.clone();
            tokio::spawn(async move {
                let name = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let items = cleanup
                        .claim(&name, 4, LEASE, at(1_000))
                        .await
                        .expect("claim");
                    if items.is_empty() {
                        return mine;
                    }
                    mine.extend(items.into_iter().map(|i| (i.project, i.id)));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker.expect("joined"));
    }
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "an item was claimed twice");
    assert_eq!(all.len(), 60);
}

pub async fn registrations_and_deletes_are_audited(s: Stores) {
    s.service(at(100))
        .register(result("p", "a", "t1", 1), &actor())
        .await
        .expect("register");
    s.service(at(150))
        .register(result("p", "a", "t1", 1), &actor())
        .await
        .expect("register again");
    let selection = DeleteSelection::new(None, vec![task("t1"), task("nope")]).expect("selection");
    s.service(at(200))
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    s.service(at(300))
        .register(result("other", "a", "t9", 1), &actor())
        .await
        .expect("another project");

    let query = AuditQuery {
        project: project("p"),
        since: None,
        task: None,
        limit: 100,
    };
    let records = s.audit.records(&query).await.expect("audit");
    let summary: Vec<(AuditAction, Vec<(&str, &str)>)> = records
        .iter()
        .map(|r| {
            (
                r.action,
                r.outcomes
                    .iter()
                    .map(|o| (o.task.as_str(), o.status.as_str()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (AuditAction::Register, vec![("t1", "CREATED")]),
            (AuditAction::Register, vec![("t1", "ALREADY_REGISTERED")]),
            (
                AuditAction::Delete,
                vec![("t1", "DELETED"), ("nope", "FAILED")]
            ),
        ]
    );
    let delete = records.get(2).expect("the delete");
    assert_eq!(delete.actor, actor());
    assert_eq!(delete.at, at(200));
    assert_eq!(
        delete
            .outcomes
            .get(1)
            .and_then(|o| o.reason)
            .map(|r| r.as_str()),
        Some("unknown_task")
    );
}

pub async fn the_audit_trail_filters_by_time_and_task(s: Stores) {
    for (t, when) in [("t1", 100), ("t2", 200), ("t3", 300)] {
        s.service(at(when))
            .register(result("p", "a", t, 1), &actor())
            .await
            .expect("register");
    }
    let by_asset = DeleteSelection::new(Some(asset("a")), Vec::new()).expect("selection");
    s.service(at(400))
        .delete(&project("p"), &by_asset, &actor())
        .await
        .expect("delete");
    let query = |since: Option<i64>, t: Option<&str>| AuditQuery {
        project: project("p"),
        since: since.map(at),
        task: t.map(task),
        limit: 100,
    };
    let since = s
        .audit
        .records(&query(Some(200), None))
        .await
        .expect("since");
    assert_eq!(since.len(), 3, "t2, t3 and the delete");
    let of_t1 = s
        .audit
        .records(&query(None, Some("t1")))
        .await
        .expect("task");
    let actions: Vec<AuditAction> = of_t1.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [AuditAction::Register, AuditAction::Delete],
        "the asset-only delete touched t1"
    );
}

pub async fn a_dry_run_enqueues_and_audits_nothing(s: Stores) {
    s.service(at(100))
        .register(result("p", "a", "t1", 3), &actor())
        .await
        .expect("register");
    s.service(at(100))
        .register(result("p", "a", "t2", 2), &actor())
        .await
        .expect("register");
    let by_tasks = DeleteSelection::new(None, vec![task("t1")]).expect("selection");
    let by_asset = DeleteSelection::new(Some(asset("a")), Vec::new()).expect("selection");
    for selection in [&by_tasks, &by_asset] {
        let report = s
            .service(at(200))
            .delete_dry_run(&project("p"), selection)
            .await
            .expect("dry run");
        assert!(!report.items.is_empty(), "the dry run would delete");
    }

    let status = s.cleanup.status(at(1_000)).await.expect("status");
    assert_eq!(status.queued, 0, "a dry run enqueued an object");
    let items = s
        .cleanup
        .claim("w1", 100, LEASE, at(1_000))
        .await
        .expect("claim");
    assert!(items.is_empty());
    let query = AuditQuery {
        project: project("p"),
        since: None,
        task: None,
        limit: 100,
    };
    let actions: Vec<AuditAction> = s
        .audit
        .records(&query)
        .await
        .expect("audit")
        .iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [AuditAction::Register, AuditAction::Register],
        "a dry run wrote an audit record"
    );
    for t in ["t1", "t2"] {
        let key = ObjectKey::parse(&format!("p/a/{t}/0.jpg")).expect("key");
        let live = s
            .cleanup
            .is_referenced(&project("p"), &key)
            .await
            .expect("referenced");
        assert!(live, "{t} is still live, its objects referenced");
    }
}
