//! A real S3-compatible server for the tests: moto's `moto_server`, one
//! process per test on its own loopback port, killed when the test ends.
//!
//! The executable comes from `VODSNAP_MOTO_SERVER`; `cargo xtask` installs
//! moto (pinned in `tests/requirements-moto.txt`) into the repository's
//! `.venv` and sets it. Without it these tests fail, saying so: they never
//! skip silently.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};

pub const ACCESS_KEY_ID: &str = "AKIDVODSNAPTEST";
pub const SECRET_ACCESS_KEY: &str = "vodsnap-test-secret-key";
/// Values that must never appear in a description or an error.
pub const SECRETS: [&str; 2] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY];

/// How long moto may take to start: a cold Python import on a busy 2-core
/// machine running many tests at once.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

fn executable() -> PathBuf {
    let path = std::env::var_os("VODSNAP_MOTO_SERVER").expect(
        "VODSNAP_MOTO_SERVER is not set: the S3 tests need moto's S3 server. Install it with \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements-moto.txt` and set \
         VODSNAP_MOTO_SERVER=$PWD/.venv/bin/moto_server (cargo xtask does both)",
    );
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "VODSNAP_MOTO_SERVER={} is not a file; it must be the moto_server executable",
        path.display()
    );
    path
}

/// A running moto server; stopped (killed) when dropped.
#[derive(Debug)]
pub struct Moto {
    executable: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it listens.
    pub fn start() -> Self {
        let executable = executable();
        // A port found free can be taken by another test before moto binds
        // it; moto then exits and a fresh port is tried.
        for _ in 0..5 {
            let port = super::fake_server::closed_port();
            if let Some(child) = spawn(&executable, port) {
                return Self {
                    executable,
                    port,
                    child: Some(child),
                };
            }
        }
        panic!("moto_server did not start on any of 5 free ports");
    }

    /// Kills the server and waits until it is gone: the port refuses
    /// connections afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new server on the same port (with no buckets: moto keeps
    /// everything in memory).
    pub fn restart(&mut self) {
        self.stop();
        let child = spawn(&self.executable, self.port)
            .unwrap_or_else(|| panic!("moto_server did not restart on port {}", self.port));
        self.child = Some(child);
    }

    /// Creates `bucket`. object_store cannot create buckets and moto takes
    /// unsigned requests, so a bare HTTP/1.1 PUT does it without an HTTP
    /// client dependency.
    pub fn create_bucket(&self, bucket: &str) {
        let mut conn =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto_server");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        write!(
            conn,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .expect("send the create-bucket request");
        let mut response = String::new();
        conn.read_to_string(&mut response)
            .expect("read the create-bucket response");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "moto refused to create bucket {bucket}: {response}"
        );
    }

    /// A store on a fresh bucket of this server.
    pub fn store(&self, bucket: &str) -> ObjectImageStore {
        self.create_bucket(bucket);
        s3_store(bucket, self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `AWS_*` settings for an S3 endpoint on a loopback port.
pub fn s3_env(port: u16) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A store for `bucket` on the S3 endpoint at a loopback port, configured
/// through the same `AWS_*` names an operator would export.
pub fn s3_store(bucket: &str, port: u16) -> ObjectImageStore {
    let url = StorageUrl::S3 {
        bucket: bucket.to_owned(),
    };
    ObjectImageStore::open_with_env(&url, s3_env(port)).expect("open the S3 image store")
}

/// Spawns moto on `port`; `None` if it exited before listening.
fn spawn(executable: &PathBuf, port: u16) -> Option<Child> {
    let mut child = Command::new(executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // Python's stderr is line-buffered when piped; say so anyway.
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", executable.display()));

    // Werkzeug prints "Running on http://..." once the socket listens: wait
    // for that line rather than polling the port. The reader keeps draining
    // stderr afterwards so moto never blocks on a full pipe.
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("Running on")
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    match ready_rx.recv_timeout(STARTUP_LIMIT) {
        Ok(()) => Some(child),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // stderr closed before the line: moto exited (port taken?).
            let _ = child.kill();
            let _ = child.wait();
            None
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "moto_server did not listen on port {port} within {}s",
                STARTUP_LIMIT.as_secs()
            );
        }
    }
}
