//! The `asset-purge` workload (issue 24): `DeleteAssets` of one big asset
//! against small ones, the background purge's tombstone rate, the
//! server's memory while it runs, and the cleanup's drain of what it
//! queued. A run of its own (`--workloads asset-purge`).
//!
//! 1. A scratch database; `vodsnap serve` (release, its purge worker on,
//!    no cleanup workers) on it; loaded with the bulk path (not HTTP): the
//!    big asset `huge` of `--tasks` task results (default 100,000, quick
//!    5,000) of `--images-per-task` images (default 10: a million), and
//!    `SMALL` assets `s{n}` of one task result each; `VACUUM ANALYZE`.
//! 2. Small: `DeleteAssets` of each small asset once, one after the other
//!    (token, keep-alive): p50 and p99 of the answer.
//! 3. Big: `DeleteAssets` of `huge` (records its purge), then again
//!    `BIG_REPEATS` times while its purge runs (a repeat records nothing:
//!    the same one statement, which finds the running purge by a plain
//!    read, never waiting on the batch that holds it; migration 0018):
//!    p50 and p99 over all of them, and the first call alone.
//! 4. The purge: its rate is `tasks_deleted / (finished_at - started_at)`
//!    of its `asset_purges` row (the database's clock); the server's VmRSS
//!    sampled every 100 ms from the call to the end (before, peak, after).
//! 5. The drain: one `vodsnap cleanup run --once` on a scratch directory
//!    (the objects do not exist: a missing object counts as removed)
//!    until the queue is empty; items per second of wall time.
//! 6. kill -9 in the middle of a purge of the same size (asset `again`):
//!    the server is killed once some batches committed, started again on
//!    the same database, and the purge must end with no live task left,
//!    `tasks_deleted` equal to its tasks and one queued object per image
//!    (nothing done twice, nothing lost); the bench fails otherwise.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::database::{ScratchDatabase, admin_url, output, psql};
use crate::dataset::Dataset;
use crate::params::{Params, Paths};
use crate::server::{PROJECT, issue_token, start_server};

const BIG: &str = "huge";
/// Repeated calls on the big asset while it is purged.
const BIG_REPEATS: usize = 30;

/// Small assets (one call each) [full, quick].
fn small_assets(quick: bool) -> u64 {
    if quick { 100 } else { 500 }
}

pub fn run(params: &Params, paths: &Paths) -> Result<ExitCode> {
    let started = Instant::now();
    ensure!(
        paths.vodsnap.exists(),
        "{} is missing: build it (cargo build --release -p vodsnap-app)",
        paths.vodsnap.display()
    );
    std::fs::create_dir_all(&paths.work)?;
    let admin = admin_url();
    let (tasks, images, small) = (params.tasks, params.images, small_assets(params.quick));
    println!(
        "\n==> bench asset-purge: {tasks} tasks x {images} images in one asset; database on {admin}"
    );
    let scratch = ScratchDatabase::create(&admin, "vodsnap_bench_purge")?;
    let mut server = start_server(&paths.vodsnap, &scratch.url, params, &paths.work)?;
    let token = issue_token(&paths.vodsnap)?;
    let dataset = Dataset::new(&scratch.url, PROJECT, images)?;
    let t = Instant::now();
    dataset.insert(
        "'h' || lpad(n::text, 7, '0')",
        &format!("'{BIG}'"),
        0..tasks,
    )?;
    dataset.insert("'s' || n", "'s' || n", 0..small)?;
    dataset.exec("VACUUM ANALYZE")?;
    println!("loaded in {:.1}s", t.elapsed().as_secs_f64());

    let mut client = Client::connect(server.addr(), &token)?;
    // A first call of nothing, so that the first measured one does not
    // pay for the connection's first use.
    client.delete_assets("warmup")?;
    let mut small_times = Vec::new();
    for n in 0..small {
        small_times.push(client.delete_assets(&format!("s{n}"))?);
    }
    let rss_before = server.rss_kib().unwrap_or(0);
    let first = client.delete_assets(BIG)?;
    let mut big_times = vec![first];
    let mut rss_peak = rss_before;
    let mut repeats = 0;
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        server.check_alive()?;
        rss_peak = rss_peak.max(server.rss_kib().unwrap_or(0));
        if repeats < BIG_REPEATS {
            big_times.push(client.delete_assets(BIG)?);
            repeats += 1;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
        if purge_finished(&scratch.url)? && repeats >= BIG_REPEATS {
            break;
        }
        ensure!(Instant::now() < deadline, "the purge took over 30 minutes");
    }
    let rss_after = server.rss_kib().unwrap_or(0);
    let (deleted, queued, secs) = purge_figures(&scratch.url)?;
    ensure!(
        deleted == tasks && queued == tasks * u64::from(images),
        "the purge deleted {deleted} tasks and queued {queued} objects"
    );
    let rate = deleted as f64 / secs.max(1e-6);
    println!("purge: {deleted} tasks, {queued} objects in {secs:.2}s: {rate:.0} tasks/s");
    drop(client);
    // Stopped (SIGTERM) before the drain: the cleanup runs alone.
    drop(server);

    let files = paths.work.join("purge-files");
    std::fs::create_dir_all(&files)?;
    let items = queued + small * u64::from(images);
    let t = Instant::now();
    let mut passes = 0;
    while count(&scratch.url, "SELECT count(*) FROM cleanup_items")? > 0 {
        ensure!(passes < 10_000, "the cleanup does not drain");
        drain_once(&paths.vodsnap, &scratch.url, &files)?;
        passes += 1;
    }
    let drain_secs = t.elapsed().as_secs_f64();
    println!(
        "drain: {items} items in {drain_secs:.1}s ({passes} process runs): {:.0}/s",
        items as f64 / drain_secs
    );

    let resumed = kill_and_resume(params, paths, &scratch, &dataset)?;

    small_times.sort();
    big_times.sort();
    let report = Report {
        tasks,
        images,
        small: small_times,
        big: big_times,
        first,
        rate,
        purge_secs: secs,
        rss: (rss_before, rss_peak, rss_after),
        drain: (items, drain_secs, passes),
        resumed,
    }
    .render(&paths.vodsnap, started.elapsed());
    println!("\n{report}");
    crate::report::write_workload_report(&paths.work, params.quick, "asset-purge", &report)?;
    Ok(ExitCode::SUCCESS)
}

/// A second asset of the same size, `RESUMED`: its purge is killed with
/// SIGKILL once it has tombstoned some of its tasks and not all, the
/// server is started again on the same database, and the purge must end
/// with every task tombstoned once and every object queued once.
struct Resumed {
    tasks: u64,
    /// Tasks tombstoned when the server was killed.
    at_kill: u64,
    /// Seconds from the restart to the purge's end.
    secs_after_restart: f64,
}

const RESUMED: &str = "again";

fn kill_and_resume(
    params: &Params,
    paths: &Paths,
    scratch: &ScratchDatabase,
    dataset: &Dataset,
) -> Result<Resumed> {
    let tasks = params.tasks;
    let images = u64::from(params.images);
    dataset.insert(
        "'r' || lpad(n::text, 7, '0')",
        &format!("'{RESUMED}'"),
        0..tasks,
    )?;
    let queued_before = count(&scratch.url, "SELECT count(*) FROM cleanup_items")?;
    let server = start_server(&paths.vodsnap, &scratch.url, params, &paths.work)?;
    let token = issue_token(&paths.vodsnap)?;
    Client::connect(server.addr(), &token)?.delete_assets(RESUMED)?;
    let progress = format!(
        "SELECT tasks_deleted FROM asset_purges WHERE asset_id = '{RESUMED}' ORDER BY id LIMIT 1"
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let at_kill = loop {
        let done = count(&scratch.url, &progress)?;
        // Killed between batches' commits somewhere past the first: a batch
        // is one transaction, so what a kill interrupts is rolled back.
        if done > 0 {
            break done;
        }
        ensure!(
            Instant::now() < deadline,
            "the purge of {RESUMED} never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let pid = server.detach();
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -9 {pid} failed");
    ensure!(
        at_kill < tasks,
        "the purge of {RESUMED} ended before the kill ({at_kill} of {tasks}): use more --tasks"
    );
    println!("resume: killed the server (kill -9) with {at_kill} of {tasks} tasks purged");

    let t = Instant::now();
    let mut server = start_server(&paths.vodsnap, &scratch.url, params, &paths.work)?;
    let finished = format!(
        "SELECT count(*) FROM asset_purges WHERE asset_id = '{RESUMED}' AND finished_at IS NOT NULL"
    );
    while count(&scratch.url, &finished)? == 0 {
        server.check_alive()?;
        ensure!(
            Instant::now() < deadline,
            "the resumed purge of {RESUMED} did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs_after_restart = t.elapsed().as_secs_f64();
    drop(server);
    let live = count(
        &scratch.url,
        &format!(
            "SELECT count(*) FROM task_results WHERE asset_id = '{RESUMED}' AND deleted_at IS NULL"
        ),
    )?;
    let deleted = count(&scratch.url, &progress)?;
    let queued = count(&scratch.url, "SELECT count(*) FROM cleanup_items")? - queued_before;
    ensure!(
        live == 0 && deleted == tasks && queued == tasks * images,
        "after the restart the purge of {RESUMED} left {live} live tasks, counted {deleted} \
         deleted and queued {queued} objects (expected 0, {tasks}, {})",
        tasks * images
    );
    println!(
        "resume: the purge ended {secs_after_restart:.1}s after the restart, every task and object once"
    );
    Ok(Resumed {
        tasks,
        at_kill,
        secs_after_restart,
    })
}

fn count(url: &str, sql: &str) -> Result<u64> {
    output(&mut psql(url, sql))?
        .trim()
        .parse()
        .with_context(|| format!("a count from {sql}"))
}

fn purge_finished(url: &str) -> Result<bool> {
    Ok(count(
        url,
        &format!(
            "SELECT count(*) FROM asset_purges WHERE asset_id = '{BIG}' AND finished_at IS NOT NULL"
        ),
    )? > 0)
}

/// Tasks deleted, objects queued, and seconds from the record to the end,
/// of the big asset's first purge: a DeleteAssets call of the measure that
/// lands after it finished records another (of nothing).
fn purge_figures(url: &str) -> Result<(u64, u64, f64)> {
    let row = output(&mut psql(
        url,
        &format!(
            "SELECT tasks_deleted || ' ' || objects_queued || ' ' || \
                    extract(epoch FROM finished_at - started_at) \
             FROM asset_purges WHERE asset_id = '{BIG}' AND finished_at IS NOT NULL \
             ORDER BY id LIMIT 1"
        ),
    ))?;
    let parts: Vec<&str> = row.split_whitespace().collect();
    ensure!(parts.len() == 3, "the purge's row: {row:?}");
    Ok((parts[0].parse()?, parts[1].parse()?, parts[2].parse()?))
}

/// One `vodsnap cleanup run --once` (a claim of up to 1,000 items per
/// pass until none is due).
fn drain_once(vodsnap: &Path, url: &str, files: &Path) -> Result<()> {
    let out = Command::new(vodsnap)
        .args(["cleanup", "run", "--once", "--database-url", url])
        .args(["--storage", &format!("file://{}", files.display())])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running `vodsnap cleanup run --once`")?;
    if !out.status.success() {
        bail!(
            "`vodsnap cleanup run --once` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// One keep-alive HTTP/1.1 connection with a token.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
    token: String,
}

impl Client {
    fn connect(addr: &str, token: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            host: addr.to_owned(),
            token: token.to_owned(),
        })
    }

    /// `DELETE /v1.0/{p}/asset?asset_id={asset}`: its time, after
    /// checking the answer is `DELETED`.
    fn delete_assets(&mut self, asset: &str) -> Result<Duration> {
        let t = Instant::now();
        write!(
            self.writer,
            "DELETE /v1.0/{PROJECT}/asset?asset_id={asset} HTTP/1.1\r\nHost: {}\r\n\
             X-Auth-Token: {}\r\nContent-Length: 0\r\n\r\n",
            self.host, self.token
        )?;
        self.writer.flush()?;
        let mut status = String::new();
        self.reader.read_line(&mut status)?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        let took = t.elapsed();
        let body = String::from_utf8_lossy(&body);
        ensure!(
            status.starts_with("HTTP/1.1 200") && body.contains("\"DELETED\""),
            "DeleteAssets {asset}: {} {body}",
            status.trim()
        );
        Ok(took)
    }
}

struct Report {
    tasks: u64,
    images: u32,
    small: Vec<Duration>,
    big: Vec<Duration>,
    first: Duration,
    rate: f64,
    purge_secs: f64,
    /// VmRSS KiB: before the big call, peak during the purge, after.
    rss: (u64, u64, u64),
    /// Items, seconds, process runs.
    drain: (u64, f64, u32),
    resumed: Resumed,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

impl Report {
    fn render(&self, vodsnap: &Path, took: Duration) -> String {
        let mut md = String::new();
        let date =
            output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default();
        let _ = writeln!(
            md,
            "### Asset purge ({}, `{}`, {:.0}s)\n",
            date.trim(),
            vodsnap.display(),
            took.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| DeleteAssets of | calls | p50 ms | p99 ms | first call ms |\n| --- | ---: | ---: | ---: | ---: |"
        );
        let _ = writeln!(
            md,
            "| an asset of 1 task | {} | {:.2} | {:.2} | |",
            self.small.len(),
            percentile(&self.small, 0.5),
            percentile(&self.small, 0.99)
        );
        let _ = writeln!(
            md,
            "| an asset of {} tasks ({} images) | {} | {:.2} | {:.2} | {:.2} |",
            self.tasks,
            self.tasks * u64::from(self.images),
            self.big.len(),
            percentile(&self.big, 0.5),
            percentile(&self.big, 0.99),
            self.first.as_secs_f64() * 1e3
        );
        let ratio = percentile(&self.big, 0.99) / percentile(&self.small, 0.99).max(1e-9);
        let _ = writeln!(
            md,
            "\nbig p99 / small p99: {ratio:.2}x (target: at most 2x)\n"
        );
        let (before, peak, after) = self.rss;
        let _ = writeln!(
            md,
            "| purge | tasks | seconds | tasks/s (target >= 5,000) | server VmRSS before / peak / after (MiB) |\n| --- | ---: | ---: | ---: | --- |"
        );
        let _ = writeln!(
            md,
            "| `{BIG}` | {} | {:.2} | {:.0} | {:.1} / {:.1} / {:.1} |",
            self.tasks,
            self.purge_secs,
            self.rate,
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            after as f64 / 1024.0
        );
        let (items, secs, passes) = self.drain;
        let _ = writeln!(
            md,
            "\n| cleanup drain after it | items | seconds | items/s | `cleanup run --once` runs |\n| --- | ---: | ---: | ---: | ---: |\n| file storage, 1 worker | {items} | {secs:.1} | {:.0} | {passes} |",
            items as f64 / secs.max(1e-6)
        );
        let r = &self.resumed;
        let _ = writeln!(
            md,
            "\n| kill -9 during a purge | tasks | purged at the kill | seconds from the restart to the end | after it |\n| --- | ---: | ---: | ---: | --- |\n| `{RESUMED}` | {} | {} | {:.1} | every task tombstoned once, every object queued once |",
            r.tasks, r.at_kill, r.secs_after_restart
        );
        md
    }
}
