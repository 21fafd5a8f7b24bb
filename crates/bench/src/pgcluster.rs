//! A private PostgreSQL server for the soak, which restarts it: `initdb`
//! into a directory of its own and `pg_ctl` on a free loopback port, so
//! that the machine's shared server (other people's tests) is never
//! touched. Run as the `postgres` user (`runuser`) when this program runs
//! as root, which `initdb` refuses, as `.ci/citus-cluster` does. The
//! binaries: `VODSNAP_SOAK_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin`. Stopped (`-m immediate`) and removed when
//! dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use crate::database::output;

const BIN_ENV: &str = "VODSNAP_SOAK_PG_BIN";

#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    /// Holds the data directory and the socket.
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// A new cluster under `parent`, started.
    pub fn start(parent: &Path) -> Result<Self> {
        let bin = bin_dir()?;
        let as_postgres = output(Command::new("id").arg("-u"))?.trim() == "0";
        let port = vodsnap_server_process::free_port()?;
        let dir = parent.join(format!("soak-pg-{port}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let cluster = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        if as_postgres {
            output(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster.dir),
            )?;
        }
        output(
            cluster
                .pg("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ])
                .stdout(Stdio::null()),
        )
        .context("initdb of the soak's PostgreSQL")?;
        cluster.start_again()?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m fast`: sessions are ended, the server shuts down.
    pub fn stop(&self) -> Result<()> {
        self.ctl(&["stop", "-m", "fast"])
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_again(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log");
        let log = log.to_string_lossy();
        self.ctl(&["start", "-t", "120", "-l", &log, "-o", &options])
    }

    fn ctl(&self, args: &[&str]) -> Result<()> {
        let data = self.data();
        output(
            self.pg("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-w")
                .args(args)
                .stdout(Stdio::null()),
        )
        .with_context(|| format!("pg_ctl {}", args.first().unwrap_or(&"")))
        .map(drop)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let version = e.file_name().to_string_lossy().parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").is_file().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin: install \
             postgresql, or set {BIN_ENV}"
        ),
    }
    .and_then(|bin: PathBuf| {
        ensure!(
            bin.join("pg_ctl").is_file(),
            "{} has no pg_ctl",
            bin.display()
        );
        Ok(bin)
    })
}
