//! The schema: migrations, keys, stored types, collation.

use crate::common::*;

#[tokio::test]
async fn migrations_are_idempotent_and_may_race() {
    // Arrange
    let db = TestDb::empty().await;
    let other = db.another_pool(2).await;

    // Act: two processes migrate at once, then one again.
    let (a, b) = tokio::join!(migrate(&db.pool), migrate(&other));
    a.expect("first migrator");
    b.expect("second migrator");
    migrate(&db.pool).await.expect("migrating again");

    // Assert
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied, files as i64);
}

#[tokio::test]
async fn every_project_table_is_keyed_by_project_first() {
    let db = TestDb::migrated().await;
    let leading: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
         WHERE i.indisprimary AND n.nspname = 'public' AND c.relname NOT LIKE '\\_sqlx%' \
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        leading,
        [
            ("asset_purges".to_owned(), "project_id".to_owned()),
            ("audit_log".to_owned(), "project_id".to_owned()),
            ("cleanup_drained".to_owned(), "project_id".to_owned()),
            ("cleanup_items".to_owned(), "project_id".to_owned()),
            ("credentials".to_owned(), "access_key".to_owned()),
            ("live_asset_counts".to_owned(), "project_id".to_owned()),
            ("live_task_counts".to_owned(), "project_id".to_owned()),
            ("snapshots".to_owned(), "project_id".to_owned()),
            ("task_results".to_owned(), "project_id".to_owned()),
            ("webhook_deliveries".to_owned(), "project_id".to_owned()),
            ("webhook_events".to_owned(), "project_id".to_owned()),
            ("webhooks".to_owned(), "project_id".to_owned()),
        ],
        "credentials are global; every other table leads with project_id"
    );
}

#[tokio::test]
async fn every_thumbnail_type_round_trips() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    let paras = [
        ThumbnailParaInput {
            kind: Some("dots".into()),
            dots: Some(vec![0, 7, 3]),
            cover_position: Some(2),
            aspect_ratio: Some(0),
            max_length: Some(480),
            ..ThumbnailParaInput::default()
        },
        ThumbnailParaInput {
            kind: Some("quantity".into()),
            quantity: Some(4),
            quantity_time: Some(9),
            ..ThumbnailParaInput::default()
        },
        ThumbnailParaInput {
            kind: Some("quantity".into()),
            quantity: Some(1),
            ..ThumbnailParaInput::default()
        },
    ];
    for (i, input) in paras.into_iter().enumerate() {
        let t = format!("t{i}");
        let snapshot = Snapshot::new(
            i64::from(i32::MAX),
            ObjectKey::parse(&format!("p/a/{t}/ü ñ.jpg")).unwrap(),
        )
        .unwrap();
        let new = NewTaskResult::new(
            project("p"),
            asset("a"),
            task(&t),
            ThumbnailPara::parse(input).unwrap(),
            vec![snapshot],
        )
        .unwrap();
        let Registered::Created(created) = store
            .service(at(1))
            .register(new.clone(), &actor())
            .await
            .unwrap()
        else {
            panic!("expected Created");
        };
        assert_eq!(
            store.get(&project("p"), &task(&t)).await.unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            store.service(at(2)).register(new, &actor()).await.unwrap(),
            Registered::AlreadyRegistered(created)
        );
    }
}

#[tokio::test]
async fn ties_are_broken_by_task_id_bytes_whatever_the_server_locale() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    for t in ["a", "_x", "B", "-y", "A0"] {
        register(&store, "a", t, 100).await;
    }
    let listing = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await
        .unwrap();
    let ids: Vec<&str> = listing.items.iter().map(|s| s.task.as_str()).collect();
    assert_eq!(ids, ["-y", "A0", "B", "_x", "a"]);
    // This server's own locale may already sort bytewise; the schema must
    // not depend on it.
    let collations: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, collation_name::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name IN ('project_id', 'task_id', 'asset_id') \
         ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    // task_results: 3, snapshots: 2, cleanup_items: 2, audit_log: 2,
    // cleanup_drained: 1, live_task_counts: 1, webhooks: 1, webhook_events: 1,
    // webhook_deliveries: 1, asset_purges: 2, live_asset_counts: 2.
    assert_eq!(collations.len(), 18);
    for (table, column, collation) in collations {
        assert_eq!(collation.as_deref(), Some("C"), "{table}.{column}");
    }
}

/// Issue 27: the schema state every command checks, from the database's
/// own record of its migrations.
#[tokio::test]
async fn the_schema_state_compares_old_and_new_migration_sets() {
    use vodsnap_adapter_postgres::schema::{applied_migrations, embedded_migrations, schema_state};
    use vodsnap_domain::schema::SchemaState;

    // Arrange
    let db = TestDb::empty().await;
    let binary = embedded_migrations();
    let (newest, older) = binary.split_last().expect("migrations are embedded");

    // Act / Assert: nothing applied yet.
    assert_eq!(schema_state(&db.pool).await.unwrap(), SchemaState::Missing);

    // After the migrations, this binary is current...
    migrate(&db.pool).await.unwrap();
    assert_eq!(schema_state(&db.pool).await.unwrap(), SchemaState::Current);

    // ...and the binary before the newest migration finds the database
    // ahead of it by that one, which it can run against (not breaking).
    let applied = applied_migrations(&db.pool).await.unwrap();
    let old_binary = SchemaState::compare(older, &applied);
    assert_eq!(
        old_binary,
        SchemaState::Ahead {
            unknown: vec![newest.clone()],
            compatible: true
        }
    );

    // The newest binary against the database as the older one left it.
    let before_upgrade: Vec<_> = applied
        .iter()
        .filter(|a| a.migration.version != newest.version)
        .cloned()
        .collect();
    assert_eq!(
        SchemaState::compare(&binary, &before_upgrade),
        SchemaState::Behind {
            pending: vec![newest.version]
        }
    );

    // No migration of this binary is marked breaking: each one is written
    // so that the version before it still runs (docs/DEPLOY.md).
    assert!(binary.iter().all(|m| !m.is_breaking()));
}
