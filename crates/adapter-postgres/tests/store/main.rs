//! The PostgreSQL adapter against a real server: the shared store suite,
//! then what only a database has (many connections, several processes,
//! migrations, secrets at rest, what Citus needs), one file per concern.
//!
//! Each test gets its own database (`vodsnap-test-support`'s scratch
//! database on the server named by `DATABASE_URL`), dropped when the test
//! ends. Without `DATABASE_URL` every test fails with a message saying so:
//! these tests never skip silently. Where a test needs another session to
//! be blocked first, it waits for exactly that (`pg_locks`,
//! `pg_stat_activity`, the database's own counters), bounded; never for a
//! while.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

mod common;

mod bulk;
// What Citus needs of the statements (issue 16), on plain PostgreSQL.
mod citus;
mod concurrency;
mod connections;
mod credentials;
mod outages;
mod schema;
mod suite;
