//! `--soak DURATION`, under fire (issue 25 part 3): the `mixed` workload at
//! 64 clients while everything that can run at once does, and two outages
//! in the middle.
//!
//! The world, all of it private to the run:
//! - PostgreSQL: a cluster of its own (`pgcluster`: initdb in a temporary
//!   directory, `pg_ctl` on a free port), since the soak restarts it and
//!   the machine's shared server must not be touched;
//! - S3: moto, which `vodsnap serve` reaches through a TCP proxy the soak
//!   switches (`vodsnap_server_process::proxy`, the app's outage tests'
//!   proxy); the producer (the load generator, uploading each
//!   registration's image before registering it, as a producer does) and
//!   the final reconcile go to moto directly;
//! - `vodsnap serve` (release) with the cleanup on (`--retention 0s`: a
//!   deleted task's images are removed at once, so it deletes all along),
//!   webhook delivery workers, `--allow-private-webhooks`, and short retry
//!   delays so that the end drains in minutes;
//! - a webhook receiver (`receiver`) subscribed to every event (`vodsnap
//!   webhooks create`), answering a tenth of the deliveries 500.
//!
//! The timeline (`Timeline::of`): the store goes away (proxy down) for
//! min(2 min, duration/6) from a third of the duration; PostgreSQL is
//! stopped (`pg_ctl stop -m fast`) at two thirds, for duration/60 between 5
//! and 30 s, then started again. Requests may fail only inside a window or
//! within [`GRACE`] after it ends (the pool finds its dead connections by
//! their first query), and only with the documented answers for a database
//! outage: 503 `VOD.10052`, or a delete by task ids answered 200 with
//! `UNKNOW` items (docs/API.md). Anything else, anywhere, fails the run.
//!
//! Every [`PROGRESS`]: the server's RSS, requests and errors so far, the
//! cleanup queue (`vodsnap cleanup status`) and the webhook backlog. RSS is
//! also sampled every `--soak-interval` for the verdict on growth
//! (`soak::Verdict`). At the end: the queues drain (cleanup queued and
//! parked, purges, webhook deliveries pending and parked all zero, within
//! [`DRAIN_CAP`]); every event of the outbox was accepted by the receiver,
//! none twice (except one first accepted around the PostgreSQL restart: a
//! worker that cannot record a delivery sends it again, the documented
//! at-least-once), none unknown; and `vodsnap reconcile --all` exits 0.
//! Any of those failing fails the run. The report goes to
//! `target/bench/soak.md`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_domain::ObjectKey;
use vodsnap_server_process::ServerProcess;
use vodsnap_server_process::proxy::Proxy;

use crate::cleanup::{BUCKET, Moto, upload_keys};
use crate::database::{ScratchDatabase, output, psql};
use crate::dataset::Dataset;
use crate::loadgen::{self, Auth, Drive, Extras, Failure, Measured, Producer, Tally, Target};
use crate::params::{Args, Params, Paths};
use crate::pgcluster::PgCluster;
use crate::receiver::Receiver;
use crate::server::{ACCESS_KEY, PROJECT, SECRET_KEY, credential_key, serve_command};
use crate::soak::{Sample, Verdict, load_average, mib, sample_rss};
use crate::workload::Workload;

/// Clients unless `--concurrency` says otherwise.
const CLIENTS: u32 = 64;
/// How often the progress row is taken.
pub const PROGRESS: Duration = Duration::from_secs(30);
/// After a window ends, failures are still the window's for this long.
pub const GRACE: Duration = Duration::from_secs(15);
/// The longest the end waits for the queues to drain.
pub const DRAIN_CAP: Duration = Duration::from_secs(600);
/// The answers a database outage may give (docs/API.md, "Errors").
const DOCUMENTED: [&str; 2] = ["HTTP 503 VOD.10052", "200 with UNKNOW items VOD.10052"];

/// When the outages happen, from the start of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub store_at: Duration,
    pub store_for: Duration,
    pub pg_at: Duration,
    pub pg_for: Duration,
}

impl Timeline {
    pub fn of(soak: Duration) -> Self {
        Self {
            store_at: soak / 3,
            store_for: (soak / 6).min(Duration::from_secs(120)),
            pg_at: soak * 2 / 3,
            pg_for: (soak / 60).clamp(Duration::from_secs(5), Duration::from_secs(30)),
        }
    }
}

/// An outage as it happened, seconds from the start of the load.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: &'static str,
    pub from: f64,
    pub to: f64,
}

impl Window {
    /// Whether `at` is in the window or its grace.
    fn covers(&self, at: f64) -> bool {
        at >= self.from && at <= self.to + GRACE.as_secs_f64()
    }
}

/// One progress row.
#[derive(Debug, Clone)]
struct Row {
    at: f64,
    rss_kib: Option<u64>,
    ok: u64,
    errors: usize,
    cleanup_queued: Option<u64>,
    webhook_backlog: Option<u64>,
}

/// The queues at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Queues {
    cleanup_queued: u64,
    cleanup_parked: u64,
    purges: u64,
    webhooks_pending: u64,
    webhooks_parked: u64,
}

impl Queues {
    fn empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The webhook check.
#[derive(Debug, Default)]
struct Exactly {
    events: usize,
    accepted: usize,
    duplicates_in_windows: usize,
    duplicates_outside: usize,
    missing: usize,
    unknown: usize,
}

pub fn run(args: &Args, soak: Duration) -> Result<ExitCode> {
    let params = Params::from(args)?;
    let paths = Paths::from(args)?;
    let clients = args
        .concurrency
        .as_ref()
        .and_then(|c| c.first().copied())
        .unwrap_or(CLIENTS);
    let tasks = args.tasks.unwrap_or(2_000);
    let assets = args.assets.unwrap_or(200);
    // One image per task: each is an object in moto, uploaded by the
    // producer before its registration.
    let images = args.images_per_task.unwrap_or(1);
    let interval = Duration::from_secs(args.soak_interval.max(1));
    let timeline = Timeline::of(soak);
    if !paths.vodsnap.exists() {
        bail!(
            "{} is missing: build it (cargo build --release -p vodsnap-app)",
            paths.vodsnap.display()
        );
    }
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;
    let load_before = load_average();

    println!("\n==> bench --soak: a private PostgreSQL, moto behind a proxy, a webhook receiver");
    let cluster = PgCluster::start(&std::env::temp_dir())?;
    println!("postgres: {}", cluster.url());
    let scratch = ScratchDatabase::create(&cluster.url(), "vodsnap_soak")?;
    let moto = Moto::start(&paths.workspace)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the soak's runtime")?;
    let moto_addr = std::net::SocketAddr::from(([127, 0, 0, 1], moto.port));
    let proxy = runtime
        .block_on(Proxy::start(moto_addr))
        .context("starting the store's proxy")?;
    let (receiver, hook_addr) = runtime.block_on(Receiver::start())?;
    println!(
        "moto: port {} (vodsnap through the proxy on {}); webhook receiver on {hook_addr}",
        moto.port, proxy.addr
    );

    let key = credential_key(&paths.vodsnap)?;
    let storage = format!("s3://{BUCKET}");
    let mut cmd = serve_command(&paths.vodsnap, &scratch.url, &params, &key);
    cmd.args(["--storage", &storage])
        .envs(Moto::env_at(proxy.addr.port()))
        .args(["--retention", "0s"])
        .args(["--cleanup-workers", "1"])
        .args(["--cleanup-retry-base", "1s", "--cleanup-retry-max", "30s"])
        .args(["--webhook-workers", "4"])
        .args(["--webhook-retry-base", "1s", "--webhook-retry-max", "10s"])
        .arg("--allow-private-webhooks");
    let log = paths.work.join("soak-server.log");
    let mut server = ServerProcess::start(cmd, &log, Duration::from_secs(60))?;
    println!(
        "server: pid {} on {} (log: {})",
        server.pid(),
        server.addr(),
        log.display()
    );

    let dataset = Dataset::new(&scratch.url, PROJECT, images)?;
    println!(
        "loading {tasks} task results x {images} images over {assets} assets, and their objects"
    );
    dataset.load(tasks, assets)?;
    let keys = (0..tasks)
        .flat_map(|n| (0..images).map(move |k| format!("{PROJECT}/a{}/t{n}/{k}.jpg", n % assets)))
        .map(|k| ObjectKey::parse(&k))
        .collect::<Result<Vec<_>, _>>()
        .context("a data set key")?;
    let direct = Arc::new(ObjectImageStore::open_with_env(
        &StorageUrl::S3 {
            bucket: BUCKET.to_owned(),
        },
        moto.env(),
    )?);
    runtime.block_on(upload_keys(&direct, &keys))?;

    output(
        Command::new(&paths.vodsnap)
            .args(["webhooks", "create", "--database-url", &scratch.url])
            .args(["--credential-keys", &key, "--project", PROJECT])
            .args(["--url", &format!("http://{hook_addr}/hook")])
            .arg("--allow-private-webhooks")
            .stdout(Stdio::null()),
    )
    .context("subscribing the receiver")?;

    let target = Target {
        addr: server.addr().to_owned(),
        project: PROJECT.to_owned(),
        access_key: ACCESS_KEY.to_owned(),
        secret_key: SECRET_KEY.to_owned(),
        auth: Auth::AkSk,
    };
    let drive = Drive {
        workload: Workload::Mixed,
        clients,
        secs: soak.as_secs_f64(),
        tasks,
        assets,
        images,
        prefix: "s".to_owned(),
        pool: 0..0,
    };
    let tally = Arc::new(Tally::default());
    let extras = Extras {
        producer: Some(Producer {
            addr: moto_addr.to_string(),
            bucket: BUCKET.to_owned(),
        }),
        tally: Some(tally.clone()),
    };
    println!(
        "\n==> bench --soak: {} with {clients} clients for {}s; store outage at {}s for {}s, \
         PostgreSQL stopped at {}s for {}s",
        Workload::Mixed.title(),
        soak.as_secs(),
        timeline.store_at.as_secs(),
        timeline.store_for.as_secs(),
        timeline.pg_at.as_secs(),
        timeline.pg_for.as_secs()
    );
    let stop = AtomicBool::new(false);
    let pid = server.pid();
    let started = Instant::now();
    let world = World {
        vodsnap: &paths.vodsnap,
        url: &scratch.url,
        pid,
    };
    let (measured, samples, rows, windows) = thread::scope(|s| {
        let sampler = s.spawn(|| sample_rss(pid, interval, &stop));
        let monitor = s.spawn(|| monitor(&world, &tally, started, &stop));
        let outages = s.spawn(|| outages(&timeline, started, &proxy, &cluster));
        let measured = loadgen::drive_with(&target, &drive, &extras);
        stop.store(true, Ordering::Relaxed);
        let join = |what| anyhow::anyhow!("the {what} thread panicked");
        Ok::<_, anyhow::Error>((
            measured,
            sampler.join().map_err(|_| join("RSS sampler"))?,
            monitor.join().map_err(|_| join("monitor"))?,
            outages.join().map_err(|_| join("outage"))??,
        ))
    })?;
    let measured = measured?;
    server.check_alive()?;

    println!(
        "\n==> bench --soak: draining the queues (at most {}s)",
        DRAIN_CAP.as_secs()
    );
    let drain_started = Instant::now();
    let drained = drain(&world)?;
    let drain_secs = drain_started.elapsed().as_secs_f64();
    let exactly = exactly_once(&scratch.url, &receiver, &windows, started)?;
    let (reconcile_code, reconcile_line) = reconcile(&paths.vodsnap, &scratch.url, &moto)?;
    server.check_alive()?;
    let load_after = load_average();
    let final_rss = vodsnap_server_process::rss_kib(pid);

    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let verdict = Verdict::of(&rss)?;
    let failures = tally.failures();
    let judged = judge(&failures, &windows, started);

    let mut faults = Vec::new();
    if verdict.growing {
        faults.push("the server's memory kept growing".to_owned());
    }
    for ((place, class), n) in &judged {
        if place != "documented" {
            faults.push(format!("{n} failed requests {place}: {class}"));
        }
    }
    if !drained.empty() {
        faults.push(format!("the queues did not drain: {drained:?}"));
    }
    if exactly.missing > 0 || exactly.unknown > 0 || exactly.duplicates_outside > 0 {
        faults.push(format!("webhooks not delivered exactly once: {exactly:?}"));
    }
    if reconcile_code != Some(0) {
        faults.push(format!(
            "`vodsnap reconcile --all` exited {reconcile_code:?}: {reconcile_line}"
        ));
    }

    let report = render(&Rendered {
        soak,
        clients,
        tasks,
        assets,
        images,
        interval,
        load_before: &load_before,
        load_after: &load_after,
        measured: &measured,
        samples: &samples,
        verdict: &verdict,
        rows: &rows,
        windows: &windows,
        judged: &judged,
        drained: &drained,
        drain_secs,
        final_rss,
        exactly: &exactly,
        receiver: &receiver,
        reconcile_code,
        reconcile_line: &reconcile_line,
        faults: &faults,
    });
    println!("\n{report}");
    let file = paths.work.join("soak.md");
    fs::write(&file, &report).with_context(|| format!("writing {}", file.display()))?;
    println!("written to {}", file.display());
    drop(server);
    drop(scratch);
    drop(cluster);
    if faults.is_empty() {
        println!(
            "bench --soak: memory flat, errors only the documented ones inside the windows, drained, delivered once, reconciled"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &faults {
            eprintln!("bench --soak: ERROR: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// What the helpers below talk to.
struct World<'a> {
    vodsnap: &'a Path,
    url: &'a str,
    pid: u32,
}

/// Plays the timeline; the windows as they happened.
fn outages(
    timeline: &Timeline,
    started: Instant,
    proxy: &Proxy,
    cluster: &PgCluster,
) -> Result<Vec<Window>> {
    let since = |t: Instant| t.duration_since(started).as_secs_f64();
    let mut windows = Vec::new();
    sleep_until(started + timeline.store_at);
    let from = Instant::now();
    proxy.set_up(false);
    println!("soak: {:.0}s: the store is down (proxy)", since(from));
    thread::sleep(timeline.store_for);
    proxy.set_up(true);
    let to = Instant::now();
    println!("soak: {:.0}s: the store is back", since(to));
    windows.push(Window {
        name: "store outage (proxy down)",
        from: since(from),
        to: since(to),
    });
    sleep_until(started + timeline.pg_at);
    let from = Instant::now();
    cluster.stop()?;
    println!("soak: {:.0}s: PostgreSQL stopped", since(Instant::now()));
    thread::sleep(timeline.pg_for);
    cluster.start_again()?;
    let to = Instant::now();
    println!("soak: {:.0}s: PostgreSQL started again", since(to));
    windows.push(Window {
        name: "PostgreSQL restart (stop -m fast, start)",
        from: since(from),
        to: since(to),
    });
    Ok(windows)
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        thread::sleep(when - now);
    }
}

/// A progress row every [`PROGRESS`] until `stop`, the first at once.
fn monitor(world: &World<'_>, tally: &Tally, started: Instant, stop: &AtomicBool) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut next = started;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            let queues = queues(world).ok();
            let row = Row {
                at: started.elapsed().as_secs_f64(),
                rss_kib: vodsnap_server_process::rss_kib(world.pid),
                ok: tally.ok.load(Ordering::Relaxed),
                errors: tally.failures().len(),
                cleanup_queued: queues.as_ref().map(|q| q.cleanup_queued),
                webhook_backlog: queues.as_ref().map(|q| q.webhooks_pending),
            };
            println!(
                "soak: {:.0}s: RSS {}, {} ok, {} errors, cleanup queue {}, webhook backlog {}",
                row.at,
                row.rss_kib.map_or("-".to_owned(), |k| mib(k as f64)),
                row.ok,
                row.errors,
                shown(row.cleanup_queued),
                shown(row.webhook_backlog)
            );
            rows.push(row);
            next += PROGRESS;
        }
        thread::sleep(Duration::from_millis(100));
    }
    rows
}

fn shown(n: Option<u64>) -> String {
    n.map_or("-".to_owned(), |n| n.to_string())
}

/// The cleanup's figures (`vodsnap cleanup status`) and the webhook
/// deliveries not delivered.
fn queues(world: &World<'_>) -> Result<Queues> {
    let status = output(
        Command::new(world.vodsnap)
            .args(["cleanup", "status", "--database-url", world.url])
            .args(["--database-max-connections", "1"])
            .env("RUST_LOG", "error"),
    )?;
    let status: serde_json::Value = serde_json::from_str(
        status
            .lines()
            .last()
            .context("`vodsnap cleanup status` printed nothing")?,
    )
    .context("`vodsnap cleanup status`'s JSON")?;
    let field = |name: &str| status.get(name).and_then(serde_json::Value::as_u64);
    let webhooks = output(&mut psql(
        world.url,
        "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL) || ' ' || \
         count(*) FILTER (WHERE parked_at IS NOT NULL) FROM webhook_deliveries",
    ))?;
    let mut webhooks = webhooks.split_whitespace().map(str::parse::<u64>);
    let mut next = || {
        webhooks
            .next()
            .and_then(|n| n.ok())
            .context("the webhook backlog")
    };
    Ok(Queues {
        cleanup_queued: field("queued").context("cleanup status: queued")?,
        cleanup_parked: field("parked").context("cleanup status: parked")?,
        purges: field("purges_running").unwrap_or(0) + field("purges_parked").unwrap_or(0),
        webhooks_pending: next()?,
        webhooks_parked: next()?,
    })
}

/// Waits until the queues are empty, or [`DRAIN_CAP`]; the last figures.
fn drain(world: &World<'_>) -> Result<Queues> {
    let deadline = Instant::now() + DRAIN_CAP;
    loop {
        let q = queues(world)?;
        if q.empty() || Instant::now() >= deadline {
            println!("soak: queues {q:?}");
            return Ok(q);
        }
        thread::sleep(Duration::from_secs(2));
    }
}

/// Every event of the outbox against what the receiver accepted.
fn exactly_once(
    url: &str,
    receiver: &Receiver,
    windows: &[Window],
    started: Instant,
) -> Result<Exactly> {
    let events: HashSet<String> = output(&mut psql(
        url,
        &format!("SELECT id FROM webhook_events WHERE project_id = '{PROJECT}'"),
    ))?
    .lines()
    .map(str::trim)
    .filter(|l| !l.is_empty())
    .map(str::to_owned)
    .collect();
    let accepted = receiver.accepted();
    let pg = windows.iter().find(|w| w.name.starts_with("PostgreSQL"));
    let mut out = Exactly {
        events: events.len(),
        accepted: accepted.len(),
        ..Exactly::default()
    };
    for (id, times) in &accepted {
        if !events.contains(id) {
            out.unknown += 1;
        }
        if times.len() > 1 {
            // The first acceptance that could not be recorded: around the
            // restart (a send under way when it began, or in its grace).
            let first = times[0].duration_since(started).as_secs_f64();
            if pg.is_some_and(|w| w.covers(first + GRACE.as_secs_f64())) {
                out.duplicates_in_windows += 1;
            } else {
                out.duplicates_outside += 1;
            }
        }
    }
    out.missing = events
        .iter()
        .filter(|id| !accepted.contains_key(*id))
        .count();
    Ok(out)
}

/// `vodsnap reconcile --all --format json` against moto directly: its exit
/// code and last line.
fn reconcile(vodsnap: &Path, url: &str, moto: &Moto) -> Result<(Option<i32>, String)> {
    let out = Command::new(vodsnap)
        .args([
            "reconcile",
            "--all",
            "--format",
            "json",
            "--database-url",
            url,
        ])
        .args(["--storage", &format!("s3://{BUCKET}")])
        .envs(moto.env())
        .env("RUST_LOG", "error")
        .output()
        .context("running `vodsnap reconcile --all`")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("").to_owned();
    let line = if line.is_empty() {
        String::from_utf8_lossy(&out.stderr).trim().to_owned()
    } else {
        line
    };
    Ok((out.status.code(), line))
}

/// Failures counted by (where, class): `documented` (a documented answer
/// inside a window or its grace), `inside a window` (another answer there),
/// `outside the windows`.
fn judge(
    failures: &[Failure],
    windows: &[Window],
    started: Instant,
) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for f in failures {
        let at = f.at.duration_since(started).as_secs_f64();
        let inside = windows.iter().any(|w| w.covers(at));
        let place = match (inside, DOCUMENTED.contains(&f.class.as_str())) {
            (true, true) => "documented",
            (true, false) => "inside a window, undocumented",
            (false, _) => "outside the windows",
        };
        *out.entry((place.to_owned(), f.class.clone())).or_insert(0) += 1;
    }
    out
}

struct Rendered<'a> {
    soak: Duration,
    clients: u32,
    tasks: u64,
    assets: u64,
    images: u32,
    interval: Duration,
    load_before: &'a str,
    load_after: &'a str,
    measured: &'a Measured,
    samples: &'a [Sample],
    verdict: &'a Verdict,
    rows: &'a [Row],
    windows: &'a [Window],
    judged: &'a BTreeMap<(String, String), u64>,
    drained: &'a Queues,
    drain_secs: f64,
    final_rss: Option<u64>,
    exactly: &'a Exactly,
    receiver: &'a Receiver,
    reconcile_code: Option<i32>,
    reconcile_line: &'a str,
    faults: &'a [String],
}

fn render(r: &Rendered<'_>) -> String {
    let m = r.measured;
    let v = r.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Soak under fire: {} s of mixed traffic at {} clients\n",
        r.soak.as_secs(),
        r.clients
    );
    let _ = writeln!(
        out,
        "- date: {}; `cargo xtask bench --soak {}s` (release binary; PostgreSQL: a private cluster on the same machine; S3: moto, reached by vodsnap through a switchable TCP proxy)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        r.soak.as_secs()
    );
    let _ = writeln!(
        out,
        "- data set: {} task results x {} image(s) over {} assets, objects in moto; mix per 100 requests: 45 list, 25 details, 15 registrations (the producer uploads the image first), 15 deletes of up to 10 of the client's own registrations; the cleanup on (`--retention 0s`); webhook deliveries (4 workers) to a local receiver answering 500 to a tenth",
        r.tasks, r.images, r.assets
    );
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) before: {}; after: {} (2 CPUs, shared with other builds)",
        r.load_before, r.load_after
    );
    for w in r.windows {
        let _ = writeln!(out, "- {}: {:.0} s to {:.0} s", w.name, w.from, w.to);
    }
    let _ = writeln!(
        out,
        "- requests: {} ok, {} failed, {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms",
        m.ok,
        m.errors,
        m.rps,
        m.p50_us as f64 / 1000.0,
        m.p99_us as f64 / 1000.0
    );
    if r.judged.is_empty() {
        let _ = writeln!(out, "- failures: none");
    }
    for ((place, class), n) in r.judged {
        let _ = writeln!(out, "- failures, {place}: {n} x {class}");
    }
    let _ = writeln!(
        out,
        "- RSS (VmRSS every {} s, {} samples), mean per third: warm-up {}, second {}, last {}; growth {} against a tolerance of {}: {}; after the drain: {}",
        r.interval.as_secs(),
        r.samples.len(),
        mib(v.warm_up_kib),
        mib(v.middle_kib),
        mib(v.last_kib),
        mib(v.last_kib - v.middle_kib),
        mib(v.tolerance_kib),
        if v.growing {
            "**KEEPS GROWING (fail)**"
        } else {
            "flat (pass)"
        },
        r.final_rss.map_or("-".to_owned(), |k| mib(k as f64))
    );
    let d = r.drained;
    let _ = writeln!(
        out,
        "- drain after the load: {:.0} s; then cleanup queued {}, parked {}, purges {}; webhook deliveries pending {}, parked {}: {}",
        r.drain_secs,
        d.cleanup_queued,
        d.cleanup_parked,
        d.purges,
        d.webhooks_pending,
        d.webhooks_parked,
        if d.empty() {
            "drained (pass)"
        } else {
            "**NOT DRAINED (fail)**"
        }
    );
    let e = r.exactly;
    let _ = writeln!(
        out,
        "- webhooks: {} events in the outbox; the receiver got {} deliveries, answered {} of them 500, accepted {} distinct events; missing {}, unknown {}, accepted twice {} around the PostgreSQL restart (at least once, documented) and {} elsewhere: {}",
        e.events,
        r.receiver.received.load(Ordering::Relaxed),
        r.receiver.refused.load(Ordering::Relaxed),
        e.accepted,
        e.missing,
        e.unknown,
        e.duplicates_in_windows,
        e.duplicates_outside,
        if e.missing + e.unknown + e.duplicates_outside == 0 {
            "pass"
        } else {
            "**FAIL**"
        }
    );
    let _ = writeln!(
        out,
        "- `vodsnap reconcile --all`: exit {}: `{}`",
        r.reconcile_code.map_or("-".to_owned(), |c| c.to_string()),
        r.reconcile_line
    );
    let _ = writeln!(
        out,
        "- verdict: {}\n",
        if r.faults.is_empty() {
            "**pass**".to_owned()
        } else {
            format!("**FAIL**: {}", r.faults.join("; "))
        }
    );
    let _ = writeln!(
        out,
        "| elapsed | RSS | requests ok | req/s since the last row | failures so far | cleanup queue | webhook backlog |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut last: Option<&Row> = None;
    for row in r.rows {
        let rate = last.map_or("-".to_owned(), |l| {
            format!("{:.0}", (row.ok - l.ok) as f64 / (row.at - l.at).max(1e-9))
        });
        let _ = writeln!(
            out,
            "| {:.0} s | {} | {} | {} | {} | {} | {} |",
            row.at,
            row.rss_kib.map_or("-".to_owned(), |k| mib(k as f64)),
            row.ok,
            rate,
            row.errors,
            shown(row.cleanup_queued),
            shown(row.webhook_backlog)
        );
        last = Some(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_scale_down_with_the_duration() {
        let hour = Timeline::of(Duration::from_secs(3600));
        assert_eq!(hour.store_at, Duration::from_secs(1200));
        assert_eq!(hour.store_for, Duration::from_secs(120));
        assert_eq!(hour.pg_at, Duration::from_secs(2400));
        assert_eq!(hour.pg_for, Duration::from_secs(30));
        let ten = Timeline::of(Duration::from_secs(600));
        assert_eq!(ten.store_for, Duration::from_secs(100));
        assert_eq!(ten.pg_for, Duration::from_secs(10));
        let five = Timeline::of(Duration::from_secs(300));
        assert_eq!(five.store_for, Duration::from_secs(50));
        assert_eq!(five.pg_for, Duration::from_secs(5));
        // Both windows end before the load does.
        assert!(five.pg_at + five.pg_for < Duration::from_secs(300));
    }

    #[test]
    fn only_documented_answers_inside_a_window_are_forgiven() {
        let started = Instant::now();
        let at = |secs: u64| started + Duration::from_secs(secs);
        let windows = [Window {
            name: "PostgreSQL restart",
            from: 100.0,
            to: 110.0,
        }];
        let failures = [
            Failure {
                at: at(105),
                class: "HTTP 503 VOD.10052".to_owned(),
            },
            Failure {
                at: at(120),
                class: "200 with UNKNOW items VOD.10052".to_owned(),
            },
            Failure {
                at: at(105),
                class: "HTTP 500 VOD.10051".to_owned(),
            },
            Failure {
                at: at(200),
                class: "HTTP 503 VOD.10052".to_owned(),
            },
        ];
        let judged = judge(&failures, &windows, started);
        let count = |place: &str| -> u64 {
            judged
                .iter()
                .filter(|((p, _), _)| p == place)
                .map(|(_, n)| n)
                .sum()
        };
        assert_eq!(count("documented"), 2);
        assert_eq!(count("inside a window, undocumented"), 1);
        assert_eq!(count("outside the windows"), 1);
    }
}
