//! A PostgreSQL database per test (`vodsnap-test-support`); `vodsnap
//! serve` migrates it at start-up.

/// A fresh, empty database, dropped (with any connection still open) when
/// the test ends.
#[derive(Debug)]
pub struct TestDb(vodsnap_test_support::db::TestDb);

impl TestDb {
    pub async fn create() -> Self {
        let db = tokio::task::spawn_blocking(vodsnap_test_support::db::TestDb::create)
            .await
            .expect("the database creation thread");
        Self(db)
    }

    /// The URL to give `--database-url`.
    pub fn url(&self) -> &str {
        self.0.url()
    }
}
