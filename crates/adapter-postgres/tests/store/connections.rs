//! Connections kept between operations (`PgDatabase`), and a dry run
//! among locked rows.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_waits_for_and_skips_the_rows_a_delete_would() {
    // Arrange: another transaction holds t1 and tombstones it, as a
    // concurrent delete does before it commits.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    for (t, when) in [("t1", 1), ("t2", 2), ("t3", 3)] {
        register(&store, "a", t, when).await;
    }
    let mut blocker = lock_tasks(&db, &["t1"]).await;
    sqlx::query("UPDATE task_results SET deleted_at = now() WHERE task_id = 't1'")
        .execute(&mut blocker)
        .await
        .expect("tombstone t1");

    // Act and assert: an asset-only dry run skips the held row at once,
    // and still counts it as live, as the delete does.
    let of_asset = DeleteSelection::new(Some(asset("a")), Vec::new()).unwrap();
    let preview = store
        .service(at(5))
        .delete_dry_run(&project("p"), &of_asset)
        .await
        .expect("dry run of the asset");
    let picked: Vec<&str> = preview.items.iter().map(|i| i.task_id().as_str()).collect();
    assert_eq!((picked, preview.remaining), (vec!["t2", "t3"], 1));

    // A dry run naming t1 waits for the holder, then sees its tombstone.
    let named = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .service(at(5))
                .delete_dry_run(&project("p"), &by_tasks(&["t1".to_owned()]))
                .await
        })
    };
    let mut observer = db.connection().await.expect("connect the observer");
    until_a_session_waits_for_a_lock(&mut observer).await;
    unlock(&mut blocker).await;
    let report = named.await.expect("joined").expect("dry run of t1");
    assert_eq!(report.items[0].status(), DeleteStatus::Deleted);

    // Nothing but the holder's tombstone was written.
    let (tombstones, queued, audited): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM task_results WHERE deleted_at IS NOT NULL), \
                (SELECT count(*) FROM cleanup_items), \
                (SELECT count(*) FROM audit_log WHERE action = 'delete')",
    )
    .fetch_one(&mut observer)
    .await
    .expect("count what was written");
    assert_eq!((tombstones, queued, audited), (1, 0, 0));
}

#[tokio::test]
async fn operations_one_after_another_reuse_one_kept_connection() {
    let db = TestDb::migrated().await;
    let pool = db.another_pool(8).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    let credentials = PgCredentialStore::new(database.clone(), cipher_of(&[("k1", 1)]));

    register(&store, "a", "t", 1).await;
    for _ in 0..5 {
        store
            .list(&project("p"), &ListFilter::default(), ListPage::default())
            .await
            .expect("list");
        credentials.find("NOSUCHAK").await.expect("find");
    }

    assert_eq!(
        database.kept_idle(),
        1,
        "the connection is kept between operations"
    );
    assert_eq!(pool.size(), 1, "one connection served every operation");
    assert_eq!(pool.num_idle(), 0, "it never went back to sqlx's pool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_delete_is_not_kept_and_leaves_no_transaction_open() {
    // Arrange: the delete will wait on a lock another connection holds.
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let mut blocker = lock_tasks(&db, &["t"]).await;

    // Act: the caller gives up while the delete waits (as a request
    // timeout does), then the lock goes away.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        store
            .service(at(5))
            .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor()),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the delete should still be waiting: {gave_up:?}"
    );
    unlock(&mut blocker).await;

    // Assert: the abandoned connection was not kept, its transaction is
    // rolled back (nothing is left idle in a transaction, nothing was
    // deleted), and the task can be deleted at once.
    assert_eq!(database.kept_idle(), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut blocker)
        .await
        .expect("read pg_stat_activity");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} sessions stay idle in a transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_results WHERE task_id = 't' AND deleted_at IS NULL",
    )
    .fetch_one(&mut blocker)
    .await
    .expect("count live tasks");
    assert_eq!(live, 1, "the abandoned delete changed nothing");
    let report = tokio::time::timeout(
        Duration::from_secs(5),
        store
            .service(at(6))
            .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor()),
    )
    .await
    .expect("the delete does not wait on a leftover lock")
    .expect("delete");
    assert_eq!(report.items[0].status(), DeleteStatus::Deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_leave_one_for_other_users_of_the_pool() {
    // Arrange: a pool of two, both in use by deletes waiting on locks.
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t1", 1).await;
    register(&store, "a", "t2", 2).await;
    let mut blocker = lock_tasks(&db, &["t1", "t2"]).await;
    let deletes: Vec<_> = ["t1", "t2"]
        .into_iter()
        .map(|t| spawn_delete(&store, t))
        .collect();
    until_sessions_wait_for_a_lock(&mut blocker, 2).await;
    assert_eq!(pool.size(), 2, "both connections are in use");

    // Act
    unlock(&mut blocker).await;
    for delete in futures::future::join_all(deletes).await {
        delete.expect("joined").expect("delete");
    }

    // Assert: one is kept, the other is back in the pool for anyone.
    assert_eq!(database.kept_idle(), 1);
    let direct = tokio::time::timeout(Duration::from_secs(2), pool.acquire())
        .await
        .expect("a direct user of the pool is not starved")
        .expect("acquire");
    drop(direct);

    // Closing through the database gives the kept connection back first.
    tokio::time::timeout(Duration::from_secs(5), database.close())
        .await
        .expect("close does not wait for kept connections");
    assert!(
        store.ping().await.is_err(),
        "a closed database is unavailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_sustained_load_every_operation_gets_its_turn() {
    // Arrange: far more callers than connections, for longer than a caller
    // may wait for one (ACQUIRE_TIMEOUT): a caller passed over again and
    // again by newcomers would time out.
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.another_pool(8).await);
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let until = Instant::now() + ACQUIRE_TIMEOUT + Duration::from_secs(1);

    // Act
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut done = 0_u64;
                while Instant::now() < until {
                    store
                        .list(&project("p"), &ListFilter::default(), ListPage::default())
                        .await?;
                    done += 1;
                }
                Ok::<_, ListError>(done)
            })
        })
        .collect();

    // Assert
    for caller in futures::future::join_all(callers).await {
        let done = caller
            .expect("joined")
            .expect("no caller waits past its turn");
        assert!(done > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_database_gives_its_kept_connections_back_to_the_pool() {
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    store.ping().await.expect("ping");
    assert_eq!(database.kept_idle(), 1);

    // Nothing else happens: the kept connection goes back to sqlx, and a
    // direct user may then take both of the pool's connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while database.kept_idle() > 0 {
        assert!(
            Instant::now() < deadline,
            "the kept connection never went back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = pool.acquire().await.expect("first");
    let second = tokio::time::timeout(Duration::from_secs(4), pool.acquire())
        .await
        .expect("the idle database's connection is back in the pool")
        .expect("second");
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_waiting_while_another_user_holds_a_connection_gets_the_next_one() {
    // Arrange: a pool of two; a direct user holds one connection, a delete
    // waiting on a lock holds the other, and a list waits behind them.
    let db = TestDb::migrated().await;
    let pool = db.another_pool(2).await;
    let database = PgDatabase::from(pool.clone());
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let outsider = pool.acquire().await.expect("the direct user's connection");
    let mut blocker = lock_tasks(&db, &["t"]).await;
    let delete = spawn_delete(&store, "t");
    until_a_session_waits_for_a_lock(&mut blocker).await;
    let list = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .list(&project("p"), &ListFilter::default(), ListPage::default())
                .await
        })
    };
    let db = &database;
    until("the list waits for a connection", || async move {
        db.waiting() == 1
    })
    .await;

    // Act: the delete finishes; the direct user keeps its connection.
    unlock(&mut blocker).await;
    delete.await.expect("joined").expect("delete");

    // Assert: the list gets the delete's connection, well before it would
    // time out.
    let listed = tokio::time::timeout(Duration::from_secs(4), list)
        .await
        .expect("the waiting list is not left behind a kept connection")
        .expect("joined");
    assert!(listed.is_ok(), "{listed:?}");
    drop(outsider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_an_operation_runs_keeps_nothing_and_finishes() {
    let db = TestDb::migrated().await;
    let database = PgDatabase::from(db.another_pool(4).await);
    let store = PgTaskResultStore::new(database.clone());
    register(&store, "a", "t", 1).await;
    let mut blocker = lock_tasks(&db, &["t"]).await;
    let delete = spawn_delete(&store, "t");
    until_a_session_waits_for_a_lock(&mut blocker).await;

    // Close while the delete waits, then let the delete finish.
    let closing = {
        let database = database.clone();
        tokio::spawn(async move { database.close().await })
    };
    let db = &database;
    until(
        "the pool is closing",
        || async move { db.pool().is_closed() },
    )
    .await;
    unlock(&mut blocker).await;
    let _ = delete.await.expect("joined");

    // Its connection was not kept (kept, it would hold the pool's close up
    // until it idled out)...
    assert_eq!(database.kept_idle(), 0);
    // ...and the close finishes.
    tokio::time::timeout(Duration::from_secs(5), closing)
        .await
        .expect("close finishes once the operation in flight is done")
        .expect("joined");
}
