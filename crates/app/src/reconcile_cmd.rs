//! `vodsnap reconcile`: storage against database, for operators; the
//! report on stdout (text, or one JSON line), the exit status 0 (agree), 2
//! (differ, [`Differ`]) or 1 (an error), and optionally the counts as a
//! Prometheus textfile.

use std::sync::Arc;

use anyhow::Context as _;
use vodsnap_adapter_postgres::PgReconcileStore;
use vodsnap_domain::{Actor, ProjectId, ReconcileTally};
use vodsnap_ports::SystemClock;
use vodsnap_service::{Reconciler, RemoveOrphans, Scope};

use crate::backends;
use crate::cli::{ReconcileArgs, ReconcileFormat};
use crate::report::{Differ, WithHint as _};

/// The principal of the audit records of queued orphans.
pub const ACTOR: &str = "reconcile";

pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let scope = match &args.project {
        Some(raw) => Scope::Project(ProjectId::parse(raw).hint(
            format!("invalid --project {raw:?}"),
            "a project id is 1 to 64 letters, digits, '_' or '-'",
        )?),
        None => Scope::All,
    };
    let remove = match (args.remove_orphans, args.older_than) {
        (true, Some(older_than)) => Some(RemoveOrphans {
            older_than,
            actor: Actor::system(ACTOR),
        }),
        _ => None,
    };
    let pool =
        backends::connect_ready(&args.database, args.database.database_max_connections).await?;
    let images = backends::images(&args.storage)?;
    let reconciler = Reconciler {
        inventory: Arc::new(images.inventory()),
        store: Arc::new(PgReconcileStore::new(pool)),
        clock: Arc::new(SystemClock),
    };
    let tally = reconciler.run(&scope, remove.as_ref()).await.hint(
        format!("failed to reconcile {}", images_name(&images)),
        "check --storage (and the AWS_* variables for s3://) and --database-url; \
         the run changes nothing until --remove-orphans queues, so it can be repeated",
    )?;
    if let Some(path) = &args.metrics_file {
        write_metrics(path, &tally)
            .with_context(|| format!("failed to write the metrics file {}", path.display()))?;
    }
    match args.format {
        ReconcileFormat::Json => println!("{}", json(&tally)),
        ReconcileFormat::Text => print!("{}", text(&tally, remove.is_some())),
    }
    if tally.agree() {
        Ok(())
    } else {
        Err(anyhow::Error::new(Differ))
    }
}

fn images_name(images: &vodsnap_adapter_objects::ObjectImageStore) -> String {
    use vodsnap_ports::ImageStore as _;
    images.describe()
}

/// The JSON report: the contract's fields, then `foreign_prefixes`.
pub fn json(tally: &ReconcileTally) -> serde_json::Value {
    serde_json::json!({
        "listed": tally.listed,
        "referenced": tally.referenced,
        "orphans": tally.orphans,
        "missing": tally.missing,
        "orphans_queued": tally.orphans_queued,
        "foreign_prefixes": tally.foreign_prefixes,
        "sample": {
            "orphans": tally.sample_orphans,
            "missing": tally.sample_missing,
        },
    })
}

fn text(tally: &ReconcileTally, removing: bool) -> String {
    let mut out = format!(
        "listed {} objects; the database holds {} keys\n",
        tally.listed, tally.referenced
    );
    out.push_str(&format!(
        "orphans (objects nothing references): {}\n",
        tally.orphans
    ));
    for key in &tally.sample_orphans {
        out.push_str(&format!("  orphan  {key}\n"));
    }
    out.push_str(&format!(
        "missing (keys of live tasks the storage lacks): {}\n",
        tally.missing
    ));
    for key in &tally.sample_missing {
        out.push_str(&format!("  missing {key}\n"));
    }
    if tally.foreign_prefixes > 0 {
        out.push_str(&format!(
            "top-level prefixes that are no project id: {} (not listed)\n",
            tally.foreign_prefixes
        ));
    }
    if removing {
        out.push_str(&format!(
            "orphans queued for the cleanup: {}\n",
            tally.orphans_queued
        ));
    }
    out.push_str(if tally.agree() {
        "storage and database agree\n"
    } else {
        "storage and database differ\n"
    });
    out
}

/// The counts as Prometheus text, written next to `path` then renamed
/// over it, so a collector never reads half a file.
fn write_metrics(path: &std::path::Path, tally: &ReconcileTally) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut body = String::new();
    for (name, help, value) in [
        ("listed", "Objects the last run listed.", tally.listed),
        (
            "referenced",
            "Keys the database held in the last run.",
            tally.referenced,
        ),
        ("orphans", "Orphans the last run found.", tally.orphans),
        (
            "missing",
            "Missing objects the last run found.",
            tally.missing,
        ),
        (
            "orphans_queued",
            "Orphans the last run queued for the cleanup.",
            tally.orphans_queued,
        ),
        (
            "foreign_prefixes",
            "Top-level prefixes that are no project id.",
            tally.foreign_prefixes,
        ),
        (
            "last_run_timestamp_seconds",
            "When the last run finished.",
            now,
        ),
    ] {
        body.push_str(&format!(
            "# HELP vodsnap_reconcile_{name} {help}\n# TYPE vodsnap_reconcile_{name} gauge\nvodsnap_reconcile_{name} {value}\n"
        ));
    }
    let staged = path.with_extension("prom.tmp");
    std::fs::write(&staged, body)?;
    std::fs::rename(&staged, path)?;
    Ok(())
}
