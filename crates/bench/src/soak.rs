//! `--soak DURATION --soak-plain`: does the server's memory stay flat under
//! traffic alone? (`--soak` without `--soak-plain` is the soak under fire,
//! `fire`: the same traffic with the cleanup, webhooks and two outages;
//! its RSS verdict is this module's.)
//!
//! One long point of the `mixed` workload (reads, registrations, deletes of
//! what each client registered; see [`Workload::Mixed`]) at 64 clients (or
//! the first `--concurrency`) against the release binary on a scratch
//! database, while a thread reads the server's resident set size (`VmRSS`
//! of `/proc/PID/status`) every `--soak-interval` seconds. Nobody scrapes
//! `/metrics` meanwhile: the case where a recorder that only trims its
//! histograms when rendered would grow without bound.
//!
//! The verdict ([`Verdict::of`]): the samples are cut in thirds; the first
//! third is warm-up (the allocator, the pool and the caches fill) and is
//! ignored; memory "keeps growing" when the mean of the last third exceeds
//! the mean of the second third by more than the tolerance, the larger of
//! 5% of the second third's mean and 8 MiB. Over a 10-minute soak the two
//! means are 200 s apart, so a leak of about 2.5 MiB a minute or more fails
//! it (the leak issue 10 measured, 50 MB a minute, fails it twenty times
//! over), while an allocator's steps of a few MiB pass. The run fails (non-
//! zero) when memory keeps growing or a request failed.
//!
//! The report goes to `target/bench/soak.md` (and stdout): parameters, the
//! machine's load average before and after (the machine may be shared),
//! throughput, RSS over time, and the verdict. It is recorded by hand in
//! `docs/benchmarks.md`, whose notes section a full run keeps.

use std::fmt::Write as _;
use std::fs;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::database::{ScratchDatabase, admin_url};
use crate::dataset::Dataset;
use crate::loadgen::{self, Auth, Drive, Measured, Target};
use crate::params::{Args, Params, Paths};
use crate::server::{ACCESS_KEY, PROJECT, SECRET_KEY, start_server};
use crate::workload::Workload;

/// Clients unless `--concurrency` says otherwise.
const CLIENTS: u32 = 64;
/// The smallest tolerance on the growth between the thirds.
const TOLERANCE_FLOOR_KIB: f64 = 8.0 * 1024.0;
/// The tolerance, relative to the second third's mean.
const TOLERANCE_SHARE: f64 = 0.05;
/// Fewer samples cannot be cut in meaningful thirds.
const MIN_SAMPLES: usize = 6;

/// One RSS sample: seconds since the load started, KiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at_secs: f64,
    pub rss_kib: u64,
}

/// Whether memory kept growing, from the samples' thirds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub warm_up_kib: f64,
    pub middle_kib: f64,
    pub last_kib: f64,
    pub tolerance_kib: f64,
    pub growing: bool,
}

impl Verdict {
    /// The verdict on `rss_kib`, in sampling order (see the module's doc).
    pub fn of(rss_kib: &[u64]) -> Result<Self> {
        if rss_kib.len() < MIN_SAMPLES {
            bail!(
                "{} RSS sample(s) are too few to judge (at least {MIN_SAMPLES}): soak longer or \
                 sample more often",
                rss_kib.len()
            );
        }
        let third = rss_kib.len() / 3;
        let mean = |s: &[u64]| s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64;
        let middle_kib = mean(&rss_kib[third..2 * third]);
        let last_kib = mean(&rss_kib[2 * third..]);
        let tolerance_kib = (middle_kib * TOLERANCE_SHARE).max(TOLERANCE_FLOOR_KIB);
        Ok(Self {
            warm_up_kib: mean(&rss_kib[..third]),
            middle_kib,
            last_kib,
            tolerance_kib,
            growing: last_kib - middle_kib > tolerance_kib,
        })
    }
}

/// The plain soak (`--soak-plain`); `run::run` sends `--soak` to
/// [`crate::fire`] otherwise.
pub fn run(args: &Args, soak: Duration) -> Result<ExitCode> {
    let params = Params::from(args)?;
    let paths = Paths::from(args)?;
    let clients = args
        .concurrency
        .as_ref()
        .and_then(|c| c.first().copied())
        .unwrap_or(CLIENTS);
    // A smaller data set than a full run's: the soak measures memory over
    // time, not a statement's cost on a large table.
    let tasks = args.tasks.unwrap_or(10_000);
    let assets = args.assets.unwrap_or(1_000);
    let interval = Duration::from_secs(args.soak_interval.max(1));
    if !paths.vodsnap.exists() {
        bail!(
            "{} is missing: build it (cargo build --release -p vodsnap-app)",
            paths.vodsnap.display()
        );
    }
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;
    let load_before = load_average();

    let admin = admin_url();
    println!("\n==> bench --soak: database on {admin}");
    let scratch = ScratchDatabase::create(&admin, "vodsnap_soak")?;
    let mut server = start_server(&paths.vodsnap, &scratch.url, &params, &paths.work)?;
    println!(
        "server: pid {} on {} (log: {})",
        server.pid(),
        server.addr(),
        server.log().display()
    );
    let dataset = Dataset::new(&scratch.url, PROJECT, params.images)?;
    println!(
        "loading {tasks} task results x {} images over {assets} assets",
        params.images
    );
    dataset.load(tasks, assets)?;

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
        images: params.images,
        prefix: "s".to_owned(),
        pool: 0..0,
    };
    println!(
        "\n==> bench --soak: {} with {clients} clients for {}s, RSS every {}s",
        Workload::Mixed.title(),
        soak.as_secs(),
        interval.as_secs()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pid = server.pid();
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || sample_rss(pid, interval, &stop))
    };
    let measured = loadgen::drive(&target, &drive);
    stop.store(true, Ordering::Relaxed);
    let samples = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
    let measured = measured?;
    server.check_alive()?;
    let load_after = load_average();

    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let verdict = Verdict::of(&rss)?;
    let report = render(&Rendered {
        clients,
        soak,
        interval,
        tasks,
        assets,
        images: params.images,
        load_before: &load_before,
        load_after: &load_after,
        measured: &measured,
        samples: &samples,
        verdict: &verdict,
    });
    println!("\n{report}");
    let file = paths.work.join("soak.md");
    fs::write(&file, &report).with_context(|| format!("writing {}", file.display()))?;
    println!("written to {}", file.display());

    if verdict.growing || measured.errors > 0 {
        if verdict.growing {
            eprintln!("bench --soak: ERROR: the server's memory kept growing");
        }
        if measured.errors > 0 {
            eprintln!("bench --soak: ERROR: {} failed requests", measured.errors);
        }
        return Ok(ExitCode::FAILURE);
    }
    println!("bench --soak: memory flat, no errors");
    Ok(ExitCode::SUCCESS)
}

/// Samples the RSS of `pid` every `interval` until `stop`, the first at once.
pub fn sample_rss(pid: u32, interval: Duration, stop: &AtomicBool) -> Vec<Sample> {
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next = started;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            if let Some(rss_kib) = vodsnap_server_process::rss_kib(pid) {
                samples.push(Sample {
                    at_secs: started.elapsed().as_secs_f64(),
                    rss_kib,
                });
            }
            next += interval;
        }
        // Short naps, so that the end of the load is seen at once.
        thread::sleep(Duration::from_millis(100).min(interval));
    }
    samples
}

/// `/proc/loadavg`'s three figures, or "unknown".
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

struct Rendered<'a> {
    clients: u32,
    soak: Duration,
    interval: Duration,
    tasks: u64,
    assets: u64,
    images: u32,
    load_before: &'a str,
    load_after: &'a str,
    measured: &'a Measured,
    samples: &'a [Sample],
    verdict: &'a Verdict,
}

pub fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

fn render(r: &Rendered<'_>) -> String {
    let m = r.measured;
    let v = r.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Soak: {} s of mixed traffic at {} clients\n",
        r.soak.as_secs(),
        r.clients
    );
    let _ = writeln!(
        out,
        "- date: {}; `cargo xtask bench --soak {}s` (release binary, PostgreSQL on the same machine)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        r.soak.as_secs()
    );
    let _ = writeln!(
        out,
        "- data set: {} task results x {} images over {} assets; mix per 100 requests: 45 list, 25 details, 15 registrations, 15 deletes of up to 10 of the client's own registrations; nobody scrapes `/metrics`",
        r.tasks, r.images, r.assets
    );
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) before: {}; after: {} (2 CPUs, shared with other work)",
        r.load_before, r.load_after
    );
    let _ = writeln!(
        out,
        "- requests: {} ok, {} errors, {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms",
        m.ok,
        m.errors,
        m.rps,
        m.p50_us as f64 / 1000.0,
        m.p99_us as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "- RSS (VmRSS every {} s, {} samples), mean per third: warm-up {}, second {}, last {}; growth {} against a tolerance of {}: {}\n",
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
        }
    );
    // About twenty rows, whatever the length.
    let step = (r.samples.len() / 20).max(1);
    let _ = writeln!(out, "| elapsed | RSS |\n| ---: | ---: |");
    for (i, s) in r.samples.iter().enumerate() {
        if i % step == 0 || i + 1 == r.samples.len() {
            let _ = writeln!(out, "| {:.0} s | {} |", s.at_secs, mib(s.rss_kib as f64));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_memory_after_warm_up_passes() {
        // Warm-up from 20 to 60 MiB, then a few MiB of noise.
        let mut rss: Vec<u64> = (0..10).map(|i| 20_480 + i * 4_096).collect();
        rss.extend([61_000, 63_000, 60_500, 62_000, 61_500].repeat(4));
        let v = Verdict::of(&rss).unwrap_or_else(|e| panic!("{e}"));
        assert!(!v.growing, "{v:?}");
    }

    #[test]
    fn steady_growth_fails() {
        // 50 MB a minute sampled every 5 s: about 4 MiB a sample.
        let rss: Vec<u64> = (0..120).map(|i| 68_000 + i * 4_000).collect();
        let v = Verdict::of(&rss).unwrap_or_else(|e| panic!("{e}"));
        assert!(v.growing, "{v:?}");
    }

    #[test]
    fn slow_growth_beyond_the_floor_fails_and_within_it_passes() {
        // 30 MiB base; the last third 10 MiB above the second: fails.
        let mut rss = vec![30_720_u64; 20];
        rss.extend(vec![40_960_u64; 10]);
        assert!(Verdict::of(&rss).is_ok_and(|v| v.growing));
        // 6 MiB above: within the 8 MiB floor.
        let mut rss = vec![30_720_u64; 20];
        rss.extend(vec![36_864_u64; 10]);
        assert!(Verdict::of(&rss).is_ok_and(|v| !v.growing));
    }

    #[test]
    fn too_few_samples_are_no_verdict() {
        assert!(Verdict::of(&[1, 2, 3, 4, 5]).is_err());
    }
}
