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
