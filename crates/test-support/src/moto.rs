//! A real S3-compatible server for the tests: moto's `moto_server`, one
//! process per test on its own loopback port, killed when the test ends.
//!
//! The executable comes from `VODSNAP_MOTO_SERVER`; `cargo xtask` installs
//! moto (pinned in `tests/requirements-moto.txt`) into the repository's
//! `.venv` and sets it. Without it these tests fail, saying so: they never
//! skip silently. Requests to moto itself (buckets, objects put by a test
//! as a producer would) are bare HTTP/1.1, so this needs no HTTP client.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The tests' S3 credentials (moto accepts any).
pub const ACCESS_KEY_ID: &str = "AKIDVODSNAPTEST";
pub const SECRET_ACCESS_KEY: &str = "vodsnap-test-secret-key";
/// Values that must never appear in a description, an error or a log.
pub const SECRETS: [&str; 2] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY];

/// moto lets anonymous requests create buckets and objects, but answers 403
/// to an anonymous read or overwrite of a private object. It does not check
/// signatures, so a request that names the tests' access key passes as that
/// principal, the same one vodsnap signs as.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIDVODSNAPTEST/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// How long moto may take to start: a cold Python import on a busy 2-core
/// machine running many tests at once.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Bytes of the objects [`Moto::put`] uploads.
pub const IMAGE: &[u8] = b"\xff\xd8\xff\xe0 not quite a jpeg";

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
    /// Blocks (a second or two): from async code, call it on a blocking
    /// thread.
    pub fn start() -> Self {
        let executable = executable();
        // A port found free can be taken by another test before moto binds
        // it; moto then exits and a fresh port is tried.
        for _ in 0..5 {
            let port = crate::free_port();
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

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
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

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let status = self.request("PUT", &format!("/{bucket}"), &[], &[]);
        assert_eq!(status, 200, "moto refused to create bucket {bucket}");
    }

    /// Uploads [`IMAGE`] as `key` of `bucket`, as a producer would.
    pub fn put(&self, bucket: &str, key: &str) {
        let status = self.request(
            "PUT",
            &format!("/{bucket}/{key}"),
            &[
                ("Content-Type", "image/jpeg"),
                ("Authorization", AUTHORIZATION),
            ],
            IMAGE,
        );
        assert_eq!(status, 200, "moto refused to store {bucket}/{key}");
    }

    /// Whether `key` of `bucket` exists.
    pub fn exists(&self, bucket: &str, key: &str) -> bool {
        match self.request(
            "HEAD",
            &format!("/{bucket}/{key}"),
            &[("Authorization", AUTHORIZATION)],
            &[],
        ) {
            200 => true,
            404 => false,
            other => panic!("HEAD {bucket}/{key} on moto answered {other}"),
        }
    }

    /// The `AWS_*` settings for a client of this server.
    pub fn env(&self) -> Vec<(String, String)> {
        s3_env(self.addr())
    }

    /// One request on its own connection; its status.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        let mut conn = TcpStream::connect(self.addr()).expect("connect to moto_server");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.addr(),
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())
            .and_then(|()| conn.write_all(body))
            .expect("send a request to moto");
        let mut response = Vec::new();
        conn.read_to_end(&mut response)
            .expect("read moto's response");
        let response = String::from_utf8_lossy(&response);
        response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("moto answered {method} {path} with {response:?}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `AWS_*` settings for an S3 endpoint at `endpoint` (moto itself, or
/// a proxy in front of it), the names an operator would export.
pub fn s3_env(endpoint: SocketAddr) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", format!("http://{endpoint}")),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Spawns moto on `port`; `None` if it exited before listening.
fn spawn(executable: &Path, port: u16) -> Option<Child> {
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
