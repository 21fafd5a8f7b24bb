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
        .returning(move |_, _, _, _| Ok(Inserted::Taken(Stored::Live(taken.clone()))));
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
        .returning(|_, _, _, _| Ok(Inserted::Taken(Stored::Deleted)));
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
            trace: None,
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
    let worker = Worker::new(
        "w".into(),
        Arc::new(queue),
        Arc::new(images),
        clock(),
        WorkerSettings {
            policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3).unwrap(),
            ..WorkerSettings::default()
        },
    );
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
            trace: None,
        })
        .collect()
}

fn cleanup_worker(queue: MockCleanupQueue, images: MockImageStore) -> Worker {
    Worker::new(
        "w".into(),
        Arc::new(queue),
        Arc::new(images),
        clock(),
        WorkerSettings {
            policy: RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 3).unwrap(),
            ..WorkerSettings::default()
        },
    )
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
        .withf(|items, worker, now, _| {
            items.len() == 1_000 && worker == "w" && *now == Timestamp::from_micros(42)
        })
        .times(1)
        .returning(|items, _, now, purged| {
            // The planner the store is handed: one purged event per
            // project, at the completion's time, none for no task.
            assert_eq!(purged(&p(), vec![]), None);
            let task = vodsnap_domain::EventTask {
                task: TaskId::parse("t").unwrap(),
                asset: AssetId::parse("a").unwrap(),
            };
            let event = purged(&p(), vec![task.clone()]).expect("an event");
            assert_eq!(
                (event.kind, event.project, event.occurred_at, event.tasks),
                (vodsnap_domain::EventType::Purged, p(), now, vec![task])
            );
            Ok(items.len() as u64)
        });
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
        .withf(|items, _, _, _| items.iter().map(|i| i.id).collect::<Vec<_>>() == [0, 2])
        .times(1)
        .returning(|items, _, _, _| Ok(items.len() as u64));
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
                    Err(vodsnap_ports::ImageStoreError::unreachable(
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

#[tokio::test]
async fn a_delete_with_retention_stamps_purge_at_and_without_it_purges_at_once() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut store = MockTaskResultStore::new();
    let record = seen.clone();
    store
        .expect_delete()
        .times(2)
        .returning(move |_, _, planner| {
            let planned = planner(Vec::new());
            record.lock().unwrap().push((planned.at, planned.purge_at));
            Ok(CommittedDelete {
                planned,
                live_left: None,
            })
        });
    let store = Arc::new(store);
    let actor = Actor::system("test");
    let plain = Snapshots::new(store.clone(), Arc::new(MockAuditLog::new()), clock());
    let week = vodsnap_domain::Retention::new(Duration::from_secs(7 * 86_400)).unwrap();
    let binned = plain.clone().with_retention(week);

    plain.delete(&p(), &named(&["t1"]), &actor).await.unwrap();
    binned.delete(&p(), &named(&["t1"]), &actor).await.unwrap();

    let at = Timestamp::from_micros(42);
    let week_later = Timestamp::from_micros(42 + 7 * 86_400 * 1_000_000);
    assert_eq!(*seen.lock().unwrap(), [(at, at), (at, week_later)]);
}

#[tokio::test]
async fn a_restore_answers_what_the_domain_planned_and_audits_it_with_the_change() {
    let mut store = MockTaskResultStore::new();
    store.expect_restore().returning(|_, _, planner| {
        let found = vec![vodsnap_domain::BinnedTask {
            task: TaskId::parse("t1").unwrap(),
            asset: AssetId::parse("a").unwrap(),
            state: vodsnap_domain::BinState::Deleted {
                purge_at: Timestamp::from_micros(100),
                intact: true,
            },
        }];
        let planned = planner(found);
        // What the store writes with the change: the restore's audit record.
        assert_eq!(planned.audit.action, vodsnap_ports::AuditAction::Restore);
        assert_eq!(planned.audit.outcomes[0].status, AuditStatus::Restored);
        assert_eq!(planned.audit.outcomes[1].status, AuditStatus::Failed);
        assert_eq!(planned.plan.changed(), [TaskId::parse("t1").unwrap()]);
        Ok(planned)
    });
    let service = Snapshots::new(Arc::new(store), Arc::new(MockAuditLog::new()), clock());
    let selection = vodsnap_domain::BinSelection::new(vec![
        TaskId::parse("t1").unwrap(),
        TaskId::parse("t2").unwrap(),
    ])
    .unwrap();

    let items = service
        .restore(&p(), &selection, &Actor::system("test"))
        .await
        .unwrap();

    let errors: Vec<_> = items.iter().map(|i| i.error()).collect();
    assert_eq!(errors, [None, Some(vodsnap_domain::ItemError::UnknownTask)]);
}

mod webhooks {
    use std::sync::Arc;

    use vodsnap_domain::{EventTypes, ProjectId, WebhookUrl};
    use vodsnap_ports::{Actor, AuditAction, CheckUrlError, MockWebhookSender, MockWebhookStore};
    use vodsnap_service::{CreateWebhookError, Webhooks};

    fn url() -> WebhookUrl {
        WebhookUrl::parse("https://hooks.example/in?token=receivers-own").unwrap()
    }

    fn actor() -> Actor {
        Actor::system("test")
    }

    #[tokio::test]
    async fn a_refused_url_stores_nothing() {
        let mut sender = MockWebhookSender::new();
        sender
            .expect_check()
            .returning(|_| Err(CheckUrlError::Refused("10.0.0.1".into())));
        // No expectation on the store: creating would fail the test.
        let service = Webhooks::new(
            Arc::new(MockWebhookStore::new()),
            Arc::new(sender),
            super::clock(),
        );
        let created = service
            .create(
                &ProjectId::parse("p").unwrap(),
                url(),
                EventTypes::all(),
                &actor(),
            )
            .await;
        assert!(matches!(
            created,
            Err(CreateWebhookError::Url(CheckUrlError::Refused(_)))
        ));
    }

    #[tokio::test]
    async fn a_created_webhook_gets_a_fresh_secret_stored_with_it() {
        let mut sender = MockWebhookSender::new();
        sender.expect_check().returning(|_| Ok(()));
        let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut store = MockWebhookStore::new();
        let keep = stored.clone();
        store
            .expect_create()
            .times(2)
            .returning(move |w, s, audit| {
                keep.lock()
                    .unwrap()
                    .push((w.clone(), s.clone(), audit.clone()));
                Ok(())
            });
        let service = Webhooks::new(Arc::new(store), Arc::new(sender), super::clock());
        let project = ProjectId::parse("p").unwrap();

        let (first, secret1) = service
            .create(&project, url(), EventTypes::all(), &actor())
            .await
            .unwrap();
        let (second, secret2) = service
            .create(&project, url(), EventTypes::all(), &actor())
            .await
            .unwrap();

        assert_ne!(first.id, second.id);
        assert_ne!(secret1, secret2);
        assert!(secret1.expose().starts_with("whsec_") && secret1.expose().len() == 70);
        assert_eq!(stored.lock().unwrap()[0].1, secret1);
        // Audited with the webhook, in the same store call; never the
        // secret.
        let audit = stored.lock().unwrap()[0].2.clone();
        assert_eq!(audit.action, AuditAction::WebhookCreate);
        assert_eq!(audit.actor, actor());
        let audited = audit.webhook.clone().expect("the webhook");
        assert_eq!(audited.id, first.id);
        assert_eq!(audited.url.as_deref(), Some("https://hooks.example/in"));
        assert!(!format!("{audit:?}").contains(secret1.expose()));
    }

    #[tokio::test]
    async fn a_removal_is_audited_by_the_store_that_removes() {
        let mut store = MockWebhookStore::new();
        store
            .expect_remove()
            .withf(|_, id, audit| {
                audit.action == AuditAction::WebhookDelete
                    && audit.webhook.as_ref().map(|w| &w.id) == Some(id)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let service = Webhooks::new(
            Arc::new(store),
            Arc::new(MockWebhookSender::new()),
            super::clock(),
        );
        let id = vodsnap_domain::WebhookId::from_random(7);
        service
            .remove(&ProjectId::parse("p").unwrap(), &id, &actor())
            .await
            .unwrap();
    }
}
