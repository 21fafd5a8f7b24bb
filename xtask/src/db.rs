//! Choosing the PostgreSQL server the tests use, and scratch databases on it.
//!
//! The order, first match wins:
//! 1. `DATABASE_URL` from the environment;
//! 2. a throwaway container started through testcontainers, when a Docker
//!    engine answers (a `docker` binary alone is not enough); the image is
//!    the official `postgres:16-alpine`, or `VODSNAP_XTASK_PG_IMAGE=name:tag`
//!    (a registry mirror's copy, or an image built on a machine without a
//!    registry, as CI's `.ci/pg-image` does);
//! 3. the local server at `postgres://postgres@127.0.0.1:5432/postgres`
//!    (address overridable with `VODSNAP_XTASK_LOCAL_PG=host:port`).
//!
//! If none is usable the step fails: tests that need PostgreSQL never skip
//! silently.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

use crate::proc;

/// Image for the testcontainers path (CI's service runs `postgres:16` too).
const CONTAINER_NAME: &str = "postgres";
const CONTAINER_TAG: &str = "16-alpine";
/// `name:tag` of another image for the testcontainers path.
pub const IMAGE_ENV: &str = "VODSNAP_XTASK_PG_IMAGE";
/// Set by xtask for the tests when it took the testcontainers path: the
/// tests that need an engine of their own (crates/app/tests/outage.rs) must
/// then run, not skip.
pub const REQUIRE_DOCKER_ENV: &str = "VODSNAP_TEST_REQUIRE_DOCKER";
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
    /// `name:tag` of the container's image, on the testcontainers path.
    pub image: Option<String>,
    _container: Option<Container<Postgres>>,
}

/// An image reference split into name and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub tag: String,
}

impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// The image from [`IMAGE_ENV`]'s value (`None`: unset), else the official one.
///
/// The value is `name:tag`; the name may carry a registry with a port
/// (`mirror.example:5000/library/postgres:16`), so the tag is what follows
/// the last `:` after the last `/`. A missing tag or a digest is refused
/// rather than guessed: the run must say exactly which image it used.
pub fn image(value: Option<&str>) -> Result<Image> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Image {
            name: CONTAINER_NAME.to_owned(),
            tag: CONTAINER_TAG.to_owned(),
        });
    };
    if value.contains('@') || value.chars().any(char::is_whitespace) {
        bail!("{IMAGE_ENV}={value:?}: expected name:tag (no digest, no spaces)");
    }
    let last_part = value.rsplit('/').next().unwrap_or(value);
    let Some((_, tag)) = last_part.rsplit_once(':') else {
        bail!("{IMAGE_ENV}={value:?}: expected name:tag, e.g. vodsnap-ci/postgres:15");
    };
    let name = &value[..value.len() - tag.len() - 1];
    if name.is_empty() || tag.is_empty() || name.ends_with('/') || name.starts_with('/') {
        bail!("{IMAGE_ENV}={value:?}: expected name:tag, e.g. vodsnap-ci/postgres:15");
    }
    Ok(Image {
        name: name.to_owned(),
        tag: tag.to_owned(),
    })
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
            image: None,
            _container: None,
        });
    }

    if env_flag(NO_DOCKER_ENV) {
        println!("database: testcontainers not tried ({NO_DOCKER_ENV} is set)");
    } else if docker_engine_answers() {
        let image = image(std::env::var(IMAGE_ENV).ok().as_deref())?;
        println!("database: a Docker engine answers; starting {image} (testcontainers)");
        let container = Postgres::default()
            .with_name(image.name.clone())
            .with_tag(image.tag.clone())
            .start()
            .with_context(|| {
                format!(
                    "starting a PostgreSQL container from {image} with testcontainers \
                     (without a registry, build an image and name it in {IMAGE_ENV}; \
                     or set {NO_DOCKER_ENV}=1 for the local server)"
                )
            })?;
        let host = container
            .get_host()
            .context("asking testcontainers for the container's host")?;
        let port = container
            .get_host_port_ipv4(5432)
            .context("asking testcontainers for the container's port")?;
        let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
        println!("database: testcontainers path: {image} at {url}");
        return Ok(Database {
            url,
            image: Some(image.to_string()),
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
            image: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> (String, String) {
        let image = image(Some(value)).unwrap_or_else(|e| panic!("{value}: {e}"));
        (image.name, image.tag)
    }

    #[test]
    fn unset_or_blank_means_the_official_image() {
        for value in [None, Some(""), Some("  ")] {
            let image = image(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(image.to_string(), "postgres:16-alpine", "{value:?}");
        }
    }

    #[test]
    fn name_and_tag_are_split_at_the_tag_colon() {
        assert_eq!(
            parsed("vodsnap-ci/postgres:15"),
            ("vodsnap-ci/postgres".into(), "15".into())
        );
        assert_eq!(parsed(" postgres:16 "), ("postgres".into(), "16".into()));
        // A registry port is part of the name, not the tag.
        assert_eq!(
            parsed("mirror.example:5000/library/postgres:16-alpine"),
            (
                "mirror.example:5000/library/postgres".into(),
                "16-alpine".into()
            )
        );
    }

    #[test]
    fn values_without_a_usable_tag_are_refused() {
        for value in [
            "postgres",
            "mirror.example:5000/postgres",
            "postgres:",
            ":16",
            "postgres@sha256:0123",
            "postgres:16 extra",
        ] {
            let err = image(Some(value)).expect_err(value).to_string();
            assert!(err.contains(IMAGE_ENV), "{value}: {err}");
        }
    }
}
