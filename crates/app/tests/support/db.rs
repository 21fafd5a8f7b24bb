//! A PostgreSQL database per test on the server named by `DATABASE_URL`,
//! dropped (with any connection still open) when the test ends. Without
//! `DATABASE_URL` the test fails saying so: these tests never skip.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// A fresh, empty database; `vodsnap serve` migrates it at start-up.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    admin: PgConnectOptions,
    url: String,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: these tests run `vodsnap serve` on PostgreSQL and need a \
         server on which they may create databases, e.g. \
         DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (cargo xtask test sets it)",
    )
}

impl TestDb {
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let admin = PgConnectOptions::from_str(&admin_url)
            .expect("DATABASE_URL is not a valid PostgreSQL URL");
        let name = format!("vodsnap_app_t_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connect to the PostgreSQL server named by DATABASE_URL");
        // The name is ours (a fixed prefix and hex digits), so splicing it
        // is safe; CREATE DATABASE takes no binds.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is not a URL");
        url.set_path(&format!("/{name}"));
        Self {
            name,
            admin,
            url: url.to_string(),
        }
    }

    /// The URL to give `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await and may run on the test's runtime: a thread with
        // its own runtime does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}
