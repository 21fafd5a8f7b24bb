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
//! out (seen with 64 clients on 8 connections: 503s after 5 s).
//!
//! Kept connections never starve anyone for long:
//! - at most all but one of the pool's connections are kept;
//! - while one of this database's operations waits in sqlx's pool (another
//!   user of the pool holds the rest), a released connection goes back to
//!   sqlx instead of being kept, so that operation gets it;
//! - a connection kept idle for [`IDLE_RETURN`] goes back to sqlx (checked
//!   twice a second by a task started with the first operation), so a
//!   direct user of the pool, or a second `PgDatabase` on it, gets the
//!   connections of an idle database within about a second, and an idle
//!   connection is left to sqlx's rules (its ping on the way back, its idle
//!   timeout);
//! - a connection kept for [`RETURN_AFTER`] in all goes back to sqlx, which
//!   applies its own lifetime rules;
//! - once the pool or the database is closed, nothing is kept.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgConnection, PgPool, Postgres};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::db_error::{DbError, DbResultExt as _};

/// A kept connection idle this long goes back to sqlx's pool.
pub const IDLE_RETURN: Duration = Duration::from_secs(1);
/// A connection goes back to sqlx's pool once it has been kept this long.
pub const RETURN_AFTER: Duration = Duration::from_secs(300);
/// How often idle kept connections are looked for.
const REAP_EVERY: Duration = Duration::from_millis(500);

/// The stores' database: one per pool, shared by every store on it (clones
/// share their kept connections).
#[derive(Debug, Clone)]
pub struct PgDatabase {
    pool: PgPool,
    /// One permit per connection of the pool; a lease holds one.
    turns: Arc<Semaphore>,
    kept: Arc<Mutex<Vec<Kept>>>,
    /// This database's operations waiting in sqlx's pool.
    waiting: Arc<AtomicUsize>,
    reaper_started: Arc<AtomicBool>,
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
            kept: Arc::default(),
            waiting: Arc::default(),
            reaper_started: Arc::default(),
            pool,
        }
    }
}

fn lock(kept: &Mutex<Vec<Kept>>) -> std::sync::MutexGuard<'_, Vec<Kept>> {
    // The list holds no invariant a panicking holder could break.
    kept.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Gives the connections idle for [`IDLE_RETURN`] back to sqlx, until the
/// database is dropped.
async fn reap(kept: Weak<Mutex<Vec<Kept>>>) {
    loop {
        tokio::time::sleep(REAP_EVERY).await;
        let Some(kept) = kept.upgrade() else {
            return;
        };
        let idle: Vec<Kept> = {
            let mut kept = lock(&kept);
            let (idle, busy) = std::mem::take(&mut *kept)
                .into_iter()
                .partition(|k| k.used_at.elapsed() >= IDLE_RETURN);
            *kept = busy;
            idle
        };
        // Back to sqlx, outside the lock.
        drop(idle);
    }
}

/// Counts an operation waiting in sqlx's pool, even if it is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
        lock(&self.kept).len()
    }

    /// Operations of this database waiting for a connection from sqlx's
    /// pool right now (a figure for gauges, and for tests that must act
    /// only once an operation is queued).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Gives the kept connections back and closes the pool: use this rather
    /// than `pool().close()`, which would wait for the kept connections
    /// until they idle out.
    pub async fn close(&self) {
        self.turns.close();
        let kept = std::mem::take(&mut *lock(&self.kept));
        drop(kept);
        self.pool.close().await;
    }

    /// A connection for one operation, in turn: the most recently used kept
    /// one, else one from sqlx's pool (waiting up to its acquire timeout).
    pub(crate) async fn acquire(&self) -> Result<Lease<'_>, DbError> {
        // A load first: on the hot path the flag is only read, so the
        // threads do not fight over its cache line.
        if !self.reaper_started.load(Ordering::Relaxed)
            && !self.reaper_started.swap(true, Ordering::SeqCst)
        {
            tokio::spawn(reap(Arc::downgrade(&self.kept)));
        }
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
                drop(std::mem::take(&mut *lock(&self.kept)));
                None
            } else {
                lock(&self.kept).pop()
            };
            let Some(kept) = popped else {
                let waiting = Waiting::new(&self.waiting);
                // Boxed: sqlx's acquire future is large, and inlined it would
                // grow (and be copied with) every operation's future, though
                // most operations take a kept connection.
                let conn = Box::pin(self.pool.acquire())
                    .await
                    .db("failed to get a database connection")?;
                drop(waiting);
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
    /// It goes back to sqlx instead when it is in a transaction or has
    /// unsent messages, when one of this database's operations waits in
    /// sqlx's pool, when enough are kept, or once the database is closed.
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
        if database.waiting.load(Ordering::SeqCst) > 0 {
            return;
        }
        let mut kept = lock(&database.kept);
        // Checked under the lock: `close` closes `turns` before it empties
        // the list, so a release after that sees it.
        if database.turns.is_closed() || database.pool.is_closed() {
            return;
        }
        if kept.len() >= database.max_kept {
            return;
        }
        kept.push(Kept {
            conn,
            taken_at,
            used_at: Instant::now(),
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
