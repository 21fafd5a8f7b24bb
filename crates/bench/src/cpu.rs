//! CPU time spent by the processes of a benchmark point, read from `/proc`
//! (Linux; elsewhere every figure is unknown).
//!
//! Three parts, each the user + system time accrued over the point:
//! - the server: `vodsnap serve`'s own time;
//! - PostgreSQL: every process named `postgres` on this machine, plus the
//!   backends that exited meanwhile (the postmaster's reaped children), so
//!   the connections pgbench opens and closes are counted;
//! - the client: this process (whose load generator runs the vodsnap
//!   points) plus its reaped children (pgbench, for the reference points);
//!   nothing else runs during a point.

use std::fs;

/// Cumulative CPU ticks at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// User and system ticks.
    server: Option<(u64, u64)>,
    postgres: Option<u64>,
    client: Option<u64>,
}

/// CPU time per request (or transaction) over a point, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerRequest {
    /// In user space.
    pub server_user_us: Option<f64>,
    /// In the kernel (its sockets, mostly).
    pub server_sys_us: Option<f64>,
    pub postgres_us: Option<f64>,
    pub client_us: Option<f64>,
}

impl PerRequest {
    /// The sum of the known parts; None when PostgreSQL's is unknown (a
    /// server on another machine), since it is the largest part.
    pub fn total_us(&self) -> Option<f64> {
        Some(self.postgres_us? + self.server_us().unwrap_or(0.0) + self.client_us.unwrap_or(0.0))
    }

    /// The server's user and system time.
    pub fn server_us(&self) -> Option<f64> {
        Some(self.server_user_us? + self.server_sys_us?)
    }
}

/// Fields of `/proc/<pid>/stat` after the command name: utime, stime,
/// cutime, cstime (fields 14-17, counted from 1).
fn times(pid: &str) -> Option<[u64; 4]> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: skip past the last
    // ')'. What follows starts at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some([field(14)?, field(15)?, field(16)?, field(17)?])
}

fn postgres_ticks() -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() != "postgres" {
            continue;
        }
        if let Some([utime, stime, cutime, cstime]) = times(pid) {
            total += utime + stime + cutime + cstime;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// The ticks so far of the server (if given), PostgreSQL, and this process
/// with its reaped children.
pub fn sample(server_pid: Option<u32>) -> Sample {
    Sample {
        server: server_pid
            .and_then(|pid| times(&pid.to_string()))
            .map(|[utime, stime, _, _]| (utime, stime)),
        postgres: postgres_ticks(),
        client: times("self").map(|[utime, stime, cutime, cstime]| utime + stime + cutime + cstime),
    }
}

impl Sample {
    /// CPU per request between `self` and `later`, over `requests`
    /// requests, with ticks of `tick_us`.
    pub fn per_request(&self, later: &Sample, requests: u64, tick_us: f64) -> PerRequest {
        if requests == 0 {
            return PerRequest::default();
        }
        let per = |a: Option<u64>, b: Option<u64>| {
            Some(b?.saturating_sub(a?) as f64 * tick_us / requests as f64)
        };
        PerRequest {
            server_user_us: per(self.server.map(|s| s.0), later.server.map(|s| s.0)),
            server_sys_us: per(self.server.map(|s| s.1), later.server.map(|s| s.1)),
            postgres_us: per(self.postgres, later.postgres),
            client_us: per(self.client, later.client),
        }
    }
}

/// The length of a clock tick in µs (`getconf CLK_TCK`, else 100 Hz).
pub fn tick_us() -> f64 {
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|hz| *hz > 0.0)
        .unwrap_or(100.0);
    1e6 / hz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_divides_the_ticks_between_samples() {
        let before = Sample {
            server: Some((100, 50)),
            postgres: Some(1_000),
            client: Some(10),
        };
        let after = Sample {
            server: Some((300, 100)),
            postgres: Some(1_400),
            client: None,
        };

        let cpu = before.per_request(&after, 1_000, 10_000.0);

        assert_eq!(cpu.server_user_us, Some(2_000.0));
        assert_eq!(cpu.server_sys_us, Some(500.0));
        assert_eq!(cpu.postgres_us, Some(4_000.0));
        assert_eq!(cpu.client_us, None);
        assert_eq!(cpu.total_us(), Some(6_500.0));
    }

    #[test]
    fn this_process_has_readable_times_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(times("self").is_some());
        }
    }
}
