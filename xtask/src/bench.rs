//! `cargo xtask bench`: vodsnap on PostgreSQL against PostgreSQL's own limit
//! for the same statements (issue 6).
//!
//! One run:
//! 1. builds `vodsnap` and `vodsnap-bench` in release;
//! 2. creates a scratch database on `DATABASE_URL`, else the local server
//!    (`VODSNAP_XTASK_LOCAL_PG`, default `127.0.0.1:5432`), dropped at the end;
//! 3. starts `vodsnap serve` (release) on a free port, with a seeded AK/SK
//!    credential, `--cleanup-workers 0` when the binary has that flag (the
//!    cleanup of deleted images is not on the measured path);
//! 4. bulk-loads the data set with `INSERT ... SELECT generate_series` into
//!    the migrated schema (task results `t{n}` on assets `a{n % assets}`,
//!    `images` snapshots each), then `VACUUM ANALYZE`;
//! 5. for each workload and concurrency: `vodsnap-bench` (a separate
//!    process, AK/SK-signed requests) for the duration, the server's VmHWM,
//!    then `pgbench -M prepared` with the matching script of `xtask/bench/`
//!    at the same concurrency against the same database;
//! 6. prints a markdown table; a full run also writes `docs/benchmarks.md`
//!    (keeping its "Before/after notes" section), a quick run writes
//!    `target/bench/quick.md`.
//!
//! The delete workloads consume pre-registered pools (loaded with the same
//! bulk SQL just before each point, sized from the rates measured so far):
//! task results `d{n}` for the delete by ten task ids, assets `x{n}` of ten
//! task results each for the asset-only delete. Each id is deleted once, so
//! every request does the full work; a vodsnap point whose pool runs out
//! stops early (its rate is over the time it ran), a pgbench point whose
//! clients ran past their share is flagged in the table.
//!
//! The run fails (non-zero) only on errors: a non-2xx (or a delete item not
//! `DELETED`) where success was expected, a pgbench client aborted, or the
//! server dying. Slowness never fails it.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cpu;
use crate::db::{self, ScratchDatabase};
use crate::proc::{self, Env};
use crate::workspace::Workspace;

const PROJECT: &str = "bench";
const ACCESS_KEY: &str = "BENCHAK000000000000000001";
// Bench-only secrets for a throwaway server and database.
const SECRET_KEY: &str = "bench-secret-key-not-a-real-secret-0001";
const TOKEN_KEY: &str = "bench-token-key-not-a-real-secret-000000001";
/// `thumbnail_para` as the adapter stores `{"type":"time","time":12}`.
const PARA: &str = r#"{"type":"time","time":12,"cover_position":1,"format":1,"aspect_ratio":1}"#;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// CI mode: 5,000 tasks over 500 assets, 2 s per point, 1 and 8 clients;
    /// writes target/bench/quick.md instead of docs/benchmarks.md.
    #[arg(long)]
    quick: bool,
    /// Task results in the data set [default: 100000, quick: 5000].
    #[arg(long)]
    tasks: Option<u64>,
    /// Snapshots per task result [default: 10].
    #[arg(long)]
    images_per_task: Option<u32>,
    /// Assets the task results are spread over [default: 10000, quick: 500].
    #[arg(long)]
    assets: Option<u64>,
    /// Seconds per point [default: 10, quick: 2].
    #[arg(long)]
    secs: Option<u64>,
    /// Concurrencies, comma-separated [default: 1,8,64, quick: 1,8].
    #[arg(long, value_delimiter = ',')]
    concurrency: Option<Vec<u32>>,
    /// Only these workloads, comma-separated (list, details, register,
    /// delete-tasks, delete-asset) [default: all].
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<String>>,
    /// Passed to `vodsnap serve --database-max-connections` [default: the server's].
    #[arg(long)]
    database_max_connections: Option<u32>,
    /// Skip pgbench (vodsnap figures only).
    #[arg(long)]
    no_pgbench: bool,
    /// Do not build: use the release binaries already in the target directory.
    #[arg(long)]
    no_build: bool,
    /// Keep the server and database after the run, for EXPLAIN and profiling
    /// (prints how to reach them; stop the server yourself).
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    List,
    Details,
    Register,
    DeleteTasks,
    DeleteAsset,
}

impl Workload {
    const ALL: [Self; 5] = [
        Self::List,
        Self::Details,
        Self::Register,
        Self::DeleteTasks,
        Self::DeleteAsset,
    ];

    /// The name on the command line of both xtask and vodsnap-bench.
    fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Details => "details",
            Self::Register => "register",
            Self::DeleteTasks => "delete-tasks",
            Self::DeleteAsset => "delete-asset",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::List => "list by asset",
            Self::Details => "details",
            Self::Register => "registration",
            Self::DeleteTasks => "delete by 10 task ids",
            Self::DeleteAsset => "asset-only delete",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Self::List => "list.sql",
            Self::Details => "details.sql",
            Self::Register => "register.sql",
            Self::DeleteTasks => "delete_tasks.sql",
            Self::DeleteAsset => "delete_asset.sql",
        }
    }
}

/// The resolved parameters of a run.
#[derive(Debug, Clone)]
struct Params {
    quick: bool,
    tasks: u64,
    images: u32,
    assets: u64,
    secs: u64,
    concurrency: Vec<u32>,
    workloads: Vec<Workload>,
    max_connections: Option<u32>,
    pgbench: bool,
}

impl Params {
    fn from(args: &BenchArgs) -> Result<Self> {
        let quick = args.quick;
        let workloads = match &args.workloads {
            None => Workload::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| {
                    Workload::ALL
                        .into_iter()
                        .find(|w| w.name() == n.trim())
                        .with_context(|| format!("unknown workload {n:?}"))
                })
                .collect::<Result<_>>()?,
        };
        let params = Self {
            quick,
            tasks: args.tasks.unwrap_or(if quick { 5_000 } else { 100_000 }),
            images: args.images_per_task.unwrap_or(10),
            assets: args.assets.unwrap_or(if quick { 500 } else { 10_000 }),
            secs: args.secs.unwrap_or(if quick { 2 } else { 10 }),
            concurrency: args
                .concurrency
                .clone()
                .unwrap_or_else(|| if quick { vec![1, 8] } else { vec![1, 8, 64] }),
            workloads,
            max_connections: args.database_max_connections,
            pgbench: !args.no_pgbench,
        };
        if params.tasks == 0 || params.assets == 0 || params.images == 0 || params.secs == 0 {
            bail!("--tasks, --assets, --images-per-task and --secs must be positive");
        }
        if params.images > 10_000 {
            bail!("--images-per-task is at most 10000 (the API's limit)");
        }
        if params.concurrency.contains(&0) {
            bail!("a concurrency must be at least 1");
        }
        Ok(params)
    }
}

/// One measured point.
#[derive(Debug, Clone, Default)]
struct Point {
    ok: u64,
    errors: u64,
    secs: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// Something the reader must know (pool ran out, ...).
    note: String,
    /// CPU per request of each process involved.
    cpu: cpu::PerRequest,
}

#[derive(Debug)]
struct Row {
    workload: Workload,
    clients: u32,
    vodsnap: Point,
    pgbench: Option<Point>,
    /// The server's VmHWM after this point, KiB.
    peak_rss_kib: u64,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let params = Params::from(args)?;
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let started = Instant::now();

    if params.pgbench && !proc::available("pgbench") {
        bail!(
            "`pgbench` is needed for the reference figures (Debian: postgresql-contrib or \
             postgresql-client); or run with --no-pgbench"
        );
    }
    if !args.no_build {
        println!("\n==> xtask bench: release build");
        proc::run(env.cargo().args([
            "build",
            "--release",
            "-p",
            "vodsnap-app",
            "-p",
            "vodsnap-bench",
        ]))?;
    }
    let release = ws.target_dir.join("release");
    let vodsnap = release.join("vodsnap");
    let loadgen = release.join("vodsnap-bench");
    for bin in [&vodsnap, &loadgen] {
        if !bin.exists() {
            bail!("{} is missing: build it (drop --no-build)", bin.display());
        }
    }
    let work = ws.target_dir.join("bench");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let admin = admin_url();
    println!("\n==> xtask bench: database on {admin}");
    let scratch = ScratchDatabase::create(&env, &admin, "vodsnap_bench")?;
    let bench_started = Instant::now();

    let mut server = Server::start(&env, &vodsnap, &scratch.url, &params, &work)?;
    println!(
        "server: pid {} on {} (log: {})",
        server.pid(),
        server.addr,
        server.log.display()
    );

    let mut sql = Sql {
        env: env.clone(),
        url: scratch.url.clone(),
        images: params.images,
    };
    println!(
        "\n==> xtask bench: loading {} task results x {} images over {} assets",
        params.tasks, params.images, params.assets
    );
    let load_started = Instant::now();
    sql.insert_tasks(
        "'t' || n",
        &format!("'a' || (n % {})", params.assets),
        0,
        params.tasks,
    )?;
    sql.exec("VACUUM ANALYZE")?;
    println!("loaded in {:.1}s", load_started.elapsed().as_secs_f64());

    let mut runner = Runner {
        env: env.clone(),
        params: params.clone(),
        loadgen,
        scripts: ws.root.join("xtask").join("bench"),
        work: work.clone(),
        sql,
        next_d: 0,
        next_x: 0,
        tick_us: cpu::tick_us(),
    };
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &workload in &params.workloads {
        let mut last_rate: Option<f64> = None;
        for &clients in &params.concurrency {
            println!(
                "\n==> xtask bench: {} with {clients} client(s)",
                workload.name()
            );
            server.check_alive()?;
            let vodsnap = runner.vodsnap_point(&server, workload, clients, last_rate)?;
            server.check_alive()?;
            let peak_rss_kib = server.peak_rss_kib();
            last_rate = Some(vodsnap.rps);
            if vodsnap.errors > 0 {
                failures.push(format!(
                    "vodsnap {} c={clients}: {} errors",
                    workload.name(),
                    vodsnap.errors
                ));
            }
            let pgbench = if params.pgbench {
                let point = runner.pgbench_point(workload, clients, vodsnap.rps)?;
                if point.errors > 0 {
                    failures.push(format!(
                        "pgbench {} c={clients}: {} failed transactions",
                        workload.name(),
                        point.errors
                    ));
                }
                Some(point)
            } else {
                None
            };
            print_point("vodsnap", &vodsnap);
            if let Some(p) = &pgbench {
                print_point("pgbench", p);
            }
            rows.push(Row {
                workload,
                clients,
                vodsnap,
                pgbench,
                peak_rss_kib,
            });
        }
    }
    server.check_alive()?;

    let report = render(&params, &rows, &admin, bench_started.elapsed(), &env);
    println!("\n{report}");
    let target = if params.quick {
        work.join("quick.md")
    } else {
        ws.root.join("docs").join("benchmarks.md")
    };
    write_report(&target, &report)?;
    println!("written to {}", target.display());
    println!(
        "xtask bench: {:.0}s in all ({:.0}s after the build)",
        started.elapsed().as_secs_f64(),
        bench_started.elapsed().as_secs_f64()
    );

    if args.keep {
        println!(
            "--keep: server pid {} at http://{} (AK {ACCESS_KEY}, SK {SECRET_KEY}), \
             database {}; stop the server with `kill {}` and drop the database yourself",
            server.pid(),
            server.addr,
            scratch.url,
            server.pid()
        );
        server.detach();
        std::mem::forget(scratch);
    }

    if failures.is_empty() {
        println!("xtask bench: no errors");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("xtask bench: ERROR: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn print_point(who: &str, p: &Point) {
    println!(
        "{who:8} {:>9.1} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  ok {}  errors {}  {:.1}s {}",
        p.rps,
        p.p50_us / 1000.0,
        p.p99_us / 1000.0,
        p.p999_us / 1000.0,
        p.ok,
        p.errors,
        p.secs,
        p.note
    );
}

/// `DATABASE_URL`, else the local server.
fn admin_url() -> String {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return url;
    }
    let addr = std::env::var(db::LOCAL_ENV)
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:5432".to_owned());
    format!("postgres://postgres@{addr}/postgres")
}

// ---------------------------------------------------------------------------
// The server

#[derive(Debug)]
struct Server {
    child: Option<Child>,
    addr: String,
    log: PathBuf,
}

impl Server {
    fn start(
        env: &Env,
        vodsnap: &Path,
        database_url: &str,
        params: &Params,
        work: &Path,
    ) -> Result<Self> {
        let help = proc::output(env.command(vodsnap).args(["serve", "--help"]))?;
        let key = proc::output(env.command(vodsnap).args(["credentials", "keygen"]))?
            .trim()
            .to_owned();
        let port = proc::free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = work.join("server.log");
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let mut cmd = env.command(vodsnap);
        cmd.args(["serve", "--listen", &addr])
            .args(["--database-url", database_url])
            .args(["--credential-keys", &key])
            .args(["--token-key", TOKEN_KEY])
            .args([
                "--seed-credential",
                &format!("{ACCESS_KEY}:{SECRET_KEY}:{PROJECT}"),
            ]);
        if help.contains("--cleanup-workers") {
            cmd.args(["--cleanup-workers", "0"]);
        } else {
            println!("server: `vodsnap serve` has no --cleanup-workers: no cleanup runs anyway");
        }
        if let Some(n) = params.max_connections {
            cmd.args(["--database-max-connections", &n.to_string()]);
        }
        println!("$ {}", proc::display(&cmd));
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .context("starting vodsnap serve")?;
        let mut server = Self {
            child: Some(child),
            addr,
            log,
        };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if http_status(&self.addr, "/readyz") == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "vodsnap did not become ready within {timeout:?}; see {}",
                    self.log.display()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails, with the end of the server's log, if the server exited.
    fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("the server is gone");
        };
        if let Some(status) = child.try_wait().context("polling the server")? {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the server died ({status}); end of {}:\n{}",
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// Peak resident set size so far (VmHWM), KiB; 0 if unreadable.
    fn peak_rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn detach(&mut self) {
        self.child = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            proc::stop(child);
        }
    }
}

/// Status of `GET path` on `addr`, `None` if nothing answers.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split(' ').nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------
// SQL on the bench database

#[derive(Debug)]
struct Sql {
    env: Env,
    url: String,
    images: u32,
}

impl Sql {
    fn command(&self, sql: &str) -> Command {
        let mut cmd = self.env.command("psql");
        cmd.args([
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.url,
            "-c",
            sql,
        ]);
        cmd
    }

    fn exec(&self, sql: &str) -> Result<()> {
        proc::output(&mut self.command(sql)).map(drop)
    }

    fn scalar(&self, sql: &str) -> Result<String> {
        Ok(proc::output(&mut self.command(sql))?.trim().to_owned())
    }

    /// Task results `n` in `[lo, hi)`, with their snapshots, exactly as the
    /// adapter stores a registration of `{"type":"time","time":12}`.
    /// `created_at` grows with `n`.
    fn insert_tasks(&mut self, id: &str, asset: &str, lo: u64, hi: u64) -> Result<()> {
        if hi <= lo {
            return Ok(());
        }
        let images = self.images;
        let sql = format!(
            "BEGIN; \
             INSERT INTO task_results \
                 (project_id, task_id, asset_id, thumbnail_para, snapshot_count, created_at) \
             SELECT '{PROJECT}', {id}, {asset}, '{PARA}'::jsonb, {images}, \
                 timestamptz '2024-01-01 00:00:00+00' + n * interval '1 millisecond' \
             FROM generate_series({lo}::bigint, {hi}::bigint - 1) AS n; \
             INSERT INTO snapshots (project_id, task_id, offset_s, object_key) \
             SELECT '{PROJECT}', {id}, k * 10, \
                 '{PROJECT}/' || {asset} || '/' || {id} || '/' || k || '.jpg' \
             FROM generate_series({lo}::bigint, {hi}::bigint - 1) AS n, \
                  generate_series(0, {images} - 1) AS k; \
             COMMIT;"
        );
        self.exec(&sql)
    }

    fn tombstones(&self) -> Result<u64> {
        self.scalar("SELECT count(*) FROM task_results WHERE deleted_at IS NOT NULL")?
            .parse()
            .context("counting tombstones")
    }
}

// ---------------------------------------------------------------------------
// Points

#[derive(Debug)]
struct Runner {
    env: Env,
    params: Params,
    loadgen: PathBuf,
    scripts: PathBuf,
    work: PathBuf,
    sql: Sql,
    /// Next unused number of the `d{n}` task pool.
    next_d: u64,
    /// Next unused number of the `x{n}` asset pool.
    next_x: u64,
    /// A CPU clock tick, µs.
    tick_us: f64,
}

/// Requests per second assumed for a delete pool before anything was measured.
const FIRST_GUESS_RPS: f64 = 1000.0;

impl Runner {
    /// Requests (or transactions) a pool must serve for `rps` over the point.
    fn pool_size(&self, rps: f64) -> u64 {
        (rps * self.params.secs as f64).ceil().max(50.0) as u64
    }

    /// Loads a fresh pool for a delete workload: `units` requests' worth
    /// (ten task ids, or one asset of ten task results, per request).
    /// Returns the pool's `[lo, hi)` in request units.
    fn load_pool(&mut self, workload: Workload, units: u64) -> Result<(u64, u64)> {
        let t = Instant::now();
        let range = match workload {
            Workload::DeleteTasks => {
                let (lo, hi) = (self.next_d, self.next_d + units * 10);
                self.next_d = hi;
                self.sql
                    .insert_tasks("'d' || n", "'y' || (n / 10)", lo, hi)?;
                (lo / 10, hi / 10)
            }
            _ => {
                let (lo, hi) = (self.next_x, self.next_x + units);
                self.next_x = hi;
                self.sql.insert_tasks(
                    "'x' || (n / 10) || '_' || (n % 10)",
                    "'x' || (n / 10)",
                    lo * 10,
                    hi * 10,
                )?;
                (lo, hi)
            }
        };
        println!(
            "pool: {} requests' worth of {} loaded in {:.1}s",
            units,
            workload.name(),
            t.elapsed().as_secs_f64()
        );
        Ok(range)
    }

    fn vodsnap_point(
        &mut self,
        server: &Server,
        workload: Workload,
        clients: u32,
        last_rate: Option<f64>,
    ) -> Result<Point> {
        let p = &self.params;
        let mut cmd = self.env.command(&self.loadgen);
        cmd.args(["--addr", &server.addr, "--project", PROJECT])
            .args(["--ak", ACCESS_KEY, "--sk", SECRET_KEY])
            .args(["--workload", workload.name()])
            .args(["--concurrency", &clients.to_string()])
            .args(["--secs", &p.secs.to_string()])
            .args(["--tasks", &p.tasks.to_string()])
            .args(["--assets", &p.assets.to_string()])
            .args(["--images", &p.images.to_string()]);
        match workload {
            Workload::Register => {
                cmd.args(["--prefix", &format!("g{clients}")]);
            }
            Workload::DeleteTasks | Workload::DeleteAsset => {
                // Generous: a point that runs out stops early and says so.
                let guess = last_rate.map_or(FIRST_GUESS_RPS, |r| (r * 2.0).max(FIRST_GUESS_RPS));
                let (lo, hi) = self.load_pool(workload, self.pool_size(guess))?;
                let prefix = if workload == Workload::DeleteTasks {
                    "d"
                } else {
                    "x"
                };
                // vodsnap-bench counts the task pool in task numbers.
                let unit = if workload == Workload::DeleteTasks {
                    10
                } else {
                    1
                };
                cmd.args(["--prefix", prefix]).args([
                    "--lo",
                    &(lo * unit).to_string(),
                    "--hi",
                    &(hi * unit).to_string(),
                ]);
            }
            Workload::List | Workload::Details => {}
        }
        let line = proc::display(&cmd);
        println!("$ {line}");
        let cpu_before = cpu::sample(Some(server.pid()));
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start `{line}`"))?;
        let cpu_after = cpu::sample(Some(server.pid()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("`{line}` failed ({}): {stdout}", out.status);
        }
        let result = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .with_context(|| format!("no RESULT line from vodsnap-bench: {stdout}"))?;
        let get = |key: &str| -> f64 {
            result
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let mut point = Point {
            ok: get("ok") as u64,
            errors: get("errors") as u64,
            secs: get("secs"),
            rps: get("rps"),
            p50_us: get("p50_us"),
            p99_us: get("p99_us"),
            p999_us: get("p999_us"),
            note: String::new(),
            cpu: cpu::PerRequest::default(),
        };
        point.cpu = cpu_before.per_request(&cpu_after, point.ok, self.tick_us);
        if get("exhausted") > 0.0 {
            point.note = format!("pool ran out after {:.1}s", point.secs);
        }
        Ok(point)
    }

    fn pgbench_point(
        &mut self,
        workload: Workload,
        clients: u32,
        vodsnap_rps: f64,
    ) -> Result<Point> {
        let p = self.params.clone();
        let threads = clients.min(2);
        let prefix = self
            .work
            .join(format!("pgbench_{}_{clients}", workload.name()));
        remove_logs(&prefix);
        let mut cmd = self.env.command("pgbench");
        cmd.args(["-n", "-M", "prepared"])
            .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
            .args(["-T", &p.secs.to_string()])
            .arg("-f")
            .arg(self.scripts.join(workload.script()))
            .args(["-D", &format!("project={PROJECT}")])
            .args(["-D", &format!("ak={ACCESS_KEY}")])
            .args(["-D", &format!("assets={}", p.assets)])
            .args(["-D", &format!("tasks={}", p.tasks)])
            .args(["-D", "seq=0"])
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
        let mut expected_per_tx = 0;
        let tombstones_before = match workload {
            Workload::DeleteTasks | Workload::DeleteAsset => {
                // Each client gets its own share; PostgreSQL alone is
                // faster than through vodsnap, hence the margin.
                let rate = (vodsnap_rps * 2.5).max(FIRST_GUESS_RPS);
                let per_client = self.pool_size(rate).div_ceil(u64::from(clients)) + 20;
                let (lo, _) = self.load_pool(workload, per_client * u64::from(clients))?;
                cmd.args([
                    "-D",
                    &format!(
                        "lo={}",
                        lo * if workload == Workload::DeleteTasks {
                            10
                        } else {
                            1
                        }
                    ),
                ])
                .args(["-D", &format!("stride={per_client}")]);
                expected_per_tx = 10;
                Some(self.sql.tombstones()?)
            }
            Workload::Register => {
                let offsets: Vec<String> = (0..p.images)
                    .map(|k| (u64::from(k) * 10).to_string())
                    .collect();
                cmd.args(["-D", &format!("run=p{clients}")])
                    .args(["-D", &format!("images={}", p.images)])
                    .args(["-D", &format!("offsets={{{}}}", offsets.join(","))])
                    .args(["-D", &format!("para={PARA}")]);
                None
            }
            Workload::List | Workload::Details => None,
        };
        cmd.arg(&self.sql.url);
        let line = proc::display(&cmd);
        println!("$ {line}");
        let cpu_before = cpu::sample(None);
        let out = cmd
            .output()
            .with_context(|| format!("could not start `{line}`"))?;
        let cpu_after = cpu::sample(None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let find = |prefix: &str| -> Option<f64> {
            stdout.lines().find_map(|l| {
                let rest = l.trim().strip_prefix(prefix)?.trim();
                rest.split(['/', ' ']).next()?.parse().ok()
            })
        };
        let processed = find("number of transactions actually processed:").unwrap_or(0.0) as u64;
        let failed = find("number of failed transactions:").unwrap_or(0.0) as u64;
        let tps = find("tps =").unwrap_or(0.0);
        let mut errors = failed;
        if !out.status.success() || stderr.contains("aborted") {
            eprintln!("pgbench stderr:\n{stderr}");
            errors = errors.max(1);
        }
        let mut latencies = read_pgbench_logs(&prefix)?;
        remove_logs(&prefix);
        latencies.sort_unstable();
        let mut point = Point {
            ok: processed,
            errors,
            secs: p.secs as f64,
            rps: tps,
            p50_us: percentile(&latencies, 0.50),
            p99_us: percentile(&latencies, 0.99),
            p999_us: percentile(&latencies, 0.999),
            note: String::new(),
            cpu: cpu_before.per_request(&cpu_after, processed, self.tick_us),
        };
        if let Some(before) = tombstones_before {
            let deleted = self.sql.tombstones()?.saturating_sub(before);
            let expected = processed * expected_per_tx;
            if deleted < expected {
                point.note = format!(
                    "pool ran out: {deleted} of {expected} deletes did work; rate overstated"
                );
            }
        }
        Ok(point)
    }
}

fn remove_logs(prefix: &Path) {
    for file in log_files(prefix) {
        let _ = fs::remove_file(file);
    }
}

/// pgbench's per-transaction logs: `{prefix}.{pid}` and `{prefix}.{pid}.{thread}`.
fn log_files(prefix: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (prefix.parent(), prefix.file_name()) else {
        return Vec::new();
    };
    let stem = format!("{}.", stem.to_string_lossy());
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Latencies (µs, the third field of each line) of every logged transaction.
fn read_pgbench_logs(prefix: &Path) -> Result<Vec<u64>> {
    let mut latencies = Vec::new();
    for file in log_files(prefix) {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        latencies.extend(
            text.lines()
                .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
        );
    }
    Ok(latencies)
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

// ---------------------------------------------------------------------------
// The report

const NOTES_HEADING: &str = "## Before/after notes";

fn render(params: &Params, rows: &[Row], admin: &str, took: Duration, env: &Env) -> String {
    let mut md = String::new();
    let date = command_line(env, "date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let mut commit = command_line(env, "git", &["rev-parse", "--short", "HEAD"]);
    if !command_line(
        env,
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .is_empty()
    {
        commit.push_str(" (with uncommitted changes)");
    }
    let pg_version = command_line(
        env,
        "psql",
        &["-X", "-tA", "-d", admin, "-c", "SHOW server_version"],
    );
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Produced by `cargo xtask bench{}` (see `xtask/src/bench.rs` for the method); \
         re-run it to refresh the table.\n",
        if params.quick { " --quick" } else { "" }
    );
    let _ = writeln!(md, "- date: {date}");
    let _ = writeln!(md, "- commit: {commit}");
    let _ = writeln!(
        md,
        "- machine: {} CPUs ({}), {} memory; PostgreSQL {pg_version} on the same machine",
        thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        mem_total()
    );
    let _ = writeln!(
        md,
        "- data set: {} task results x {} images over {} assets (bulk-loaded, then VACUUM ANALYZE)",
        params.tasks, params.images, params.assets
    );
    let _ = writeln!(
        md,
        "- {} s per point; clients: {}; server: `vodsnap serve` (release){}; run took {:.0} s",
        params.secs,
        params
            .concurrency
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        params
            .max_connections
            .map(|n| format!(", --database-max-connections {n}"))
            .unwrap_or_default(),
        took.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "- vodsnap: `vodsnap-bench`, one keep-alive HTTP/1.1 connection per client, every request \
         AK/SK-signed as the Huawei SDK signs (authentication on the measured path, including its \
         credential lookup); pgbench: `-M prepared -c N -j min(N,2) -T {}` running the same \
         statements (`xtask/bench/*.sql`, credential lookup not included)",
        params.secs
    );
    let _ = writeln!(
        md,
        "- latencies in ms; ratio = vodsnap req/s / pgbench tx/s, p99 ratio = vodsnap p99 / \
         pgbench p99; RSS = the server's VmHWM (peak) after the point\n"
    );
    md.push_str(
        "| workload | clients | vodsnap req/s | p50 | p99 | p99.9 | errors | pgbench tx/s | p50 | p99 | p99.9 | ratio | p99 ratio | peak RSS |\n",
    );
    md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let mut notes = Vec::new();
    for row in rows {
        let v = &row.vodsnap;
        let ms = |us: f64| format!("{:.2}", us / 1000.0);
        let (pg_cols, ratio, p99_ratio) = match &row.pgbench {
            Some(g) => (
                format!(
                    "{:.0} | {} | {} | {}",
                    g.rps,
                    ms(g.p50_us),
                    ms(g.p99_us),
                    ms(g.p999_us)
                ),
                if g.rps > 0.0 {
                    format!("{:.2}", v.rps / g.rps)
                } else {
                    "-".to_owned()
                },
                if g.p99_us > 0.0 {
                    format!("{:.1}", v.p99_us / g.p99_us)
                } else {
                    "-".to_owned()
                },
            ),
            None => ("- | - | - | -".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        for (who, p) in [("vodsnap", Some(v)), ("pgbench", row.pgbench.as_ref())] {
            if let Some(p) = p
                && !p.note.is_empty()
            {
                notes.push(format!(
                    "- {} with {} clients, {who}: {}",
                    row.workload.title(),
                    row.clients,
                    p.note
                ));
            }
        }
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {pg_cols} | {ratio} | {p99_ratio} | {:.1} MiB |",
            row.workload.title(),
            row.clients,
            v.rps,
            ms(v.p50_us),
            ms(v.p99_us),
            ms(v.p999_us),
            v.errors,
            row.peak_rss_kib as f64 / 1024.0
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\nNotes:\n\n{}", notes.join("\n"));
    }
    render_cpu(&mut md, rows);
    md
}

/// Where the CPU goes, per request: with the machine's cores saturated,
/// throughput is about cores / CPU per request, so this table explains the
/// ratio of the first.
fn render_cpu(md: &mut String, rows: &[Row]) {
    md.push_str(
        "\n### CPU per request\n\n\
         User + system CPU time per request (vodsnap) or transaction (pgbench), µs, from \
         `/proc` over each point: `server` is `vodsnap serve` in user space (`user`) and in \
         the kernel (`sys`, its sockets mostly), `postgres` every PostgreSQL process (backends \
         that exited included), `client` the load generator or pgbench. When the cores are \
         saturated, throughput is about cores / total, so `CPU ratio` (pgbench total / \
         vodsnap total) is the ratio that the machine's CPU allows, and `without user` the \
         ratio it would allow if vodsnap's own code took no CPU at all.\n\n\
         | workload | clients | server user | server sys | postgres | client | total | pgbench postgres | client | total | CPU ratio | without user |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    for row in rows {
        let v = row.vodsnap.cpu;
        let g = row.pgbench.as_ref().map(|p| p.cpu).unwrap_or_default();
        let ratio = |vodsnap: Option<f64>| match (g.total_us(), vodsnap) {
            (Some(g), Some(v)) if v > 0.0 => format!("{:.2}", g / v),
            _ => "-".to_owned(),
        };
        let without_user = v.total_us().map(|t| t - v.server_user_us.unwrap_or(0.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.workload.title(),
            row.clients,
            us(v.server_user_us),
            us(v.server_sys_us),
            us(v.postgres_us),
            us(v.client_us),
            us(v.total_us()),
            us(g.postgres_us),
            us(g.client_us),
            us(g.total_us()),
            ratio(v.total_us()),
            ratio(without_user),
        );
    }
}

/// Writes `report`, keeping the "Before/after notes" section of the file
/// already there (the lead's notes), or starting an empty one.
fn write_report(target: &Path, report: &str) -> Result<()> {
    let old = fs::read_to_string(target).unwrap_or_default();
    let notes = old.find(NOTES_HEADING).map_or_else(
        || {
            format!(
                "{NOTES_HEADING}\n\n<!-- Kept across runs: `cargo xtask bench` rewrites everything \
                 above this section. Record each optimisation with the table rows before and \
                 after it. -->\n"
            )
        },
        |i| old[i..].to_owned(),
    );
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file =
        fs::File::create(target).with_context(|| format!("writing {}", target.display()))?;
    write!(file, "{report}\n{notes}").with_context(|| format!("writing {}", target.display()))?;
    Ok(())
}

fn command_line(env: &Env, program: &str, args: &[&str]) -> String {
    proc::output(env.command(program).args(args))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn mem_total() -> String {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 0.999), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn report_keeps_the_notes_section() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask_bench_test_{}", std::process::id()));
        let file = dir.join("benchmarks.md");
        write_report(&file, "# Benchmarks\n\nfirst\n")?;
        let first = fs::read_to_string(&file)?;
        assert!(first.contains(NOTES_HEADING));
        let edited = first.replace("above this section.", "above this section.\nmy note");
        fs::write(&file, edited)?;
        write_report(&file, "# Benchmarks\n\nsecond\n")?;
        let second = fs::read_to_string(&file)?;
        assert!(second.contains("second") && !second.contains("first"));
        assert!(second.contains("my note"));
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
