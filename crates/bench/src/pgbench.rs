//! The reference: pgbench running, statement for statement, what the
//! adapter runs for one request of the workload (the scripts of
//! `pgbench/`, see its README), at the same concurrency against the same
//! database.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use vodsnap_server_process::display;

use crate::cpu;
use crate::report::{Point, percentile};
use crate::run::{FIRST_GUESS_RPS, Runner};
use crate::workload::{Pool, Workload, deep_offset};

impl Runner {
    /// pgbench `-M prepared -c clients -j min(clients, 2)` for the run's
    /// time. A delete point gets its own pool, sized from vodsnap's rate.
    pub fn pgbench_point(
        &mut self,
        workload: Workload,
        clients: u32,
        vodsnap_rps: f64,
    ) -> Result<Point> {
        let p = self.params.clone();
        let Some((script, text)) = workload.script() else {
            bail!("{} has no pgbench counterpart", workload.name());
        };
        let script_file = self.work.join(script);
        fs::write(&script_file, text)
            .with_context(|| format!("writing {}", script_file.display()))?;
        let threads = clients.min(2);
        let prefix = self
            .work
            .join(format!("pgbench_{}_{clients}", workload.name()));
        remove_logs(&prefix);
        let mut cmd = Command::new("pgbench");
        cmd.stdin(Stdio::null());
        cmd.args(["-n", "-M", "prepared"])
            .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
            .args(["-T", &p.secs.to_string()])
            .arg("-f")
            .arg(&script_file)
            .args(["-D", &format!("project={}", self.target.project)])
            .args(["-D", &format!("ak={}", self.target.access_key)])
            .args(["-D", &format!("assets={}", p.assets)])
            .args(["-D", &format!("tasks={}", p.tasks)])
            .args(["-D", "seq=0"])
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
        let mut expected_per_tx = 0;
        let tombstones_before = match workload.pool() {
            Some(pool) => {
                // Each client gets its own share; PostgreSQL alone is
                // faster than through vodsnap, hence the margin.
                let rate = (vodsnap_rps * 2.5).max(FIRST_GUESS_RPS);
                let per_client = self.pool_size(rate).div_ceil(u64::from(clients)) + 20;
                let range = self
                    .dataset
                    .load_pool(pool, per_client * u64::from(clients))?;
                // The task pool's script counts in task numbers.
                let unit = if pool == Pool::Tasks { 10 } else { 1 };
                cmd.args(["-D", &format!("lo={}", range.start * unit)])
                    .args(["-D", &format!("stride={per_client}")]);
                expected_per_tx = 10;
                Some(self.dataset.tombstones()?)
            }
            None if workload == Workload::Register => {
                let offsets: Vec<String> = (0..p.images)
                    .map(|k| (u64::from(k) * 10).to_string())
                    .collect();
                cmd.args(["-D", &format!("run=p{clients}")])
                    .args(["-D", &format!("images={}", p.images)])
                    .args(["-D", &format!("offsets={{{}}}", offsets.join(","))])
                    .args(["-D", &format!("para={}", self.dataset.stored_para())]);
                None
            }
            None if workload == Workload::ListDeep => {
                cmd.args(["-D", &format!("off={}", deep_offset(p.tasks))]);
                None
            }
            None => None,
        };
        cmd.arg(&self.database_url);
        let line = display(&cmd);
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
            p50_us: percentile(&latencies, 0.50) as f64,
            p99_us: percentile(&latencies, 0.99) as f64,
            p999_us: percentile(&latencies, 0.999) as f64,
            note: String::new(),
            cpu: cpu_before.per_request(&cpu_after, processed, self.tick_us),
        };
        if let Some(before) = tombstones_before {
            let deleted = self.dataset.tombstones()?.saturating_sub(before);
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
