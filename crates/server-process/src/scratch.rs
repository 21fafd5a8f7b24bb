//! A scratch PostgreSQL database for one run of a tool (the conformance
//! suite, the benchmark), created and dropped with `psql`, so that the
//! tools need no database driver.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::display;

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

/// `psql` running `sql` on `url`, stopping at the first error, terse
/// unaligned output.
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
/// this value is dropped. Needs `psql`.
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
        // Many tests of one process create theirs at once: a counter keeps
        // two names apart even within one tick of the clock.
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{}_{nanos}_{n}", std::process::id());
        output(&mut psql(admin_url, &format!("CREATE DATABASE {name}"))).with_context(|| {
            format!("creating scratch database {name} (needs `psql`: postgresql-client)")
        })?;
        println!("database: created scratch database {name}");
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
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

    /// Needs PostgreSQL: `cargo xtask test` exports `DATABASE_URL`; without it
    /// this test fails rather than skips.
    #[test]
    fn scratch_database_is_created_then_dropped() -> Result<()> {
        let admin = std::env::var("DATABASE_URL")
            .context("DATABASE_URL must point at PostgreSQL (`cargo xtask test` sets it)")?;
        let db = ScratchDatabase::create(&admin, "vodsnap_scratch_selftest")?;
        assert_eq!(output(&mut psql(&db.url, "select 1"))?.trim(), "1");
        let count = format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            db.name
        );
        assert_eq!(output(&mut psql(&admin, &count))?.trim(), "1");
        drop(db);
        assert_eq!(output(&mut psql(&admin, &count))?.trim(), "0");
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
