//! The suites that run again on a Citus cluster (issue 23), when
//! `VODSNAP_TEST_CITUS_URL` names its coordinator (`.ci/run` starts one
//! with `.ci/citus-cluster`; docs/CI.md, "Citus").
//!
//! Every test database is a copy of one template, made here once per run:
//! created on every node with `citus`, the workers added, then
//! `vodsnap migrate --citus` (the binary under test) distributes the
//! schema. A copy (`CREATE DATABASE ... TEMPLATE` on each node) is then a
//! distributed database at once, in a fraction of a second.

use anyhow::{Context, Result};

use crate::conformance::{self, Prepared};
use crate::proc::{self, Env};
use vodsnap_server_process::scratch::{CitusTemplate, ScratchDatabase};

/// The coordinator of the cluster to run on, e.g.
/// `postgres://postgres@127.0.0.1:6000/postgres`.
pub const URL_ENV: &str = "VODSNAP_TEST_CITUS_URL";
/// Set by `.ci/run` when Citus could not be built or started there: the
/// Citus steps are then reported as not run without failing CI.
pub const OPTIONAL_ENV: &str = "VODSNAP_XTASK_CITUS_OPTIONAL";
/// Read by `vodsnap-test-support` (`TestDb::create`).
const TEMPLATE_ENV: &str = "VODSNAP_TEST_CITUS_TEMPLATE";
const TEMPLATE: &str = "vodsnap_citus_template";

/// The process tests that run on Citus: kill -9 and restart, the cleanup
/// across instances, the recycle bin, the webhooks, `vodsnap reconcile`,
/// and every operator command (nextest filter). Not the two that need a database without
/// the schema or without the `citus` extension (every test database here
/// is a migrated copy of the template).
const PROCESS_TESTS: &str = "(binary(durability) | binary(cleanup) | binary(operator) \
     | binary(recycle_bin) | binary(webhooks) | binary(reconcile)) \
     & not test(=migrate_citus_without_the_extension_fails_clearly_and_changes_nothing) \
     & not test(=without_the_schema_every_command_names_vodsnap_migrate)";

/// The coordinator's URL, if a cluster is given.
pub fn url(env: &Env) -> Option<String> {
    env.var(URL_ENV)
        .or_else(|| std::env::var(URL_ENV).ok())
        .filter(|v| !v.trim().is_empty())
}

/// Makes the template from the built binary; returns the environment the
/// Rust suites run with on the cluster.
pub fn prepare(env: &Env, prepared: &Prepared, url: &str) -> Result<Env> {
    let template = CitusTemplate::create(url, TEMPLATE)
        .with_context(|| format!("creating the template database {TEMPLATE} on the cluster"))?;
    proc::run(env.command(prepared.bin()).args([
        "migrate",
        "--citus",
        "--database-url",
        &template.url,
    ]))
    .context("`vodsnap migrate --citus` on the template")?;
    template.seal()?;
    Ok(env
        .with("DATABASE_URL", url)
        .with(TEMPLATE_ENV, &template.name))
}

/// The store suite's tests that do not run on Citus: they migrate an
/// empty database step by step, and every test database here is a copy
/// of the migrated template (`vodsnap migrate --citus` on the template is
/// what runs the migrations on Citus).
const NOT_ON_CITUS: &str = "not (test(=schema::migrations_are_idempotent_and_may_race) \
     | test(=schema::the_schema_state_compares_old_and_new_migration_sets))";

/// The PostgreSQL store suite (crates/adapter-postgres/tests/store).
pub fn store_suite(env: &Env) -> Result<()> {
    proc::run(env.cargo().args([
        "nextest",
        "run",
        "-p",
        "vodsnap-adapter-postgres",
        "--test",
        "store",
        "--no-fail-fast",
        "-E",
        NOT_ON_CITUS,
    ]))
}

/// The process tests of [`PROCESS_TESTS`].
pub fn process_tests(env: &Env) -> Result<()> {
    proc::run(env.cargo().args([
        "nextest",
        "run",
        "-p",
        "vodsnap-app",
        "--no-fail-fast",
        "-E",
        PROCESS_TESTS,
    ]))
}

/// The Huawei SDK conformance suite through `vodsnap serve` on the cluster.
pub fn conformance(env: &Env, prepared: &Prepared, url: &str) -> Result<()> {
    let database = ScratchDatabase::create_citus(url, "vodsnap_conf", TEMPLATE)?;
    conformance::run_on(env, prepared, "postgres", Some(&database))
}
