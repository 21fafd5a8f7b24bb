//! The `reconcile` workload (issue 25): `vodsnap reconcile --all` on the
//! file store against PostgreSQL, a million objects by default, its rate
//! and its peak memory, and the peak memory at a tenth of the size, to
//! show that memory does not grow with the objects. A run of its own
//! (`--workloads reconcile`).
//!
//! 1. A scratch database, migrated; two projects planted ([`Plant`]): the
//!    big one and the small one (a tenth of `--reconcile-objects`, default
//!    1,000,000, quick 20,000), each with task results of ten snapshots
//!    loaded with the bulk SQL, keys queued for the cleanup (inserted as
//!    a delete queues them), and, in a directory under the work dir, a
//!    file per live key but the missing ones, per queued key, and per
//!    orphan. The directory is kept with a stamp of what it holds and
//!    reused by the next run whose plan is the same (a million files take
//!    minutes to create).
//! 2. `vodsnap reconcile --project {small}` then `--all`, release, as
//!    child processes with `--format json`: wall time, and the peak RSS
//!    (VmHWM, read every 10 ms until the process exits: a high-water mark,
//!    so only growth in the last interval could be missed).
//! 3. Their JSON counts must be what was planted and their exit status 2
//!    (they differ), or the bench fails.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::database::{ScratchDatabase, admin_url, output};
use crate::dataset::Dataset;
use crate::params::{Params, Paths};

const BIG: &str = "recon-big";
const SMALL: &str = "recon-small";
const IMAGES: u32 = 10;
/// Task results per asset (a directory of task directories).
const TASKS_PER_ASSET: u64 = 100;
/// How often the child's VmHWM is read.
const SAMPLE: Duration = Duration::from_millis(10);

/// What one project holds on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plant {
    /// Task results `t{n}` of [`IMAGES`] snapshots each, keys
    /// `{project}/a{n / 100}/t{n}/{k}.jpg`.
    tasks: u64,
    /// The first `missing / 10` task results have no file at all.
    missing: u64,
    /// Keys `{project}/queued/{i}.jpg` in the cleanup queue (not due), each
    /// with its file: held, not orphans.
    queued: u64,
    /// Files `{project}/orphan/{i}.jpg` nothing holds.
    orphans: u64,
}

impl Plant {
    /// About `listed` objects, a thousandth (at least ten) of them orphans,
    /// as many missing and as many queued.
    fn of(listed: u64) -> Self {
        let each = 10 * (listed / 10_000).max(1);
        let tasks = listed.saturating_sub(each) / u64::from(IMAGES);
        Self {
            tasks,
            missing: each.min(tasks * u64::from(IMAGES)),
            queued: each,
            orphans: each,
        }
    }

    fn live_keys(&self) -> u64 {
        self.tasks * u64::from(IMAGES)
    }

    /// The report `vodsnap reconcile` must give.
    fn expected(&self) -> Counts {
        Counts {
            listed: self.live_keys() - self.missing + self.queued + self.orphans,
            referenced: self.live_keys() + self.queued,
            orphans: self.orphans,
            missing: self.missing,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    listed: u64,
    referenced: u64,
    orphans: u64,
    missing: u64,
}

impl Counts {
    fn sum(self, other: Self) -> Self {
        Self {
            listed: self.listed + other.listed,
            referenced: self.referenced + other.referenced,
            orphans: self.orphans + other.orphans,
            missing: self.missing + other.missing,
        }
    }
}

/// One measured `vodsnap reconcile`.
#[derive(Debug)]
struct Measured {
    what: String,
    counts: Counts,
    secs: f64,
    peak_rss_kib: u64,
}

pub fn run(params: &Params, paths: &Paths) -> Result<ExitCode> {
    let started = Instant::now();
    ensure!(
        paths.vodsnap.exists(),
        "{} is missing: build it (cargo build --release -p vodsnap-app)",
        paths.vodsnap.display()
    );
    std::fs::create_dir_all(&paths.work)?;
    let total = params.reconcile_objects;
    let (small, big) = (Plant::of(total / 10), Plant::of(total - total / 10));
    let admin = admin_url();
    println!("\n==> bench reconcile: about {total} objects; database on {admin}");
    let scratch = ScratchDatabase::create(&admin, "vodsnap_bench_reconcile")?;
    output(
        Command::new(&paths.vodsnap)
            .args(["migrate", "--database-url", &scratch.url])
            .stdout(Stdio::null()),
    )
    .context("migrating the scratch database")?;
    let t = Instant::now();
    for (project, plant) in [(BIG, big), (SMALL, small)] {
        load(&scratch.url, project, plant)?;
    }
    println!("database loaded in {:.1}s", t.elapsed().as_secs_f64());

    let files = paths.work.join("reconcile-files");
    let t = Instant::now();
    if plant_files(&files, &[(BIG, big), (SMALL, small)])? {
        println!(
            "{} created in {:.1}s",
            files.display(),
            t.elapsed().as_secs_f64()
        );
    } else {
        println!("{} reused (its stamp matches)", files.display());
    }

    let absolute =
        std::fs::canonicalize(&files).with_context(|| format!("resolving {}", files.display()))?;
    let storage = format!("file://{}", absolute.display());
    let mut runs = Vec::new();
    for (what, scope, expected) in [
        (
            format!("--project {SMALL}"),
            vec!["--project", SMALL],
            small.expected(),
        ),
        (
            "--all".to_owned(),
            vec!["--all"],
            big.expected().sum(small.expected()),
        ),
    ] {
        let measured = reconcile(paths, &scratch.url, &storage, &scope, &what)?;
        ensure!(
            measured.counts == expected,
            "`vodsnap reconcile {what}` counted {:?}, but {expected:?} were planted",
            measured.counts
        );
        println!(
            "{what}: {} objects in {:.2}s ({:.0}/s), peak RSS {} KiB",
            measured.counts.listed,
            measured.secs,
            measured.counts.listed as f64 / measured.secs.max(1e-9),
            measured.peak_rss_kib
        );
        runs.push(measured);
    }
    let report = render(&runs, &paths.vodsnap, started.elapsed());
    println!("\n{report}");
    crate::report::write_workload_report(&paths.work, params.quick, "reconcile", &report)?;
    Ok(ExitCode::SUCCESS)
}

/// The project's task results (the bulk SQL) and its queued keys.
fn load(url: &str, project: &str, plant: Plant) -> Result<()> {
    let dataset = Dataset::new(url, project, IMAGES)?;
    dataset.insert(
        "'t' || n",
        &format!("'a' || (n / {TASKS_PER_ASSET})"),
        0..plant.tasks,
    )?;
    if plant.queued > 0 {
        // As a delete in the recycle bin queues them: due in a day.
        dataset.exec(&format!(
            "INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at) \
             SELECT '{project}', '{project}/queued/' || n || '.jpg', now(), \
                    now() + interval '1 day' \
             FROM generate_series(0, {} - 1) AS n",
            plant.queued
        ))?;
    }
    dataset.exec("VACUUM ANALYZE")
}

/// Creates the files of `plants` under `dir`, unless its stamp says it
/// holds them already. Answers whether it created them.
fn plant_files(dir: &Path, plants: &[(&str, Plant)]) -> Result<bool> {
    let stamp_path = stamp_path(dir);
    let stamp = format!("{plants:?}\n");
    if dir.is_dir() && std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
        return Ok(false);
    }
    let _ = std::fs::remove_file(&stamp_path);
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let mut created = 0_u64;
    let mut file = |path: PathBuf| -> Result<()> {
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        created += 1;
        if created.is_multiple_of(100_000) {
            println!("  {created} files");
        }
        Ok(())
    };
    for (project, plant) in plants {
        let root = dir.join(project);
        for n in plant.missing / u64::from(IMAGES)..plant.tasks {
            let task = root
                .join(format!("a{}", n / TASKS_PER_ASSET))
                .join(format!("t{n}"));
            std::fs::create_dir_all(&task)
                .with_context(|| format!("creating {}", task.display()))?;
            for k in 0..IMAGES {
                file(task.join(format!("{k}.jpg")))?;
            }
        }
        for (kind, count) in [("queued", plant.queued), ("orphan", plant.orphans)] {
            let sub = root.join(kind);
            std::fs::create_dir_all(&sub)?;
            for i in 0..count {
                file(sub.join(format!("{i}.jpg")))?;
            }
        }
    }
    std::fs::write(&stamp_path, stamp)
        .with_context(|| format!("writing {}", stamp_path.display()))?;
    Ok(true)
}

/// Beside the directory, not in it: the store would list it.
fn stamp_path(dir: &Path) -> PathBuf {
    dir.with_extension("stamp")
}

/// Runs `vodsnap reconcile {scope} --format json`, reading its VmHWM until
/// it exits; its counts, time and peak RSS. It must exit with 2: the
/// planted differences are there.
fn reconcile(
    paths: &Paths,
    url: &str,
    storage: &str,
    scope: &[&str],
    what: &str,
) -> Result<Measured> {
    let log = paths.work.join("reconcile.log");
    let started = Instant::now();
    let mut child = Command::new(&paths.vodsnap)
        .args(["reconcile", "--database-url", url, "--storage", storage])
        .args(scope)
        .args(["--format", "json"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting `vodsnap reconcile`")?;
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(peak) = vodsnap_server_process::peak_rss_kib(child.id()) {
            peak_rss_kib = peak_rss_kib.max(peak);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(SAMPLE);
    };
    let secs = started.elapsed().as_secs_f64();
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)?;
    }
    if status.code() != Some(2) {
        bail!(
            "`vodsnap reconcile {what}` exited with {status}, not 2 (differ): {stdout}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("`vodsnap reconcile {what}` printed {stdout:?}"))?;
    let count = |field: &str| json[field].as_u64().unwrap_or(u64::MAX);
    let counts = Counts {
        listed: count("listed"),
        referenced: count("referenced"),
        orphans: count("orphans"),
        missing: count("missing"),
    };
    ensure!(
        count("orphans_queued") == 0 && count("foreign_prefixes") == 0,
        "`vodsnap reconcile {what}` queued orphans or found foreign prefixes: {json}"
    );
    for (sample, of) in [("orphans", counts.orphans), ("missing", counts.missing)] {
        let len = json["sample"][sample].as_array().map_or(0, Vec::len) as u64;
        ensure!(
            len == of.min(20),
            "`vodsnap reconcile {what}`: a sample of {len} {sample} for {of}"
        );
    }
    Ok(Measured {
        what: what.to_owned(),
        counts,
        secs,
        peak_rss_kib,
    })
}

fn render(runs: &[Measured], vodsnap: &Path, took: Duration) -> String {
    let mut md = String::new();
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default();
    let _ = writeln!(
        md,
        "### Reconcile, file store against PostgreSQL ({}, `{}`, {:.0}s)\n",
        date.trim(),
        vodsnap.display(),
        took.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| `vodsnap reconcile` | objects listed | keys held | orphans | missing | seconds | objects/s | peak RSS (VmHWM) MiB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in runs {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {:.2} | {:.0} | {:.1} |",
            r.what,
            r.counts.listed,
            r.counts.referenced,
            r.counts.orphans,
            r.counts.missing,
            r.secs,
            r.counts.listed as f64 / r.secs.max(1e-9),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plant_lists_about_what_was_asked_with_each_difference() {
        for listed in [100, 2_000, 18_000, 100_000, 900_000] {
            let plant = Plant::of(listed);
            let expected = plant.expected();
            assert_eq!(expected.listed, listed, "{plant:?}");
            assert!(
                plant.orphans >= 10 && plant.missing == plant.orphans,
                "{plant:?}"
            );
            assert!(plant.missing.is_multiple_of(u64::from(IMAGES)));
            assert_eq!(
                expected.referenced,
                expected.listed - plant.orphans + plant.missing
            );
        }
    }
}
