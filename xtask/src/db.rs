//! Choosing the PostgreSQL server the tests use, and scratch databases on it.
//!
//! The order, first match wins:
//! 1. `DATABASE_URL` from the environment;
//! 2. a throwaway container started through testcontainers, when a Docker
//!    engine answers (a `docker` binary alone is not enough);
//! 3. the local server at `postgres://postgres@127.0.0.1:5432/postgres`
//!    (address overridable with `VODSNAP_XTASK_LOCAL_PG=host:port`).
//!
//! If none is usable the step fails: tests that need PostgreSQL never skip
//! silently.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

use crate::proc::{self, Env};

/// Image tag for the testcontainers path (CI's service runs `postgres:16` too).
const CONTAINER_TAG: &str = "16-alpine";
/// Default address of the local server.
const LOCAL_DEFAULT: &str = "127.0.0.1:5432";
/// Overrides [`LOCAL_DEFAULT`], e.g. `127.0.0.1:1` to simulate "nothing answers".
pub const LOCAL_ENV: &str = "VODSNAP_XTASK_LOCAL_PG";
/// Set (non-empty) to never try testcontainers.
pub const NO_DOCKER_ENV: &str = "VODSNAP_XTASK_NO_DOCKER";

/// The chosen server. Keep this value alive while anything uses the
/// database: dropping it stops and removes the container, if one was started.
#[derive(Debug)]
pub struct Database {
    /// Connection URL, exported to children as `DATABASE_URL`.
    pub url: String,
    _container: Option<Container<Postgres>>,
}

/// Picks a server (see the module docs) and says which on stdout.
pub fn select() -> Result<Database> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        println!("database: DATABASE_URL from the environment");
        if proc::available("psql") {
            if !psql_answers(&url) {
                bail!(
                    "DATABASE_URL is set but `psql` could not run `select 1` against it; \
                     fix or unset it"
                );
            }
        } else {
            println!("database: (psql not installed: DATABASE_URL not checked)");
        }
        return Ok(Database {
            url,
            _container: None,
        });
    }

    if env_flag(NO_DOCKER_ENV) {
        println!("database: testcontainers not tried ({NO_DOCKER_ENV} is set)");
    } else if docker_engine_answers() {
        println!("database: a Docker engine answers; starting postgres:{CONTAINER_TAG}");
        let container = Postgres::default()
            .with_tag(CONTAINER_TAG)
            .start()
            .context("starting a PostgreSQL container with testcontainers")?;
        let host = container
            .get_host()
            .context("asking testcontainers for the container's host")?;
        let port = container
            .get_host_port_ipv4(5432)
            .context("asking testcontainers for the container's port")?;
        let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
        println!("database: testcontainers postgres:{CONTAINER_TAG} at {url}");
        return Ok(Database {
            url,
            _container: Some(container),
        });
    } else {
        println!("database: no Docker engine answers (docker info / socket ping)");
    }

    let addr = std::env::var(LOCAL_ENV)
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| LOCAL_DEFAULT.to_owned());
    let url = format!("postgres://postgres@{addr}/postgres");
    if local_answers(&addr, &url) {
        println!("database: local server at {url}");
        return Ok(Database {
            url,
            _container: None,
        });
    }
    bail!(
        "no PostgreSQL server to test against. Provide one of:\n  \
         1. DATABASE_URL=postgres://user:password@host:port/db in the environment;\n  \
         2. a running Docker engine (`docker info` must succeed), for testcontainers;\n  \
         3. a local server answering at {url} (trust auth), e.g. \
         `pg_ctlcluster --skip-systemctl-redirect 15 main start`"
    )
}

fn env_flag(key: &str) -> bool {
    std::env::var(key).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `docker info` exits 0 within 10 s, or the engine's socket answers `/_ping`.
fn docker_engine_answers() -> bool {
    proc::probe(Command::new("docker").arg("info"), Duration::from_secs(10)) || socket_ping()
}

/// `GET /_ping` on the Unix socket from `DOCKER_HOST` (or the default one).
fn socket_ping() -> bool {
    let path = match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host.trim_start_matches("unix://").to_owned(),
        Ok(host) if !host.is_empty() => return false, // TCP engines: `docker info` covers them
        _ => "/var/run/docker.sock".to_owned(),
    };
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(5));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    // A read error after a partial reply still leaves what was read to inspect.
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.") && reply.contains(" 200 ")
}

/// `pg_isready` when installed, else a TCP connect plus `psql -c 'select 1'`.
fn local_answers(addr: &str, url: &str) -> bool {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "5432"));
    if proc::available("pg_isready") {
        return proc::probe(
            Command::new("pg_isready").args(["-h", host, "-p", port, "-t", "5"]),
            Duration::from_secs(10),
        );
    }
    let connected = addr.to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok())
    });
    connected && (!proc::available("psql") || psql_answers(url))
}

fn psql_answers(url: &str) -> bool {
    proc::probe(
        Command::new("psql")
            .env("PGCONNECT_TIMEOUT", "5")
            .args(["-X", "-q", "-d", url, "-c", "select 1"]),
        Duration::from_secs(15),
    )
}

/// A database created for one run and dropped (with its connections) when
/// this value is dropped. Needs `psql`.
#[derive(Debug)]
pub struct ScratchDatabase {
    env: Env,
    admin_url: String,
    name: String,
    /// URL of the new database (same server and credentials as the admin URL).
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<unique suffix>` on the server of `admin_url`.
    pub fn create(env: &Env, admin_url: &str, prefix: &str) -> Result<Self> {
        if !proc::available("psql") {
            bail!("`psql` is needed to create a scratch database (install postgresql-client)");
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        proc::run(&mut psql(
            env,
            admin_url,
            &format!("CREATE DATABASE {name}"),
        ))
        .with_context(|| format!("creating scratch database {name}"))?;
        let url = with_database(admin_url, &name);
        println!("database: created scratch database {name}");
        Ok(Self {
            env: env.clone(),
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = proc::run(&mut psql(&self.env, &self.admin_url, &sql)) {
            eprintln!(
                "warning: could not drop scratch database {}: {err:#}",
                self.name
            );
        }
    }
}

fn psql(env: &Env, url: &str, sql: &str) -> Command {
    let mut cmd = env.command("psql");
    cmd.env("PGCONNECT_TIMEOUT", "10").args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]);
    cmd
}

/// `url` with its database name replaced by `database` (query kept).
fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let path_start = rest
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let query = url[path_start..]
        .find('?')
        .map_or("", |i| &url[path_start + i..]);
    format!("{}/{database}{query}", &url[..path_start])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Needs PostgreSQL: `cargo xtask test` exports `DATABASE_URL`; without it
    /// this test fails rather than skips.
    #[test]
    fn scratch_database_is_created_then_dropped() -> Result<()> {
        let admin = std::env::var("DATABASE_URL")
            .context("DATABASE_URL must point at PostgreSQL (`cargo xtask test` sets it)")?;
        let env = Env::new(Path::new(env!("CARGO_MANIFEST_DIR")));
        let db = ScratchDatabase::create(&env, &admin, "vodsnap_xtask_selftest")?;
        assert!(psql_answers(&db.url), "cannot connect to {}", db.url);
        let count = format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            db.name
        );
        assert_eq!(
            proc::output(psql(&env, &admin, &count).arg("-tA"))?.trim(),
            "1"
        );
        drop(db);
        assert_eq!(
            proc::output(psql(&env, &admin, &count).arg("-tA"))?.trim(),
            "0"
        );
        Ok(())
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
        assert_eq!(
            with_database("postgresql://h?sslmode=disable", "x"),
            "postgresql://h/x?sslmode=disable"
        );
    }
}
