//! The real `vodsnap` binary: `serve` on a free port, and the one-shot
//! commands (`token issue`, `credentials keygen`, `cleanup ...`).
//!
//! Children get a clean environment (only `PATH`, logging settings and what
//! the test passes), so nothing of the developer's `VODSNAP_*`, `AWS_*` or
//! `DATABASE_URL` leaks into them. Starting, waiting for readiness, reading
//! the output into memory (echoed, which the test harness shows only on
//! failure) and stopping are `vodsnap-server-process`'s, the helper the
//! benchmark and the fuzz task use too (through `vodsnap-test-support`);
//! this file says only how these tests run the binary.

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vodsnap_test_support::{ChildProcess, ServerProcess};

use super::PROJECT;
use super::db::TestDb;
use super::http::{self, Api};

const BINARY: &str = env!("CARGO_BIN_EXE_vodsnap");

/// How long `serve` may take to listen: a debug build migrating a database
/// on a busy 2-core machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A child command with nothing of this process's environment but `PATH`.
fn command(env: &[(String, String)]) -> Command {
    environment(Command::new(BINARY), env)
}

/// `vodsnap` started by `sh` after `ulimit -n {open_files}`.
fn command_with_open_files(env: &[(String, String)], open_files: u32) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n {open_files} && exec \"$0\" \"$@\""),
        BINARY,
    ]);
    environment(cmd, env)
}

fn environment(mut cmd: Command, env: &[(String, String)]) -> Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // The cleanup's per-object lines are at debug; the tests read them.
        .env("RUST_LOG", "info,vodsnap_service::cleanup=debug")
        // Plain text logs that the tests can parse.
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null());
    cmd
}

/// Runs `vodsnap {args}` to the end, whether it succeeds or not.
pub async fn vodsnap_output(args: &[&str], env: &[(String, String)]) -> Output {
    let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || {
        command(&env)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {BINARY}: {e}"))
    })
    .await
    .expect("the command's thread")
}

/// Runs `vodsnap {args}` to the end and returns its stdout; fails the test
/// when the command fails.
pub async fn vodsnap(args: &[&str], env: &[(String, String)]) -> String {
    let output = vodsnap_output(args, env).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "vodsnap failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `vodsnap cleanup status`, parsed.
pub async fn cleanup_status(db: &TestDb) -> Value {
    cleanup_status_at(db.url()).await
}

/// `vodsnap cleanup status` on the database at `url`, parsed.
pub async fn cleanup_status_at(url: &str) -> Value {
    let out = vodsnap(&["cleanup", "status", "--database-url", url], &[]).await;
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("cleanup status: {e}: {out}"))
}

/// The keys every instance of one deployment shares.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub credential_keys: String,
    pub token_key: String,
    /// A token for [`PROJECT`], made with `vodsnap token issue`.
    pub token: String,
}

impl Secrets {
    pub async fn generate() -> Self {
        let credential_keys = vodsnap(&["credentials", "keygen"], &[])
            .await
            .trim()
            .to_owned();
        let token_key = super::random_alphanumeric(48);
        let token = vodsnap(
            &[
                "token",
                "issue",
                "--project",
                PROJECT,
                "--token-key",
                &token_key,
            ],
            &[],
        )
        .await
        .trim()
        .to_owned();
        Self {
            credential_keys,
            token_key,
            token,
        }
    }
}

/// How to run `vodsnap serve`; every instance and restart of one test uses
/// the same database and secrets.
#[derive(Debug, Clone)]
pub struct Serve {
    pub database_url: String,
    pub secrets: Secrets,
    /// `--storage`.
    pub storage: String,
    pub cleanup_workers: usize,
    /// More flags, e.g. `--cleanup-max-attempts 2`.
    pub extra: Vec<String>,
    /// More environment for the child (the `AWS_*` settings).
    pub env: Vec<(String, String)>,
    /// The child's open-file limit (`ulimit -n`), when not inherited.
    pub open_files: Option<u32>,
}

impl Serve {
    pub fn new(db: &TestDb, secrets: &Secrets, storage: &str) -> Self {
        Self::on(db.url(), secrets, storage)
    }

    /// On the database at `database_url` (one the test made otherwise).
    pub fn on(database_url: &str, secrets: &Secrets, storage: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            secrets: secrets.clone(),
            storage: storage.to_owned(),
            cleanup_workers: 1,
            extra: Vec::new(),
            env: Vec::new(),
            open_files: None,
        }
    }

    pub fn open_files(mut self, limit: u32) -> Self {
        self.open_files = Some(limit);
        self
    }

    pub fn workers(mut self, n: usize) -> Self {
        self.cleanup_workers = n;
        self
    }

    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.extra.push(flag.to_owned());
        self.extra.push(value.to_owned());
        self
    }

    /// A flag without a value, e.g. `--allow-private-webhooks`.
    pub fn flag(mut self, flag: &str) -> Self {
        self.extra.push(flag.to_owned());
        self
    }

    pub fn env(mut self, env: Vec<(String, String)>) -> Self {
        self.env.extend(env);
        self
    }

    /// Starts the server on a free port (another if that one was taken
    /// meanwhile) and waits until `/readyz` answers 200.
    pub async fn start(&self) -> Server {
        let serve = self.clone();
        // Blocking waits, off the runtime: a proxy task of the test may be
        // what carries the server's database connection.
        let process = tokio::task::spawn_blocking(move || {
            ServerProcess::start_captured(|| serve.command(), STARTUP_LIMIT)
        })
        .await
        .expect("the start-up's thread")
        .unwrap_or_else(|e| panic!("vodsnap serve did not start: {e:#}"));
        let addr = process.addr().parse().expect("a socket address");
        Server { addr, process }
    }

    /// `vodsnap serve` with this test's flags (`--listen` is added by the
    /// process helper).
    fn command(&self) -> Command {
        let seed = format!(
            "AKTEST{}:{}:{PROJECT}",
            super::random_alphanumeric(8),
            super::random_alphanumeric(24)
        );
        let mut cmd = match self.open_files {
            Some(limit) => command_with_open_files(&self.env, limit),
            None => command(&self.env),
        };
        cmd.arg("serve")
            .args(["--database-url", &self.database_url])
            .args(["--credential-keys", &self.secrets.credential_keys])
            .args(["--token-key", &self.secrets.token_key])
            .args(["--seed-credential", &seed])
            .args(["--storage", &self.storage])
            .args(["--cleanup-workers", &self.cleanup_workers.to_string()])
            .args(["--cleanup-retry-base", "100ms"])
            .args(["--cleanup-retry-max", "1s"])
            .args(["--cleanup-idle", "100ms"])
            .args(&self.extra);
        cmd
    }
}

/// A running `vodsnap serve`; killed (SIGKILL) and waited for when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    process: ServerProcess,
}

impl Server {
    pub fn api(&self, secrets: &Secrets) -> Api {
        Api {
            addr: self.addr,
            token: secrets.token.clone(),
        }
    }

    fn child(&self) -> &ChildProcess {
        self.process
            .captured()
            .expect("started with its output captured")
    }

    fn child_mut(&mut self) -> &mut ChildProcess {
        self.process
            .captured_mut()
            .expect("started with its output captured")
    }

    pub fn pid(&self) -> u32 {
        let pid = self.child().pid();
        assert_ne!(pid, 0, "the server runs");
        pid
    }

    /// Whether the process still runs (it has not exited, nor been killed).
    pub fn running(&mut self) -> bool {
        self.child_mut().running()
    }

    /// `kill -9`: the process dies at once, mid-request or not. Returns
    /// once it is gone and its output is read to the end.
    pub fn kill(&mut self) {
        self.child_mut().kill();
    }

    /// SIGTERM, then waits (up to 30 s) for a clean exit, so that every log
    /// line is written; SIGKILL if it does not come.
    pub async fn terminate(&mut self) {
        if self.running() {
            self.child()
                .signal_terminate()
                .unwrap_or_else(|e| panic!("{e:#}"));
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.running() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill();
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.child().stdout_lines()
    }

    /// Everything the server wrote to stderr (its log) so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.child().stderr_lines()
    }

    /// `GET /readyz` answers 200.
    pub async fn ready(&self) -> bool {
        http::request(self.addr, "GET", "/readyz", &[], &[])
            .await
            .is_ok_and(|r| r.status == 200)
    }
}

/// A long-running `vodsnap` command other than `serve` (`cleanup run`),
/// its output echoed and kept; killed and waited for when dropped.
#[derive(Debug)]
pub struct Process(ChildProcess);

impl Process {
    /// Starts `vodsnap {args}` with a clean environment plus `env`.
    pub fn start(args: &[&str], env: &[(String, String)]) -> Self {
        let mut cmd = command(env);
        cmd.args(args);
        let label = args.first().copied().unwrap_or_default();
        Self(ChildProcess::spawn(cmd, label).unwrap_or_else(|e| panic!("{e:#}")))
    }

    pub fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.0.running()
    }

    /// Everything it wrote so far, both streams.
    pub fn log(&self) -> String {
        self.0.log()
    }
}
