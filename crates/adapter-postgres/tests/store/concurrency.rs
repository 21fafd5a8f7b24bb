//! What only a database has: many connections and several processes
//! deleting at once.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_over_eight_connections_record_the_deletion_once() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    let ids: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        register(&store, "a", id, 100 + i as i64).await;
    }
    let nows: Vec<i64> = (0..8).map(|i| 1_000_000 + i).collect();

    // Act: eight callers, each with its own `now`, race over one pool.
    let callers: Vec<_> = nows
        .iter()
        .map(|&now| {
            let store = store.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                store
                    .service(at(now))
                    .delete(&project("p"), &by_tasks(&ids), &actor())
                    .await
            })
        })
        .collect();
    let reports = futures::future::join_all(callers).await;

    // Assert: everyone hears DELETED, and one caller's `now` is on every row.
    for report in reports {
        let report = report.expect("joined").expect("delete");
        assert!(
            report
                .items
                .iter()
                .all(|i| i.status() == DeleteStatus::Deleted && i.asset_id() == Some(&asset("a")))
        );
    }
    let stamps: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT deleted_at FROM task_results WHERE project_id = 'p' ORDER BY task_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(stamps.len(), 10);
    let distinct: HashSet<i64> = stamps.iter().map(DateTime::timestamp_micros).collect();
    assert_eq!(
        distinct.len(),
        1,
        "the deletion was recorded more than once"
    );
    let first = distinct.into_iter().next().unwrap();
    assert!(
        nows.contains(&first),
        "deleted_at {first} is no caller's now"
    );

    // A later delete answers DELETED again and leaves the record alone.
    let later = store
        .service(at(9_000_000))
        .delete(&project("p"), &by_tasks(&ids), &actor())
        .await
        .unwrap();
    assert!(
        later
            .items
            .iter()
            .all(|i| i.status() == DeleteStatus::Deleted)
    );
    let after: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT DISTINCT deleted_at FROM task_results WHERE project_id = 'p'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        after
            .iter()
            .map(DateTime::timestamp_micros)
            .collect::<Vec<_>>(),
        [first]
    );
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(snapshots, 0, "the snapshots of deleted tasks are gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn asset_deletes_from_two_processes_never_skip_or_repeat_a_task() {
    // Arrange: two pools stand for two server processes.
    let db = TestDb::migrated().await;
    let total = 83;
    let first = PgTaskResultStore::new(db.pool.clone());
    for i in 0..total {
        register(&first, "a", &format!("t{i:03}"), 100 + i).await;
    }
    register(&first, "b", "keep", 1).await;
    let second = PgTaskResultStore::new(db.another_pool(4).await);

    // Act: three workers per process empty the asset concurrently.
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                let selection = DeleteSelection::new(Some(asset("a")), Vec::new()).unwrap();
                let mut mine = Vec::new();
                loop {
                    let report = store
                        .service(at(5000 + i))
                        .delete(&project("p"), &selection, &actor())
                        .await
                        .expect("delete");
                    assert!(report.items.len() <= 10);
                    mine.extend(report.items.into_iter().map(|i| i.task_id().clone()));
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

    // Assert
    let distinct: HashSet<&TaskId> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a task was deleted twice");
    assert_eq!(all.len(), total as usize, "a task was skipped");
    let (tombstones, live): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL), \
                count(*) FILTER (WHERE deleted_at IS NULL) FROM task_results",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((tombstones, live), (total, 1));
}

#[tokio::test]
async fn delete_assets_for_an_asset_being_purged_does_not_wait_for_the_batch() {
    use vodsnap_adapter_postgres::PgPurgeQueue;
    use vodsnap_ports::{PlannedPurges, PurgeQueue as _};

    // Arrange: a purge of asset `a`, and a batch of it running: its
    // transaction holds the purge's row, as a batch does for its length.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    register(&store, "a", "t1", 100).await;
    let purges = PgPurgeQueue::new(db.pool.clone());
    let call = |when| PlannedPurges {
        assets: vec![asset("a")],
        at: at(when),
        audit: Vec::new(),
    };
    purges
        .record(&project("p"), &call(200))
        .await
        .expect("record the purge");
    let mut batch = db.connection().await.expect("connect the batch");
    sqlx::query("BEGIN")
        .execute(&mut batch)
        .await
        .expect("begin");
    sqlx::query("SELECT 1 FROM asset_purges WHERE project_id = 'p' AND asset_id = 'a' FOR UPDATE")
        .execute(&mut batch)
        .await
        .expect("lock the purge");

    // Act: the same DeleteAssets again while the batch runs.
    let again = {
        let purges = purges.clone();
        tokio::spawn(async move { purges.record(&project("p"), &call(300)).await })
    };

    // Assert: it answers while the batch still holds the row; it never
    // queues behind it.
    tokio::select! {
        answered = again => answered.expect("joined").expect("record again"),
        () = until_a_session_waits_for_a_lock(&mut batch) => {
            panic!("DeleteAssets waited for the running batch's lock on its purge")
        }
    }
    unlock(&mut batch).await;
    let purges_of_a: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT tasks_total, started_at FROM asset_purges WHERE project_id = 'p' AND asset_id = 'a'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        purges_of_a.len(),
        1,
        "the running purge was recorded again: {purges_of_a:?}"
    );
    assert_eq!(purges_of_a[0].0, 1, "the running purge's total changed");
}
