//! The real `vodsnap` binary: `serve` on a free port, and the one-shot
//! commands (`token issue`, `credentials keygen`, `cleanup ...`).
//!
//! Children get a clean environment (only `PATH`, logging settings and what
//! the test passes), so nothing of the developer's `VODSNAP_*`, `AWS_*` or
//! `DATABASE_URL` leaks into them. Their output is read by threads into
//! memory (and echoed, which the test harness shows only on failure).

use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

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

    /// Starts the server on a free port and waits until it listens.
    pub async fn start(&self) -> Server {
        // A port found free may be taken before the child binds it; the
        // child then exits saying so, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            match self.try_start(port).await {
                Ok(server) => return server,
                Err(log) if log.contains("failed to listen") => continue,
                Err(log) => panic!("vodsnap serve did not start:\n{log}"),
            }
        }
        panic!("vodsnap serve found no free port in 5 tries");
    }

    async fn try_start(&self, port: u16) -> Result<Server, String> {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let seed = format!("AKTEST{port}:{}:{PROJECT}", super::random_alphanumeric(24));
        let mut cmd = match self.open_files {
            Some(limit) => command_with_open_files(&self.env, limit),
            None => command(&self.env),
        };
        cmd.arg("serve")
            .args(["--listen", &addr.to_string()])
            .args(["--database-url", &self.database_url])
            .args(["--credential-keys", &self.secrets.credential_keys])
            .args(["--token-key", &self.secrets.token_key])
            .args(["--seed-credential", &seed])
            .args(["--storage", &self.storage])
            .args(["--cleanup-workers", &self.cleanup_workers.to_string()])
            .args(["--cleanup-retry-base", "100ms"])
            .args(["--cleanup-retry-max", "1s"])
            .args(["--cleanup-idle", "100ms"])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {BINARY}: {e}"));

        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        // The start-up line is on stdout, or on stderr as a log event with
        // --log-format json.
        let readers = vec![
            read_lines(
                out,
                format!(":{port}"),
                stdout.clone(),
                Some(ready_tx.clone()),
            ),
            read_lines(err, format!(":{port}"), stderr.clone(), Some(ready_tx)),
        ];
        let mut server = Server {
            addr,
            child: Some(child),
            readers,
            stdout,
            stderr,
        };
        match tokio::time::timeout(STARTUP_LIMIT, ready_rx.recv()).await {
            Ok(Some(())) => {
                // It said so on stdout; /readyz confirms that it serves and
                // reaches its database.
                assert!(
                    server.ready().await,
                    "/readyz is not 200:\n{}",
                    server.log()
                );
                Ok(server)
            }
            // stdout closed before the line: the child exited.
            Ok(None) => {
                server.kill();
                Err(server.log())
            }
            Err(_) => {
                server.kill();
                panic!(
                    "vodsnap serve did not listen within {}s:\n{}",
                    STARTUP_LIMIT.as_secs(),
                    server.log()
                );
            }
        }
    }
}

pub use vodsnap_test_support::free_port;

/// Reads `from` line by line into `lines` (echoing each), and signals
/// `ready` when `serve` says it runs.
fn read_lines(
    from: impl Read + Send + 'static,
    label: String,
    lines: Arc<Mutex<Vec<String>>>,
    mut ready: Option<mpsc::UnboundedSender<()>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            eprintln!("[vodsnap {label}] {line}");
            if line.contains("vodsnap is running on")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
            lines.lock().expect("log lock").push(line);
        }
    })
}

/// A running `vodsnap serve`; killed (SIGKILL) and waited for when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    child: Option<Child>,
    readers: Vec<JoinHandle<()>>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn api(&self, secrets: &Secrets) -> Api {
        Api {
            addr: self.addr,
            token: secrets.token.clone(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Whether the process still runs (it has not exited, nor been killed).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `kill -9`: the process dies at once, mid-request or not. Returns
    /// once it is gone and its output is read to the end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// SIGTERM, then waits (up to 30 s) for a clean exit, so that every log
    /// line is written; SIGKILL if it does not come.
    pub async fn terminate(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let pid = child.id().to_string();
            let sent = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("run kill");
            assert!(sent.success(), "kill -TERM {pid} failed");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if child.try_wait().expect("wait for the server").is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill();
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("log lock").clone()
    }

    /// Everything the server wrote to stderr (its log) so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("log lock").clone()
    }

    fn log(&self) -> String {
        let out = self.stdout.lock().expect("log lock").join("\n");
        let err = self.stderr.lock().expect("log lock").join("\n");
        format!("stdout:\n{out}\nstderr:\n{err}")
    }

    /// `GET /readyz` answers 200.
    pub async fn ready(&self) -> bool {
        http::request(self.addr, "GET", "/readyz", &[], &[])
            .await
            .is_ok_and(|r| r.status == 200)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A long-running `vodsnap` command other than `serve` (`cleanup run`),
/// its output echoed and kept; killed and waited for when dropped.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    readers: Vec<JoinHandle<()>>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `vodsnap {args}` with a clean environment plus `env`.
    pub fn start(args: &[&str], env: &[(String, String)]) -> Self {
        let mut child = command(env)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {BINARY}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let label = format!("{} pid {}", args.first().unwrap_or(&""), child.id());
        let readers = vec![
            read_lines(
                child.stdout.take().expect("piped"),
                label.clone(),
                lines.clone(),
                None,
            ),
            read_lines(
                child.stderr.take().expect("piped"),
                label,
                lines.clone(),
                None,
            ),
        ];
        Self {
            child: Some(child),
            readers,
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the process runs").id()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Everything it wrote so far, both streams.
    pub fn log(&self) -> String {
        self.lines.lock().expect("log lock").join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}
