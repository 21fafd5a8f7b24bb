//! `vodsnap-bench`: the benchmark behind `cargo xtask bench`, vodsnap on
//! PostgreSQL against PostgreSQL's own limit for the same statements
//! (issue 6). xtask builds this program and `vodsnap` in release and runs
//! it with its arguments (`cargo xtask bench --help`).
//!
//! One run (`run`):
//! 1. creates a scratch database on `DATABASE_URL`, else the local server
//!    (`VODSNAP_XTASK_LOCAL_PG`, default `127.0.0.1:5432`), dropped at the
//!    end (`database`);
//! 2. starts `vodsnap serve` (release) on a free port, with a seeded AK/SK
//!    credential and `--cleanup-workers 0` when the binary has that flag
//!    (the cleanup of deleted images is not on the measured path), through
//!    the helper `cargo xtask fuzz` also uses (`vodsnap-server-process`;
//!    the bench credential and the start in `server`);
//! 3. bulk-loads the data set into the migrated schema with the adapter's
//!    own SQL (`dataset`), then `VACUUM ANALYZE`;
//! 4. for each workload (`workload`) and concurrency: the load generator
//!    (`loadgen`, in this process, AK/SK-signed requests) for the
//!    duration, the server's VmHWM, then `pgbench -M prepared` with the
//!    matching script of `pgbench/` at the same concurrency against the
//!    same database (`pgbench`); the CPU each process spent (`cpu`);
//!    for the reads (list, details), the same point again with a token
//!    instead of AK/SK, and through the floor server (`vodsnap-floor`,
//!    `floor.rs`: axum, the same driver and statements, no authentication,
//!    minimal JSON), started on the same database (`--no-floor` skips it);
//! 5. prints markdown tables (`report`); a full run also writes
//!    `docs/benchmarks.md` (keeping its "Before/after notes" section), a
//!    quick run writes `target/bench/quick.md`.
//!
//! The delete workloads consume pre-registered pools (loaded with the same
//! bulk SQL just before each point, sized from the rates measured so far):
//! task results `d{n}` for the delete by ten task ids, assets `x{n}` of ten
//! task results each for the asset-only delete. Each id is deleted once, so
//! every request does the full work; a vodsnap point whose pool runs out
//! stops early (its rate is over the time it ran), a pgbench point whose
//! clients ran past their share is flagged in the table.
//!
//! `--soak DURATION` runs instead one long point of mixed traffic under
//! fire (a private PostgreSQL restarted, S3 on moto through a proxy that
//! plays an outage, the cleanup, webhooks to a receiver failing a tenth)
//! and judges memory, errors, the drain, webhook delivery and a reconcile
//! (`fire`); with `--soak-plain`, the traffic alone, memory only (`soak`).
//!
//! The run fails (non-zero) only on errors: a non-2xx (or a delete item not
//! `DELETED`) where success was expected, a pgbench client aborted, or the
//! server dying. Slowness never fails it.

mod asset_purge;
mod cleanup;
mod cpu;
mod database;
mod dataset;
mod fire;
mod loadgen;
mod params;
mod pgbench;
mod pgcluster;
mod receiver;
mod reconcile;
mod report;
mod run;
mod server;
mod soak;
mod workload;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = params::Args::parse();
    match run::run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("vodsnap-bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
