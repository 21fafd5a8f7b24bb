//! Issue 25, part 2: `vodsnap reconcile` as a real process, against
//! PostgreSQL and the file store, and against moto's S3: orphans, missing
//! keys, keys in the recycle bin and the queue (not orphans), a project
//! that shares a prefix with another (`p` and `p2`), and exit statuses.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::Value;
use support::db::TestDb;
use support::server::{vodsnap, vodsnap_output};
use support::storage::{BUCKET, FileStorage, Moto};

/// The database's side, written as the service writes it: in `p`, a live
/// task with two images, a deleted task in the recycle bin with one queued
/// image, a key queued without a task; in `p2`, a live task.
const FIXTURE: &str = "
    INSERT INTO task_results (project_id, task_id, asset_id, thumbnail_para, snapshot_count, created_at, deleted_at, purge_at) VALUES
      ('p', 't1', 'a1', '{}', 2, now(), NULL, NULL),
      ('p', 't0', 'a1', '{}', 1, now(), now(), now() + interval '1 day'),
      ('p2', 't1', 'a1', '{}', 1, now(), NULL, NULL);
    INSERT INTO snapshots (project_id, task_id, offset_s, object_key) VALUES
      ('p', 't1', 0, 'p/a1/t1/0.jpg'),
      ('p', 't1', 1, 'p/a1/t1/1.jpg'),
      ('p2', 't1', 0, 'p2/a1/t1/0.jpg');
    INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at, task_id, offset_s) VALUES
      ('p', 'p/a1/t0/0.jpg', now(), now() + interval '1 day', 't0', 0),
      ('p', 'p/queued.jpg', now(), now() + interval '1 day', NULL, NULL);";

/// Objects: `p`'s live image 0 (image 1 is missing), its binned and queued
/// images, an orphan; `p2`'s image.
const OBJECTS: [&str; 5] = [
    "p/a1/t1/0.jpg",
    "p/a1/t0/0.jpg",
    "p/queued.jpg",
    "p/x/orphan.jpg",
    "p2/a1/t1/0.jpg",
];

async fn database() -> TestDb {
    let db = TestDb::create().await;
    vodsnap(&["migrate", "--database-url", db.url()], &[]).await;
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    sqlx::raw_sql(FIXTURE).execute(&pool).await.unwrap();
    pool.close().await;
    db
}

/// Runs `vodsnap reconcile` with `args`; its exit status and its JSON
/// report (the last line of stdout).
async fn reconcile(
    db: &TestDb,
    storage: &str,
    args: &[&str],
    env: &[(String, String)],
) -> (i32, Value) {
    let mut all = vec![
        "reconcile",
        "--database-url",
        db.url(),
        "--storage",
        storage,
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let out = vodsnap_output(&all, env).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let report = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn sample(report: &Value, which: &str) -> Vec<String> {
    report["sample"][which]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

async fn audit_objects(db: &TestDb) -> Vec<(String, Vec<String>)> {
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT principal, objects FROM audit_log \
         WHERE project_id = 'p' AND action = 'reconcile.queue'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn the_file_store_against_postgresql() {
    // Arrange
    let db = database().await;
    let storage = FileStorage::new();
    for key in OBJECTS {
        storage.put(key);
    }
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7_200);
    std::fs::File::options()
        .write(true)
        .open(storage.root().join("p/x/orphan.jpg"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    // Act
    let (p_status, p) = reconcile(&db, &storage.url(), &["--project", "p"], &[]).await;
    let (p2_status, p2) = reconcile(&db, &storage.url(), &["--project", "p2"], &[]).await;
    let (young_status, young) = reconcile(
        &db,
        &storage.url(),
        &["--project", "p", "--remove-orphans", "--older-than", "3h"],
        &[],
    )
    .await;
    let (queue_status, queued) = reconcile(
        &db,
        &storage.url(),
        &["--project", "p", "--remove-orphans", "--older-than", "1h"],
        &[],
    )
    .await;
    let (after_status, after) = reconcile(&db, &storage.url(), &["--all"], &[]).await;

    // Assert
    assert_eq!(p_status, 2, "{p}");
    assert_eq!(
        (p["listed"].as_u64(), p["referenced"].as_u64()),
        (Some(4), Some(4)),
        "{p}"
    );
    assert_eq!(sample(&p, "orphans"), ["p/x/orphan.jpg"]);
    assert_eq!(sample(&p, "missing"), ["p/a1/t1/1.jpg"]);
    assert_eq!(p2_status, 0, "p2 agrees, whatever p holds: {p2}");
    assert_eq!(p2["listed"].as_u64(), Some(1), "{p2}");
    assert_eq!(
        (young_status, young["orphans_queued"].as_u64()),
        (2, Some(0)),
        "an orphan within the grace period stays: {young}"
    );
    assert_eq!(
        (queue_status, queued["orphans_queued"].as_u64()),
        (2, Some(1)),
        "{queued}"
    );
    assert_eq!(
        audit_objects(&db).await,
        [(
            "system:reconcile".to_owned(),
            vec!["p/x/orphan.jpg".to_owned()]
        )]
    );
    assert!(
        storage.exists("p/x/orphan.jpg"),
        "queued, never deleted here"
    );
    assert_eq!(after_status, 2, "{after}");
    assert_eq!(after["orphans"].as_u64(), Some(0), "queued now: {after}");
    assert_eq!(sample(&after, "missing"), ["p/a1/t1/1.jpg"]);
}

#[tokio::test]
async fn agreement_exits_0_and_an_error_exits_1() {
    // Arrange
    let db = database().await;
    let storage = FileStorage::new();
    storage.put("p2/a1/t1/0.jpg");

    // Act
    let (agree, _) = reconcile(&db, &storage.url(), &["--project", "p2"], &[]).await;
    let broken = vodsnap_output(
        &[
            "reconcile",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
            "--storage",
            &storage.url(),
            "--project",
            "p2",
        ],
        &[],
    )
    .await;

    // Assert
    assert_eq!(agree, 0);
    assert_eq!(broken.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[tokio::test]
async fn s3_against_postgresql() {
    // Arrange
    let db = database().await;
    let moto = Moto::start().await;
    for key in OBJECTS {
        moto.put(key).await;
    }
    let env = Moto::env_for(moto.addr);
    let storage = format!("s3://{BUCKET}");

    // Act
    let (p_status, p) = reconcile(&db, &storage, &["--project", "p"], &env).await;
    let (p2_status, p2) = reconcile(&db, &storage, &["--project", "p2"], &env).await;
    let (all_status, all) = reconcile(&db, &storage, &["--all"], &env).await;

    // Assert
    assert_eq!(p_status, 2, "{p}");
    assert_eq!(sample(&p, "orphans"), ["p/x/orphan.jpg"]);
    assert_eq!(sample(&p, "missing"), ["p/a1/t1/1.jpg"]);
    assert_eq!((p2_status, p2["listed"].as_u64()), (0, Some(1)), "{p2}");
    assert_eq!(
        (all_status, all["listed"].as_u64(), all["orphans"].as_u64()),
        (2, Some(5), Some(1)),
        "{all}"
    );
}
