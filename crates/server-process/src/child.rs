//! A child process whose stdout and stderr are read line by line, by a
//! thread each, into memory: what the tests of `vodsnap-app` inspect (the
//! start-up banner, log lines), each line also echoed to this process's
//! stderr with a label (a test harness shows it only when the test fails).

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result};

/// A running child with its output kept in memory; killed (SIGKILL) and
/// waited for when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Option<Child>,
    readers: Vec<JoinHandle<()>>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl ChildProcess {
    /// Spawns `cmd` with both output streams piped and read into memory;
    /// `label` prefixes the echoed lines (`[vodsnap {label}] ...`).
    pub fn spawn(mut cmd: Command, label: &str) -> Result<Self> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", crate::display(&cmd)))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(read_lines(out, label.to_owned(), stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(read_lines(err, label.to_owned(), stderr.clone()));
        }
        Ok(Self {
            child: Some(child),
            readers,
            stdout,
            stderr,
        })
    }

    /// The child's process id (0 once it was killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the child still runs (it has not exited, nor been killed).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM (its graceful shutdown) and returns at once; see
    /// [`ChildProcess::running`] and [`ChildProcess::kill`].
    pub fn signal_terminate(&self) -> Result<()> {
        if let Some(child) = &self.child {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .context("running kill")?;
            anyhow::ensure!(sent.success(), "kill -TERM {} failed", child.id());
        }
        Ok(())
    }

    /// `kill -9`: the child dies at once, mid-request or not. Returns once
    /// it is gone and its output is read to the end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        lines(&self.stdout)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        lines(&self.stderr)
    }

    /// Both streams so far, for a failure message.
    pub fn log(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout_lines().join("\n"),
            self.stderr_lines().join("\n")
        )
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lines(from: &Mutex<Vec<String>>) -> Vec<String> {
    // A reader thread that panicked left whole lines behind: still readable.
    from.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn read_lines(
    from: impl Read + Send + 'static,
    label: String,
    into: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            eprintln!("[vodsnap {label}] {line}");
            into.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_streams_are_kept_apart_and_read_to_the_end() -> Result<()> {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 0"]);
        let mut child = ChildProcess::spawn(cmd, "test")?;

        // Once it exited, kill only reaps it and joins the readers.
        while child.running() {
            std::thread::yield_now();
        }
        child.kill();

        assert_eq!(child.stdout_lines(), ["out"]);
        assert_eq!(child.stderr_lines(), ["err"]);
        assert!(!child.running());
        Ok(())
    }

    #[test]
    fn kill_ends_a_child_that_would_run_on() -> Result<()> {
        let mut cmd = Command::new("sleep");
        cmd.arg("600");
        let mut child = ChildProcess::spawn(cmd, "test")?;
        assert!(child.running());

        child.kill();

        assert!(!child.running());
        assert_eq!(child.pid(), 0);
        Ok(())
    }
}
