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
    /// The admin URL of every server that holds the database: one, or a
    /// Citus cluster's workers and then its coordinator.
    nodes: Vec<String>,
    name: String,
    /// URL of the new database (same server and credentials as the admin
    /// URL; on Citus, the coordinator's).
    pub url: String,
}

/// A name no other scratch database has: `<prefix>_<pid>_<nanos>_<n>`.
fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // Many tests of one process create theirs at once: a counter keeps
    // two names apart even within one tick of the clock.
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let n = CREATED.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

impl ScratchDatabase {
    /// Creates `<prefix>_<unique suffix>` on the server of `admin_url`.
    pub fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        let name = unique_name(prefix);
        output(&mut psql(admin_url, &format!("CREATE DATABASE {name}"))).with_context(|| {
            format!("creating scratch database {name} (needs `psql`: postgresql-client)")
        })?;
        println!("database: created scratch database {name}");
        Ok(Self {
            nodes: vec![admin_url.to_owned()],
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// Creates `<prefix>_<unique suffix>` on every node of the Citus
    /// cluster whose coordinator `coordinator_url` names, each a copy of
    /// that node's `template` (see [`CitusTemplate`]): the copy holds the
    /// template's distributed schema, its shards and the cluster's
    /// metadata, so the new database is a distributed one at once.
    pub fn create_citus(coordinator_url: &str, prefix: &str, template: &str) -> Result<Self> {
        let name = unique_name(prefix);
        let mut nodes = citus_workers(coordinator_url)?;
        nodes.push(coordinator_url.to_owned());
        let mut created = Self {
            nodes: Vec::new(),
            url: with_database(coordinator_url, &name),
            name,
        };
        for node in &nodes {
            let sql = format!("CREATE DATABASE {} TEMPLATE {template}", created.name);
            output(&mut psql(node, &sql)).with_context(|| {
                format!(
                    "creating scratch database {} from the Citus template {template} on {}",
                    created.name,
                    redacted(node)
                )
            })?;
            // Dropped from every node it was created on, should a later
            // one fail.
            created.nodes.push(node.clone());
        }
        println!(
            "database: created scratch database {} on {} Citus nodes",
            created.name,
            created.nodes.len()
        );
        Ok(created)
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
        // The coordinator first: no statement reaches a worker's copy
        // through it once it is gone.
        for node in self.nodes.iter().rev() {
            if let Err(err) = output(&mut psql(node, &sql)) {
                eprintln!(
                    "warning: could not drop scratch database {}: {err:#}",
                    self.name
                );
            }
        }
    }
}

/// The admin URLs of the workers of the Citus cluster whose coordinator
/// `coordinator_url` names (from its `pg_dist_node`), with its user and
/// options.
pub fn citus_workers(coordinator_url: &str) -> Result<Vec<String>> {
    let rows = output(&mut psql(
        coordinator_url,
        "SELECT nodename || ' ' || nodeport FROM pg_dist_node \
         WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid",
    ))
    .with_context(|| {
        format!(
            "reading the Citus workers from {} (is it a Citus coordinator?)",
            redacted(coordinator_url)
        )
    })?;
    let workers: Vec<String> = rows
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(host, port)| with_host_port(coordinator_url, host, port))
        .collect();
    if workers.is_empty() {
        bail!(
            "the Citus coordinator {} has no worker (citus_add_node)",
            redacted(coordinator_url)
        );
    }
    Ok(workers)
}

/// A template database on every node of a Citus cluster, from which
/// [`ScratchDatabase::create_citus`] copies test databases: `citus`
/// installed on each node, the workers added on the coordinator. The
/// caller fills it (`vodsnap migrate --citus` on [`CitusTemplate::url`]),
/// then [`CitusTemplate::seal`]s it: a database is copied only while
/// nobody is connected to it.
#[derive(Debug)]
pub struct CitusTemplate {
    /// The template's name on every node.
    pub name: String,
    /// The template on the coordinator.
    pub url: String,
    nodes: Vec<String>,
}

impl CitusTemplate {
    /// (Re)creates `name` on every node of the cluster of `coordinator_url`.
    pub fn create(coordinator_url: &str, name: &str) -> Result<Self> {
        let mut nodes = citus_workers(coordinator_url)?;
        nodes.push(coordinator_url.to_owned());
        for node in &nodes {
            output(&mut psql(
                node,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ))?;
            output(&mut psql(node, &format!("CREATE DATABASE {name}")))?;
            output(&mut psql(
                &with_database(node, name),
                "CREATE EXTENSION IF NOT EXISTS citus",
            ))
            .with_context(|| format!("installing citus in {name} on {}", redacted(node)))?;
        }
        let url = with_database(coordinator_url, name);
        let (host, port) = host_port(coordinator_url);
        let mut add = format!("SELECT citus_set_coordinator_host('{host}', {port});");
        for worker in &nodes[..nodes.len() - 1] {
            let (host, port) = host_port(worker);
            add.push_str(&format!("SELECT citus_add_node('{host}', {port});"));
        }
        output(&mut psql(&url, &add)).context("adding the workers to the template")?;
        Ok(Self {
            name: name.to_owned(),
            url,
            nodes,
        })
    }

    /// Closes the template to connections on every node (and ends those
    /// open, Citus's own included), so that it can be copied.
    pub fn seal(&self) -> Result<()> {
        for node in &self.nodes {
            output(&mut psql(
                node,
                &format!(
                    "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                     SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = '{name}'",
                    name = self.name
                ),
            ))?;
        }
        Ok(())
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    let (host, port) = host_port(url);
    format!("{host}:{port}")
}

/// The host and port of a `postgres://user@host:port/db` URL (5432 when
/// it names none).
fn host_port(url: &str) -> (String, String) {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.to_owned()),
        None => (host_port.to_owned(), "5432".to_owned()),
    }
}

/// `url` with its host and port replaced (user, database and query kept).
fn with_host_port(url: &str, host: &str, port: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = authority_start + rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &url[authority_start..authority_end];
    let user = authority.rsplit_once('@').map(|(u, _)| u);
    let new_authority = match user {
        Some(user) => format!("{user}@{host}:{port}"),
        None => format!("{host}:{port}"),
    };
    format!(
        "{}{new_authority}{}",
        &url[..authority_start],
        &url[authority_end..]
    )
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
    fn host_and_port_are_replaced_and_the_rest_kept() {
        assert_eq!(
            with_host_port(
                "postgres://u:pw@10.0.0.1:5432/db?sslmode=disable",
                "w1",
                "6000"
            ),
            "postgres://u:pw@w1:6000/db?sslmode=disable"
        );
        assert_eq!(
            with_host_port("postgres://localhost/db", "w1", "6000"),
            "postgres://w1:6000/db"
        );
        assert_eq!(
            host_port("postgres://u:pw@h:7/db"),
            ("h".to_owned(), "7".to_owned())
        );
        assert_eq!(
            host_port("postgres://u@h/db"),
            ("h".to_owned(), "5432".to_owned())
        );
        assert_eq!(redacted("postgres://u:secret@h:7/db"), "h:7");
    }

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
