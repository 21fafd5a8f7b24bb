//! The benchmark's PostgreSQL: the server (`DATABASE_URL`, else the local
//! one), a scratch database created for the run and dropped after it, and
//! `psql` to talk to it.
//!
//! TODO(issue 11, part 7): xtask's `db.rs` has the same scratch database;
//! both belong in the test-support crate once it exists.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use vodsnap_server_process::display;

/// The variable naming the local server's `host:port` (as in xtask).
const LOCAL_ENV: &str = "VODSNAP_XTASK_LOCAL_PG";

/// `DATABASE_URL`, else the local server.
pub fn admin_url() -> String {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return url;
    }
    let addr = std::env::var(LOCAL_ENV)
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:5432".to_owned());
    format!("postgres://postgres@{addr}/postgres")
}

/// Runs `cmd` (no stdin) and returns its stdout; fails (with its stderr)
/// unless it exits 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

/// `psql` running `sql` on `url`, stopping at the first error, terse output.
pub fn psql(url: &str, sql: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.env("PGCONNECT_TIMEOUT", "10").args([
        "-X",
        "-q",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]);
    cmd
}

/// A database created for one run and dropped (with its connections) when
/// this value is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// URL of the new database (same server and credentials as the admin URL).
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<unique suffix>` on the server of `admin_url`.
    pub fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        output(&mut psql(admin_url, &format!("CREATE DATABASE {name}")))
            .with_context(|| format!("creating scratch database {name}"))?;
        println!("database: created scratch database {name}");
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// Leaves the database in place after this value is dropped.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = output(&mut psql(&self.admin_url, &sql)) {
            eprintln!(
                "warning: could not drop scratch database {}: {err:#}",
                self.name
            );
        }
    }
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
    use super::*;

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
    }
}
