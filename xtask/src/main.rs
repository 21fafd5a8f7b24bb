//! `cargo xtask`: the project's automation, the same for developers and CI
//! (`.ci/run` and `.github/workflows/ci.yml` call nothing else).
//!
//! - `cargo xtask test`: architecture check, database selection, the Rust
//!   tests (nextest when installed, plus doctests), the domain crate's
//!   example program and `cargo package` (`domain_crate`), the console's browser
//!   test (headless Chromium), the README's and DEPLOY.md's marked blocks
//!   run as written (`cargo xtask docs` alone; see `doc_blocks`), then the
//!   conformance suite once per store, then the Node SDK's suite
//!   (`tests/conformance-node`) once per store, then the container image
//!   (`image`). Every step runs even when an earlier one failed (except
//!   those that need what failed); a summary closes the run and the exit code
//!   is non-zero if any step failed.
//! - `cargo xtask image`: the container image alone (`image.rs`): the
//!   Dockerfile's runtime settings, `migrate` and `serve` against a
//!   PostgreSQL container, a subset of the SDK suite, `docker stop`.
//! - `cargo xtask node`: the Node SDK's suite alone (`conformance_node`),
//!   on both stores.
//! - `cargo xtask lint`: `cargo fmt --check`, clippy with warnings denied,
//!   and the domain crate's rustdoc with warnings denied (`domain_crate`).
//! - `cargo xtask arch`: the architecture check alone, the first step of
//!   `cargo xtask test` (see `arch`).
//! - `cargo xtask bench [--quick]`: vodsnap on PostgreSQL against pgbench running
//!   the same statements; writes `docs/benchmarks.md`. xtask builds and runs
//!   the benchmark program, `crates/bench` (see `bench.rs`).
//! - `cargo xtask fuzz`: schemathesis against `vodsnap serve`, from
//!   `docs/openapi.json`, with and without credentials (see `fuzz.rs`).
//!
//! Environment:
//! - `DATABASE_URL`: use this PostgreSQL server (otherwise testcontainers when a
//!   Docker engine answers, otherwise the local server).
//! - `VODSNAP_XTASK_PG_IMAGE=name:tag`: the image for testcontainers (default
//!   the official `postgres:16-alpine`; CI builds its own, see `.ci/pg-image`).
//! - `VODSNAP_XTASK_NO_DOCKER=1`: never try testcontainers.
//! - `VODSNAP_XTASK_IMAGE=name:tag`: the image the `image` step runs
//!   (default `vodsnap-ci/vodsnap:ci`, from `.ci/vodsnap-image`);
//!   `VODSNAP_XTASK_IMAGE_OPTIONAL=1`: without an engine or that image the
//!   step is not a failure under `CI=true` either.
//! - `VODSNAP_XTASK_LOCAL_PG=host:port`: the local server's address (default
//!   `127.0.0.1:5432`); `127.0.0.1:1` simulates "no server answers".
//! - `CARGO_TARGET_DIR`: honoured (read back from `cargo metadata`).

mod arch;
mod bench;
mod citus;
mod conformance;
mod conformance_node;
mod console;
mod db;
mod doc_blocks;
mod domain_crate;
mod fuzz;
mod image;
mod proc;
mod workspace;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::proc::Env;
use crate::workspace::Workspace;

const ENV_HELP: &str = "Environment:
  DATABASE_URL              PostgreSQL server for the tests (else testcontainers, else local)
  VODSNAP_XTASK_PG_IMAGE    name:tag of the testcontainers image (default postgres:16-alpine)
  VODSNAP_XTASK_NO_DOCKER   set to 1 to never try testcontainers
  VODSNAP_XTASK_LOCAL_PG    host:port of the local server (default 127.0.0.1:5432)
  VODSNAP_XTASK_IMAGE       name:tag of the image `test` and `image` run (default
                            vodsnap-ci/vodsnap:ci, built by .ci/vodsnap-image)
  VODSNAP_XTASK_IMAGE_OPTIONAL  set to 1 where no image can be there: its step is then
                            not a failure under CI=true
  VODSNAP_XTASK_PYTHON      `cargo xtask docs` only: a venv's python to use as it is
  VODSNAP_TEST_CITUS_URL    a Citus coordinator (e.g. from .ci/citus-cluster): `test` and
                            `citus` run the store suite, the process tests and the SDK
                            conformance suite on it too (docs/CI.md, \"Citus\")";

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "vodsnap project automation", after_help = ENV_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Architecture check, Rust tests and the conformance suite, against PostgreSQL.
    Test,
    /// `cargo fmt --check`, `cargo clippy -D warnings` on the whole workspace, and
    /// the domain crate's rustdoc with warnings denied.
    Lint,
    /// The architecture check alone (dependency allow-list, code map, stores, import loops).
    Arch,
    /// The marked shell and Python blocks of README.md and docs/DEPLOY.md, run
    /// as written against a new database and the embedded default (a step of `test`).
    Docs,
    /// The Node SDK's conformance suite alone (tests/conformance-node), on
    /// both stores, against the database `test` would pick (a step of `test`).
    Node,
    /// Benchmarks: vodsnap (release, PostgreSQL) against pgbench running the same SQL
    /// (`cargo xtask bench --help` for the options).
    Bench(bench::BenchArgs),
    /// The Citus steps of `test` alone, on the cluster of VODSNAP_TEST_CITUS_URL.
    Citus,
    /// The container image (VODSNAP_XTASK_IMAGE) against a PostgreSQL container:
    /// migrate, serve, a subset of the SDK suite, docker stop (a step of `test`).
    Image,
    /// Fuzzing of the HTTP API from docs/openapi.json with schemathesis, with and without credentials.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Test => test(),
        Cmd::Lint => lint(),
        Cmd::Arch => arch(),
        Cmd::Docs => docs(),
        Cmd::Citus => citus_only(),
        Cmd::Node => node(),
        Cmd::Image => image_only(),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Fuzz(args) => fuzz::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("test");

    report.step("architecture", || arch::check(&ws, &env));

    let Some(database) = report.step("database", db::select) else {
        for name in ["rust tests", "conformance"] {
            report.not_run(name, "no database");
        }
        return Ok(report.finish());
    };
    // Every child from here on sees the chosen server.
    let mut env = env.with("DATABASE_URL", &database.url);
    // On the testcontainers path the engine is there for the tests too: the
    // outage test (crates/app/tests/outage.rs) starts its own container from
    // the same image, and must run rather than skip.
    if let Some(image) = &database.image {
        env = env
            .with(db::IMAGE_ENV, image)
            .with(db::REQUIRE_DOCKER_ENV, "1");
        println!("outage test (crates/app/tests/outage.rs): required, on {image}");
    } else {
        println!(
            "outage test (crates/app/tests/outage.rs): not required (no testcontainers path); \
             it runs if it can start a container, else it passes saying SKIPPED on stderr"
        );
    }

    // The venv holds the SDK for the conformance suite and moto, the
    // S3-compatible server that the object-storage tests start.
    let python = report.step("python venv", || conformance::ensure_venv(&env));
    if let Some(python) = &python
        && let Some(bin) = python.parent()
    {
        env = env.with(
            "VODSNAP_MOTO_SERVER",
            &bin.join("moto_server").to_string_lossy(),
        );
    }

    if nextest_available(&env) {
        report.step("rust tests (nextest)", || {
            proc::run(
                env.cargo()
                    .args(["nextest", "run", "--workspace", "--no-fail-fast"]),
            )
        });
        report.step("doctests", || {
            proc::run(env.cargo().args(["test", "--workspace", "--doc"]))
        });
    } else {
        println!("cargo-nextest not installed: using cargo test");
        report.step("rust tests (cargo test)", || {
            proc::run(env.cargo().args(["test", "--workspace", "--no-fail-fast"]))
        });
    }

    // The domain crate as another service takes it (domain_crate.rs).
    report.step("domain crate: example program", || {
        domain_crate::example(&env)
    });
    report.step("domain crate: cargo package (verified)", || {
        domain_crate::package(&env)
    });

    // Its own step: a browser is a dependency of its own. Missing on a
    // developer's machine it is reported, not failed; CI (CI=true) has it
    // installed by .ci/run, so there a missing browser fails.
    match console::missing() {
        None => {
            report.step("console (headless Chromium)", || console::run(&ws, &env));
        }
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            report.not_run("console (headless Chromium)", &why);
        }
        Some(why) => report.skipped("console (headless Chromium)", &why),
    }

    // The operator's first hour, as the documents tell it (doc_blocks.rs).
    docs_step(&mut report, &ws, &env, python.as_deref());

    let prepared = python.clone().and_then(|python| {
        report.step("conformance setup", || {
            conformance::setup(&ws, &env, python)
        })
    });
    match &prepared {
        Some(prepared) => {
            for store in conformance::CONFORMANCE_STORES {
                report.step(&format!("conformance ({store})"), || {
                    conformance::run_store(&env, prepared, store, &database.url)
                });
            }
        }
        None => {
            for store in conformance::CONFORMANCE_STORES {
                report.not_run(&format!("conformance ({store})"), "setup failed");
            }
        }
    }

    // The binary as the image ships it, in a container.
    image_step(
        &mut report,
        &ws,
        &env,
        python.as_deref(),
        database.image.as_deref(),
    );

    // The same calls through Huawei's Node SDK, on the same two stores.
    node_sdk_step(&mut report, &ws, &env, &database.url);

    // The Rust and SDK suites again on a Citus cluster, when one is given.
    citus_steps(&mut report, &env, prepared.as_ref());

    // The container, if any, lives until every test and the suite finished.
    drop(database);
    Ok(report.finish())
}

/// The suites again on a Citus cluster (citus.rs), when one is given.
fn citus_steps(report: &mut Report, env: &Env, prepared: Option<&conformance::Prepared>) {
    const NAME: &str = "Citus";
    let Some(url) = citus::url(env) else {
        let why = format!("{} is not set (docs/CI.md, \"Citus\")", citus::URL_ENV);
        // In CI a missing cluster fails, unless .ci/run found that Citus
        // cannot be built on this machine and said so.
        let optional = std::env::var(citus::OPTIONAL_ENV).is_ok_and(|v| v == "1");
        if std::env::var("CI").is_ok_and(|v| v == "true") && !optional {
            report.not_run(NAME, &why);
        } else {
            report.skipped(NAME, &why);
        }
        println!("Citus: not run");
        return;
    };
    let Some(prepared) = prepared else {
        report.not_run(NAME, "the binary was not built (conformance setup failed)");
        return;
    };
    let Some(citus_env) = report.step("Citus: template (vodsnap migrate --citus)", || {
        citus::prepare(env, prepared, &url)
    }) else {
        return;
    };
    report.step("Citus: store suite", || citus::store_suite(&citus_env));
    report.step("Citus: kill -9, cleanup, operator commands", || {
        citus::process_tests(&citus_env)
    });
    report.step("Citus: conformance (postgres)", || {
        citus::conformance(env, prepared, &url)
    });
}

/// The container image (image.rs): "NOT RUN image" without an engine or
/// the image, a failure under `CI=true` unless `.ci/run` (or the workflow)
/// said the image cannot be there. `pg_image` is the testcontainers
/// path's image, if it was taken; else `VODSNAP_XTASK_PG_IMAGE` or the
/// official one.
fn image_step(
    report: &mut Report,
    ws: &Workspace,
    env: &Env,
    python: Option<&std::path::Path>,
    pg_image: Option<&str>,
) {
    let image = image::image_name();
    let pg_image = match pg_image {
        Some(pg) => pg.to_owned(),
        None => match db::image(std::env::var(db::IMAGE_ENV).ok().as_deref()) {
            Ok(pg) => pg.to_string(),
            Err(err) => {
                report.not_run(image::STEP, &format!("{err:#}"));
                return;
            }
        },
    };
    if let Some(why) = image::missing(&image, &pg_image) {
        if std::env::var("CI").is_ok_and(|v| v == "true") && !image::optional() {
            println!("\n{}: not run: {why}", image::STEP);
            report.not_run(image::STEP, &why);
        } else {
            report.skipped(image::STEP, &why);
        }
        return;
    }
    let Some(python) = python else {
        report.not_run(image::STEP, "no Python venv (the SDK suite needs it)");
        return;
    };
    report.step(
        &format!("{} ({image}, PostgreSQL {pg_image})", image::STEP),
        || image::run(ws, env, python, &image, &pg_image),
    );
}

fn image_only() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("image");
    let python = report.step("python venv", || conformance::ensure_venv(&env));
    image_step(&mut report, &ws, &env, python.as_deref(), None);
    Ok(report.finish())
}

fn citus_only() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("citus");
    let python = report.step("python venv", || conformance::ensure_venv(&env));
    let prepared = python.and_then(|python| {
        report.step("conformance setup", || {
            conformance::setup(&ws, &env, python)
        })
    });
    let mut env = env;
    if let Some(prepared) = &prepared {
        env = env.with(
            "VODSNAP_MOTO_SERVER",
            &prepared.python_dir().join("moto_server").to_string_lossy(),
        );
    }
    citus_steps(&mut report, &env, prepared.as_ref());
    Ok(report.finish())
}

/// The Node SDK's suite (`conformance_node`): reported "Node SDK: not run"
/// without node or npm, which fails in CI only (as the console's browser).
fn node_sdk_step(report: &mut Report, ws: &Workspace, env: &Env, database_url: &str) {
    let step = conformance_node::STEP;
    if let Some(why) = conformance_node::missing(env) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            println!("\n{step}: not run: {why}");
            report.not_run(step, &why);
        } else {
            report.skipped(step, &why);
        }
        return;
    }
    let setup = format!("{step} setup (npm ci)");
    let Some(bin) = report.step(&setup, || conformance_node::setup(ws, env)) else {
        for store in conformance::CONFORMANCE_STORES {
            report.not_run(&format!("{step} ({store})"), "setup failed");
        }
        return;
    };
    for store in conformance::CONFORMANCE_STORES {
        report.step(&format!("{step} ({store})"), || {
            conformance_node::run_store(ws, env, &bin, store, database_url)
        });
    }
}

fn lint() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("lint");
    report.step("rustfmt", || {
        proc::run(env.cargo().args(["fmt", "--all", "--", "--check"]))
    });
    report.step("clippy", || {
        proc::run(env.cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    report.step("rustdoc (vodsnap-domain, warnings denied)", || {
        domain_crate::rustdoc(&env)
    });
    Ok(report.finish())
}

const DOCS_STEP: &str = "README and DEPLOY.md blocks, as written";

fn docs_step(report: &mut Report, ws: &Workspace, env: &Env, python: Option<&std::path::Path>) {
    match python.and_then(std::path::Path::parent) {
        Some(bin) => {
            report.step(DOCS_STEP, || doc_blocks::run(ws, env, bin));
        }
        None => report.not_run(DOCS_STEP, "no Python venv (the SDK snippet needs it)"),
    }
}

/// The documents' marked blocks alone, on the database `test` would pick.
fn docs() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("docs");
    let Some(database) = report.step("database", db::select) else {
        report.not_run(DOCS_STEP, "no database");
        return Ok(report.finish());
    };
    let env = env.with("DATABASE_URL", &database.url);
    // A venv made elsewhere may be named, and is then used as it is.
    let python = match std::env::var_os("VODSNAP_XTASK_PYTHON") {
        Some(python) => Some(std::path::PathBuf::from(python)),
        None => report.step("python venv", || conformance::ensure_venv(&env)),
    };
    docs_step(&mut report, &ws, &env, python.as_deref());
    drop(database);
    Ok(report.finish())
}

/// The Node SDK's suite alone, on the database `test` would pick.
fn node() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("node");
    let Some(database) = report.step("database", db::select) else {
        report.not_run(conformance_node::STEP, "no database");
        return Ok(report.finish());
    };
    let env = env.with("DATABASE_URL", &database.url);
    node_sdk_step(&mut report, &ws, &env, &database.url);
    drop(database);
    Ok(report.finish())
}

fn arch() -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("arch");
    report.step("architecture", || arch::check(&ws, &env));
    Ok(report.finish())
}

fn nextest_available(env: &Env) -> bool {
    proc::probe(
        env.cargo().args(["nextest", "--version"]),
        Duration::from_secs(60),
    )
}

/// Outcome of each step, printed as a summary at the end.
#[derive(Debug)]
struct Report {
    command: &'static str,
    lines: Vec<String>,
    failed: usize,
}

impl Report {
    fn new(command: &'static str) -> Self {
        Self {
            command,
            lines: Vec::new(),
            failed: 0,
        }
    }

    /// Runs one step, records its outcome, and returns its value if it succeeded.
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Option<T> {
        println!("\n==> xtask {}: {name}", self.command);
        let started = Instant::now();
        let result = f();
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(value) => {
                self.lines.push(format!("  ok      {name} ({secs:.1}s)"));
                Some(value)
            }
            Err(err) => {
                eprintln!("xtask {}: {name} FAILED: {err:#}", self.command);
                let full = format!("{err:#}");
                let first = full.lines().next().unwrap_or_default();
                self.lines
                    .push(format!("  FAILED  {name} ({secs:.1}s): {first}"));
                self.failed += 1;
                None
            }
        }
    }

    /// Records a step that cannot run on this machine and is not required
    /// here (it is in CI); it does not count as a failure.
    fn skipped(&mut self, name: &str, why: &str) {
        println!("\n==> xtask {}: {name}: not run: {why}", self.command);
        self.lines.push(format!(
            "  NOT RUN {name}: {why} (not a failure outside CI)"
        ));
    }

    /// Records a step that could not run; it counts as a failure.
    fn not_run(&mut self, name: &str, why: &str) {
        self.lines.push(format!("  NOT RUN {name}: {why}"));
        self.failed += 1;
    }

    fn finish(self) -> ExitCode {
        println!("\n==> xtask {} summary", self.command);
        for line in &self.lines {
            println!("{line}");
        }
        if self.failed == 0 {
            println!("xtask {}: every step succeeded", self.command);
            ExitCode::SUCCESS
        } else {
            println!(
                "xtask {}: {} of {} steps did not succeed",
                self.command,
                self.failed,
                self.lines.len()
            );
            ExitCode::FAILURE
        }
    }
}
