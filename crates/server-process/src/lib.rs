//! `vodsnap` as a child process, for the project's tools and tests: the
//! benchmark (`vodsnap-bench`), the fuzz task (`cargo xtask fuzz`) and
//! `vodsnap-app`'s process-level tests (through `vodsnap-test-support`);
//! and [`scratch::ScratchDatabase`], the scratch PostgreSQL database that
//! the benchmark and the conformance suite run on.
//!
//! [`ServerProcess::start`] picks a free loopback port, appends
//! `--listen 127.0.0.1:PORT` to the command it is given, sends both output
//! streams to a log file, and returns once `GET /readyz` answers 200 (or
//! fails, with the end of the log, if the server exits first or the time
//! runs out). Dropping the value stops the server: SIGTERM, its graceful
//! shutdown, then SIGKILL after [`STOP_GRACE`].
//! [`ServerProcess::start_captured`] does the same with the output kept in
//! memory ([`child::ChildProcess`]), tries another port when the one it
//! picked was taken meanwhile, and kills the server at once when dropped:
//! what tests want.
//!
//! Standard library only (plus `anyhow`): xtask uses it, and xtask should
//! not build an async runtime or an HTTP client to start a server. The
//! exception, behind the `proxy` feature: [`proxy::Proxy`], the TCP proxy
//! that plays a storage outage for the app's tests and the soak (tokio).

pub mod child;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod scratch;

pub use child::ChildProcess;

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a stopped server may take to shut down gracefully.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(50);

/// How many ports [`ServerProcess::start_captured`] tries.
const PORT_TRIES: usize = 5;

/// A running `vodsnap serve`, stopped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    /// Output kept in memory instead of a file ([`Self::start_captured`]).
    captured: Option<ChildProcess>,
    addr: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `serve` (a `vodsnap serve ...` command, without `--listen`)
    /// on a free loopback port, logging to `log`, and waits up to
    /// `ready_within` for `/readyz` to answer 200.
    pub fn start(mut serve: Command, log: &Path, ready_within: Duration) -> Result<Self> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        serve.args(["--listen", &addr]);
        println!("$ {}", display(&serve));
        let child = serve
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .context("starting vodsnap serve")?;
        let mut server = Self {
            child: Some(child),
            captured: None,
            addr,
            log: log.to_path_buf(),
        };
        server.wait_ready(ready_within)?;
        Ok(server)
    }

    /// As [`Self::start`], with the output kept in memory (echoed with the
    /// port as label) instead of a file, and another free port tried (up
    /// to 5) when the child exits saying it could not listen: a port found
    /// free can be taken before the child binds it. `serve` makes the
    /// command afresh for each try. Dropped, the server is killed at once.
    pub fn start_captured(
        mut serve: impl FnMut() -> Command,
        ready_within: Duration,
    ) -> Result<Self> {
        for _ in 0..PORT_TRIES {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let mut cmd = serve();
            cmd.args(["--listen", &addr]).stdin(Stdio::null());
            let label = addr.rsplit(':').next().unwrap_or_default().to_owned();
            let mut server = Self {
                child: None,
                captured: Some(ChildProcess::spawn(cmd, &format!(":{label}"))?),
                addr,
                log: PathBuf::new(),
            };
            match server.wait_ready(ready_within) {
                Ok(()) => return Ok(server),
                Err(_) if server.log_tail(usize::MAX).contains("failed to listen") => {}
                Err(e) => return Err(e),
            }
        }
        bail!("vodsnap serve found no free port in {PORT_TRIES} tries")
    }

    /// The output kept in memory, for a server [`Self::start_captured`]
    /// started.
    pub fn captured(&self) -> Option<&ChildProcess> {
        self.captured.as_ref()
    }

    /// As [`Self::captured`], mutably (to kill the server, or ask whether
    /// it still runs).
    pub fn captured_mut(&mut self) -> Option<&mut ChildProcess> {
        self.captured.as_mut()
    }

    /// `host:port` the server listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The file holding the server's stdout and stderr.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The server's process id (0 once detached or killed).
    pub fn pid(&self) -> u32 {
        match &self.captured {
            Some(captured) => captured.pid(),
            None => self.child.as_ref().map_or(0, Child::id),
        }
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
            thread::sleep(POLL);
        }
    }

    /// Fails, with the end of the server's log, if the server exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(captured) = self.captured.as_mut() {
            if captured.running() {
                return Ok(());
            }
            captured.kill(); // reaps it and reads its output to the end
            bail!("the server died; its output:\n{}", captured.log());
        }
        let Some(child) = self.child.as_mut() else {
            bail!("the server is gone");
        };
        if let Some(status) = child.try_wait().context("polling the server")? {
            bail!(
                "the server died ({status}); end of {}:\n{}",
                self.log.display(),
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// Fails if the server log shows a panic (a handler panic drops the
    /// connection rather than answering 500, so it must be looked for).
    pub fn check_no_panic(&self) -> Result<()> {
        let log = self.log_text();
        let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
        if let Some(first) = panics.first() {
            bail!(
                "the server log shows {} panic(s), in {}; the first:\n  {first}",
                panics.len(),
                self.log.display()
            );
        }
        Ok(())
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log: the file's, or both captured streams.
    fn log_text(&self) -> String {
        match &self.captured {
            Some(captured) => captured.log(),
            None => fs::read_to_string(&self.log).unwrap_or_default(),
        }
    }

    /// Peak resident set size so far (VmHWM), KiB; 0 if unreadable (not Linux).
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.pid()).unwrap_or(0)
    }

    /// Resident set size now (VmRSS), KiB; `None` if unreadable (not Linux,
    /// or the process is gone).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// Leaves the server running after this value is dropped (the caller
    /// stops it by its pid).
    pub fn detach(mut self) -> u32 {
        let pid = self.pid();
        self.child = None;
        if let Some(captured) = self.captured.take() {
            // Its output readers end with the process; nothing to join.
            std::mem::forget(captured);
        }
        pid
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
    }
}

/// Stops a server child: SIGTERM first (its graceful shutdown), SIGKILL
/// after [`STOP_GRACE`].
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The resident set size (VmRSS) of process `pid`, KiB; `None` if
/// unreadable (not Linux, or the process is gone).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The peak resident set size so far (VmHWM) of process `pid`, KiB; `None`
/// if unreadable (not Linux, or the process is gone).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// A `kB` field of `/proc/{pid}/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

/// Status of `GET path` on `addr`, `None` if nothing answers (xtask polls
/// a container's `/readyz` with it).
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
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

/// The command line as a person would type it (without the environment).
pub fn display(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if arg.is_empty() || arg.contains([' ', '\'', '"', '$', '(', ')', '{', '}']) {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        } else {
            line.push_str(&arg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A stand-in for `vodsnap serve`: Python's HTTP server on the
    /// `--listen` address, answering `status` to every GET. Real sockets, a
    /// real child process.
    fn fake_server(status: u16) -> Command {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            &format!(
                "import sys, http.server\n\
                 host, port = sys.argv[-1].rsplit(':', 1)\n\
                 class H(http.server.BaseHTTPRequestHandler):\n    \
                     def do_GET(self):\n        \
                         self.send_response({status}); self.end_headers()\n\
                 http.server.HTTPServer((host, int(port)), H).serve_forever()\n"
            ),
        ]);
        cmd
    }

    fn log_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "vodsnap-server-process-{name}-{}.log",
            std::process::id()
        ))
    }

    #[test]
    fn starts_waits_until_ready_and_stops_when_dropped() -> Result<()> {
        let log = log_file("ready");
        let mut server = ServerProcess::start(fake_server(200), &log, Duration::from_secs(30))?;
        server.check_alive()?;
        assert_eq!(http_status(server.addr(), "/readyz"), Some(200));
        let addr = server.addr().to_owned();

        drop(server);

        assert!(TcpStream::connect(&addr).is_err(), "still listening");
        let _ = fs::remove_file(log);
        Ok(())
    }

    #[test]
    fn a_server_that_exits_is_reported_with_its_log() {
        let log = log_file("exits");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'no database'; exit 3", "sh"]);

        let error = ServerProcess::start(cmd, &log, Duration::from_secs(30))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();

        assert!(error.contains("died"), "{error}");
        assert!(error.contains("no database"), "{error}");
        let _ = fs::remove_file(log);
    }

    #[test]
    fn a_captured_server_gets_another_port_when_its_own_was_taken() -> Result<()> {
        // The first child cannot listen (as when its port was taken between
        // the check and the bind); the second serves.
        let mut tries = 0;
        let make = || {
            tries += 1;
            if tries == 1 {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", "echo 'failed to listen on the address' >&2; exit 1"]);
                cmd
            } else {
                fake_server(200)
            }
        };

        let mut server = ServerProcess::start_captured(make, Duration::from_secs(30))?;

        assert_eq!(http_status(server.addr(), "/readyz"), Some(200));
        assert!(server.captured_mut().is_some_and(ChildProcess::running));
        let addr = server.addr().to_owned();
        drop(server);
        assert_eq!(tries, 2);
        assert!(TcpStream::connect(&addr).is_err(), "still listening");
        Ok(())
    }

    #[test]
    fn a_captured_server_that_exits_otherwise_is_reported_with_its_output() {
        let make = || {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "echo 'no database' >&2; exit 3"]);
            cmd
        };

        let error = ServerProcess::start_captured(make, Duration::from_secs(30))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();

        assert!(error.contains("died"), "{error}");
        assert!(error.contains("no database"), "{error}");
    }

    #[test]
    fn nothing_listening_has_no_status() -> Result<()> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        assert_eq!(http_status(&format!("127.0.0.1:{port}"), "/readyz"), None);
        Ok(())
    }
}
