//! The domain crate as other services use it (`crates/domain/README.md`):
//! its example program runs, its documentation builds without a warning,
//! and it packages on its own, as crates.io would take it.

use anyhow::{Context as _, Result};

use crate::proc::{self, Env};

const PACKAGE: &str = "vodsnap-domain";
const EXAMPLE: &str = "transcoder";

/// `crates/domain/examples/transcoder.rs`: exits non-zero when a rule
/// answers otherwise than it expects.
pub fn example(env: &Env) -> Result<()> {
    proc::run(
        env.cargo()
            .args(["run", "-q", "-p", PACKAGE, "--example", EXAMPLE]),
    )
    .context("the domain crate's example program")
}

/// `cargo package` with its verify build: the crate builds from its
/// packaged sources alone, with its dependencies from crates.io (no path
/// dependency, the metadata crates.io asks for). `--allow-dirty` so that a
/// developer's uncommitted work is packaged too (CI runs on a clean clone);
/// the verify build is never skipped.
pub fn package(env: &Env) -> Result<()> {
    proc::run(
        env.cargo()
            .args(["package", "-p", PACKAGE, "--allow-dirty"]),
    )
    .context("packaging the domain crate on its own")
}

/// `cargo doc` of the domain crate with every rustdoc warning an error
/// (broken intra-doc links, bad code blocks).
pub fn rustdoc(env: &Env) -> Result<()> {
    proc::run(env.cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "-p",
        PACKAGE,
        "--no-deps",
    ]))
    .context("the domain crate's documentation")
}
