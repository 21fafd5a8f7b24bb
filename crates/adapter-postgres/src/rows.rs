//! Reading and writing row values: times between the domain's
//! [`Timestamp`] and `timestamptz`, and stored identifiers parsed with the
//! domain's rules again. Every store module uses these; they use nothing of
//! the stores.

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Utc};
use sqlx::Postgres;
use vodsnap_domain::Timestamp;

use crate::db_error::DbError;

pub(crate) fn to_db_time(at: Timestamp) -> Result<DateTime<Utc>, DbError> {
    DateTime::from_timestamp_micros(at.as_micros())
        .ok_or_else(|| DbError::unknown(anyhow!("timestamp {at:?} is out of range")))
}

pub(crate) fn from_db_time(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_micros(at.timestamp_micros())
}

pub(crate) fn parse_stored<T, E>(
    parse: impl FnOnce(&str) -> Result<T, E>,
    raw: &str,
) -> Result<T, DbError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    parse(raw)
        .context("failed to parse an identifier read from the database")
        .map_err(DbError::unknown)
}

pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;
