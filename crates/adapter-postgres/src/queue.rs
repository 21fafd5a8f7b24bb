//! The leased work queue on PostgreSQL, written once for every job kind:
//! one set of statements ([`queue_statements!`]), parameterised by the
//! kind's table, and the functions that run them. A kind's table has the
//! queue's columns (`project_id`, `id`, `attempts`, `due_at`,
//! `lease_owner`, `lease_until`, `parked_at`, `last_error`) with its own,
//! and its key starts with `project_id`.
//!
//! The claim lists the projects with due jobs (a lock-free read), then
//! leases each project's share of the batch in the rounds the domain's
//! [`ClaimShares`] gives, one locking statement per project and round, each
//! in autocommit and naming one project (so, under Citus, one shard):
//! docs/SCHEMA.md, "The cleanup's claim". Failed attempts are one statement
//! per project. The times are bound by the caller, never `now()`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tracing::Instrument as _;
use vodsnap_domain::{ClaimShares, ProjectId, Timestamp};
use vodsnap_ports::{FailedAttempt, Job, QueueBacklog, QueueError, WorkQueue};

use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};
use crate::rows::{from_db_time, parse_stored, to_db_time};

/// The statements of one kind's queue table; see [`queue_statements!`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Errors {
    pub listing: &'static str,
    pub claim: &'static str,
    pub fail: &'static str,
    pub give_back: &'static str,
    pub retry: &'static str,
    pub backlog: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Statements {
    /// What a failure of each statement says, naming the kind.
    pub errors: Errors,
    /// `$1` now, `$2` at most this many: the projects with due jobs, oldest
    /// due job first (ties by project id). It locks nothing, so under Citus
    /// it may fan out to every shard (`FOR UPDATE` may not).
    pub due_projects: &'static str,
    /// `$1` project, `$2` now, `$3` at most this many, `$4` worker, `$5` the
    /// lease's end: leases up to `$3` of the project's due jobs, oldest due
    /// first, and answers them with what the kind selects. `SKIP LOCKED`:
    /// workers in any process claim disjoint jobs without waiting on each
    /// other; the lease keeps them disjoint afterwards. The update finds the
    /// rows by primary key (`id = ANY(ARRAY(...))`): written as a join,
    /// PostgreSQL hashed the project's whole queue (docs/benchmarks.md).
    pub claim_in_project: &'static str,
    /// `$1` project, `$2` ids, `$3` worker, `$4` errors, `$5` retry times,
    /// `$6` park times, each at its id's position (joined as `f`, columns
    /// `f_id`, `f_error`, `f_retry_at`, `f_parked_at`): failed attempts of
    /// the jobs the worker still holds. A join, not `($4)[array_position(..)]`
    /// in `SET`: Citus 13.2 crashed (signal 11) on an array subscript in
    /// an `UPDATE`'s `SET` of a table distributed by a `COLLATE "C"`
    /// column (docs/SCHEMA.md, "Scaling out with Citus").
    pub fail: &'static str,
    /// `$1` project, `$2` ids, `$3` worker, `$4` error, `$5` now: the jobs
    /// the worker still holds given back untried (the store they need is
    /// down): the lease ends at `$5`, its owner stays (a claimed job never
    /// looks untouched again), attempts and due time unchanged.
    pub give_back: &'static str,
    /// `$1` now, `$2` ids (empty: all): parked jobs due again, their
    /// attempts reset. An operator's command: it names no project.
    pub retry_parked: &'static str,
    /// `$1` now: queued (not held back on purpose: never tried and not
    /// due yet), parked, and the earliest due time of the queued.
    pub backlog: &'static str,
}

/// The statements of a queue table:
/// - `what`: its jobs, in error messages ("cleanup items");
/// - `table`: its name;
/// - `pending`: the condition of a job neither finished nor parked;
/// - `unfinished`: the condition of a job not finished (parked or not);
/// - `select` and `joins`: what a claim answers, from the leased rows
///   `l` (and the tables the kind joins, each on `project_id = $1`);
/// - `touch`: the kind's own columns set by a failed attempt and a retry
///   (`f.f_retry_at`/`f.f_parked_at` as in [`Statements::fail`]; empty for none);
/// - `retry_touch`: the same for a retry of parked jobs (`$1` now).
macro_rules! queue_statements {
    (
        what: $what:literal,
        table: $table:literal,
        pending: $pending:literal,
        unfinished: $unfinished:literal,
        select: $select:literal,
        joins: $joins:literal,
        fail_touch: $fail_touch:literal,
        retry_touch: $retry_touch:literal $(,)?
    ) => {
        $crate::queue::Statements {
            errors: $crate::queue::Errors {
                listing: concat!("failed to list the projects with due ", $what),
                claim: concat!("failed to claim ", $what),
                fail: concat!("failed to record failed attempts of ", $what),
                give_back: concat!("failed to give back ", $what),
                retry: concat!("failed to retry parked ", $what),
                backlog: concat!("failed to read the backlog of ", $what),
            },
            due_projects: concat!(
                "SELECT project_id FROM ", $table, " WHERE ", $pending,
                " AND due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
                 GROUP BY project_id ORDER BY min(due_at), project_id LIMIT $2"
            ),
            claim_in_project: concat!(
                "WITH due AS ( SELECT id FROM ", $table, " WHERE project_id = $1 AND ", $pending,
                " AND due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
                 ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
                 leased AS ( UPDATE ", $table, " q SET lease_owner = $4, lease_until = $5 \
                 WHERE q.project_id = $1 AND q.id = ANY(ARRAY(SELECT id FROM due)) RETURNING q.*) \
                 SELECT ", $select, " FROM leased l ", $joins, " ORDER BY l.id"
            ),
            fail: concat!(
                "UPDATE ", $table, " SET attempts = attempts + 1, lease_owner = NULL, \
                 lease_until = NULL, last_error = f.f_error, \
                 due_at = COALESCE(f.f_retry_at, due_at), parked_at = f.f_parked_at", $fail_touch,
                " FROM UNNEST($2::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
                     AS f(f_id, f_error, f_retry_at, f_parked_at) \
                 WHERE project_id = $1 AND id = f.f_id AND lease_owner = $3 AND ", $pending
            ),
            give_back: concat!(
                "UPDATE ", $table, " SET lease_until = $5, last_error = $4 \
                 WHERE project_id = $1 AND id = ANY($2) AND lease_owner = $3 AND ", $pending
            ),
            retry_parked: concat!(
                "UPDATE ", $table, " SET parked_at = NULL, attempts = 0, due_at = $1", $retry_touch,
                " WHERE ", $unfinished, " AND parked_at IS NOT NULL \
                 AND (cardinality($2::bigint[]) = 0 OR id = ANY($2))"
            ),
            backlog: concat!(
                "SELECT count(*) FILTER (WHERE parked_at IS NULL AND NOT held), \
                        count(*) FILTER (WHERE parked_at IS NOT NULL), \
                        min(due_at) FILTER (WHERE parked_at IS NULL AND NOT held) \
                 FROM (SELECT parked_at, due_at, \
                              (lease_owner IS NULL AND attempts = 0 AND due_at > $1) AS held \
                       FROM ", $table, " WHERE ", $unfinished, ") q"
            ),
        }
    };
}
pub(crate) use queue_statements;

/// When and by whom a claim leases.
pub(crate) struct Leasing<'a> {
    pub worker: &'a str,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl<'a> Leasing<'a> {
    pub(crate) fn new(worker: &'a str, now: Timestamp, length: Duration) -> Result<Self, DbError> {
        Ok(Self {
            worker,
            now: to_db_time(now)?,
            until: to_db_time(now + length)?,
        })
    }
}

impl Statements {
    /// The projects with due jobs, at most `max` of them.
    pub(crate) async fn due_projects(
        &self,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
        max: u32,
    ) -> Result<Vec<ProjectId>, DbError> {
        let projects: Vec<String> = sqlx::query_scalar(self.due_projects)
            .bind(now)
            .bind(i64::from(max))
            .fetch_all(conn)
            .instrument(crate::statement::span("DUE_PROJECTS"))
            .await
            .db(self.errors.listing)?;
        projects
            .iter()
            .map(|p| parse_stored(ProjectId::parse, p))
            .collect()
    }

    /// Leases up to `room` jobs from `projects` (in serving order), in
    /// rounds, handing each row to `take` with its project; returns the
    /// room left.
    pub(crate) async fn claim_in_rounds<R>(
        &self,
        conn: &mut PgConnection,
        projects: Vec<ProjectId>,
        room: u32,
        lease: &Leasing<'_>,
        mut take: impl FnMut(&ProjectId, R) -> Result<(), DbError>,
    ) -> Result<u32, DbError>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut shares = ClaimShares::new(room, projects);
        loop {
            let round = shares.round();
            if round.is_empty() {
                return Ok(shares.room());
            }
            for (project, asked) in round {
                let rows: Vec<R> = sqlx::query_as(self.claim_in_project)
                    .bind(project.as_str())
                    .bind(lease.now)
                    .bind(i64::from(asked))
                    .bind(lease.worker)
                    .bind(lease.until)
                    .fetch_all(&mut *conn)
                    .instrument(crate::statement::span("CLAIM_IN_PROJECT"))
                    .await
                    .db(self.errors.claim)?;
                shares.took(&project, asked, u32::try_from(rows.len()).unwrap_or(asked));
                for row in rows {
                    take(&project, row)?;
                }
            }
        }
    }

    /// A whole claim of a kind that remembers nothing between claims:
    /// [`Statements::due_projects`], then [`Statements::claim_in_rounds`],
    /// each row made a job by `job`.
    pub(crate) async fn claim<R, J>(
        &self,
        database: &PgDatabase,
        leasing: &Leasing<'_>,
        max: u32,
        mut job: impl FnMut(&ProjectId, R) -> Result<J, DbError>,
    ) -> Result<Vec<J>, DbError>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut conn = database.acquire().await?;
        let projects = self.due_projects(&mut conn, leasing.now, max).await?;
        let mut jobs = Vec::new();
        self.claim_in_rounds(&mut conn, projects, max, leasing, |project, row: R| {
            jobs.push(job(project, row)?);
            Ok(())
        })
        .await?;
        conn.release();
        Ok(jobs)
    }

    /// [`Statements::fail`] once per project among `failures`, each in
    /// autocommit; answers how many were recorded.
    pub(crate) async fn fail<J: Job>(
        &self,
        database: &PgDatabase,
        failures: &[FailedAttempt<J>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, DbError> {
        if failures.is_empty() {
            return Ok(0);
        }
        let now_db = to_db_time(now)?;
        let mut conn = database.acquire().await?;
        let mut recorded = 0u64;
        for (project, members) in by_project(failures, |f| f.item.project()) {
            let ids: Vec<i64> = members.iter().map(|f| f.item.id()).collect();
            let errors: Vec<&str> = members.iter().map(|f| f.error.as_str()).collect();
            let retry_at = members
                .iter()
                .map(|f| f.retry_at.map(to_db_time).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            let parked_at: Vec<Option<DateTime<Utc>>> = members
                .iter()
                .map(|f| f.retry_at.is_none().then_some(now_db))
                .collect();
            recorded += sqlx::query(self.fail)
                .bind(project.as_str())
                .bind(&ids)
                .bind(worker)
                .bind(&errors)
                .bind(&retry_at)
                .bind(&parked_at)
                .execute(&mut *conn)
                .instrument(crate::statement::span("FAIL"))
                .await
                .db(self.errors.fail)?
                .rows_affected();
        }
        conn.release();
        Ok(recorded)
    }

    /// [`Statements::give_back`] once per project among `jobs`, each in
    /// autocommit; answers how many were given back.
    pub(crate) async fn give_back<J: Job>(
        &self,
        database: &PgDatabase,
        jobs: &[J],
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<u64, DbError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = to_db_time(now)?;
        let mut conn = database.acquire().await?;
        let mut given = 0u64;
        for (project, members) in by_project(jobs, Job::project) {
            let ids: Vec<i64> = members.iter().map(|j| j.id()).collect();
            given += sqlx::query(self.give_back)
                .bind(project.as_str())
                .bind(&ids)
                .bind(worker)
                .bind(error)
                .bind(now)
                .execute(&mut *conn)
                .instrument(crate::statement::span("GIVE_BACK"))
                .await
                .db(self.errors.give_back)?
                .rows_affected();
        }
        conn.release();
        Ok(given)
    }

    pub(crate) async fn retry_parked(
        &self,
        database: &PgDatabase,
        ids: &[i64],
        now: Timestamp,
    ) -> Result<u64, DbError> {
        let mut conn = database.acquire().await?;
        let n = sqlx::query(self.retry_parked)
            .bind(to_db_time(now)?)
            .bind(ids)
            .execute(&mut *conn)
            .instrument(crate::statement::span("RETRY_PARKED"))
            .await
            .db(self.errors.retry)?
            .rows_affected();
        conn.release();
        Ok(n)
    }

    pub(crate) async fn backlog(
        &self,
        database: &PgDatabase,
        now: Timestamp,
    ) -> Result<QueueBacklog, DbError> {
        let mut conn = database.acquire().await?;
        let (queued, parked, oldest): (i64, i64, Option<DateTime<Utc>>) =
            sqlx::query_as(self.backlog)
                .bind(to_db_time(now)?)
                .fetch_one(&mut *conn)
                .instrument(crate::statement::span("BACKLOG"))
                .await
                .db(self.errors.backlog)?;
        conn.release();
        Ok(QueueBacklog {
            queued: u64::try_from(queued).unwrap_or(0),
            parked: u64::try_from(parked).unwrap_or(0),
            oldest_due: oldest.map(from_db_time),
        })
    }
}

/// A completion that finishes the jobs `worker` still holds with one
/// statement per project among them: `sql` takes `$1` project, `$2` ids,
/// `$3` worker, `$4` now. Answers how many were finished.
pub(crate) async fn finish_by_project<J: Job>(
    database: &PgDatabase,
    sql: &'static str,
    jobs: &[J],
    worker: &str,
    now: Timestamp,
    failed: &'static str,
) -> Result<u64, DbError> {
    let at = to_db_time(now)?;
    let mut conn = database.acquire().await?;
    let mut done = 0;
    for (project, members) in by_project(jobs, Job::project) {
        let ids: Vec<i64> = members.iter().map(|j| j.id()).collect();
        done += sqlx::query(sql)
            .bind(project.as_str())
            .bind(&ids)
            .bind(worker)
            .bind(at)
            .execute(&mut *conn)
            .instrument(crate::statement::span("FINISH"))
            .await
            .db(failed)?
            .rows_affected();
    }
    conn.release();
    Ok(done)
}

/// Items by project, in first-seen order.
pub(crate) fn by_project<T>(
    items: &[T],
    project: impl Fn(&T) -> &ProjectId,
) -> Vec<(&ProjectId, Vec<&T>)> {
    let mut groups: Vec<(&ProjectId, Vec<&T>)> = Vec::new();
    for item in items {
        let p = project(item);
        match groups.iter_mut().find(|(q, _)| *q == p) {
            Some((_, members)) => members.push(item),
            None => groups.push((p, vec![item])),
        }
    }
    groups
}

/// A job kind on PostgreSQL: its statements, what its claim answers and
/// what its completion writes. The kind's value holds what those need
/// (the cleanup: its due-project memory; the deliveries: the cipher).
#[async_trait]
pub(crate) trait PgKind: Send + Sync + 'static {
    type Job: Job;

    /// The kind's queue statements ([`queue_statements!`]).
    const QUEUE: Statements;

    /// Leases up to `max` due jobs (see [`WorkQueue::claim`]), usually
    /// through [`Statements::due_projects`] and
    /// [`Statements::claim_in_rounds`].
    async fn claim(
        &self,
        database: &PgDatabase,
        leasing: &Leasing<'_>,
        now: Timestamp,
        max: u32,
    ) -> Result<Vec<Self::Job>, DbError>;

    /// Completes the jobs `worker` holds with what the kind writes.
    async fn complete(
        &self,
        database: &PgDatabase,
        jobs: &[Self::Job],
        worker: &str,
        now: Timestamp,
        completion: &<Self::Job as Job>::Completion,
    ) -> Result<u64, DbError>;
}

/// The queue of kind `K` on PostgreSQL: [`WorkQueue`], and the kind's own
/// port. Cheap to clone: a handle on the database and the kind's state.
#[derive(Debug, Clone)]
pub struct PgQueue<K> {
    pub(crate) database: PgDatabase,
    pub(crate) kind: K,
}

// The kinds are this crate's own (`PgCleanup`, `PgDeliveries`, `PgPurges`): nobody
// outside names `PgKind`, they use the ports the queues implement.
#[allow(private_interfaces, private_bounds)]
#[async_trait]
impl<K: PgKind> WorkQueue<K::Job> for PgQueue<K> {
    #[tracing::instrument(level = "debug", skip_all, fields(kind = K::Job::KIND, worker))]
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<K::Job>, QueueError> {
        let leasing = Leasing::new(worker, now, lease)?;
        let mut jobs = self.kind.claim(&self.database, &leasing, now, max).await?;
        jobs.sort_by_key(Job::id);
        Ok(jobs)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(kind = K::Job::KIND, jobs = jobs.len()))]
    async fn complete(
        &self,
        jobs: &[K::Job],
        worker: &str,
        now: Timestamp,
        completion: &<K::Job as Job>::Completion,
    ) -> Result<u64, QueueError> {
        Ok(self
            .kind
            .complete(&self.database, jobs, worker, now, completion)
            .await?)
    }

    /// [`Statements::fail`] once per project among `failures`.
    #[tracing::instrument(level = "debug", skip_all, fields(kind = K::Job::KIND, jobs = failures.len()))]
    async fn fail(
        &self,
        failures: &[FailedAttempt<K::Job>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(K::QUEUE.fail(&self.database, failures, worker, now).await?)
    }

    /// [`Statements::give_back`] once per project among `jobs`.
    #[tracing::instrument(level = "debug", skip_all, fields(kind = K::Job::KIND, jobs = jobs.len()))]
    async fn give_back(
        &self,
        jobs: &[K::Job],
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(K::QUEUE
            .give_back(&self.database, jobs, worker, error, now)
            .await?)
    }

    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError> {
        Ok(K::QUEUE.retry_parked(&self.database, &ids, now).await?)
    }

    async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError> {
        Ok(K::QUEUE.backlog(&self.database, now).await?)
    }
}
