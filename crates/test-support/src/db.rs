//! A PostgreSQL database per test on the server named by `DATABASE_URL`,
//! dropped (with any connection still open) when the test ends. Without
//! `DATABASE_URL` the test fails saying so: these tests never skip.
//!
//! It is `vodsnap-server-process`'s scratch database (created and dropped
//! with `psql`), the one the benchmark and the conformance step use.

use vodsnap_server_process::scratch::ScratchDatabase;

/// The server's URL, from `DATABASE_URL`.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: these tests need a PostgreSQL server on which they may \
         create databases, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
         (cargo xtask test sets it)",
    )
}

/// A fresh, empty database of its own; dropped when this is.
#[derive(Debug)]
pub struct TestDb {
    scratch: ScratchDatabase,
}

impl TestDb {
    /// Creates `vodsnap_t_<pid>_<unique>` on the server of `DATABASE_URL`.
    pub fn create() -> Self {
        let scratch = ScratchDatabase::create(&admin_url(), "vodsnap_t")
            .unwrap_or_else(|e| panic!("create a test database: {e:#}"));
        Self { scratch }
    }

    /// Its URL (the server's, with this database's name).
    pub fn url(&self) -> &str {
        &self.scratch.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.scratch.name()
    }
}
