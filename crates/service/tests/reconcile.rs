//! The reconciliation against mocked ports: both sides merged a page at a
//! time, what each key is, orphans queued only past the grace period and
//! audited, errors stop the run, samples stay bounded.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failed expectation is a failed test"
)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{
    Actor, AuditAction, HeldKey, ListedObject, ProjectId, RECONCILE_PAGE, ReconcileTally,
    SAMPLE_LIMIT, Timestamp,
};
use vodsnap_ports::{
    ImageStoreError, MockClock, MockObjectInventory, MockObjectListing, MockReconcileStore,
    ObjectListing,
};
use vodsnap_service::{ReconcileError, Reconciler, RemoveOrphans, Scope};

const NOW: i64 = 1_000_000_000_000;
const HOUR: Duration = Duration::from_secs(3_600);

fn project(raw: &str) -> ProjectId {
    ProjectId::parse(raw).unwrap()
}

fn now() -> Timestamp {
    Timestamp::from_micros(NOW)
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    Arc::new(clock)
}

/// An object modified two hours before `NOW`.
fn object(key: &str) -> ListedObject {
    ListedObject {
        key: key.to_owned(),
        last_modified: now() - 2 * HOUR,
    }
}

fn held(key: &str, live: bool) -> HeldKey {
    HeldKey {
        key: key.to_owned(),
        live,
    }
}

/// A listing answering `pages` one after the other, then the end.
fn listing(pages: Vec<Vec<ListedObject>>) -> MockObjectListing {
    let mut pages = VecDeque::from(pages);
    let mut listing = MockObjectListing::new();
    listing
        .expect_next_page()
        .returning(move || Ok(pages.pop_front()));
    listing
}

/// An inventory listing `objects` under every project, in S3-sized pages.
fn inventory(objects: Vec<ListedObject>) -> MockObjectInventory {
    let mut inventory = MockObjectInventory::new();
    inventory.expect_list_project().returning(move |_| {
        let pages = objects
            .chunks(RECONCILE_PAGE as usize)
            .map(<[ListedObject]>::to_vec)
            .collect();
        Ok(Box::new(listing(pages)) as Box<dyn ObjectListing>)
    });
    inventory
}

/// A database holding `keys` (sorted), answering pages after the key it is
/// given as a keyset-paginated store does.
fn store(keys: Vec<HeldKey>) -> MockReconcileStore {
    let mut store = MockReconcileStore::new();
    store.expect_held_keys().returning(move |_, after, limit| {
        Ok(keys
            .iter()
            .filter(|k| k.key.as_str() > after)
            .take(limit as usize)
            .cloned()
            .collect())
    });
    store
}

fn reconciler(inventory: MockObjectInventory, store: MockReconcileStore) -> Reconciler {
    Reconciler {
        inventory: Arc::new(inventory),
        store: Arc::new(store),
        clock: clock(),
    }
}

fn remove_orphans() -> RemoveOrphans {
    RemoveOrphans {
        older_than: HOUR,
        actor: Actor::system("reconcile"),
    }
}

#[tokio::test]
async fn both_sides_are_merged_across_their_pages() {
    // Arrange: 2,500 keys on each side, pages of 1,000 on both, which
    // differ by one orphan and one missing key far from the first page.
    let keys: Vec<String> = (0..2_500).map(|n| format!("p/a/t/{n:05}.jpg")).collect();
    let listed: Vec<ListedObject> = keys
        .iter()
        .filter(|k| !k.ends_with("01500.jpg"))
        .map(|k| object(k))
        .chain([object("p/z/orphan.jpg")])
        .collect();
    let held: Vec<HeldKey> = keys.iter().map(|k| held(k, true)).collect();
    let service = reconciler(inventory(listed), store(held));

    // Act
    let tally = service
        .project(&project("p"), None)
        .await
        .expect("reconcile");

    // Assert
    assert_eq!(
        tally,
        ReconcileTally {
            listed: 2_500,
            referenced: 2_500,
            orphans: 1,
            missing: 1,
            sample_orphans: vec!["p/z/orphan.jpg".into()],
            sample_missing: vec!["p/a/t/01500.jpg".into()],
            ..ReconcileTally::default()
        }
    );
    assert!(!tally.agree());
}

#[tokio::test]
async fn orphans_and_missing_keys_are_told_apart() {
    // Arrange: agree, orphan, missing (a live key), and a key only the
    // recycle bin holds whose object the cleanup already removed.
    let service = reconciler(
        inventory(vec![object("p/a/1.jpg"), object("p/a/2.jpg")]),
        store(vec![
            held("p/a/1.jpg", true),
            held("p/a/3.jpg", true),
            held("p/a/4.jpg", false),
        ]),
    );

    // Act
    let tally = service.project(&project("p"), None).await.unwrap();

    // Assert
    assert_eq!((tally.listed, tally.referenced), (2, 3));
    assert_eq!(tally.sample_orphans, ["p/a/2.jpg"]);
    assert_eq!(tally.sample_missing, ["p/a/3.jpg"]);
    assert_eq!((tally.orphans, tally.missing), (1, 1));
}

#[tokio::test]
async fn objects_only_the_recycle_bin_or_the_queue_holds_are_not_orphans() {
    // Arrange
    let service = reconciler(
        inventory(vec![object("p/bin/1.jpg"), object("p/queued/1.jpg")]),
        store(vec![
            held("p/bin/1.jpg", false),
            held("p/queued/1.jpg", false),
        ]),
    );

    // Act
    let tally = service.project(&project("p"), None).await.unwrap();

    // Assert
    assert_eq!((tally.listed, tally.orphans, tally.missing), (2, 0, 0));
    assert!(tally.agree());
}

#[tokio::test]
async fn remove_orphans_queues_only_orphans_past_the_grace_period_with_an_audit_record() {
    // Arrange: an old orphan, a recent one (a producer may be about to
    // register it), and an old object a live task references.
    let recent = ListedObject {
        key: "p/a/recent.jpg".into(),
        last_modified: now() - Duration::from_secs(600),
    };
    let mut database = store(vec![held("p/a/live.jpg", true)]);
    database
        .expect_queue_orphans()
        .times(1)
        .withf(|project, keys, record, at| {
            let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            project.as_str() == "p"
                && keys == ["p/a/old.jpg"]
                && record.action == AuditAction::ReconcileQueue
                && record.actor.principal == "system:reconcile"
                && record.objects.iter().map(|k| k.as_str()).eq(keys.clone())
                && *at == now()
        })
        .returning(|_, keys, _, _| Ok(keys.len() as u64));
    let service = reconciler(
        inventory(vec![object("p/a/live.jpg"), object("p/a/old.jpg"), recent]),
        database,
    );

    // Act
    let tally = service
        .project(&project("p"), Some(&remove_orphans()))
        .await
        .unwrap();

    // Assert
    assert_eq!((tally.orphans, tally.orphans_queued), (2, 1));
}

#[tokio::test]
async fn without_remove_orphans_nothing_is_queued() {
    // Arrange: no expectation on queue_orphans, so a call fails the test.
    let service = reconciler(inventory(vec![object("p/a/old.jpg")]), store(Vec::new()));

    // Act
    let tally = service.project(&project("p"), None).await.unwrap();

    // Assert
    assert_eq!((tally.orphans, tally.orphans_queued), (1, 0));
}

#[tokio::test]
async fn orphans_are_queued_a_page_at_a_time() {
    // Arrange: 2,500 old orphans: three audited steps of at most a page.
    let listed: Vec<ListedObject> = (0..2_500)
        .map(|n| object(&format!("p/o/{n:05}.jpg")))
        .collect();
    let mut database = store(Vec::new());
    database
        .expect_queue_orphans()
        .times(3)
        .withf(|_, keys, record, _| {
            keys.len() <= RECONCILE_PAGE as usize && record.objects.as_slice() == keys
        })
        .returning(|_, keys, _, _| Ok(keys.len() as u64));
    let service = reconciler(inventory(listed), database);

    // Act
    let tally = service
        .project(&project("p"), Some(&remove_orphans()))
        .await
        .unwrap();

    // Assert
    assert_eq!((tally.orphans, tally.orphans_queued), (2_500, 2_500));
}

#[tokio::test]
async fn a_storage_error_fails_the_run() {
    // Arrange: the listing fails at once, or on its second page.
    let mut at_once = MockObjectInventory::new();
    at_once
        .expect_list_project()
        .returning(|_| Err(ImageStoreError::unreachable(anyhow::anyhow!("refused"))));
    let mut midway = MockObjectInventory::new();
    midway.expect_list_project().returning(|_| {
        let mut pages = 0;
        let mut listing = MockObjectListing::new();
        listing.expect_next_page().returning(move || {
            pages += 1;
            if pages == 1 {
                Ok(Some(vec![object("p/a/1.jpg")]))
            } else {
                Err(ImageStoreError::unreachable(anyhow::anyhow!("reset")))
            }
        });
        Ok(Box::new(listing) as Box<dyn ObjectListing>)
    });

    for inventory in [at_once, midway] {
        let service = reconciler(inventory, store(Vec::new()));

        // Act
        let error = service
            .run(&Scope::Project(project("p")), Some(&remove_orphans()))
            .await
            .unwrap_err();

        // Assert: nothing was queued (no expectation on queue_orphans).
        assert!(matches!(error, ReconcileError::Storage(_)), "{error:?}");
    }
}

#[tokio::test]
async fn a_database_error_or_a_listing_out_of_order_fails_the_run() {
    // Arrange
    let mut failing = MockReconcileStore::new();
    failing.expect_held_keys().returning(|_, _, _| {
        Err(vodsnap_ports::StoreError::Unavailable(anyhow::anyhow!(
            "down"
        )))
    });
    let service = reconciler(inventory(vec![object("p/a/1.jpg")]), failing);

    // Act
    let error = service
        .run(&Scope::Project(project("p")), None)
        .await
        .unwrap_err();

    // Assert
    assert!(matches!(error, ReconcileError::Database(_)), "{error:?}");

    // Arrange: a store that lists out of order.
    let service = reconciler(
        inventory(vec![object("p/a/2.jpg"), object("p/a/1.jpg")]),
        store(Vec::new()),
    );

    // Act
    let error = service
        .run(&Scope::Project(project("p")), None)
        .await
        .unwrap_err();

    // Assert
    assert!(matches!(error, ReconcileError::Order(_)), "{error:?}");
}

#[tokio::test]
async fn samples_hold_at_most_twenty_keys_in_order() {
    // Arrange: 50 orphans and 30 missing keys.
    let listed: Vec<ListedObject> = (0..50)
        .map(|n| object(&format!("p/o/{n:02}.jpg")))
        .collect();
    let held: Vec<HeldKey> = (0..30)
        .map(|n| held(&format!("p/m/{n:02}.jpg"), true))
        .collect();
    let service = reconciler(inventory(listed), store(held));

    // Act
    let tally = service
        .run(&Scope::Project(project("p")), None)
        .await
        .unwrap();

    // Assert
    assert_eq!((tally.orphans, tally.missing), (50, 30));
    assert_eq!(SAMPLE_LIMIT, 20);
    let expected_orphans: Vec<String> = (0..20).map(|n| format!("p/o/{n:02}.jpg")).collect();
    let expected_missing: Vec<String> = (0..20).map(|n| format!("p/m/{n:02}.jpg")).collect();
    assert_eq!(tally.sample_orphans, expected_orphans);
    assert_eq!(tally.sample_missing, expected_missing);
}

#[tokio::test]
async fn all_reconciles_the_databases_projects_and_the_stores_prefixes() {
    // Arrange: the database knows p1; the store has p1, p2 and a prefix
    // that is no project id.
    let mut database = store(Vec::new());
    database
        .expect_projects()
        .returning(|| Ok(vec![project("p1")]));
    let mut inventory = MockObjectInventory::new();
    inventory
        .expect_top_level_prefixes()
        .returning(|| Ok(vec!["p2".into(), "p1".into(), "not a project".into()]));
    inventory
        .expect_list_project()
        .times(2)
        .returning(|project| {
            let key = format!("{project}/a/1.jpg");
            Ok(Box::new(listing(vec![vec![object(&key)]])) as Box<dyn ObjectListing>)
        });
    let service = reconciler(inventory, database);

    // Act
    let tally = service.run(&Scope::All, None).await.unwrap();

    // Assert
    assert_eq!((tally.listed, tally.orphans), (2, 2));
    assert_eq!(tally.sample_orphans, ["p1/a/1.jpg", "p2/a/1.jpg"]);
    assert_eq!(tally.foreign_prefixes, 1);
    assert!(!tally.agree());
}
