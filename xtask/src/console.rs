//! The console's browser test: `vodsnap-console-check` (crates/console-check)
//! drives Debian's headless Chromium through chromedriver against the real
//! binary, and leaves its screenshots in `target/console-check/`.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` when they are
//! missing, so CI always runs this step; on a developer's machine without
//! them it is reported as not run, with the reason, and does not fail.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::proc::{self, Env};
use crate::workspace::Workspace;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHECK_PACKAGE: &str = "vodsnap-console-check";

/// Why the step cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    let absent: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install chromium chromium-driver; .ci/run does it in CI)",
            absent.join(" and ")
        )
    })
}

pub fn run(ws: &Workspace, env: &Env) -> Result<()> {
    // `--bins`, not `--bin vodsnap`: a `--bin` filter applies to every
    // selected package and would leave the check's own binary unbuilt.
    proc::run(
        env.cargo()
            .args(["build", "-p", "vodsnap-app", "-p", CHECK_PACKAGE, "--bins"]),
    )
    .context("building the binary and the console check")?;
    let debug = ws.target_dir.join("debug");
    let out = ws.target_dir.join("console-check");
    let status = proc::status(
        env.command(debug.join(CHECK_PACKAGE))
            .arg("--vodsnap")
            .arg(debug.join("vodsnap"))
            .arg("--out")
            .arg(&out)
            .args(["--chromium", CHROMIUM, "--chromedriver", CHROMEDRIVER]),
    )?;
    if !status.success() {
        bail!(
            "the console's browser test failed ({status}); screenshots in {}",
            out.display()
        );
    }
    println!("console screenshots: {}", out.display());
    Ok(())
}
