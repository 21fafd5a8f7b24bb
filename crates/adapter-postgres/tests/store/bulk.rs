//! Bulk loading (the benchmark's data set).

use crate::common::*;

#[tokio::test]
async fn bulk_loaded_task_results_are_stored_as_a_registration_stores_them() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    register(&store, "a_reg", "t_reg", 1).await;
    let like = result("p", "a0", "t0", 3);
    let bulk = BulkTaskResults {
        project: project("p"),
        task_id_sql: "'t' || n".into(),
        asset_id_sql: "'a' || (n % 2)".into(),
        para: like.para().clone(),
        images: 3,
        numbers: 0..4,
    };

    sqlx::raw_sql(AssertSqlSafe(bulk.sql()))
        .execute(&db.pool)
        .await
        .unwrap();

    // The same registrations again are idempotent only if the rows hold
    // exactly what a registration would have stored.
    for n in 0..4 {
        let again = store
            .service(at(5))
            .register(
                result("p", &format!("a{}", n % 2), &format!("t{n}"), 3),
                &actor(),
            )
            .await
            .unwrap();
        assert!(
            matches!(again, Registered::AlreadyRegistered(_)),
            "t{n}: {again:?}"
        );
    }
    let paras: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT thumbnail_para::text FROM task_results WHERE project_id = 'p'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        paras.len(),
        1,
        "bulk and registered paras differ: {paras:?}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&paras[0]).unwrap(),
        serde_json::from_str::<serde_json::Value>(&stored_thumbnail_para(like.para())).unwrap()
    );
    let miscounted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_results r WHERE snapshot_count <> \
         (SELECT count(*) FROM snapshots s \
          WHERE s.project_id = r.project_id AND s.task_id = r.task_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(miscounted, 0);
    // The bulk load counts its task results as registrations do.
    let all = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await
        .unwrap();
    assert_eq!(all.total, 5);
}
