//! Where the snapshot images live in the tests: a directory of their own
//! (`file://`), or a bucket on moto's S3 server (`s3://`). The tests put the
//! images there themselves, as a producer would before registering.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::http;

/// A directory of images, removed when dropped.
#[derive(Debug)]
pub struct FileStorage {
    dir: tempfile::TempDir,
}

impl FileStorage {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("make a storage directory"),
        }
    }

    /// The `--storage` value.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn put(&self, key: &str) {
        let path = self.path(key);
        std::fs::create_dir_all(path.parent().expect("a key has a parent directory"))
            .expect("make the image's directory");
        std::fs::write(&path, b"\xff\xd8\xff\xe0 not quite a jpeg").expect("write an image");
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).is_file()
    }

    /// The keys of `keys` that exist.
    pub fn present(&self, keys: &[String]) -> Vec<String> {
        keys.iter().filter(|k| self.exists(k)).cloned().collect()
    }
}

pub const BUCKET: &str = "snapshots";
pub const ACCESS_KEY_ID: &str = "AKIDVODSNAPTEST";
pub const SECRET_ACCESS_KEY: &str = "vodsnap-test-secret-key";

/// moto lets anonymous requests create buckets and objects, but answers 403
/// to an anonymous read or overwrite of a private object. It does not check
/// signatures, so a request that names the tests' access key passes as that
/// principal, the same one vodsnap signs as.
const MOTO_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIDVODSNAPTEST/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// How long moto may take to start: a cold Python import on a busy machine.
const MOTO_STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// moto's S3 server on a free loopback port with bucket [`BUCKET`]; killed
/// when dropped. Its executable comes from `VODSNAP_MOTO_SERVER`.
#[derive(Debug)]
pub struct Moto {
    pub addr: SocketAddr,
    child: Child,
}

impl Moto {
    pub async fn start() -> Self {
        let moto = tokio::task::spawn_blocking(|| {
            let executable = moto_executable();
            for _ in 0..5 {
                let port = super::server::free_port();
                if let Some(child) = spawn_moto(&executable, port) {
                    return Self {
                        addr: ([127, 0, 0, 1], port).into(),
                        child,
                    };
                }
            }
            panic!("moto_server did not start on any of 5 free ports");
        })
        .await
        .expect("the moto start-up thread");
        let made = http::request(moto.addr, "PUT", &format!("/{BUCKET}"), &[], &[])
            .await
            .expect("create the bucket");
        assert_eq!(made.status, 200, "create bucket: {}", made.text());
        moto
    }

    /// The `AWS_*` settings for a vodsnap that reaches this S3 at `endpoint`
    /// (moto itself, or a proxy in front of it).
    pub fn env_for(endpoint: SocketAddr) -> Vec<(String, String)> {
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

    /// Uploads an object (moto takes unsigned requests).
    pub async fn put(&self, key: &str) {
        let answer = http::request(
            self.addr,
            "PUT",
            &format!("/{BUCKET}/{key}"),
            &[
                ("Content-Type", "image/jpeg"),
                ("Authorization", MOTO_AUTHORIZATION),
            ],
            b"\xff\xd8\xff\xe0 not quite a jpeg",
        )
        .await
        .expect("upload an object to moto");
        assert_eq!(answer.status, 200, "put {key}: {}", answer.text());
    }

    pub async fn exists(&self, key: &str) -> bool {
        let answer = http::request(
            self.addr,
            "HEAD",
            &format!("/{BUCKET}/{key}"),
            &[("Authorization", MOTO_AUTHORIZATION)],
            &[],
        )
        .await
        .expect("HEAD an object on moto");
        match answer.status {
            200 => true,
            404 => false,
            other => panic!("HEAD {key} on moto answered {other}"),
        }
    }

    /// The keys of `keys` that exist.
    pub async fn present(&self, keys: &[String]) -> Vec<String> {
        let mut present = Vec::new();
        for key in keys {
            if self.exists(key).await {
                present.push(key.clone());
            }
        }
        present
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_executable() -> PathBuf {
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

/// Spawns moto on `port` and waits for werkzeug's "Running on" line; `None`
/// if it exited first (the port was taken).
fn spawn_moto(executable: &Path, port: u16) -> Option<Child> {
    let mut child = Command::new(executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", executable.display()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    // Keeps draining stderr afterwards, so moto never blocks on a full pipe.
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
    match ready_rx.recv_timeout(MOTO_STARTUP_LIMIT) {
        Ok(()) => Some(child),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "moto_server did not listen on port {port} within {}s",
                MOTO_STARTUP_LIMIT.as_secs()
            );
        }
    }
}
