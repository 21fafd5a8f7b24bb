//! `cargo xtask bench`: builds `vodsnap` and the benchmark program
//! (`crates/bench`, binary `vodsnap-bench`) in release, then runs the
//! benchmark with the arguments given. Everything else (workloads, data
//! set, server, pgbench, report) is the benchmark program's: see
//! `crates/bench/src/main.rs`, and `cargo xtask bench --help` for its
//! options.
//!
//! Why a separate program rather than code linked into xtask: the load
//! generator must run optimised (xtask is a debug build), and xtask stays
//! free of the async runtime and the PostgreSQL adapter the benchmark needs.

use std::process::ExitCode;

use anyhow::Result;

use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// Skips the release build (the benchmark program also accepts it, so it
/// is passed along).
const NO_BUILD: &str = "--no-build";

/// `cargo xtask bench [ARGS]`: the arguments go to `vodsnap-bench` as they are.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// The benchmark's options: `cargo xtask bench --help` lists them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    if !args.args.iter().any(|a| a == NO_BUILD) {
        println!("\n==> xtask bench: release build");
        proc::run(env.cargo().args([
            "build",
            "--release",
            "-p",
            "vodsnap-app",
            "-p",
            "vodsnap-bench",
        ]))?;
    }
    let release = ws.target_dir.join("release");
    let mut bench = env.command(release.join("vodsnap-bench"));
    bench
        .arg("--vodsnap")
        .arg(release.join("vodsnap"))
        .arg("--workspace")
        .arg(&ws.root)
        .arg("--work-dir")
        .arg(ws.target_dir.join("bench"))
        .args(&args.args);
    let status = proc::status(&mut bench)?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::{Cli, Cmd};

    fn bench_args(line: &[&str]) -> Vec<String> {
        match Cli::try_parse_from(line).map(|cli| cli.command) {
            Ok(Cmd::Bench(args)) => args.args,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn every_argument_goes_to_the_benchmark_help_included() {
        assert_eq!(
            bench_args(&["xtask", "bench", "--quick", "--secs", "1"]),
            ["--quick", "--secs", "1"]
        );
        assert_eq!(bench_args(&["xtask", "bench", "--help"]), ["--help"]);
        assert!(bench_args(&["xtask", "bench"]).is_empty());
    }
}
