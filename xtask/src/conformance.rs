//! The black-box conformance suite: pytest in `tests/conformance` drives the
//! real `vodsnap` binary, once per store in [`CONFORMANCE_STORES`].
//!
//! Python dependencies live in `<repo>/.venv`; `pip install` runs only when
//! `tests/conformance/requirements.txt` changed since the last successful
//! install (a stamp in the venv holds the file's hash).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::proc::{self, Env};
use crate::workspace::Workspace;
use vodsnap_server_process::scratch::ScratchDatabase;

/// Stores the suite runs against, each in its own pytest run.
/// "postgres" gets a fresh database per run (`VODSNAP_CONFORMANCE_DATABASE_URL`).
pub const CONFORMANCE_STORES: &[&str] = &["memory", "postgres"];

const APP_PACKAGE: &str = "vodsnap-app";
const BIN: &str = "vodsnap";
const SUITE: &str = "tests/conformance";
/// Everything the venv holds: the suite's client (the Huawei SDK, pytest),
/// the S3-compatible server the object-storage tests run against, and
/// schemathesis for `cargo xtask fuzz`.
const REQUIREMENTS: &[&str] = &[
    "tests/conformance/requirements.txt",
    "tests/requirements-moto.txt",
    "tests/fuzz/requirements.txt",
];
const STAMP: &str = ".vodsnap-requirements.hash";
/// pytest's exit code when it collected no test.
const PYTEST_NO_TESTS: i32 = 5;

/// What [`setup`] prepared for the store runs.
#[derive(Debug)]
pub struct Prepared {
    bin: PathBuf,
    python: PathBuf,
}

impl Prepared {
    /// The built `vodsnap` binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The venv's `bin` directory (its python, `moto_server`).
    pub fn python_dir(&self) -> &Path {
        self.python.parent().unwrap_or(Path::new("."))
    }
}

/// Builds the binary; `python` is the venv's, from [`ensure_venv`].
pub fn setup(ws: &Workspace, env: &Env, python: PathBuf) -> Result<Prepared> {
    let bin = build_binary(ws, env)?;
    Ok(Prepared { bin, python })
}

/// Builds the `vodsnap` binary under test (debug) and returns its path; the
/// Node SDK's suite runs the same one.
pub fn build_binary(ws: &Workspace, env: &Env) -> Result<PathBuf> {
    if !ws.has_package(APP_PACKAGE) {
        bail!(
            "package {APP_PACKAGE} is not in the workspace: the conformance suite needs its \
             `{BIN}` binary (crates/app)"
        );
    }
    proc::run(env.cargo().args(["build", "-p", APP_PACKAGE, "--bin", BIN]))
        .context("building the binary under test")?;
    let bin = ws.target_dir.join("debug").join(BIN);
    if !bin.is_file() {
        bail!("built {APP_PACKAGE} but {} does not exist", bin.display());
    }
    Ok(bin)
}

/// Runs the suite against `store`. `database_url` is the chosen server; the
/// "postgres" store gets its own scratch database on it, dropped afterwards.
pub fn run_store(env: &Env, prepared: &Prepared, store: &str, database_url: &str) -> Result<()> {
    let scratch = if store == "postgres" {
        Some(ScratchDatabase::create(database_url, "vodsnap_conf")?)
    } else {
        None
    };
    run_on(env, prepared, store, scratch.as_ref())
    // `scratch` is dropped here, after pytest and its server exited.
}

/// Runs the suite against `store`, on `database` for the "postgres" store
/// (a plain server's scratch database, or a Citus cluster's).
pub fn run_on(
    env: &Env,
    prepared: &Prepared,
    store: &str,
    database: Option<&ScratchDatabase>,
) -> Result<()> {
    let mut cmd = env.command(&prepared.python);
    cmd.args(["-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider"])
        .env("VODSNAP_BIN", &prepared.bin)
        .env("VODSNAP_CONFORMANCE_STORE", store);
    if let Some(db) = database {
        cmd.env("VODSNAP_CONFORMANCE_DATABASE_URL", &db.url);
    }
    let status = proc::status(&mut cmd)?;
    match status.code() {
        Some(0) => Ok(()),
        Some(PYTEST_NO_TESTS) => {
            bail!("pytest collected no test in {SUITE} (exit 5): an empty suite is a failure")
        }
        _ => bail!("conformance suite failed for store {store} ({status})"),
    }
}

/// Creates `.venv` if needed and installs the requirements when they changed.
/// Returns the venv's python.
pub fn ensure_venv(env: &Env) -> Result<PathBuf> {
    let root = env.root();
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        proc::run(env.command("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating the Python venv (Debian/Ubuntu: apt-get install python3-venv)")?;
    }
    let mut content = Vec::new();
    for file in REQUIREMENTS {
        let path = root.join(file);
        content.extend(
            fs::read(&path)
                .with_context(|| format!("reading {} (the tests need it)", path.display()))?,
        );
    }
    let hash = format!("{:016x}", fnv1a64(&content));
    let stamp = venv.join(STAMP);
    if stamp_matches(&stamp, &hash) {
        println!("venv: requirements unchanged since the last install: pip skipped");
    } else {
        let mut pip = env.command(&python);
        pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"]);
        for file in REQUIREMENTS {
            pip.arg("-r").arg(root.join(file));
        }
        proc::run(&mut pip).context("installing the tests' Python requirements")?;
        fs::write(&stamp, &hash).with_context(|| format!("writing {}", stamp.display()))?;
    }
    Ok(python)
}

fn stamp_matches(stamp: &Path, hash: &str) -> bool {
    fs::read_to_string(stamp).is_ok_and(|s| s.trim() == hash)
}

/// FNV-1a, 64 bits: stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a64;

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
