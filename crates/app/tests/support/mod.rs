//! What the process-level tests share: a database per test, the real
//! `vodsnap` binary on a free port, a bare HTTP/1.1 client, snapshot images
//! in a directory or in moto's S3, and a TCP proxy that can play an outage.
//!
//! Every test builds its own world from these (database, storage, servers)
//! and tears it down when its values drop: children are killed and waited
//! for, databases dropped `WITH (FORCE)`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the shared support"
)]

pub mod db;
pub mod http;
pub mod server;
pub mod storage;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
/// The outage proxy, shared with the soak (`vodsnap-server-process`).
#[allow(
    unused_imports,
    reason = "each test binary uses a different part of the shared support"
)]
pub use vodsnap_test_support::proxy;

/// The project every test works in.
pub const PROJECT: &str = "proj_1";

/// How long an eventual state (files gone, queue empty) may take: the
/// machine is small and shared, so this is generous; polls are short.
pub const EVENTUALLY: Duration = Duration::from_secs(45);

/// Polls `check` every 100 ms until it returns `Ok`, and fails the test with
/// its last complaint when `within` has passed.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let complaint = match check().await {
            Ok(()) => return,
            Err(complaint) => complaint,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: still not so after {}s: {complaint}",
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The object keys of a task's snapshots, as a producer would upload them.
pub fn keys_of(asset: &str, task: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{PROJECT}/{asset}/{task}/{i}.jpg"))
        .collect()
}

/// A registration body for `task` of `asset` with one snapshot per key.
pub fn task_body(asset: &str, task: &str, keys: &[String]) -> Value {
    let thumbnails: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(offset, key)| json!({"offset": offset, "object_key": key}))
        .collect();
    json!({
        "asset_id": asset,
        "task_id": task,
        "thumbnail_para": {"type": "time", "time": 10},
        "thumbnails": thumbnails,
    })
}

/// A random string of ASCII letters and digits.
pub fn random_alphanumeric(len: usize) -> String {
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
