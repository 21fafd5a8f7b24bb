//! Where the snapshot images live in the tests: a directory of their own
//! (`file://`), or a bucket on moto's S3 server (`s3://`). The tests put the
//! images there themselves, as a producer would before registering.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// moto's S3 server (`vodsnap-test-support`) on a free loopback port with
/// bucket [`BUCKET`]; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    pub addr: SocketAddr,
    moto: Arc<vodsnap_test_support::moto::Moto>,
}

impl Moto {
    pub async fn start() -> Self {
        let moto = tokio::task::spawn_blocking(|| {
            let moto = vodsnap_test_support::moto::Moto::start();
            moto.create_bucket(BUCKET);
            moto
        })
        .await
        .expect("the moto start-up thread");
        Self {
            addr: moto.addr(),
            moto: Arc::new(moto),
        }
    }

    /// The `AWS_*` settings for a vodsnap that reaches this S3 at `endpoint`
    /// (moto itself, or a proxy in front of it).
    pub fn env_for(endpoint: SocketAddr) -> Vec<(String, String)> {
        vodsnap_test_support::moto::s3_env(endpoint)
    }

    /// Uploads an object, as a producer would.
    pub async fn put(&self, key: &str) {
        let (moto, key) = (self.moto.clone(), key.to_owned());
        tokio::task::spawn_blocking(move || moto.put(BUCKET, &key))
            .await
            .expect("the upload thread");
    }

    pub async fn exists(&self, key: &str) -> bool {
        let (moto, key) = (self.moto.clone(), key.to_owned());
        tokio::task::spawn_blocking(move || moto.exists(BUCKET, &key))
            .await
            .expect("the HEAD thread")
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
