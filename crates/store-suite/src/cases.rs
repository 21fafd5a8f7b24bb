//! The cases every `TaskResultStore` passes. Each takes a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;

use vodsnap_domain::{
    DeleteSelection, DeleteStatus, DetailsPage, ItemError, ListFilter, ListPage, TaskId,
};
use vodsnap_ports::{
    AuditQuery, AuditRecord, DetailsError, Listing, RegisterError, Registered, SnapshotPage,
};

use crate::fixtures::{actor, asset, at, project, result, task};
use crate::use_cases::{SuiteStore, UseCases as _};

type Store = Arc<SuiteStore>;

async fn register(store: &Store, p: &str, a: &str, t: &str, when: i64) {
    let outcome = store
        .service(at(when))
        .register(result(p, a, t, 2), &actor())
        .await
        .expect("register");
    assert!(matches!(outcome, Registered::Created(_)), "{t} created");
}

fn by_tasks(a: Option<&str>, tasks: &[&str]) -> DeleteSelection {
    DeleteSelection::new(a.map(asset), tasks.iter().map(|t| task(t)).collect())
        .expect("valid selection")
}

fn by_asset(a: &str) -> DeleteSelection {
    DeleteSelection::new(Some(asset(a)), Vec::new()).expect("valid selection")
}

async fn listed(store: &Store, p: &str, filter: ListFilter) -> Vec<String> {
    let page = ListPage::new(None, Some(100)).expect("page");
    let listing = store
        .results
        .list(&project(p), &filter, page)
        .await
        .expect("list");
    listing
        .items
        .into_iter()
        .map(|s| s.task.as_str().to_owned())
        .collect()
}

pub async fn register_creates_and_same_body_is_idempotent(store: Store) {
    let first = store
        .service(at(100))
        .register(result("p", "a", "t1", 3), &actor())
        .await
        .expect("first");
    let Registered::Created(created) = first else {
        panic!("expected Created, got {first:?}")
    };
    assert_eq!(created.created_at(), at(100));
    assert_eq!(created.snapshots().len(), 3);

    let again = store
        .service(at(200))
        .register(result("p", "a", "t1", 3), &actor())
        .await
        .expect("again");
    assert_eq!(again, Registered::AlreadyRegistered(created));
}

pub async fn register_different_body_conflicts(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    let other = store
        .service(at(200))
        .register(result("p", "a", "t1", 4), &actor())
        .await;
    assert!(
        matches!(other, Err(RegisterError::ConflictsWithLive)),
        "{other:?}"
    );
    let other_asset = store
        .service(at(200))
        .register(result("p", "b", "t1", 2), &actor())
        .await;
    assert!(matches!(other_asset, Err(RegisterError::ConflictsWithLive)));
}

pub async fn register_deleted_id_conflicts(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    store
        .service(at(150))
        .delete(&project("p"), &by_tasks(None, &["t1"]), &actor())
        .await
        .expect("delete");
    let again = store
        .service(at(200))
        .register(result("p", "a", "t1", 2), &actor())
        .await;
    assert!(
        matches!(again, Err(RegisterError::ConflictsWithDeleted)),
        "{again:?}"
    );
}

pub async fn list_is_oldest_first_with_total_and_filters(store: Store) {
    register(&store, "p", "a", "t3", 300).await;
    register(&store, "p", "a", "t1", 100).await;
    register(&store, "p", "b", "t2", 200).await;
    // Same instant: ties go by task id.
    register(&store, "p", "a", "t0", 300).await;

    assert_eq!(
        listed(&store, "p", ListFilter::default()).await,
        ["t1", "t2", "t0", "t3"]
    );
    let of_a = ListFilter {
        asset: Some(asset("a")),
        task: None,
    };
    assert_eq!(listed(&store, "p", of_a).await, ["t1", "t0", "t3"]);
    let a_and_t2 = ListFilter {
        asset: Some(asset("a")),
        task: Some(task("t2")),
    };
    assert!(listed(&store, "p", a_and_t2).await.is_empty());
    let b_and_t2 = ListFilter {
        asset: Some(asset("b")),
        task: Some(task("t2")),
    };
    assert_eq!(listed(&store, "p", b_and_t2).await, ["t2"]);

    let all = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await
        .expect("list");
    assert_eq!(all.total, 4);
    let first = all.items.first().expect("an item");
    assert_eq!(first.snapshot_count, 2);
    assert_eq!(first.asset, asset("a"));
    assert_eq!(first.created_at, at(100));
}

pub async fn list_pages(store: Store) {
    for i in 0..5 {
        register(&store, "p", "a", &format!("t{i}"), 100 + i).await;
    }
    let page = ListPage::new(Some(1), Some(2)).expect("page");
    let listing = store
        .list(&project("p"), &ListFilter::default(), page)
        .await
        .expect("list");
    assert_eq!(listing.total, 5);
    let ids: Vec<&str> = listing.items.iter().map(|s| s.task.as_str()).collect();
    assert_eq!(ids, ["t1", "t2"]);

    let beyond = ListPage::new(Some(10), None).expect("page");
    let empty = store
        .list(&project("p"), &ListFilter::default(), beyond)
        .await
        .expect("list");
    assert_eq!((empty.total, empty.items.len()), (5, 0));
}

pub async fn projects_are_isolated(store: Store) {
    register(&store, "p1", "a", "t1", 100).await;
    register(&store, "p2", "a", "t1", 100).await;
    let report = store
        .service(at(200))
        .delete(&project("p1"), &by_tasks(None, &["t1"]), &actor())
        .await
        .expect("delete");
    assert_eq!(
        report.items.first().map(|i| i.status()),
        Some(DeleteStatus::Deleted)
    );
    assert_eq!(listed(&store, "p2", ListFilter::default()).await, ["t1"]);
    assert!(listed(&store, "p1", ListFilter::default()).await.is_empty());
    let other = store
        .details(&project("p3"), &task("t1"), DetailsPage::default())
        .await;
    assert!(matches!(other, Err(DetailsError::NotFound)));
}

pub async fn details_are_ordered_by_offset_and_paged(store: Store) {
    store
        .service(at(100))
        .register(result("p", "a", "t1", 25), &actor())
        .await
        .expect("register");
    let all = store
        .details(&project("p"), &task("t1"), DetailsPage::default())
        .await
        .expect("details");
    assert_eq!(all.total, 25);
    assert_eq!(all.items.len(), 20);
    let offsets: Vec<i64> = all.items.iter().map(|s| s.offset()).collect();
    let mut sorted = offsets.clone();
    sorted.sort_unstable();
    assert_eq!(offsets, sorted);

    let tail = store
        .details(
            &project("p"),
            &task("t1"),
            DetailsPage::new(Some(23), Some(5)).expect("page"),
        )
        .await
        .expect("details");
    let tail: Vec<(i64, &str)> = tail
        .items
        .iter()
        .map(|s| (s.offset(), s.object_key().as_str()))
        .collect();
    assert_eq!(tail, [(230, "p/a/t1/23.jpg"), (240, "p/a/t1/24.jpg")]);
}

pub async fn details_of_unknown_or_deleted_task_is_not_found(store: Store) {
    let unknown = store
        .details(&project("p"), &task("nope"), DetailsPage::default())
        .await;
    assert!(matches!(unknown, Err(DetailsError::NotFound)));

    register(&store, "p", "a", "t1", 100).await;
    store
        .service(at(200))
        .delete(&project("p"), &by_tasks(None, &["t1"]), &actor())
        .await
        .expect("delete");
    let deleted = store
        .details(&project("p"), &task("t1"), DetailsPage::default())
        .await;
    assert!(matches!(deleted, Err(DetailsError::NotFound)));
}

pub async fn delete_by_tasks_answers_in_request_order(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    register(&store, "p", "b", "t2", 200).await;
    let report = store
        .service(at(300))
        .delete(
            &project("p"),
            &by_tasks(None, &["t2", "missing", "t1"]),
            &actor(),
        )
        .await
        .expect("delete");
    let items: Vec<(&str, Option<&str>, DeleteStatus, Option<ItemError>)> = report
        .items
        .iter()
        .map(|i| {
            (
                i.task_id().as_str(),
                i.asset_id().map(|a| a.as_str()),
                i.status(),
                i.error(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("t2", Some("b"), DeleteStatus::Deleted, None),
            (
                "missing",
                None,
                DeleteStatus::Failed,
                Some(ItemError::UnknownTask)
            ),
            ("t1", Some("a"), DeleteStatus::Deleted, None),
        ]
    );
    assert_eq!(report.remaining, 0);
}

pub async fn delete_is_idempotent(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    let selection = by_tasks(None, &["t1"]);
    for _ in 0..3 {
        let report = store
            .service(at(200))
            .delete(&project("p"), &selection, &actor())
            .await
            .expect("delete");
        let item = report.items.first().expect("one item");
        assert_eq!(item.status(), DeleteStatus::Deleted);
        assert_eq!(item.asset_id(), Some(&asset("a")));
    }
}

pub async fn delete_with_asset_keeps_tasks_of_other_assets(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    register(&store, "p", "b", "t2", 200).await;
    register(&store, "p", "a", "t3", 300).await;
    let report = store
        .service(at(400))
        .delete(&project("p"), &by_tasks(Some("a"), &["t1", "t2"]), &actor())
        .await
        .expect("delete");
    let statuses: Vec<(DeleteStatus, Option<ItemError>)> = report
        .items
        .iter()
        .map(|i| (i.status(), i.error()))
        .collect();
    assert_eq!(
        statuses,
        [
            (DeleteStatus::Deleted, None),
            (DeleteStatus::Failed, Some(ItemError::OtherAsset))
        ]
    );
    assert_eq!(
        report.items.get(1).and_then(|i| i.asset_id()),
        Some(&asset("a"))
    );
    assert_eq!(report.remaining, 1, "t3 is left of asset a");
    assert_eq!(
        listed(&store, "p", ListFilter::default()).await,
        ["t2", "t3"]
    );

    // A task deleted earlier, asked for under another asset, is not claimed.
    let again = store
        .service(at(500))
        .delete(&project("p"), &by_tasks(Some("b"), &["t1"]), &actor())
        .await
        .expect("delete");
    assert_eq!(
        again.items.first().and_then(|i| i.error()),
        Some(ItemError::OtherAsset)
    );
}

pub async fn delete_by_asset_takes_oldest_ten_with_remaining(store: Store) {
    for i in 0..23 {
        register(&store, "p", "a", &format!("t{i:02}"), 1000 - i).await;
    }
    register(&store, "p", "b", "other", 1).await;

    let mut seen = Vec::new();
    let mut remainders = Vec::new();
    loop {
        let report = store
            .service(at(2000))
            .delete(&project("p"), &by_asset("a"), &actor())
            .await
            .expect("delete");
        assert!(report.items.len() <= 10);
        assert!(
            report
                .items
                .iter()
                .all(|i| i.status() == DeleteStatus::Deleted)
        );
        seen.extend(report.items.iter().map(|i| i.task_id().as_str().to_owned()));
        remainders.push(report.remaining);
        if report.remaining == 0 {
            break;
        }
    }
    assert_eq!(remainders, [13, 3, 0]);
    // Oldest first: t22 was registered earliest.
    let expected: Vec<String> = (0..23).rev().map(|i| format!("t{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(listed(&store, "p", ListFilter::default()).await, ["other"]);
}

pub async fn delete_by_asset_without_tasks_is_empty(store: Store) {
    let report = store
        .service(at(100))
        .delete(&project("p"), &by_asset("none"), &actor())
        .await
        .expect("delete");
    assert!(report.items.is_empty());
    assert_eq!(report.remaining, 0);
}

pub async fn deleted_tasks_leave_every_read(store: Store) {
    register(&store, "p", "a", "t1", 100).await;
    register(&store, "p", "a", "t2", 200).await;
    store
        .service(at(300))
        .delete(&project("p"), &by_tasks(None, &["t1"]), &actor())
        .await
        .expect("delete");
    assert_eq!(listed(&store, "p", ListFilter::default()).await, ["t2"]);
    let by_id = ListFilter {
        asset: None,
        task: Some(task("t1")),
    };
    assert!(listed(&store, "p", by_id).await.is_empty());
    assert_eq!(
        store
            .results
            .get(&project("p"), &task("t1"))
            .await
            .expect("get"),
        None
    );
    assert!(
        store
            .get(&project("p"), &task("t2"))
            .await
            .expect("get")
            .is_some()
    );
}

pub async fn concurrent_deletes_of_the_same_tasks_all_answer_deleted(store: Store) {
    let ids: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        register(&store, "p", "a", id, 100 + i as i64).await;
    }
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                store
                    .service(at(500))
                    .delete(&project("p"), &by_tasks(None, &refs), &actor())
                    .await
            })
        })
        .collect();
    for caller in futures::future::join_all(callers).await {
        let report = caller.expect("joined").expect("delete");
        assert_eq!(report.items.len(), 10);
        assert!(
            report
                .items
                .iter()
                .all(|i| i.status() == DeleteStatus::Deleted),
            "{report:?}"
        );
    }
    assert!(listed(&store, "p", ListFilter::default()).await.is_empty());
}

pub async fn concurrent_asset_deletes_never_skip_or_repeat_a_task(store: Store) {
    let total = 57;
    for i in 0..total {
        register(&store, "p", "a", &format!("t{i}"), 100 + i).await;
    }
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let report = store
                        .service(at(500))
                        .delete(&project("p"), &by_asset("a"), &actor())
                        .await
                        .expect("delete");
                    mine.extend(report.items.iter().map(|i| i.task_id().clone()));
                    if report.remaining == 0 {
                        return mine;
                    }
                }
            })
        })
        .collect();
    let mut all: Vec<TaskId> = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker.expect("joined"));
    }
    let distinct: HashSet<&TaskId> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a task was reported deleted twice"
    );
    assert_eq!(all.len(), total as usize, "a task was skipped");
    assert!(listed(&store, "p", ListFilter::default()).await.is_empty());
}

pub async fn concurrent_identical_registrations_create_once(store: Store) {
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .service(at(100))
                    .register(result("p", "a", "t1", 3), &actor())
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for caller in futures::future::join_all(callers).await {
        match caller.expect("joined").expect("register") {
            Registered::Created(_) => created += 1,
            Registered::AlreadyRegistered(_) => {}
        }
    }
    assert_eq!(created, 1);
}

/// The whole project's `total` after each kind of change, including the
/// ones that change nothing (a repeated registration, a conflicting one, a
/// repeated or unknown delete), and under concurrent registrations.
pub async fn the_project_total_follows_every_change(store: Store) {
    async fn total(store: &Store, p: &str) -> u64 {
        store
            .list(&project(p), &ListFilter::default(), ListPage::default())
            .await
            .expect("list")
            .total
    }
    let registrations: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let a = if i < 12 { "a" } else { "b" };
                store
                    .service(at(100 + i))
                    .register(result("p", a, &format!("t{i}"), 2), &actor())
                    .await
            })
        })
        .collect();
    for r in futures::future::join_all(registrations).await {
        assert!(matches!(
            r.expect("joined").expect("register"),
            Registered::Created(_)
        ));
    }
    register(&store, "q", "a", "t0", 100).await;
    assert_eq!(
        (total(&store, "p").await, total(&store, "q").await),
        (24, 1)
    );

    let again = store
        .service(at(500))
        .register(result("p", "a", "t0", 2), &actor())
        .await
        .expect("again");
    assert!(matches!(again, Registered::AlreadyRegistered(_)));
    let conflicting = store
        .service(at(500))
        .register(result("p", "a", "t0", 3), &actor())
        .await;
    assert!(conflicting.is_err());
    assert_eq!(total(&store, "p").await, 24);

    let service = store.service(at(600));
    service
        .delete(
            &project("p"),
            &by_tasks(None, &["t0", "t1", "nope"]),
            &actor(),
        )
        .await
        .expect("delete");
    assert_eq!(total(&store, "p").await, 22);
    service
        .delete(&project("p"), &by_tasks(None, &["t0", "t1"]), &actor())
        .await
        .expect("delete again");
    assert_eq!(total(&store, "p").await, 22);
    service
        .delete(&project("p"), &by_asset("b"), &actor())
        .await
        .expect("delete by asset");
    assert_eq!(total(&store, "p").await, 12);
    let deleted_again = store
        .service(at(700))
        .register(result("p", "a", "t0", 2), &actor())
        .await;
    assert!(deleted_again.is_err());
    assert_eq!(
        (total(&store, "p").await, total(&store, "q").await),
        (12, 1)
    );
    assert_eq!(listed(&store, "p", ListFilter::default()).await.len(), 12);
}

pub async fn registration_racing_a_delete_ends_consistent(store: Store) {
    for round in 0..20 {
        let id = format!("race{round}");
        let (registered, deleted) = {
            let (s1, s2) = (store.clone(), store.clone());
            let id1 = id.clone();
            let id2 = id.clone();
            let reg = tokio::spawn(async move {
                s1.service(at(100))
                    .register(result("p", "a", &id1, 2), &actor())
                    .await
            });
            let del = tokio::spawn(async move {
                s2.service(at(100))
                    .delete(&project("p"), &by_tasks(None, &[id2.as_str()]), &actor())
                    .await
            });
            (reg.await.expect("joined"), del.await.expect("joined"))
        };
        let registered = matches!(registered.expect("register"), Registered::Created(_));
        assert!(registered, "the id was new, so the registration creates it");
        let status = deleted
            .expect("delete")
            .items
            .first()
            .map(|i| i.status())
            .expect("one item");
        let live = store
            .get(&project("p"), &task(&id))
            .await
            .expect("get")
            .is_some();
        match status {
            // Deleted after it was registered: gone, and never reusable.
            DeleteStatus::Deleted => {
                assert!(!live);
                let again = store
                    .service(at(200))
                    .register(result("p", "a", &id, 2), &actor())
                    .await;
                assert!(matches!(again, Err(RegisterError::ConflictsWithDeleted)));
            }
            // The delete ran first and found nothing: the registration stands.
            DeleteStatus::Failed => assert!(live),
            DeleteStatus::Unknow => panic!("a healthy store must know the outcome"),
        }
    }
}

/// Everything a client or an operator can read of project `p`: the list,
/// each live task's details, and the audit trail.
async fn everything(store: &Store, p: &str) -> (Listing, Vec<SnapshotPage>, Vec<AuditRecord>) {
    let page = ListPage::new(None, Some(100)).expect("page");
    let listing = store
        .list(&project(p), &ListFilter::default(), page)
        .await
        .expect("list");
    let mut details = Vec::new();
    for item in &listing.items {
        let page = DetailsPage::new(None, Some(100)).expect("page");
        details.push(
            store
                .details(&project(p), &item.task, page)
                .await
                .expect("details"),
        );
    }
    let query = AuditQuery {
        project: project(p),
        since: None,
        task: None,
        limit: 1000,
    };
    let audit = store.audit.records(&query).await.expect("audit");
    (listing, details, audit)
}

pub async fn a_dry_run_by_tasks_changes_nothing_and_answers_what_the_delete_then_does(
    store: Store,
) {
    register(&store, "p", "a", "gone", 50).await;
    store
        .service(at(60))
        .delete(&project("p"), &by_tasks(None, &["gone"]), &actor())
        .await
        .expect("delete");
    register(&store, "p", "a", "t1", 100).await;
    register(&store, "p", "b", "t2", 200).await;
    register(&store, "p", "a", "t3", 300).await;
    register(&store, "p", "a", "t4", 400).await;
    // Every kind of item: live, of another asset, unknown, tombstoned.
    let selection = by_tasks(Some("a"), &["t1", "t2", "missing", "gone"]);
    let before = everything(&store, "p").await;

    let dry = store
        .service(at(500))
        .delete_dry_run(&project("p"), &selection)
        .await
        .expect("dry run");
    assert_eq!(
        everything(&store, "p").await,
        before,
        "a dry run changed something"
    );
    let again = store
        .service(at(600))
        .delete_dry_run(&project("p"), &selection)
        .await
        .expect("dry run again");
    assert_eq!(again, dry, "a dry run is repeatable");

    let statuses: Vec<(&str, DeleteStatus)> = dry
        .items
        .iter()
        .map(|i| (i.task_id().as_str(), i.status()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("t1", DeleteStatus::Deleted),
            ("t2", DeleteStatus::Failed),
            ("missing", DeleteStatus::Failed),
            ("gone", DeleteStatus::Deleted),
        ]
    );
    assert_eq!(dry.remaining, 2, "t3 and t4 would be left of asset a");

    let real = store
        .service(at(700))
        .delete(&project("p"), &selection, &actor())
        .await
        .expect("delete");
    assert_eq!(real, dry, "the delete answers what its dry run said");
    assert_eq!(
        listed(&store, "p", ListFilter::default()).await,
        ["t2", "t3", "t4"]
    );

    // Without an asset, remaining is 0, as in the delete.
    let unscoped = store
        .service(at(800))
        .delete_dry_run(&project("p"), &by_tasks(None, &["t3"]))
        .await
        .expect("dry run");
    assert_eq!(unscoped.remaining, 0);
    assert_eq!(
        unscoped.items.first().map(|i| i.status()),
        Some(DeleteStatus::Deleted)
    );
    assert_eq!(
        listed(&store, "p", ListFilter::default()).await,
        ["t2", "t3", "t4"]
    );
}

pub async fn a_dry_run_of_an_asset_changes_nothing_and_answers_what_the_delete_then_does(
    store: Store,
) {
    for i in 0..12 {
        register(&store, "p", "a", &format!("t{i:02}"), 1000 - i).await;
    }
    register(&store, "p", "b", "other", 1).await;
    let before = everything(&store, "p").await;

    let dry = store
        .service(at(2000))
        .delete_dry_run(&project("p"), &by_asset("a"))
        .await
        .expect("dry run");
    assert_eq!(
        everything(&store, "p").await,
        before,
        "a dry run changed something"
    );
    assert_eq!(dry.items.len(), 10);
    assert_eq!(dry.remaining, 2);
    assert_eq!(
        dry.items.first().map(|i| i.task_id().as_str()),
        Some("t11"),
        "oldest first"
    );

    let real = store
        .service(at(2000))
        .delete(&project("p"), &by_asset("a"), &actor())
        .await
        .expect("delete");
    assert_eq!(real, dry, "the delete answers what its dry run said");

    // The last two, then nothing: a dry run of an emptied asset is empty.
    let last = store
        .service(at(2100))
        .delete_dry_run(&project("p"), &by_asset("a"))
        .await
        .expect("dry run");
    assert_eq!((last.items.len(), last.remaining), (2, 0));
    store
        .service(at(2100))
        .delete(&project("p"), &by_asset("a"), &actor())
        .await
        .expect("delete");
    let empty = store
        .service(at(2200))
        .delete_dry_run(&project("p"), &by_asset("a"))
        .await
        .expect("dry run");
    assert!(empty.items.is_empty());
    assert_eq!(empty.remaining, 0);

    // A project never seen: an empty answer, and still nothing written.
    let unseen = store
        .service(at(2300))
        .delete_dry_run(&project("unseen"), &by_asset("a"))
        .await
        .expect("dry run");
    assert!(unseen.items.is_empty());
    assert!(
        listed(&store, "unseen", ListFilter::default())
            .await
            .is_empty()
    );
}
