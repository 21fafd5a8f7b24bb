//! The benchmark's PostgreSQL: the server (`DATABASE_URL`, else the local
//! one), a scratch database created for the run and dropped after it, and
//! `psql` to talk to it.
//!
//! The scratch database and `psql` are `vodsnap_server_process::scratch`,
//! shared with xtask's conformance step.

pub use vodsnap_server_process::scratch::{ScratchDatabase, output, psql};

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
