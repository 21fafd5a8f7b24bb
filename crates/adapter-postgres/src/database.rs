//! The database handle the stores share: sqlx's pool, plus the connections
//! kept between operations.
//!
//! sqlx's pool sends a `Sync` and waits for `ReadyForQuery` every time a
//! connection goes back to it (`PoolConnection`'s release "ping"), whatever
//! the connection just did. For an operation that is one statement, that is
//! a second round trip: on the list path it was an eighth of the server's
//! CPU, and as much again in PostgreSQL (docs/benchmarks.md). The ping is
//! there for connections left mid-statement by a cancelled future or an
//! error, so [`PgDatabase`] keeps it for those and skips it for the rest:
//! an operation that finished cleanly hands its connection to
//! [`Lease::release`], which keeps it here, still checked out of sqlx's
//! pool, for the next operation. A lease that is dropped instead (an error,
//! a cancelled request, an open transaction) goes back to sqlx, which pings
//! it and rolls back whatever it left.
//!
//! Every operation of the stores goes through their [`PgDatabase`] and
//! takes a kept connection first. Operations wait for their turn in one
//! first-come, first-served queue (a semaphore of the pool's size) before
//! they look for a connection: without it, an operation arriving just as
//! another released its connection would take it ahead of the ones already
//! waiting in sqlx's queue, and under load those waited until they timed
//! out (seen with 64 clients on 8 connections: 503s after 5 s). At most all but one of the pool's
//! connections are kept, so a direct user of the pool (migrations, a
//! test's checks, a second `PgDatabase` on the same pool) always gets a
//! connection once the operations in flight are done. Kept connections are
//! bounded in time too: one idle for [`STALE_AFTER`] is pinged before it is
//! used (and the least recently used one goes back to sqlx at the next
//! release), and one kept for [`RETURN_AFTER`] goes back to sqlx, which
//! then applies its own lifetime and idle rules.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgConnection, PgPool, Postgres};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::db_error::{DbError, DbResultExt as _};

/// A kept connection idle this long is pinged before its next use.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// A connection goes back to sqlx's pool once it has been kept this long.
pub const RETURN_AFTER: Duration = Duration::from_secs(300);

/// The stores' database: one per pool, shared by every store on it (clones
/// share their kept connections).
#[derive(Debug, Clone)]
pub struct PgDatabase {
    pool: PgPool,
    /// One permit per connection of the pool; a lease holds one.
    turns: Arc<Semaphore>,
    kept: Arc<Mutex<Vec<Kept>>>,
    /// All but one of the pool's connections.
    max_kept: usize,
}

#[derive(Debug)]
struct Kept {
    conn: PoolConnection<Postgres>,
    /// When it was taken from sqlx's pool.
    taken_at: Instant,
    /// When its last operation finished.
    used_at: Instant,
}

impl From<PgPool> for PgDatabase {
    fn from(pool: PgPool) -> Self {
        let max = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
        Self {
            max_kept: max.saturating_sub(1),
            turns: Arc::new(Semaphore::new(max.max(1))),
            pool,
            kept: Arc::default(),
        }
    }
}

impl PgDatabase {
    /// The pool underneath, for migrations and its gauges.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connections kept between operations: idle, though sqlx's pool counts
    /// them in use.
    pub fn kept_idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        // The list holds no invariant a panicking holder could break.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives the kept connections back and closes the pool: use this rather
    /// than `pool().close()`, which would wait for the kept connections
    /// for ever.
    pub async fn close(&self) {
        self.turns.close();
        let kept = std::mem::take(&mut *self.lock());
        drop(kept);
        self.pool.close().await;
    }

    /// A connection for one operation: the most recently used kept one, else
    /// one from sqlx's pool (waiting up to its acquire timeout). Once the
    /// pool is closed, kept connections are given back and this fails as
    /// the pool does.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_>, DbError> {
        let turn = match tokio::time::timeout(crate::ACQUIRE_TIMEOUT, self.turns.acquire()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(_closed)) => {
                return Err(sqlx::Error::PoolClosed).db("failed to get a database connection");
            }
            Err(_elapsed) => {
                return Err(sqlx::Error::PoolTimedOut).db("failed to get a database connection");
            }
        };
        loop {
            let popped = if self.pool.is_closed() {
                drop(std::mem::take(&mut *self.lock()));
                None
            } else {
                self.lock().pop()
            };
            let Some(mut kept) = popped else {
                // Boxed: sqlx's acquire future is large, and inlined it would
                // grow (and be copied with) every operation's future, though
                // most operations take a kept connection.
                let conn = Box::pin(self.pool.acquire())
                    .await
                    .db("failed to get a database connection")?;
                return Ok(Lease {
                    conn,
                    taken_at: Instant::now(),
                    database: self,
                    _turn: turn,
                });
            };
            if kept.taken_at.elapsed() >= RETURN_AFTER {
                // Back to sqlx, which applies its lifetime and idle rules.
                drop(kept);
                continue;
            }
            if kept.used_at.elapsed() >= STALE_AFTER && Box::pin(kept.conn.ping()).await.is_err() {
                // Dead; sqlx closes it.
                drop(kept);
                continue;
            }
            return Ok(Lease {
                conn: kept.conn,
                taken_at: kept.taken_at,
                database: self,
                _turn: turn,
            });
        }
    }
}

/// A connection for one operation. [`Lease::release`] keeps it for the next
/// one; dropped, it goes back to sqlx's pool, which pings it first.
#[derive(Debug)]
pub(crate) struct Lease<'a> {
    conn: PoolConnection<Postgres>,
    taken_at: Instant,
    database: &'a PgDatabase,
    /// Given back after the connection, so the next in line finds it kept.
    _turn: SemaphorePermit<'a>,
}

impl Lease<'_> {
    /// The operation finished cleanly: keep the connection for the next.
    /// One in a transaction, or with unsent messages, goes back to sqlx
    /// instead.
    pub(crate) fn release(self) {
        let Self {
            conn,
            taken_at,
            database,
            _turn: turn_to_give_back,
        } = self;
        if conn.is_in_transaction() || conn.should_flush() {
            return;
        }
        if database.max_kept == 0 {
            return;
        }
        let now = Instant::now();
        let mut kept = database.lock();
        // The least recently used connection goes back to sqlx once it has
        // idled past the staleness bound, so a burst's connections do not
        // stay checked out for good.
        if kept
            .first()
            .is_some_and(|oldest| now.duration_since(oldest.used_at) >= STALE_AFTER)
        {
            drop(kept.remove(0));
        }
        if kept.len() >= database.max_kept {
            return;
        }
        kept.push(Kept {
            conn,
            taken_at,
            used_at: now,
        });
        drop(kept);
        drop(turn_to_give_back);
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}
