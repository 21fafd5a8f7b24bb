//! The report: the markdown tables of a run, and the file they go to.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cpu;
use crate::params::Params;
use crate::workload::Workload;

/// One measured point.
#[derive(Debug, Clone, Default)]
pub struct Point {
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Something the reader must know (pool ran out, ...).
    pub note: String,
    /// CPU per request of each process involved.
    pub cpu: cpu::PerRequest,
}

impl Point {
    pub fn print(&self, who: &str) {
        println!(
            "{who:8} {:>9.1} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  ok {}  errors {}  {:.1}s {}",
            self.rps,
            self.p50_us / 1000.0,
            self.p99_us / 1000.0,
            self.p999_us / 1000.0,
            self.ok,
            self.errors,
            self.secs,
            self.note
        );
    }
}

/// One line of the tables: a workload at a concurrency.
#[derive(Debug)]
pub struct Row {
    pub workload: Workload,
    pub clients: u32,
    pub vodsnap: Point,
    pub pgbench: Option<Point>,
    /// The server's VmHWM after this point, KiB.
    pub peak_rss_kib: u64,
    /// The reads again with a token, and through the floor server.
    pub floor: Option<FloorPoints>,
}

/// A read measured twice more in the same run: through vodsnap with a
/// token (the `vodsnap` point of its row is AK/SK), and through the floor
/// server (`vodsnap-floor`: same SQL, no authentication, minimal JSON).
#[derive(Debug, Clone, Default)]
pub struct FloorPoints {
    pub token: Point,
    pub floor: Point,
}

/// Nearest-rank percentile of sorted values (0 when there are none).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const NOTES_HEADING: &str = "## Before/after notes";

pub fn render(params: &Params, rows: &[Row], admin: &str, took: Duration) -> String {
    let mut md = String::new();
    let date = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let mut commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    if !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str(" (with uncommitted changes)");
    }
    let pg_version = command_line(
        "psql",
        &["-X", "-tA", "-d", admin, "-c", "SHOW server_version"],
    );
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Produced by `cargo xtask bench{}` (see `crates/bench/src/main.rs` for the method); \
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
         statements (`crates/bench/pgbench/*.sql`, credential lookup not included)",
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
    render_floor(&mut md, rows);
    render_cpu(&mut md, rows);
    md
}

/// vodsnap against the floor server, for the reads measured against it.
fn render_floor(md: &mut String, rows: &[Row]) {
    let floored: Vec<(&Row, &FloorPoints)> = rows
        .iter()
        .filter_map(|r| r.floor.as_ref().map(|f| (r, f)))
        .collect();
    if floored.is_empty() {
        return;
    }
    md.push_str(
        "\n### Against the floor server\n\n\
         `vodsnap-floor` (crates/bench/src/floor.rs) answers the same reads with axum, the \
         same driver and pool settings, and the very statements vodsnap runs, with no \
         authentication, no tracing and minimal JSON: what any HTTP service on this stack \
         pays. Same data, same run; ratio = vodsnap req/s / floor req/s (target: 0.85); \
         CPU = the server process's user + system CPU per request, µs (PostgreSQL's and \
         the client's are the same for both), which a busy machine disturbs far less than \
         a rate.\n\n\
         | workload | clients | floor req/s | p50 | p99 | CPU | AK/SK req/s | ratio | p50 | CPU | token req/s | ratio | p50 | CPU |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let ms = |us: f64| format!("{:.2}", us / 1000.0);
    let ratio = |v: &Point, f: &Point| {
        if f.rps > 0.0 {
            format!("{:.2}", v.rps / f.rps)
        } else {
            "-".to_owned()
        }
    };
    let cpu = |p: &Point| {
        p.cpu
            .server_us()
            .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"))
    };
    for (row, f) in floored {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {} | {} | {:.0} | {} | {} | {} | {:.0} | {} | {} | {} |",
            row.workload.title(),
            row.clients,
            f.floor.rps,
            ms(f.floor.p50_us),
            ms(f.floor.p99_us),
            cpu(&f.floor),
            row.vodsnap.rps,
            ratio(&row.vodsnap, &f.floor),
            ms(row.vodsnap.p50_us),
            cpu(&row.vodsnap),
            f.token.rps,
            ratio(&f.token, &f.floor),
            ms(f.token.p50_us),
            cpu(&f.token),
        );
    }
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

/// Writes a workload's own report (`cleanup`, `asset-purge`) as
/// `{stem}.md`, or `{stem}-quick.md` for a quick run, in `work`.
pub fn write_workload_report(work: &Path, quick: bool, stem: &str, report: &str) -> Result<()> {
    let target = work.join(if quick {
        format!("{stem}-quick.md")
    } else {
        format!("{stem}.md")
    });
    fs::write(&target, report).with_context(|| format!("writing {}", target.display()))?;
    println!("written to {}", target.display());
    Ok(())
}

/// Writes `report`, keeping the "Before/after notes" section of the file
/// already there (the lead's notes), or starting an empty one.
pub fn write_report(target: &Path, report: &str) -> Result<()> {
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

fn command_line(program: &str, args: &[&str]) -> String {
    crate::database::output(Command::new(program).args(args))
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
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 500);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.999), 7);
    }

    #[test]
    fn the_floor_table_gives_each_credential_its_ratio() {
        let point = |rps: f64| Point {
            rps,
            p50_us: 1000.0,
            ..Point::default()
        };
        let row = |workload, floor| Row {
            workload,
            clients: 8,
            vodsnap: point(850.0),
            pgbench: None,
            peak_rss_kib: 0,
            floor,
        };
        let mut md = String::new();
        render_floor(&mut md, &[row(Workload::List, None)]);
        assert!(md.is_empty(), "no floor points, no table: {md}");
        render_floor(
            &mut md,
            &[row(
                Workload::Details,
                Some(FloorPoints {
                    token: point(900.0),
                    floor: point(1000.0),
                }),
            )],
        );
        assert!(
            md.contains(
                "| details | 8 | 1000 | 1.00 | 0.00 | - | 850 | 0.85 | 1.00 | - | 900 | 0.90 | 1.00 | - |"
            ),
            "{md}"
        );
    }

    #[test]
    fn report_keeps_the_notes_section() -> Result<()> {
        let dir =
            std::env::temp_dir().join(format!("vodsnap_bench_report_test_{}", std::process::id()));
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
