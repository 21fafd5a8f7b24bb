//! The command line of a run (`cargo xtask bench` passes its arguments
//! through), and the parameters it resolves to.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::workload::Workload;

/// Options of `cargo xtask bench` (and of `vodsnap-bench`, which it runs).
#[derive(Debug, clap::Parser)]
#[command(
    name = "cargo xtask bench",
    about = "vodsnap (release, PostgreSQL) against pgbench running the same statements"
)]
pub struct Args {
    /// Objects the `cleanup` workload removes per store and worker count
    /// [default: 100000, quick: 5000].
    #[arg(long)]
    pub cleanup_objects: Option<u64>,
    /// Objects the `reconcile` workload lists [default: 1000000, quick: 20000].
    #[arg(long)]
    pub reconcile_objects: Option<u64>,
    /// CI mode: 5,000 tasks over 500 assets, 2 s per point, 1 and 8 clients;
    /// writes target/bench/quick.md instead of docs/benchmarks.md.
    #[arg(long)]
    pub quick: bool,
    /// Task results in the data set [default: 100000, quick: 5000].
    #[arg(long)]
    pub tasks: Option<u64>,
    /// Snapshots per task result [default: 10].
    #[arg(long)]
    pub images_per_task: Option<u32>,
    /// Assets the task results are spread over [default: 10000, quick: 500].
    #[arg(long)]
    pub assets: Option<u64>,
    /// Seconds per point [default: 10, quick: 2].
    #[arg(long)]
    pub secs: Option<u64>,
    /// Concurrencies, comma-separated [default: 1,8,64, quick: 1,8].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Option<Vec<u32>>,
    /// Only these workloads, comma-separated (list, details, register,
    /// delete-tasks, delete-asset; also healthz, HTTP alone, not run by
    /// default; cleanup, asset-purge and reconcile, each a run of its own)
    /// [default: the first five].
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
    /// Passed to `vodsnap serve --database-max-connections` [default: the server's].
    #[arg(long)]
    pub database_max_connections: Option<u32>,
    /// Skip pgbench (vodsnap figures only).
    #[arg(long)]
    pub no_pgbench: bool,
    /// Skip the floor server and the token points of the reads.
    #[arg(long)]
    pub no_floor: bool,
    /// The floor server [default: `vodsnap-floor` next to this program].
    #[arg(long)]
    pub floor: Option<PathBuf>,
    /// Keep the server and database after the run, for EXPLAIN and profiling
    /// (prints how to reach them; stop the server yourself).
    #[arg(long)]
    pub keep: bool,
    /// Do not build: use the release binaries already in the target
    /// directory (read by `cargo xtask bench`, which builds).
    #[arg(long)]
    pub no_build: bool,
    /// The `vodsnap` binary to serve with [default: next to this program].
    #[arg(long)]
    pub vodsnap: Option<PathBuf>,
    /// The repository, whose docs/benchmarks.md a full run rewrites
    /// [default: where this program was built from].
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// Soak instead, under fire: mixed reads, registrations and deletes at
    /// 64 clients (or the first --concurrency) for DURATION (600s, 10m, 1h)
    /// on a private PostgreSQL and S3 (moto), with the cleanup, webhook
    /// deliveries to a receiver failing a tenth, a store outage and a
    /// PostgreSQL restart; fails on memory growth, an undocumented or
    /// out-of-window error, queues not drained, a webhook event not
    /// delivered once, or a reconcile that differs. Writes
    /// target/bench/soak.md. Data set: 2000 tasks x 1 image over 200 assets.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub soak: Option<Duration>,
    /// With --soak: the traffic alone on the local PostgreSQL (no storage,
    /// cleanup, webhooks or outages); data set 10000 tasks over 1000 assets.
    #[arg(long)]
    pub soak_plain: bool,
    /// Seconds between two RSS samples of a soak.
    #[arg(long, default_value_t = 5)]
    pub soak_interval: u64,
    /// DATABASE_URL is a Citus coordinator (e.g. from .ci/citus-cluster):
    /// the data set goes into a database distributed by `vodsnap migrate
    /// --citus` on every node, and vodsnap runs against it (issue 23).
    #[arg(long)]
    pub citus: bool,
    /// Where the server log, pgbench's files and quick.md go
    /// [default: bench/ in the target directory this program runs from].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// The resolved parameters of a run.
#[derive(Debug, Clone)]
pub struct Params {
    pub quick: bool,
    pub tasks: u64,
    pub images: u32,
    pub assets: u64,
    pub secs: u64,
    pub concurrency: Vec<u32>,
    pub workloads: Vec<Workload>,
    pub max_connections: Option<u32>,
    pub pgbench: bool,
    /// Reads are measured with a token and through the floor server too.
    pub floor: bool,
    /// Objects of the `cleanup` workload.
    pub cleanup_objects: u64,
    /// The database is distributed on the Citus cluster of DATABASE_URL.
    pub citus: bool,
    /// Objects of the `reconcile` workload.
    pub reconcile_objects: u64,
}

impl Params {
    pub fn from(args: &Args) -> Result<Self> {
        let quick = args.quick;
        let workloads = match &args.workloads {
            None => Workload::DEFAULT.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| Workload::from_name(n).with_context(|| format!("unknown workload {n:?}")))
                .collect::<Result<_>>()?,
        };
        let params = Self {
            quick,
            tasks: args.tasks.unwrap_or(if quick { 5_000 } else { 100_000 }),
            images: args.images_per_task.unwrap_or(10),
            assets: args.assets.unwrap_or(if quick { 500 } else { 10_000 }),
            secs: args.secs.unwrap_or(if quick { 2 } else { 10 }),
            concurrency: args
                .concurrency
                .clone()
                .unwrap_or_else(|| if quick { vec![1, 8] } else { vec![1, 8, 64] }),
            workloads,
            max_connections: args.database_max_connections,
            pgbench: !args.no_pgbench,
            floor: !args.no_floor,
            cleanup_objects: args
                .cleanup_objects
                .unwrap_or(if quick { 5_000 } else { 100_000 }),
            citus: args.citus,
            reconcile_objects: args.reconcile_objects.unwrap_or(if quick {
                20_000
            } else {
                1_000_000
            }),
        };
        if params.workloads.contains(&Workload::Cleanup) && params.workloads.len() > 1 {
            bail!("the cleanup workload runs alone: --workloads cleanup");
        }
        if params.workloads.contains(&Workload::AssetPurge) && params.workloads.len() > 1 {
            bail!("the asset-purge workload runs alone: --workloads asset-purge");
        }
        if params.workloads.contains(&Workload::Reconcile) && params.workloads.len() > 1 {
            bail!("the reconcile workload runs alone: --workloads reconcile");
        }
        if params.reconcile_objects < 1_000 {
            bail!("--reconcile-objects is at least 1000");
        }
        if params.tasks == 0 || params.assets == 0 || params.images == 0 || params.secs == 0 {
            bail!("--tasks, --assets, --images-per-task and --secs must be positive");
        }
        if params.images > 10_000 {
            bail!("--images-per-task is at most 10000 (the API's limit)");
        }
        if params.concurrency.contains(&0) {
            bail!("a concurrency must be at least 1");
        }
        Ok(params)
    }
}

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    pub vodsnap: PathBuf,
    pub floor: PathBuf,
    pub workspace: PathBuf,
    pub work: PathBuf,
}

impl Paths {
    pub fn from(args: &Args) -> Result<Self> {
        let exe = std::env::current_exe().context("finding this program's path")?;
        // target/release/vodsnap-bench: vodsnap is built next to it, and
        // the target directory is two levels up.
        let release = exe.parent().context("this program has no directory")?;
        let target = release.parent().unwrap_or(release);
        let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Ok(Self {
            vodsnap: args
                .vodsnap
                .clone()
                .unwrap_or_else(|| release.join("vodsnap")),
            floor: args
                .floor
                .clone()
                .unwrap_or_else(|| release.join("vodsnap-floor")),
            workspace: args.workspace.clone().unwrap_or_else(|| {
                built_from
                    .ancestors()
                    .nth(2)
                    .map_or(built_from.clone(), PathBuf::from)
            }),
            work: args
                .work_dir
                .clone()
                .unwrap_or_else(|| target.join("bench")),
        })
    }
}

/// Parses a soak's duration: `600`, `600s`, `10m`, `1h`.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration such as 600s, 10m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{raw:?}: the unit is s, m or h")),
    };
    if secs == 0 {
        return Err("a soak lasts at least one second".to_owned());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn quick_has_its_own_defaults_and_the_flags_win() -> Result<()> {
        let quick = Params::from(&Args::try_parse_from(["b", "--quick"])?)?;
        assert_eq!((quick.tasks, quick.assets, quick.secs), (5_000, 500, 2));
        assert_eq!(quick.concurrency, vec![1, 8]);
        assert_eq!(quick.workloads, Workload::DEFAULT.to_vec());

        let set = Params::from(&Args::try_parse_from([
            "b",
            "--quick",
            "--secs",
            "1",
            "--workloads",
            "details,healthz",
        ])?)?;
        assert_eq!(set.secs, 1);
        assert_eq!(set.workloads, vec![Workload::Details, Workload::Healthz]);
        Ok(())
    }

    #[test]
    fn nonsense_is_refused() -> Result<()> {
        for args in [
            vec!["b", "--workloads", "list,nope"],
            vec!["b", "--concurrency", "1,0"],
            vec!["b", "--images-per-task", "10001"],
            vec!["b", "--tasks", "0"],
        ] {
            assert!(
                Params::from(&Args::try_parse_from(&args)?).is_err(),
                "{args:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0", "10x", "m", "-1m", "1.5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
