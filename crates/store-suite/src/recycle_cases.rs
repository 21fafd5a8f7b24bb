//! The recycle bin's cases, run on every adapter through the use cases:
//! restore, purge, the deleted list, the window's expiry on a fixed clock,
//! and a restore racing the cleanup. Each takes the ports of one fresh,
//! empty adapter ([`Stores`]).

use std::time::Duration;

use vodsnap_domain::{
    BinOutcome, BinSelection, DeleteSelection, DetailsPage, ItemError, ListFilter, ListPage,
    Retention,
};
use vodsnap_ports::{AuditAction, AuditQuery, CleanupItem, RegisterError, Registered};
use vodsnap_service::Snapshots;

use crate::cleanup_cases::Stores;
use crate::fixtures::{actor, asset, at, no_events, project, result, task};

/// The window of these cases: 1000 µs.
const WINDOW: i64 = 1_000;
const LEASE: Duration = Duration::from_secs(60);

fn service(s: &Stores, when: i64) -> Snapshots {
    s.service(at(when))
        .with_retention(Retention::new(Duration::from_micros(WINDOW as u64)).expect("retention"))
}

fn bin(tasks: &[&str]) -> BinSelection {
    BinSelection::new(tasks.iter().map(|t| task(t)).collect()).expect("selection")
}

async fn register(s: &Stores, a: &str, t: &str, when: i64) {
    let created = service(s, when)
        .register(result("p", a, t, 3), &actor())
        .await
        .expect("register");
    assert!(matches!(created, Registered::Created(_)));
}

async fn delete(s: &Stores, tasks: &[&str], when: i64) {
    let selection =
        DeleteSelection::new(None, tasks.iter().map(|t| task(t)).collect()).expect("selection");
    let report = service(s, when)
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    assert!(report.items.iter().all(|i| i.error().is_none()));
}

async fn restore(s: &Stores, tasks: &[&str], when: i64) -> Vec<BinOutcome> {
    service(s, when)
        .restore(&project("p"), &bin(tasks), &actor())
        .await
        .expect("restore")
}

async fn purge(s: &Stores, tasks: &[&str], when: i64) -> Vec<BinOutcome> {
    service(s, when)
        .purge(&project("p"), &bin(tasks), &actor())
        .await
        .expect("purge")
}

async fn binned(
    s: &Stores,
    asset_id: Option<&str>,
    page: ListPage,
    when: i64,
) -> (u64, Vec<String>) {
    let a = asset_id.map(asset);
    let listing = service(s, when)
        .deleted(&project("p"), a, page)
        .await
        .expect("deleted list");
    (
        listing.total,
        listing
            .items
            .into_iter()
            .map(|d| d.task.as_str().to_owned())
            .collect(),
    )
}

async fn claim(s: &Stores, when: i64) -> Vec<CleanupItem> {
    s.cleanup
        .claim("w1", 1000, LEASE, at(when))
        .await
        .expect("claim")
}

fn errors(items: &[BinOutcome]) -> Vec<Option<ItemError>> {
    items.iter().map(BinOutcome::error).collect()
}

pub async fn a_restore_in_the_window_brings_the_task_back_as_it_was(s: Stores) {
    // Arrange
    register(&s, "a", "t1", 100).await;
    let before = s
        .results
        .get(&project("p"), &task("t1"))
        .await
        .expect("get")
        .expect("live");
    delete(&s, &["t1"], 200).await;
    let listed = service(&s, 300)
        .deleted(&project("p"), None, ListPage::default())
        .await
        .expect("deleted list");
    assert_eq!(listed.total, 1);
    let entry = listed.items.first().expect("in the bin");
    assert_eq!(
        (entry.deleted_at, entry.purge_at, entry.snapshot_count),
        (at(200), at(200 + WINDOW), 3)
    );
    assert_eq!(
        s.cleanup.status(at(300)).await.expect("status").recycle_bin,
        3
    );

    // Act
    let items = restore(&s, &["t1"], 1_199).await;

    // Assert: live again, exactly as before, in every read.
    assert_eq!(errors(&items), [None]);
    assert_eq!(items[0].asset_id(), Some(&asset("a")));
    let after = s
        .results
        .get(&project("p"), &task("t1"))
        .await
        .expect("get");
    assert_eq!(after, Some(before));
    let page = ListPage::default();
    let live = s
        .results
        .list(&project("p"), &ListFilter::default(), page)
        .await
        .expect("list");
    assert_eq!(live.total, 1);
    let details = s
        .results
        .details(&project("p"), &task("t1"), DetailsPage::default())
        .await
        .expect("details");
    assert_eq!(details.total, 3);
    assert_eq!(binned(&s, None, page, 1_199).await, (0, vec![]));
    // Its objects left the queue: the cleanup never takes them.
    assert!(claim(&s, 1_000_000).await.is_empty());
    let status = s.cleanup.status(at(1_199)).await.expect("status");
    assert_eq!((status.recycle_bin, status.queued), (0, 0));
    // A restored task can be deleted again, and its objects queued again.
    delete(&s, &["t1"], 2_000).await;
    assert_eq!(claim(&s, 2_000 + WINDOW).await.len(), 3);
}

pub async fn a_restore_is_idempotent_and_audited(s: Stores) {
    register(&s, "a", "t1", 100).await;
    delete(&s, &["t1"], 200).await;
    assert_eq!(errors(&restore(&s, &["t1"], 300).await), [None]);
    // Again: the task is live, RESTORED again, nothing changes.
    assert_eq!(errors(&restore(&s, &["t1"], 400).await), [None]);
    assert_eq!(
        s.results
            .list(&project("p"), &ListFilter::default(), ListPage::default())
            .await
            .expect("list")
            .total,
        1
    );

    let records = s
        .audit
        .records(&AuditQuery {
            project: project("p"),
            since: Some(at(300)),
            task: Some(task("t1")),
            limit: 10,
        })
        .await
        .expect("audit");
    let actions: Vec<AuditAction> = records.iter().map(|r| r.action).collect();
    assert_eq!(actions, [AuditAction::Restore, AuditAction::Restore]);
    assert_eq!(records[0].outcomes[0].status.as_str(), "RESTORED");
    assert_eq!(records[0].actor, actor());
}

pub async fn the_window_expires_on_the_clock(s: Stores) {
    register(&s, "a", "t1", 100).await;
    delete(&s, &["t1"], 200).await;
    let page = ListPage::default();
    // The last instant of the window: listed, not yet due.
    assert_eq!(binned(&s, None, page, 1_199).await.0, 1);
    assert!(claim(&s, 1_199).await.is_empty());
    // At purge_at: gone from the list, not restorable, due for removal.
    assert_eq!(binned(&s, None, page, 1_200).await.0, 0);
    let late = restore(&s, &["t1"], 1_200).await;
    assert_eq!(errors(&late), [Some(ItemError::WindowClosed)]);
    assert_eq!(late[0].asset_id(), Some(&asset("a")));
    assert_eq!(claim(&s, 1_200).await.len(), 3);
    assert_eq!(
        s.results
            .get(&project("p"), &task("t1"))
            .await
            .expect("get"),
        None
    );
    // The id is still never reused.
    let again = service(&s, 1_300)
        .register(result("p", "a", "t1", 3), &actor())
        .await;
    assert!(
        matches!(again, Err(RegisterError::ConflictsWithDeleted)),
        "{again:?}"
    );
}

pub async fn without_retention_nothing_is_restorable(s: Stores) {
    s.service(at(100))
        .register(result("p", "a", "t1", 2), &actor())
        .await
        .expect("register");
    let selection = DeleteSelection::new(None, vec![task("t1")]).expect("selection");
    s.service(at(200))
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    // Today's behaviour: due at once, nothing in a bin.
    assert_eq!(claim(&s, 200).await.len(), 2);
    let items = s
        .service(at(200))
        .restore(&project("p"), &bin(&["t1"]), &actor())
        .await
        .expect("restore");
    assert_eq!(errors(&items), [Some(ItemError::WindowClosed)]);
    assert_eq!(binned(&s, None, ListPage::default(), 200).await.0, 0);
}

pub async fn a_purge_closes_the_window_now(s: Stores) {
    register(&s, "a", "t1", 100).await;
    register(&s, "a", "t2", 110).await;
    register(&s, "a", "live", 120).await;
    delete(&s, &["t1", "t2"], 200).await;

    let items = purge(&s, &["t1", "live", "nope"], 300).await;
    assert_eq!(
        errors(&items),
        [
            None,
            Some(ItemError::NotDeleted),
            Some(ItemError::UnknownTask)
        ]
    );
    // t1's objects are due now; t2's still wait for their window.
    let due = claim(&s, 300).await;
    assert_eq!(due.len(), 3);
    assert!(
        due.iter()
            .all(|i| i.object_key.as_str().starts_with("p/a/t1/"))
    );
    assert_eq!(
        binned(&s, None, ListPage::default(), 300).await,
        (1, vec!["t2".to_owned()])
    );
    // A purged task cannot be restored; purging it again answers PURGED.
    assert_eq!(
        errors(&restore(&s, &["t1"], 400).await),
        [Some(ItemError::WindowClosed)]
    );
    assert_eq!(errors(&purge(&s, &["t1"], 500).await), [None]);
    // t2 is untouched by all this.
    assert_eq!(errors(&restore(&s, &["t2"], 600).await), [None]);
    let records = s
        .audit
        .records(&AuditQuery {
            project: project("p"),
            since: Some(at(300)),
            task: Some(task("t1")),
            limit: 10,
        })
        .await
        .expect("audit");
    assert_eq!(records[0].action, AuditAction::Purge);
    assert_eq!(records[0].outcomes[0].status.as_str(), "PURGED");
    assert_eq!(records[0].outcomes[1].reason, Some(ItemError::NotDeleted));
}

pub async fn the_deleted_list_is_oldest_deletion_first_and_pages(s: Stores) {
    for (i, t) in ["t0", "t1", "t2", "t3"].iter().enumerate() {
        register(&s, "a", t, 100 + i as i64).await;
    }
    register(&s, "b", "u0", 100).await;
    delete(&s, &["t3"], 200).await;
    delete(&s, &["t1", "t0"], 210).await;
    delete(&s, &["u0"], 220).await;
    delete(&s, &["t2"], 230).await;

    let all = ListPage::new(None, Some(100)).expect("page");
    // Ties (t0, t1 at 210) by task id.
    assert_eq!(
        binned(&s, None, all, 300).await,
        (5, ["t3", "t0", "t1", "u0", "t2"].map(String::from).to_vec())
    );
    let second = ListPage::new(Some(2), Some(2)).expect("page");
    assert_eq!(
        binned(&s, None, second, 300).await,
        (5, ["t1", "u0"].map(String::from).to_vec())
    );
    assert_eq!(
        binned(&s, Some("a"), second, 300).await,
        (4, ["t1", "t2"].map(String::from).to_vec())
    );
    let beyond = ListPage::new(Some(50), Some(10)).expect("page");
    assert_eq!(binned(&s, None, beyond, 300).await, (5, vec![]));
    // Another project sees none of it.
    let other = service(&s, 300)
        .deleted(&project("q"), None, all)
        .await
        .expect("deleted list");
    assert_eq!(other.total, 0);
}

pub async fn a_restore_after_the_cleanup_took_an_object_fails(s: Stores) {
    register(&s, "a", "t1", 100).await;
    delete(&s, &["t1"], 200).await;
    // A worker whose clock runs ahead claims one object at purge_at; the
    // restore, by a clock still in the window, must not revive the task.
    let taken = s
        .cleanup
        .claim("w1", 1, LEASE, at(1_200))
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    let items = restore(&s, &["t1"], 1_000).await;
    assert_eq!(errors(&items), [Some(ItemError::WindowClosed)]);
    assert_eq!(
        s.results
            .get(&project("p"), &task("t1"))
            .await
            .expect("get"),
        None
    );
    // Its lease running out does not make it restorable again.
    let later = restore(&s, &["t1"], 1_100).await;
    assert_eq!(errors(&later), [Some(ItemError::WindowClosed)]);
}

pub async fn a_restore_racing_the_cleanup_never_revives_a_task_without_its_images(s: Stores) {
    // Each round: a task deleted, then a claim by a worker past its window
    // and a restore by a caller still in it, at once. Whichever wins, a
    // live task never has an object the cleanup took.
    for round in 0..12 {
        let t = format!("r{round}");
        let base = 10_000 * (round + 1);
        register(&s, "a", &t, base).await;
        delete(&s, &[&t], base + 1).await;
        let (claimed, restored) = tokio::join!(
            {
                let s = s.clone();
                async move {
                    s.cleanup
                        .claim("w1", 1000, LEASE, at(base + 1 + WINDOW))
                        .await
                }
            },
            {
                let s = s.clone();
                let t = t.clone();
                async move {
                    service(&s, base + 2)
                        .restore(&project("p"), &bin(&[&t]), &actor())
                        .await
                }
            }
        );
        let claimed = claimed.expect("claim");
        let restored = restored.expect("restore");
        let live = s.results.get(&project("p"), &task(&t)).await.expect("get");
        let prefix = format!("p/a/{t}/");
        let took_any = claimed
            .iter()
            .any(|i| i.object_key.as_str().starts_with(&prefix));
        if restored[0].error().is_none() {
            assert!(live.is_some(), "{t}: RESTORED but not live");
            assert!(
                !took_any,
                "{t}: restored, yet the cleanup claimed its objects"
            );
        } else {
            assert_eq!(restored[0].error(), Some(ItemError::WindowClosed));
            assert!(live.is_none(), "{t}: FAILED but live");
        }
        // Whatever was claimed is done, so the next round starts clean.
        s.cleanup
            .complete(&claimed, "w1", at(base + 2 + WINDOW), &no_events)
            .await
            .expect("complete");
    }
}
