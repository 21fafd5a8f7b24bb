//! The `cleanup` workload (issue 12): how fast vodsnap drains its cleanup
//! queue against the raw bulk-delete rate of the same store, in the same
//! run.
//!
//! For each store (a local directory, and S3 on moto: `VODSNAP_MOTO_SERVER`,
//! else the repository's `.venv/bin/moto_server`) and each worker count (1
//! and 4):
//! - raw: `objects` objects are uploaded, then removed with the adapter's
//!   `delete_many` in 1,000-key requests one after the other (on S3 one
//!   `DeleteObjects` each), no database: the store's own rate;
//! - vodsnap: `objects` objects are uploaded and as many cleanup items
//!   queued (SQL, as a delete enqueues them), then `workers` processes of
//!   `vodsnap cleanup run --once` (one worker each, like as many instances)
//!   drain the queue; the time is the wall time until the last exits, less
//!   the same processes' time on an empty queue (start-up, connection,
//!   storage set-up), measured first. Every item must be gone, none parked,
//!   and the objects gone from the store.
//!
//! The processes are the `vodsnap` binary given (`--vodsnap`), so today's
//! binary and an older one are measured the same way.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_domain::{MAX_BATCH, ObjectKey};
use vodsnap_ports::ImageStore;

use crate::database::{ScratchDatabase, admin_url, output, psql};
use crate::params::{Params, Paths};

const PROJECT: &str = "bench";
pub const BUCKET: &str = "vodsnap-bench";
const WORKERS: [usize; 2] = [1, 4];
/// Uploads in flight while the objects are created.
const UPLOADS_IN_FLIGHT: usize = 32;

/// One measured store and worker count.
#[derive(Debug)]
struct Row {
    store: &'static str,
    workers: usize,
    objects: u64,
    raw_per_s: f64,
    vodsnap_per_s: f64,
    vodsnap_secs: f64,
    startup_secs: f64,
}

/// A store under test: how the adapter opens it and how `vodsnap` is told.
struct Store {
    name: &'static str,
    images: Arc<ObjectImageStore>,
    /// `--storage` and the environment of `vodsnap cleanup run`.
    storage: String,
    env: Vec<(String, String)>,
}

pub fn run(params: &Params, paths: &Paths) -> Result<ExitCode> {
    let started = Instant::now();
    ensure!(
        paths.vodsnap.exists(),
        "{} is missing: build it (cargo build --release -p vodsnap-app)",
        paths.vodsnap.display()
    );
    std::fs::create_dir_all(&paths.work)?;
    let objects = params.cleanup_objects;
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    let admin = admin_url();
    println!("\n==> bench cleanup: {objects} objects; database on {admin}");
    let scratch = ScratchDatabase::create(&admin, "vodsnap_bench_cleanup")?;
    output(
        Command::new(&paths.vodsnap)
            .args(["migrate", "--database-url", &scratch.url])
            .stdout(Stdio::null()),
    )
    .context("migrating the scratch database")?;

    let dir = paths.work.join("cleanup-files");
    let _ = std::fs::remove_dir_all(&dir);
    let file = Store {
        name: "file",
        images: Arc::new(ObjectImageStore::open(&StorageUrl::File(dir.clone()))?),
        storage: format!("file://{}", dir.display()),
        env: Vec::new(),
    };
    let moto = Moto::start(&paths.workspace)?;
    let env = moto.env();
    let s3 = Store {
        name: "S3 (moto)",
        images: Arc::new(ObjectImageStore::open_with_env(
            &StorageUrl::S3 {
                bucket: BUCKET.to_owned(),
            },
            env.clone(),
        )?),
        storage: format!("s3://{BUCKET}"),
        env,
    };

    let mut rows = Vec::new();
    for store in [&s3, &file] {
        for workers in WORKERS {
            println!(
                "\n==> bench cleanup: {} with {workers} worker(s)",
                store.name
            );
            let raw = runtime.block_on(raw_rate(store, workers, objects))?;
            let startup = drain(&paths.vodsnap, &scratch.url, store, workers)?;
            let prefix = format!("{PROJECT}/w{workers}");
            let keys = runtime.block_on(upload(store, &prefix, objects))?;
            enqueue(&scratch.url, &prefix, objects)?;
            let took = drain(&paths.vodsnap, &scratch.url, store, workers)?;
            runtime.block_on(check_drained(&scratch.url, store, &keys))?;
            let secs = (took - startup).max(1e-3);
            let row = Row {
                store: store.name,
                workers,
                objects,
                raw_per_s: raw,
                vodsnap_per_s: objects as f64 / secs,
                vodsnap_secs: secs,
                startup_secs: startup,
            };
            println!(
                "raw {:.0}/s, vodsnap {:.0}/s ({:.2}x) in {:.2}s (+{:.2}s start-up)",
                row.raw_per_s,
                row.vodsnap_per_s,
                row.vodsnap_per_s / row.raw_per_s,
                row.vodsnap_secs,
                row.startup_secs
            );
            rows.push(row);
        }
    }
    drop(moto);

    let report = render(&rows, &paths.vodsnap, started.elapsed());
    println!("\n{report}");
    crate::report::write_workload_report(&paths.work, params.quick, "cleanup", &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Uploads `n` small objects under `prefix/`, a few at a time.
async fn upload(store: &Store, prefix: &str, n: u64) -> Result<Vec<ObjectKey>> {
    let keys: Vec<ObjectKey> = (0..n)
        .map(|i| ObjectKey::parse(&format!("{prefix}/{}/{i}.jpg", i % 100)))
        .collect::<Result<_, _>>()
        .context("a bench key")?;
    upload_keys(&store.images, &keys).await?;
    Ok(keys)
}

/// Uploads a small object at each key, a few at a time.
pub async fn upload_keys(images: &Arc<ObjectImageStore>, keys: &[ObjectKey]) -> Result<()> {
    let t = Instant::now();
    let n = keys.len();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in keys.chunks(keys.len().div_ceil(UPLOADS_IN_FLIGHT).max(1)) {
        let images = images.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            for key in chunk {
                images
                    .put(&key, b"\xff\xd8 bench \xff\xd9".to_vec())
                    .await
                    .with_context(|| format!("uploading {}", key.as_str()))?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("an upload task")??;
    }
    println!("uploaded {n} objects in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

/// The store's own bulk rate: `delete_many` of 1,000 keys at a time, one
/// request after the other.
async fn raw_rate(store: &Store, workers: usize, n: u64) -> Result<f64> {
    let keys = upload(store, &format!("{PROJECT}/raw{workers}"), n).await?;
    let t = Instant::now();
    for chunk in keys.chunks(MAX_BATCH as usize) {
        for (key, result) in chunk.iter().zip(store.images.delete_many(chunk).await) {
            result.with_context(|| format!("raw delete of {}", key.as_str()))?;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(n as f64 / secs.max(1e-6))
}

/// Queues `n` cleanup items for the keys under `prefix/`, as a delete does.
fn enqueue(url: &str, prefix: &str, n: u64) -> Result<()> {
    let sql = format!(
        "INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at) \
         SELECT '{PROJECT}', '{prefix}/' || (i % 100) || '/' || i || '.jpg', now(), now() \
         FROM generate_series(0, {}) AS i; ANALYZE cleanup_items",
        n.saturating_sub(1)
    );
    output(&mut psql(url, &sql)).map(drop)
}

/// Runs `workers` processes of `vodsnap cleanup run --once` at once;
/// the wall time until the last one exits, in seconds.
fn drain(vodsnap: &Path, url: &str, store: &Store, workers: usize) -> Result<f64> {
    let t = Instant::now();
    let children = (0..workers)
        .map(|_| {
            Command::new(vodsnap)
                .args(["cleanup", "run", "--once", "--database-url", url])
                .args(["--storage", &store.storage])
                .envs(store.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting `vodsnap cleanup run --once`")
        })
        .collect::<Result<Vec<_>>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "`vodsnap cleanup run --once` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Every item done, none parked, and the objects gone (a sample of them).
async fn check_drained(url: &str, store: &Store, keys: &[ObjectKey]) -> Result<()> {
    let left = output(&mut psql(url, "SELECT count(*) FROM cleanup_items"))?;
    ensure!(left.trim() == "0", "{} cleanup items left", left.trim());
    let step = (keys.len() / 50).max(1);
    for key in keys.iter().step_by(step) {
        ensure!(
            !store.images.exists(key).await?,
            "{} was not removed",
            key.as_str()
        );
    }
    Ok(())
}

fn render(rows: &[Row], vodsnap: &Path, took: Duration) -> String {
    let mut md = String::new();
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default();
    let _ = writeln!(
        md,
        "### Cleanup drain ({}, `{}`, {:.0}s)\n",
        date.trim(),
        vodsnap.display(),
        took.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| store | workers | objects | raw bulk delete /s | vodsnap drain /s | ratio | drain time | start-up (subtracted) |"
    );
    let _ = writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2}x | {:.2}s | {:.2}s |",
            r.store,
            r.workers,
            r.objects,
            r.raw_per_s,
            r.vodsnap_per_s,
            r.vodsnap_per_s / r.raw_per_s,
            r.vodsnap_secs,
            r.startup_secs
        );
    }
    md
}

/// moto's S3 server on a free loopback port with the bucket [`BUCKET`],
/// killed when dropped (the soak's store too).
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Moto {
    pub fn start(workspace: &Path) -> Result<Self> {
        let exe = std::env::var_os("VODSNAP_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv/bin/moto_server"));
        ensure!(
            exe.is_file(),
            "{} is missing: the cleanup workload needs moto (`python3 -m venv .venv && \
             .venv/bin/pip install -r tests/requirements-moto.txt`, or set VODSNAP_MOTO_SERVER)",
            exe.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let moto = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(Instant::now() < deadline, "moto did not listen within 60s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.create_bucket()?;
        println!("moto: port {port}");
        Ok(moto)
    }

    /// moto takes unsigned requests: a bare PUT creates the bucket.
    fn create_bucket(&self) -> Result<()> {
        use std::io::{Read as _, Write as _};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            conn,
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer)?;
        ensure!(answer.starts_with("HTTP/1.1 200"), "moto: {answer}");
        Ok(())
    }

    /// The environment that points the S3 adapter at moto.
    pub fn env(&self) -> Vec<(String, String)> {
        Self::env_at(self.port)
    }

    /// The same, through another port (a proxy in front of moto).
    pub fn env_at(port: u16) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "bench-not-a-secret".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "bench-not-a-secret".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
