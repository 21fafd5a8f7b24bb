//! Scaling out with Citus: distributes the per-project tables by
//! `project_id`, colocated, makes `credentials` a reference table, and
//! distributes the write functions (migration 0013) by their project
//! argument, colocated with the tables, so that a call runs whole on the
//! project's node (`vodsnap migrate --citus`).
//!
//! The plan is computed from what `pg_dist_partition` says is done, so
//! running it again changes nothing; the statement list is a pure function
//! ([`plan`]) so that it can be tested on a server without Citus.

use anyhow::{Context as _, anyhow, bail};
use sqlx::PgPool;

/// How Citus holds one of vodsnap's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Hash-distributed by `project_id`; `colocate_with` names the table
    /// whose shards it shares (the first distributed table names none).
    Distributed { colocate_with: Option<&'static str> },
    /// Copied whole to every node.
    Reference,
}

/// Every table of the schema (but sqlx's `_sqlx_migrations`, which stays
/// on the coordinator) and its placement, in the order they must be
/// distributed: a table before those whose foreign keys reference it
/// (`task_results` before `snapshots`). A test fails if a migration adds a
/// table that is not here.
pub const CITUS_TABLES: &[(&str, Placement)] = &[
    (
        "task_results",
        Placement::Distributed {
            colocate_with: None,
        },
    ),
    (
        "snapshots",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "cleanup_items",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "audit_log",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "cleanup_drained",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "live_task_counts",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "webhooks",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "webhook_events",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "webhook_deliveries",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "asset_purges",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    (
        "live_asset_counts",
        Placement::Distributed {
            colocate_with: Some("task_results"),
        },
    ),
    ("credentials", Placement::Reference),
];

/// The column every per-project table is distributed by.
pub const DISTRIBUTION_COLUMN: &str = "project_id";

/// What `pg_dist_partition` says of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Hash-distributed by this column.
    Distributed {
        column: String,
    },
    Reference,
    /// Anything else Citus knows (a Citus local table, range or append
    /// distribution): not ours to change.
    Other(String),
}

/// The prefix of vodsnap's functions (migration 0013 on): each takes the
/// project as its first argument.
pub const FUNCTION_PREFIX: &str = "vodsnap_";

/// The statements that distribute the functions not distributed yet
/// (`found`: each function's signature, as `regprocedure` prints it, and
/// whether Citus distributes it already), after the tables: by their
/// first argument (the project), colocated with `task_results`, and
/// delegated even inside a transaction block (`force_delegation`: a
/// delete calls `vodsnap_tombstone` after locking its rows, on the same
/// shard).
pub fn function_plan(found: &[(String, bool)]) -> Vec<String> {
    found
        .iter()
        .filter(|(_, distributed)| !distributed)
        .map(|(signature, _)| {
            format!(
                "SELECT create_distributed_function('{signature}', '$1', \
                 colocate_with => 'task_results', force_delegation => true)"
            )
        })
        .collect()
}

/// The statements that bring the tables to [`CITUS_TABLES`], given what is
/// already done (`existing`: table name and its state). Empty when all is
/// done. Fails, changing nothing, if a table is held some other way.
pub fn plan(existing: &[(String, Existing)]) -> anyhow::Result<Vec<String>> {
    let mut statements = Vec::new();
    for (table, placement) in CITUS_TABLES {
        let found = existing.iter().find(|(t, _)| t == table).map(|(_, e)| e);
        match (placement, found) {
            (_, None) => statements.push(statement(table, *placement)),
            (Placement::Distributed { .. }, Some(Existing::Distributed { column }))
                if column == DISTRIBUTION_COLUMN => {}
            (Placement::Reference, Some(Existing::Reference)) => {}
            (_, Some(other)) => bail!(
                "table {table} is already held by Citus as {other:?}, not as vodsnap needs \
                 ({placement:?}); undistribute it (undistribute_table) and run again"
            ),
        }
    }
    Ok(statements)
}

fn statement(table: &str, placement: Placement) -> String {
    match placement {
        Placement::Distributed {
            colocate_with: None,
        } => format!(
            "SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', \
             colocate_with => 'none')"
        ),
        Placement::Distributed {
            colocate_with: Some(with),
        } => format!(
            "SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', \
             colocate_with => '{with}')"
        ),
        Placement::Reference => format!("SELECT create_reference_table('{table}')"),
    }
}

/// The installed version of the `citus` extension in the database, if any.
pub async fn citus_version(pool: &PgPool) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
        .fetch_optional(pool)
        .await
        .context("failed to look for the citus extension")
}

/// The error when the extension is missing.
pub fn citus_missing() -> anyhow::Error {
    anyhow!(
        "the citus extension is not installed in this database: install Citus on every node, \
         run `CREATE EXTENSION citus` on the coordinator and add the workers \
         (citus_add_node), then run `vodsnap migrate --citus` against the coordinator \
         (docs/DEPLOY.md, \"Scaling out with Citus\")"
    )
}

/// What Citus already holds, from `pg_dist_partition`.
async fn existing(pool: &PgPool) -> anyhow::Result<Vec<(String, Existing)>> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, p.partmethod::text, p.repmodel::text, \
                CASE WHEN p.partmethod = 'h' \
                     THEN column_to_column_name(p.logicalrelid, p.partkey) END \
         FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await
    .context("failed to read pg_dist_partition")?;
    Ok(rows
        .into_iter()
        .map(|(table, method, model, column)| {
            let state = match (method.as_str(), model.as_str(), column) {
                ("h", _, Some(column)) => Existing::Distributed { column },
                ("n", "t", _) => Existing::Reference,
                _ => Existing::Other(format!("partmethod {method}, repmodel {model}")),
            };
            (table, state)
        })
        .collect())
}

/// vodsnap's functions in the current schema, and whether Citus
/// distributes each (never, without the extension).
async fn functions(pool: &PgPool, with_citus: bool) -> anyhow::Result<Vec<(String, bool)>> {
    let sql = if with_citus {
        "SELECT p.oid::regprocedure::text, \
                EXISTS (SELECT 1 FROM pg_dist_object d \
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                          AND d.distribution_argument_index IS NOT NULL) \
         FROM pg_proc p \
         WHERE p.pronamespace = current_schema()::regnamespace \
           AND starts_with(p.proname::text, $1) \
         ORDER BY 1"
    } else {
        "SELECT p.oid::regprocedure::text, false FROM pg_proc p \
         WHERE p.pronamespace = current_schema()::regnamespace \
           AND starts_with(p.proname::text, $1) \
         ORDER BY 1"
    };
    sqlx::query_as(sql)
        .bind(FUNCTION_PREFIX)
        .fetch_all(pool)
        .await
        .context("failed to list vodsnap's functions")
}

/// The statements [`distribute`] would run now: all of them on a database
/// without the extension (nothing can be distributed there yet).
pub async fn pending(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    let with_citus = citus_version(pool).await?.is_some();
    let mut statements = if with_citus {
        plan(&existing(pool).await?)?
    } else {
        plan(&[])?
    };
    statements.extend(function_plan(&functions(pool, with_citus).await?));
    Ok(statements)
}

/// Distributes the tables as [`CITUS_TABLES`] says, each table's step
/// on its own (Citus copies a table's rows into its shards), and returns
/// the statements it ran. Idempotent. Fails with [`citus_missing`]
/// without the extension.
pub async fn distribute(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    if citus_version(pool).await?.is_none() {
        return Err(citus_missing());
    }
    let mut statements = plan(&existing(pool).await?)?;
    run(pool, &statements).await?;
    let functions = function_plan(&functions(pool, true).await?);
    run(pool, &functions).await?;
    statements.extend(functions);
    Ok(statements)
}

/// After a migration on a Citus coordinator whose tables are distributed
/// (`serve` migrating at start-up after an upgrade): distributes the
/// functions the migration added, as `vodsnap migrate --citus` would.
/// Does nothing elsewhere, and never distributes a table. Returns the
/// statements it ran.
pub async fn distribute_new_functions(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    if citus_version(pool).await?.is_none() {
        return Ok(Vec::new());
    }
    let tables_distributed = existing(pool).await?.iter().any(|(table, state)| {
        table == "task_results" && matches!(state, Existing::Distributed { .. })
    });
    if !tables_distributed {
        return Ok(Vec::new());
    }
    let statements = function_plan(&functions(pool, true).await?);
    run(pool, &statements).await?;
    Ok(statements)
}

async fn run(pool: &PgPool, statements: &[String]) -> anyhow::Result<()> {
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .execute(pool)
            .await
            .with_context(|| format!("failed to run `{sql}`"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// What a fresh database gets, in order: every table distributed by
    /// project, colocated, parents first; `credentials` a reference table.
    const FRESH: [&str; 12] = [
        "SELECT create_distributed_table('task_results', 'project_id', colocate_with => 'none')",
        "SELECT create_distributed_table('snapshots', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('cleanup_items', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('audit_log', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('cleanup_drained', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('live_task_counts', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('webhooks', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('webhook_events', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('webhook_deliveries', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('asset_purges', 'project_id', colocate_with => 'task_results')",
        "SELECT create_distributed_table('live_asset_counts', 'project_id', colocate_with => 'task_results')",
        "SELECT create_reference_table('credentials')",
    ];

    #[test]
    fn a_fresh_database_distributes_every_table_in_foreign_key_order() {
        assert_eq!(plan(&[]).unwrap(), FRESH);
    }

    #[test]
    fn what_is_done_is_not_done_again() {
        let done = |t: &str| {
            (
                t.to_owned(),
                Existing::Distributed {
                    column: "project_id".to_owned(),
                },
            )
        };
        let existing = vec![
            done("task_results"),
            done("snapshots"),
            ("credentials".to_owned(), Existing::Reference),
        ];
        assert_eq!(plan(&existing).unwrap(), FRESH[2..11]);
        let mut all = existing;
        all.extend([
            done("cleanup_items"),
            done("audit_log"),
            done("cleanup_drained"),
            done("live_task_counts"),
            done("webhooks"),
            done("webhook_events"),
            done("webhook_deliveries"),
            done("asset_purges"),
            done("live_asset_counts"),
        ]);
        assert!(plan(&all).unwrap().is_empty());
    }

    #[test]
    fn functions_not_distributed_yet_are_distributed_by_their_project() {
        let found = vec![
            ("vodsnap_outbox(text,text[])".to_owned(), true),
            ("vodsnap_register(text,text)".to_owned(), false),
        ];
        assert_eq!(
            function_plan(&found),
            [
                "SELECT create_distributed_function('vodsnap_register(text,text)', '$1', \
              colocate_with => 'task_results', force_delegation => true)"
            ]
        );
        assert!(function_plan(&[("vodsnap_x(text)".to_owned(), true)]).is_empty());
    }

    #[test]
    fn a_table_held_another_way_is_an_error() {
        let wrong_column = vec![(
            "task_results".to_owned(),
            Existing::Distributed {
                column: "task_id".to_owned(),
            },
        )];
        assert!(plan(&wrong_column).is_err());
        let local = vec![(
            "credentials".to_owned(),
            Existing::Other("partmethod n, repmodel s".to_owned()),
        )];
        assert!(plan(&local).is_err());
    }
}
