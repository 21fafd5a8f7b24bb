//! What the operator needs to know about the database before a command
//! runs: which migrations it has applied (the comparison with the binary's
//! is the domain's [`SchemaState`]), where it is (never the password), and
//! why a connection failed, in PostgreSQL's words without sqlx's
//! decorations.

use std::str::FromStr as _;

use anyhow::Context as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgPool};
use vodsnap_domain::schema::{AppliedMigration, Migration, SchemaState};

use crate::{ACQUIRE_TIMEOUT, MIGRATOR};

/// The migrations embedded in this binary.
pub fn embedded_migrations() -> Vec<Migration> {
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| Migration {
            version: m.version,
            description: m.description.to_string(),
            checksum: m.checksum.to_vec(),
        })
        .collect()
}

/// The migrations the database has recorded (sqlx's `_sqlx_migrations`),
/// oldest first; none when the table does not exist.
pub async fn applied_migrations(pool: &PgPool) -> anyhow::Result<Vec<AppliedMigration>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .context("failed to look for the migrations table")?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String, bool, Vec<u8>)> = sqlx::query_as(
        "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .context("failed to read the applied migrations")?;
    Ok(rows
        .into_iter()
        .map(
            |(version, description, succeeded, checksum)| AppliedMigration {
                migration: Migration {
                    version,
                    description,
                    checksum,
                },
                succeeded,
            },
        )
        .collect())
}

/// The database's schema compared with this binary's migrations.
pub async fn schema_state(pool: &PgPool) -> anyhow::Result<SchemaState> {
    let applied = applied_migrations(pool).await?;
    Ok(SchemaState::compare(&embedded_migrations(), &applied))
}

/// `user@host:port/database` of a database URL, for messages: never the
/// password. `None` when the URL does not parse.
pub fn describe_target(url: &str) -> Option<String> {
    let options = PgConnectOptions::from_str(url).ok()?;
    Some(format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    ))
}

/// Why a connection to the database fails, for an operator to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectProblem {
    /// The URL is not a PostgreSQL URL.
    BadUrl(String),
    /// Nothing answered at the address, or it did not answer in time.
    Unreachable(String),
    /// The server refused the user or its password.
    Refused(String),
    /// The server has no database of that name.
    NoDatabase(String),
    /// Anything else PostgreSQL said.
    Other(String),
}

/// Opens one connection to `url` and, if that fails, says why in
/// PostgreSQL's words (a pool only says that it timed out). `None`: the
/// connection works.
pub async fn diagnose_connection(url: &str) -> Option<ConnectProblem> {
    let options = match PgConnectOptions::from_str(url) {
        Ok(options) => options,
        Err(e) => return Some(ConnectProblem::BadUrl(plain_message(&e))),
    };
    let attempt =
        tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::PgConnection::connect_with(&options)).await;
    let error = match attempt {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            return None;
        }
        Ok(Err(error)) => error,
        Err(_) => {
            return Some(ConnectProblem::Unreachable(format!(
                "no answer within {}s",
                ACQUIRE_TIMEOUT.as_secs()
            )));
        }
    };
    let message = plain_message(&error);
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    Some(match code.as_deref() {
        // invalid_authorization_specification, invalid_password
        Some("28000" | "28P01") => ConnectProblem::Refused(message),
        // invalid_catalog_name
        Some("3D000") => ConnectProblem::NoDatabase(message),
        Some(_) => ConnectProblem::Other(message),
        None => match error {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
                ConnectProblem::Unreachable(message)
            }
            _ => ConnectProblem::Other(message),
        },
    })
}

/// An error's own words, for a person: PostgreSQL's message alone (sqlx
/// appends PostgreSQL's C source line, "at line 1392", which means nothing
/// to an operator), sqlx's otherwise.
pub fn plain_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => e.message().to_owned(),
        sqlx::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// [`plain_message`] of a link in an error chain, if it is a database
/// error: what a command prints in place of that link and all below it
/// (sqlx's error repeats its source's text).
pub fn plain_message_of(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(sqlx) = error.downcast_ref::<sqlx::Error>() {
        return Some(plain_message(sqlx));
    }
    if let Some(migrate) = error.downcast_ref::<sqlx::migrate::MigrateError>() {
        return Some(match migrate {
            sqlx::migrate::MigrateError::Execute(e) => plain_message(e),
            sqlx::migrate::MigrateError::ExecuteMigration(e, version) => {
                format!("migration {version}: {}", plain_message(e))
            }
            other => other.to_string(),
        });
    }
    error
        .downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .map(|e| e.message().to_owned())
}
