//! Running child processes: echoing them, checking their exit status, probing
//! tools with a bounded wait.
//!
//! Every child gets a null standard input (CI has none) and the extra
//! environment of the [`Env`] it was built from, so `DATABASE_URL` reaches every
//! test process without mutating this process's own environment.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where children run and which extra variables they get.
#[derive(Debug, Clone)]
pub struct Env {
    root: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    /// Children run in `root` with no extra variables.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            vars: Vec::new(),
        }
    }

    /// A copy of this environment with `key=value` added (replacing any earlier value).
    pub fn with(&self, key: &str, value: &str) -> Self {
        let mut next = self.clone();
        next.vars.retain(|(k, _)| k != key);
        next.vars.push((key.to_owned(), value.to_owned()));
        next
    }

    /// The value given for `key` with [`Env::with`], if any.
    pub fn var(&self, key: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The names of the variables given with [`Env::with`].
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(k, _)| k.as_str())
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A command for `program`, in the root, with the extra variables and no stdin.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root).stdin(Stdio::null());
        for (key, value) in &self.vars {
            cmd.env(key, value);
        }
        cmd
    }

    /// A `cargo` command (the cargo that started xtask when known).
    pub fn cargo(&self) -> Command {
        self.command(cargo_program())
    }
}

/// The cargo binary: `$CARGO` (set by `cargo run`) or `cargo` from `PATH`.
pub fn cargo_program() -> String {
    std::env::var("CARGO")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cargo".to_owned())
}

/// The command line as a person would type it (without the environment).
pub fn display(cmd: &Command) -> String {
    let program = cmd.get_program().to_string_lossy();
    let mut line = if program == cargo_program() {
        "cargo".to_owned()
    } else {
        program.into_owned()
    };
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if arg.is_empty() || arg.contains([' ', '\'', '"', '$', '(', ')']) {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        } else {
            line.push_str(&arg);
        }
    }
    line
}

/// Echoes and runs `cmd` with inherited stdout/stderr; returns its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    let line = display(cmd);
    println!("$ {line}");
    cmd.status()
        .with_context(|| format!("could not start `{line}`"))
}

/// Echoes and runs `cmd`; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout; fails (with its stderr) unless it exits 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

/// Runs `cmd` silently and tells whether it exited 0 within `timeout`.
/// A program that cannot be started, or that is still running at the
/// deadline (it is then killed), counts as "no".
pub fn probe(cmd: &mut Command, timeout: Duration) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                // Best effort: the child is abandoned either way.
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Whether `program` can be started at all (it is on `PATH` or a valid path).
pub fn available(program: &str) -> bool {
    match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(err) => err.kind() != ErrorKind::NotFound,
    }
}
