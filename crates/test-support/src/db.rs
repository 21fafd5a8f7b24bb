//! A PostgreSQL database per test on the server named by `DATABASE_URL`,
//! dropped (with any connection still open) when the test ends. Without
//! `DATABASE_URL` the test fails saying so: these tests never skip.
//!
//! It is `vodsnap-server-process`'s scratch database (created and dropped
//! with `psql`), the one the benchmark and the conformance step use.

use vodsnap_server_process::scratch::ScratchDatabase;

/// Names the Citus template database the tests copy theirs from; set by
/// `cargo xtask test` for the suites it runs on a Citus cluster.
pub const CITUS_TEMPLATE_ENV: &str = "VODSNAP_TEST_CITUS_TEMPLATE";

/// Whether this test runs on a Citus cluster (see [`CITUS_TEMPLATE_ENV`]).
pub fn on_citus() -> bool {
    std::env::var(CITUS_TEMPLATE_ENV).is_ok_and(|t| !t.is_empty())
}

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
    ///
    /// With `VODSNAP_TEST_CITUS_TEMPLATE` set (`cargo xtask test` sets it
    /// for its Citus pass), `DATABASE_URL` is a Citus coordinator and the
    /// database is a copy of that template on every node: migrated and
    /// distributed already (docs/CI.md, "Citus").
    pub fn create() -> Self {
        let created = match std::env::var(CITUS_TEMPLATE_ENV) {
            Ok(template) if !template.is_empty() => {
                ScratchDatabase::create_citus(&admin_url(), "vodsnap_t", &template)
            }
            _ => ScratchDatabase::create(&admin_url(), "vodsnap_t"),
        };
        let scratch = created.unwrap_or_else(|e| panic!("create a test database: {e:#}"));
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
