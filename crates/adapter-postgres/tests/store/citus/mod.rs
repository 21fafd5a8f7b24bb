//! Issue 16: what Citus needs of the statements, checked on plain
//! PostgreSQL (Citus is not installable here). The hot statements' text is
//! read for the constructs Citus refused; the fixed statements' behaviour
//! is tested on a real server: the per-project claim (skip locked, fair,
//! disjoint across processes), the failed attempt's bound time, and
//! `remaining` while another delete holds some of the asset's tasks.

use crate::common::*;

mod routing;
use vodsnap_adapter_postgres::citus::{self, CITUS_TABLES, Placement};
use vodsnap_adapter_postgres::hot_statements;
use vodsnap_ports::{FailedAttempt, WorkQueue};

// ---------------------------------------------------------------------------
// Reading the statements

/// Functions whose value may change between calls. Citus refuses them
/// inside `CASE` or `COALESCE` of a distributed statement ("non-IMMUTABLE
/// functions are not allowed in CASE or COALESCE statements").
const NOT_IMMUTABLE: &[&str] = &[
    "now(",
    "current_timestamp",
    "clock_timestamp(",
    "statement_timestamp(",
    "transaction_timestamp(",
    "localtimestamp",
    "current_date",
    "current_time",
    "random(",
    "nextval(",
    "gen_random_uuid(",
    "timeofday(",
];

const ROW_LOCKS: &[&str] = &[
    "for update",
    "for no key update",
    "for share",
    "for key share",
];

/// Lower case, one space between words.
fn normalise(sql: &str) -> String {
    sql.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of `sql` with their byte offsets.
fn words(sql: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in sql.char_indices() {
        let word = c.is_ascii_alphanumeric() || c == '_';
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &sql[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &sql[s..]));
    }
    out
}

/// The text of every `CASE ... END` and `COALESCE(...)` in `sql`.
fn conditional_spans(sql: &str) -> Vec<&str> {
    let tokens = words(sql);
    let mut spans = Vec::new();
    for (i, &(at, word)) in tokens.iter().enumerate() {
        if word == "case" {
            let mut depth = 0;
            for &(end_at, w) in &tokens[i..] {
                depth += match w {
                    "case" => 1,
                    "end" => -1,
                    _ => 0,
                };
                if depth == 0 {
                    spans.push(&sql[at..end_at + 3]);
                    break;
                }
            }
        }
        if word == "coalesce" {
            let open = at + word.len();
            if sql[open..].starts_with('(') {
                let mut depth = 0;
                for (j, c) in sql[open..].char_indices() {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        spans.push(&sql[at..=open + j]);
                        break;
                    }
                }
            }
        }
    }
    spans
}

/// The query a row lock at `at` belongs to: back to its unmatched `(`, or
/// the statement's start.
fn enclosing_query(sql: &str, at: usize) -> &str {
    let mut depth = 0;
    for (i, c) in sql[..at].char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => return &sql[i + 1..at],
            '(' => depth -= 1,
            _ => {}
        }
    }
    &sql[..at]
}

/// Whether `query` filters on `project_id = $n` (a bound project: Citus
/// then routes it to one shard).
fn names_one_project(query: &str) -> bool {
    query.match_indices("project_id = $").any(|(i, m)| {
        query[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// What Citus would refuse in `sql`, as found in issue 16.
fn citus_refusals(sql: &str) -> Vec<String> {
    let sql = normalise(sql);
    let mut found = Vec::new();
    for span in conditional_spans(&sql) {
        if let Some(f) = NOT_IMMUTABLE.iter().find(|f| span.contains(*f)) {
            found.push(format!("`{f}` inside `{span}`"));
        }
    }
    for lock in ROW_LOCKS {
        for (at, _) in sql.match_indices(lock) {
            let query = enclosing_query(&sql, at);
            if !names_one_project(query) {
                found.push(format!(
                    "`{lock}` in a query without `project_id = $n`: `{query}`"
                ));
            }
        }
    }
    found
}

#[test]
fn no_hot_statement_uses_a_construct_citus_refuses() {
    let refused: Vec<String> = hot_statements()
        .iter()
        .flat_map(|(name, sql)| {
            citus_refusals(sql)
                .into_iter()
                .map(move |r| format!("{name}: {r}"))
        })
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    let names: Vec<&str> = hot_statements().iter().map(|(n, _)| *n).collect();
    for expected in [
        "CLAIM_IN_PROJECT",
        "REFERENCED",
        "COMPLETE",
        "FAIL",
        "TOMBSTONE",
        "REGISTER",
        "READ_ONE",
        "LOCK_BINNED",
        "LOCK_BIN_ITEMS",
        "RESTORE",
        "PURGE",
    ] {
        assert!(names.contains(&expected), "{expected} is not checked");
    }
}

/// The check finds what Citus 13.2 refused in issue 16 (the statements as
/// they were), and lets the project-bound forms through.
#[test]
fn the_check_finds_what_citus_refused() {
    let old_claim = "WITH due AS ( SELECT project_id, id FROM cleanup_items \
         WHERE parked_at IS NULL AND due_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE cleanup_items c SET lease_owner = $3, lease_until = $4 \
         FROM due WHERE c.project_id = due.project_id AND c.id = due.id";
    let old_fail = "UPDATE cleanup_items SET attempts = attempts + 1, last_error = $4, \
         due_at = COALESCE($5, due_at), \
         parked_at = CASE WHEN $5::timestamptz IS NULL THEN now() ELSE NULL END \
         WHERE project_id = $1 AND id = $2 AND lease_owner = $3";
    let in_coalesce = "UPDATE t SET a = COALESCE($1, CURRENT_TIMESTAMP) WHERE project_id = $2";
    assert_eq!(citus_refusals(old_claim).len(), 1, "{old_claim}");
    assert_eq!(citus_refusals(old_fail).len(), 1, "{old_fail}");
    assert_eq!(citus_refusals(in_coalesce).len(), 1);
    // A lock in a subquery that names the project, outside one that does
    // not, is what the check looks at.
    assert!(
        citus_refusals("SELECT * FROM (SELECT id FROM t WHERE project_id = $1 FOR UPDATE) x")
            .is_empty()
    );
    assert_eq!(
        citus_refusals(
            "SELECT * FROM t WHERE project_id = $1 AND id IN (SELECT id FROM t FOR UPDATE)"
        )
        .len(),
        1
    );
    assert!(citus_refusals("UPDATE t SET at = $1 WHERE x = now()").is_empty());
}

// ---------------------------------------------------------------------------
// The schema under Citus

#[tokio::test]
async fn every_table_has_its_citus_placement_in_foreign_key_order() {
    // Arrange
    let db = TestDb::migrated().await;

    // Act
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables \
         WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let foreign_keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, confrelid::regclass::text \
         FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();

    // Assert: a migration that adds a table must say how Citus holds it.
    let mut placed: Vec<String> = CITUS_TABLES.iter().map(|(t, _)| (*t).to_owned()).collect();
    placed.sort();
    assert_eq!(tables, placed);
    let position = |t: &str| CITUS_TABLES.iter().position(|(n, _)| *n == t).unwrap();
    for (from, to) in &foreign_keys {
        assert!(
            position(to) < position(from),
            "{to} must be distributed before {from}, which references it"
        );
        assert!(
            matches!(
                CITUS_TABLES[position(from)].1,
                Placement::Distributed {
                    colocate_with: Some(_)
                }
            ),
            "{from} references {to}: colocated with it"
        );
    }
    assert!(!foreign_keys.is_empty());
}

/// The functions of migration 0013 on: every write that changes several
/// tables (docs/SCHEMA.md, "Scaling out with Citus"); 16 since migration
/// 0017's `vodsnap_tombstone` overload (the 19-argument one stays for a
/// rolling upgrade).
const FUNCTIONS: usize = 16;

#[tokio::test]
async fn distributing_without_the_citus_extension_is_a_clear_error() {
    // Arrange
    let db = TestDb::migrated().await;
    let on_citus = vodsnap_test_support::db::on_citus();

    // Act
    let distributed = citus::distribute(&db.pool).await;
    let pending = citus::pending(&db.pool).await.unwrap();

    // Assert
    if on_citus {
        // The test database is a copy of a distributed one: nothing left.
        assert_eq!(distributed.unwrap(), Vec::<String>::new());
        assert_eq!(pending, Vec::<String>::new());
        return;
    }
    let error = distributed.unwrap_err();
    assert!(
        format!("{error:#}").contains("citus extension is not installed"),
        "{error:#}"
    );
    let tables = citus::plan(&[]).unwrap();
    assert_eq!(pending[..tables.len()], tables);
    let functions = &pending[tables.len()..];
    assert_eq!(functions.len(), FUNCTIONS, "{functions:#?}");
    assert!(
        functions.iter().all(
            |f| f.starts_with("SELECT create_distributed_function('vodsnap_")
                && f.contains("colocate_with => 'task_results', force_delegation => true")
        ),
        "{functions:#?}"
    );
}

// ---------------------------------------------------------------------------
// The claim, project by project

/// Registers and deletes task `t` of project `p` with `images` images:
/// `images` cleanup items, due at 200.
async fn enqueue(store: &PgTaskResultStore, p: &str, t: &str, images: i64) {
    store
        .service(at(100))
        .register(result(p, "a", t, images), &actor())
        .await
        .expect("register");
    store
        .service(at(200))
        .delete(&project(p), &by_tasks(&[t.to_owned()]), &actor())
        .await
        .expect("delete");
}

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_the_items_another_claimer_holds_without_waiting() {
    // Arrange: p has 4 items, q has 2; another claimer, mid-statement,
    // holds p's two oldest.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    enqueue(&store, "p", "t1", 4).await;
    enqueue(&store, "q", "t1", 2).await;
    let queue = PgCleanupQueue::new(db.pool.clone());
    let mut other = db.connection().await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    let held: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM cleanup_items WHERE project_id = 'p' \
         ORDER BY due_at, id LIMIT 2 FOR UPDATE",
    )
    .fetch_all(&mut other)
    .await
    .unwrap();

    // Act: this claim would wait forever on the held rows without SKIP
    // LOCKED.
    let claimed = queue.claim("w1", 10, LEASE, at(1_000)).await.unwrap();

    // Assert
    let ids: Vec<i64> = claimed.iter().map(|i| i.id).collect();
    assert_eq!(claimed.len(), 4, "p's other two and q's two: {claimed:?}");
    assert!(ids.iter().all(|id| !held.contains(id)));
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let after = queue.claim("w2", 10, LEASE, at(1_000)).await.unwrap();
    let mut after_ids: Vec<i64> = after.iter().map(|i| i.id).collect();
    after_ids.sort_unstable();
    let mut held = held;
    held.sort_unstable();
    assert_eq!(after_ids, held, "the released items are claimable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claimers_in_two_processes_over_many_projects_never_share_an_item() {
    // Arrange: two pools stand for two processes; 7 projects, 9 items each.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    for p in 0..7 {
        enqueue(&store, &format!("p{p}"), "t1", 9).await;
    }
    let first = PgCleanupQueue::new(db.pool.clone());
    let second = PgCleanupQueue::new(db.another_pool(4).await);

    // Act
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let queue = if w % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                let name = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let items = queue.claim(&name, 5, LEASE, at(1_000)).await.unwrap();
                    if items.is_empty() {
                        return mine;
                    }
                    mine.extend(items.into_iter().map(|i| i.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker.unwrap());
    }

    // Assert
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an item was claimed twice");
    assert_eq!(all.len(), 63);
}

#[tokio::test]
async fn a_claim_serves_projects_oldest_due_item_first() {
    // Arrange: more projects than the batch has room for; "z" has the
    // oldest item, so its turn comes first whatever its name.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    enqueue(&store, "z", "t1", 3).await;
    for p in ["a", "b", "c"] {
        store
            .service(at(100))
            .register(result(p, "a", "t1", 3), &actor())
            .await
            .unwrap();
        store
            .service(at(500))
            .delete(&project(p), &by_tasks(&["t1".to_owned()]), &actor())
            .await
            .unwrap();
    }

    // Act
    let claimed = PgCleanupQueue::new(db.pool.clone())
        .claim("w1", 2, LEASE, at(1_000))
        .await
        .unwrap();

    // Assert: one each for the two first in turn: z (oldest), then a.
    let mut projects: Vec<&str> = claimed.iter().map(|i| i.project.as_str()).collect();
    projects.sort_unstable();
    assert_eq!(projects, ["a", "z"]);
}

// ---------------------------------------------------------------------------
// A failed attempt, with the caller's time

/// id, due_at, parked_at, attempts, last_error.
type FailedRow = (i64, DateTime<Utc>, Option<DateTime<Utc>>, i32, String);

#[tokio::test]
async fn a_failed_attempt_records_the_callers_times_not_the_servers() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    enqueue(&store, "p", "t1", 2).await;
    let queue = PgCleanupQueue::new(db.pool.clone());
    let items = queue.claim("w1", 2, LEASE, at(1_000)).await.unwrap();
    let (retried, parked) = (&items[0], &items[1]);

    // Act: both in one batch, one statement.
    let failures = [
        FailedAttempt {
            item: retried.clone(),
            error: "down".into(),
            retry_at: Some(at(9_000)),
        },
        FailedAttempt {
            item: parked.clone(),
            error: "gone".into(),
            retry_at: None,
        },
    ];
    assert_eq!(queue.fail(&failures, "w1", at(3_000)).await.unwrap(), 2);

    // Assert: the times are the bound ones (1970 here), not the server's.
    let rows: Vec<FailedRow> = sqlx::query_as(
        "SELECT id, due_at, parked_at, attempts, last_error FROM cleanup_items ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let micros = |t: &DateTime<Utc>| t.timestamp_micros();
    let by_id = |id: i64| rows.iter().find(|r| r.0 == id).unwrap();
    let r = by_id(retried.id);
    assert_eq!(
        (micros(&r.1), r.2.as_ref().map(micros), r.3, r.4.as_str()),
        (9_000, None, 1, "down")
    );
    let p = by_id(parked.id);
    assert_eq!(
        (micros(&p.1), p.2.as_ref().map(micros), p.3, p.4.as_str()),
        (200, Some(3_000), 1, "gone")
    );
}

// ---------------------------------------------------------------------------
// `remaining` while another delete holds some of the asset's tasks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_counts_the_tasks_a_concurrent_delete_has_not_committed() {
    // Arrange: 14 tasks of asset "a"; another transaction is deleting the
    // 3 oldest and has not committed.
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    let ids: Vec<String> = (0..14).map(|i| format!("t{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        register(&store, "a", id, 100 + i as i64).await;
    }
    let mut other = lock_tasks(&db, &["t00", "t01", "t02"]).await;
    sqlx::query(
        "UPDATE task_results SET deleted_at = to_timestamp(0) \
         WHERE project_id = 'p' AND task_id = ANY($1)",
    )
    .bind(["t00", "t01", "t02"])
    .execute(&mut other)
    .await
    .unwrap();
    let by_asset = DeleteSelection::new(Some(asset("a")), Vec::new()).unwrap();

    // Act: the asset-only delete skips the held tasks.
    let first = store
        .service(at(5_000))
        .delete(&project("p"), &by_asset, &actor())
        .await
        .unwrap();

    // Assert: it deleted t03..t12; t13 and the three not yet committed
    // are still live.
    let deleted: Vec<&str> = first.items.iter().map(|i| i.task_id().as_str()).collect();
    assert_eq!(
        deleted,
        ids[3..13].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(first.remaining, 4);

    // Once the other delete commits, only t13 is left, and then none. It
    // counts its tasks down last, as `vodsnap_tombstone` does in the call
    // just before its commit: holding the asset's count row (migration
    // 0016) any earlier would make the delete above wait for it.
    sqlx::query(
        "UPDATE live_asset_counts SET live = live - 3 \
         WHERE project_id = 'p' AND asset_id = 'a'",
    )
    .execute(&mut other)
    .await
    .unwrap();
    unlock(&mut other).await;
    let second = store
        .service(at(6_000))
        .delete(&project("p"), &by_asset, &actor())
        .await
        .unwrap();
    let deleted: Vec<&str> = second.items.iter().map(|i| i.task_id().as_str()).collect();
    assert_eq!(deleted, ["t13"]);
    assert_eq!(second.remaining, 0);
}
