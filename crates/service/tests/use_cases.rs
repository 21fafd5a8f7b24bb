//! The use cases against mocked ports: what each decides, whatever the store.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failed expectation is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vodsnap_domain::{
    AssetId, AuditStatus, DeleteSelection, DeleteStatus, FoundTask, NewTaskResult, ObjectKey,
    ProjectId, RetryPolicy, Snapshot, TaskId, ThumbnailPara, ThumbnailParaInput, Timestamp,
};
use vodsnap_ports::{
    Actor, CleanupItem, CommittedDelete, DeleteError, Inserted, MockAuditLog, MockCleanupQueue,
    MockClock, MockImageStore, MockTaskResultStore, PreviewedDelete, RegisterError, Registered,
    Stored,
};
use vodsnap_service::{Snapshots, Worker, WorkerSettings};

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(|| Timestamp::from_micros(42));
    Arc::new(clock)
}

fn p() -> ProjectId {
    ProjectId::parse("p").unwrap()
}

fn named(tasks: &[&str]) -> DeleteSelection {
    DeleteSelection::new(
        Some(AssetId::parse("a").unwrap()),
        tasks.iter().map(|t| TaskId::parse(t).unwrap()).collect(),
    )
    .unwrap()
}

fn new_result() -> NewTaskResult {
    let para = ThumbnailPara::parse(ThumbnailParaInput {
        kind: Some("time".into()),
        ..Default::default()
    })
    .unwrap();
    NewTaskResult::new(
        p(),
        AssetId::parse("a").unwrap(),
        TaskId::parse("t").unwrap(),
        para,
        vec![Snapshot::new(0, ObjectKey::parse("p/a/t/0.jpg").unwrap()).unwrap()],
    )
    .unwrap()
}

#[tokio::test]
async fn a_delete_commits_what_the_domain_planned_with_its_audit_record() {
    let mut store = MockTaskResultStore::new();
    store.expect_delete().returning(|_, _, planner| {
        // The store found t1 live and t2 unknown.
        let planned = planner(vec![FoundTask::live(
            TaskId::parse("t1").unwrap(),
            AssetId::parse("a").unwrap(),
        )]);
        Ok(CommittedDelete {
            planned,
            live_left: Some(3),
        })
    });
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());

    let report = service
        .delete(&p(), &named(&["t1", "t2"]), &Actor::system("test"))
        .await
        .unwrap();

    let statuses: Vec<DeleteStatus> = report.items.iter().map(|i| i.status()).collect();
    assert_eq!(statuses, [DeleteStatus::Deleted, DeleteStatus::Failed]);
    assert_eq!(report.remaining, 3);
}

#[tokio::test]
async fn an_outage_answers_unknow_items_for_named_tasks_and_fails_an_asset_delete() {
    let mut store = MockTaskResultStore::new();
    store
        .expect_delete()
        .returning(|_, _, _| Err(DeleteError::Unavailable(anyhow::anyhow!("down"))));
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());
    let actor = Actor::system("test");

    let report = service
        .delete(&p(), &named(&["t1", "t2"]), &actor)
        .await
        .unwrap();
    assert!(
        report
            .items
            .iter()
            .all(|i| i.status() == DeleteStatus::Unknow)
    );
    let asset_only = DeleteSelection::new(Some(AssetId::parse("a").unwrap()), vec![]).unwrap();
    assert!(matches!(
        service.delete(&p(), &asset_only, &actor).await,
        Err(DeleteError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_dry_run_answers_the_domain_plan_and_writes_nothing() {
    // The mocks have no delete and no audit append: a dry run that wrote,
    // or asked the store to, would fail here.
    let mut store = MockTaskResultStore::new();
    store.expect_preview_delete().returning(|_, _, planner| {
        let plan = planner(vec![FoundTask::live(
            TaskId::parse("t1").unwrap(),
            AssetId::parse("a").unwrap(),
        )]);
        Ok(PreviewedDelete {
            plan,
            live_left: Some(2),
        })
    });
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());

    let report = service
        .delete_dry_run(&p(), &named(&["t1", "t2"]))
        .await
        .unwrap();

    let statuses: Vec<DeleteStatus> = report.items.iter().map(|i| i.status()).collect();
    assert_eq!(statuses, [DeleteStatus::Deleted, DeleteStatus::Failed]);
    assert_eq!(report.remaining, 2);
}

#[tokio::test]
async fn a_dry_run_that_fails_is_an_error_even_for_named_tasks() {
    let mut store = MockTaskResultStore::new();
    store
        .expect_preview_delete()
        .returning(|_, _, _| Err(DeleteError::Unavailable(anyhow::anyhow!("down"))));
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());

    assert!(matches!(
        service.delete_dry_run(&p(), &named(&["t1", "t2"])).await,
        Err(DeleteError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_repeated_registration_is_audited_and_answers_the_stored_result() {
    let stored = new_result().into_stored(Timestamp::from_micros(1));
    let mut store = MockTaskResultStore::new();
    let taken = stored.clone();
    store
        .expect_insert()
        .returning(move |_, _, _| Ok(Inserted::Taken(Stored::Live(taken.clone()))));
    let mut audit = MockAuditLog::new();
    audit
        .expect_append()
        .withf(|r| r.outcomes[0].status == AuditStatus::AlreadyRegistered)
        .times(1)
        .returning(|_| Ok(()));
    let service = Snapshots::new(Arc::new(store), Arc::new(audit), clock());

    let answer = service
        .register(new_result(), &Actor::system("test"))
        .await
        .unwrap();

    assert_eq!(answer, Registered::AlreadyRegistered(stored));
}

#[tokio::test]
async fn a_deleted_id_conflicts_and_writes_nothing() {
    let mut store = MockTaskResultStore::new();
    store
        .expect_insert()
        .returning(|_, _, _| Ok(Inserted::Taken(Stored::Deleted)));
    // No expectation on the audit log: appending would fail the test.
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());
    assert!(matches!(
        service.register(new_result(), &Actor::system("test")).await,
        Err(RegisterError::ConflictsWithDeleted)
    ));
}

#[tokio::test]
async fn the_cleanup_parks_a_key_outside_its_project_without_touching_storage() {
    let mut queue = MockCleanupQueue::new();
    queue.expect_claim().returning(|_, _, _, _| {
        Ok(vec![CleanupItem {
            id: 1,
            project: ProjectId::parse("p").unwrap(),
            object_key: ObjectKey::parse("other/a/0.jpg").unwrap(),
            attempts: 0,
        }])
    });
    // Neither the reference check nor the object store may be asked.
    queue
        .expect_fail()
        // Parked at the worker's clock's time, not the store's.
        .withf(|failures, _, now| {
            failures.len() == 1
                && failures[0].item.id == 1
                && failures[0].error.contains("prefix")
                && failures[0].retry_at.is_none()
                && *now == Timestamp::from_micros(42)
        })
        .times(1)
        .returning(|_, _, _| Ok(1));
    let mut images = MockImageStore::new();
    images.expect_describe().returning(|| "mock".into());
    let worker = Worker {
        name: "w".into(),
        queue: Arc::new(queue),
        images: Arc::new(images),
        clock: clock(),
        settings: WorkerSettings {
            policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3).unwrap(),
            ..WorkerSettings::default()
        },
    };
    let (_tx, rx) = watch::channel(false);

    let pass = worker.pass(&rx).await.unwrap();

    assert_eq!((pass.claimed, pass.parked, pass.removed), (1, 1, 0));
}

/// `n` items of project `p` with keys `p/a/t/{i}.jpg`.
fn batch_of(n: usize) -> Vec<CleanupItem> {
    (0..n)
        .map(|i| CleanupItem {
            id: i as i64,
            project: p(),
            object_key: ObjectKey::parse(&format!("p/a/t/{i}.jpg")).unwrap(),
            attempts: 0,
        })
        .collect()
}

fn cleanup_worker(queue: MockCleanupQueue, images: MockImageStore) -> Worker {
    Worker {
        name: "w".into(),
        queue: Arc::new(queue),
        images: Arc::new(images),
        clock: clock(),
        settings: WorkerSettings {
            policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3).unwrap(),
            ..WorkerSettings::default()
        },
    }
}

#[tokio::test]
async fn a_batch_of_a_thousand_costs_one_check_one_bulk_removal_and_one_completion() {
    // Arrange: 1,000 items of one project; every tenth still referenced.
    let mut queue = MockCleanupQueue::new();
    queue
        .expect_claim()
        .withf(|_, max, _, _| *max == 1_000)
        .times(1)
        .returning(|_, _, _, _| Ok(batch_of(1_000)));
    queue
        .expect_referenced()
        .withf(|project, keys| *project == p() && keys.len() == 1_000)
        .times(1)
        .returning(|_, keys| Ok(keys.iter().step_by(10).cloned().collect()));
    queue
        .expect_complete()
        .withf(|items, worker, now| {
            items.len() == 1_000 && worker == "w" && *now == Timestamp::from_micros(42)
        })
        .times(1)
        .returning(|items, _, _| Ok(items.len() as u64));
    let mut images = MockImageStore::new();
    images
        .expect_delete_many()
        .withf(|keys| keys.len() == 900 && keys.iter().all(|k| !k.as_str().ends_with("0.jpg")))
        .times(1)
        .returning(|keys| keys.iter().map(|_| Ok(())).collect());
    images.expect_describe().returning(|| "mock".into());
    let (_tx, rx) = watch::channel(false);

    // Act
    let pass = cleanup_worker(queue, images).pass(&rx).await.unwrap();

    // Assert: no single-key call was made (the mocks refuse them).
    assert_eq!(
        (pass.claimed, pass.removed, pass.kept, pass.retried),
        (1_000, 900, 100, 0)
    );
}

#[tokio::test]
async fn a_partial_failure_retries_only_the_keys_that_failed() {
    let mut queue = MockCleanupQueue::new();
    queue.expect_claim().returning(|_, _, _, _| Ok(batch_of(4)));
    queue
        .expect_referenced()
        .returning(|_, _| Ok(Default::default()));
    queue
        .expect_complete()
        .withf(|items, _, _| items.iter().map(|i| i.id).collect::<Vec<_>>() == [0, 2])
        .times(1)
        .returning(|items, _, _| Ok(items.len() as u64));
    queue
        .expect_fail()
        .withf(|failures, _, _| {
            failures.iter().map(|f| f.item.id).collect::<Vec<_>>() == [1, 3]
                && failures.iter().all(|f| f.retry_at.is_some())
                && failures[0].error.contains("slow down")
        })
        .times(1)
        .returning(|failures, _, _| Ok(failures.len() as u64));
    let mut images = MockImageStore::new();
    images.expect_delete_many().times(1).returning(|keys| {
        keys.iter()
            .enumerate()
            .map(|(i, _)| {
                if i % 2 == 0 {
                    Ok(())
                } else {
                    Err(vodsnap_ports::ImageStoreError::Unavailable(
                        anyhow::anyhow!("slow down"),
                    ))
                }
            })
            .collect()
    });
    images.expect_describe().returning(|| "mock".into());
    let (_tx, rx) = watch::channel(false);

    let pass = cleanup_worker(queue, images).pass(&rx).await.unwrap();

    assert_eq!((pass.removed, pass.retried, pass.parked), (2, 2, 0));
}

#[tokio::test]
async fn a_worker_asked_to_stop_leaves_a_claimed_batch_to_its_lease() {
    let mut queue = MockCleanupQueue::new();
    queue.expect_claim().returning(|_, _, _, _| Ok(batch_of(3)));
    // No check, removal, completion or failure may follow.
    let mut images = MockImageStore::new();
    images.expect_describe().returning(|| "mock".into());
    let (_tx, rx) = watch::channel(true);

    let pass = cleanup_worker(queue, images).pass(&rx).await.unwrap();

    assert_eq!((pass.claimed, pass.removed), (3, 0));
}
