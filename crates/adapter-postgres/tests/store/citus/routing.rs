//! Issue 23: how each hot statement runs, read from the server's own plan
//! (`EXPLAIN`). On a Citus cluster (`cargo xtask test`'s Citus pass) every
//! statement that names a project must be routed to that project's shard
//! as one task, with no step that pulls rows through the coordinator
//! ("Distributed Subplan"); the few that list the projects with due work
//! fan out, but in one step. On plain PostgreSQL the same test checks that
//! every statement plans with the values it is given.

use crate::common::*;
use vodsnap_adapter_postgres::hot_statements;

/// The statements that read across projects by design: they find the
/// projects with due work, each then claimed in a statement of its own.
const FAN_OUT: &[&str] = &[
    "DUE_PROJECTS",
    "WEBHOOK_DUE_PROJECTS",
    "PURGE_DUE_PROJECTS",
    "WEBHOOK_PRUNE_PROJECTS",
];

/// A literal of `ty` (a `regtype`'s name) that plans: every text is the
/// same project ("p"), so that the statement's filters agree.
fn literal(ty: &str) -> String {
    let (element, array) = match ty.strip_suffix("[]") {
        Some(element) => (element, true),
        None => (ty, false),
    };
    let value = match element {
        "integer" | "bigint" | "smallint" | "numeric" | "real" | "double precision" => "1",
        "boolean" => "false",
        "timestamp with time zone" | "timestamp without time zone" => "2026-01-01 00:00:00+00",
        "interval" => "1 second",
        "jsonb" | "json" => "{}",
        "bytea" => "\\x00",
        _ => "p",
    };
    if array {
        let quoted = format!("\"{}\"", value.replace('"', "\\\""));
        format!("'{{{quoted}}}'::{ty}")
    } else {
        format!("'{}'::{ty}", value.replace('\'', "''"))
    }
}

/// `sql` with each `$n` replaced by `(literals[n - 1])`.
fn with_literals(sql: &str, literals: &[String]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        match rest[at + 1..at + 1 + digits].parse::<usize>() {
            Ok(n) if n >= 1 && n <= literals.len() => {
                out.push('(');
                out.push_str(&literals[n - 1]);
                out.push(')');
            }
            _ => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

/// The plan of `sql` with a literal for each of its parameters.
async fn explain(conn: &mut PgConnection, name: &str, sql: &str) -> String {
    let prepared = format!("hot_{}", name.to_lowercase());
    sqlx::query(AssertSqlSafe(format!("PREPARE {prepared} AS {sql}")))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{name} does not prepare: {e}"));
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(parameter_types)::text FROM pg_prepared_statements WHERE name = $1",
    )
    .bind(&prepared)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!("DEALLOCATE {prepared}")))
        .execute(&mut *conn)
        .await
        .unwrap();
    // The literals in the text, not `EXPLAIN EXECUTE`: Citus 13.2 crashed
    // (signal 11) explaining some prepared statements with arrays.
    let literals: Vec<String> = types.iter().map(|t| literal(t)).collect();
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "EXPLAIN {}",
        with_literals(sql, &literals)
    )))
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_else(|e| panic!("{name} does not plan: {e}"));
    lines.join("\n")
}

/// What is wrong with a plan on Citus, if anything.
fn routing_problem(name: &str, plan: &str) -> Option<String> {
    let subplans = plan.matches("Distributed Subplan").count();
    let task_counts: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Task Count: "))
        .collect();
    if subplans > 0 {
        return Some(format!(
            "{name}: {subplans} step(s) through the coordinator (Distributed Subplan)"
        ));
    }
    if FAN_OUT.contains(&name) {
        return (task_counts.len() != 1)
            .then(|| format!("{name}: {} distributed steps, not one", task_counts.len()));
    }
    if task_counts != ["1"] {
        return Some(format!(
            "{name}: not routed to one shard (task counts {task_counts:?})"
        ));
    }
    None
}

#[tokio::test]
async fn every_hot_statement_runs_on_its_projects_shard_in_one_step() {
    // Arrange
    let db = TestDb::migrated().await;
    let mut conn = db.connection().await.unwrap();
    let on_citus = vodsnap_test_support::db::on_citus();

    // Act
    let mut plans = Vec::new();
    for (name, sql) in hot_statements() {
        plans.push((*name, explain(&mut conn, name, sql).await));
    }

    // Assert
    assert_eq!(plans.len(), hot_statements().len());
    if on_citus {
        let problems: Vec<String> = plans
            .iter()
            .filter_map(|(name, plan)| routing_problem(name, plan))
            .collect();
        let shown: Vec<String> = plans
            .iter()
            .filter(|(name, plan)| routing_problem(name, plan).is_some())
            .map(|(name, plan)| format!("--- {name}\n{plan}"))
            .collect();
        assert!(problems.is_empty(), "{problems:#?}\n{}", shown.join("\n"));
    } else {
        for (name, plan) in &plans {
            assert!(
                !plan.contains("Citus"),
                "{name} planned by Citus on plain PostgreSQL"
            );
        }
    }
}

#[test]
fn parameters_become_literals_by_number() {
    let literals = ["'a'::text".to_owned(), "'1'::integer".to_owned()];
    assert_eq!(
        with_literals("SELECT $1, $2, $2 WHERE x = $1", &literals),
        "SELECT ('a'::text), ('1'::integer), ('1'::integer) WHERE x = ('a'::text)"
    );
    assert_eq!(with_literals("SELECT $3", &literals), "SELECT $3");
}

#[test]
fn a_plan_with_a_coordinator_step_or_many_shards_is_refused() {
    let routed = "Custom Scan (Citus Adaptive)\n  Task Count: 1\n  ->  Task";
    let subplan = "Custom Scan (Citus Adaptive)\n  ->  Distributed Subplan 1_1\n  \
                   Task Count: 1\n  Task Count: 1";
    let fanned = "Custom Scan (Citus Adaptive)\n  Task Count: 8";
    assert_eq!(routing_problem("REGISTER", routed), None);
    assert!(routing_problem("REGISTER", subplan).is_some());
    assert!(routing_problem("REGISTER", fanned).is_some());
    assert_eq!(routing_problem("DUE_PROJECTS", fanned), None);
    assert!(routing_problem("DUE_PROJECTS", subplan).is_some());
}
