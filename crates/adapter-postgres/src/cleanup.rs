//! The cleanup queue on PostgreSQL: the cleanup kind of the work queue
//! ([`crate::queue`]) on `cleanup_items`, with what only the cleanup does:
//! the reference checks, the completion that removes the items and writes
//! the `thumbnails.purged` event, and the operators' figures.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use tracing::Instrument as _;
use vodsnap_domain::{
    AssetId, DueProjects, EventTask, ObjectKey, ProjectId, RATE_WINDOW, TaskId, Timestamp,
    TraceContext,
};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, ParkedItem, PurgePlan,
};

use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt, MAX_ATTEMPTS};
use crate::outbox::bind_events;
use crate::queue::{Leasing, PgKind, PgQueue, Statements, by_project, queue_statements};
use crate::rows::{from_db_time, parse_stored, to_db_time};

/// The cleanup kind's queue statements, on `cleanup_items`: a claim
/// answers each item's id, key, attempts and trace.
pub(crate) const QUEUE: Statements = queue_statements!(
    what: "cleanup items",
    table: "cleanup_items",
    pending: "parked_at IS NULL",
    unfinished: "true",
    select: "l.id, l.object_key, l.attempts, l.trace_context",
    joins: "",
    fail_touch: "",
    retry_touch: "",
);

/// The claim's first step ([`Statements::due_projects`]): it reads the due
/// items once, through `cleanup_items_due_by_project`.
pub(crate) const DUE_PROJECTS: &str = QUEUE.due_projects;

/// The claim's second step, once per project and round
/// ([`Statements::claim_in_project`]).
pub(crate) const CLAIM_IN_PROJECT: &str = QUEUE.claim_in_project;

/// Failed attempts of a batch's items of one project, in one statement
/// ([`Statements::fail`]).
pub(crate) const FAIL: &str = QUEUE.fail;

/// A batch's items of one project given back untried while the object
/// store is down, in one statement ([`Statements::give_back`]).
pub(crate) const GIVE_BACK: &str = QUEUE.give_back;

/// The cleanup kind on PostgreSQL: the claim's list of projects with due
/// items, shared by the clones (the process's workers); see
/// [`vodsnap_domain::DueProjects`].
#[derive(Debug, Clone, Default)]
pub struct PgCleanup {
    due_projects: Arc<Mutex<DueProjects>>,
}

/// The cleanup queue in PostgreSQL: the [`CleanupQueue`].
pub type PgCleanupQueue = PgQueue<PgCleanup>;

impl PgQueue<PgCleanup> {
    /// A queue on a migrated database (see [`crate::migrate`]).
    pub fn new(database: impl Into<PgDatabase>) -> Self {
        Self {
            database: database.into(),
            kind: PgCleanup::default(),
        }
    }
}

impl PgCleanup {
    /// The claim's remembered list (a poisoned lock still holds a valid
    /// one: every change to it is a single assignment).
    fn due_projects(&self) -> MutexGuard<'_, DueProjects> {
        self.due_projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) const IS_REFERENCED: &str =
    "SELECT EXISTS (SELECT 1 FROM snapshots WHERE project_id = $1 AND object_key = $2)";

/// The reference check of a whole batch's keys of one project, in one
/// statement (through `snapshots_by_project_object_key`).
pub(crate) const REFERENCED: &str = "\
    SELECT DISTINCT object_key FROM snapshots \
    WHERE project_id = $1 AND object_key = ANY($2)";

/// A completion's first step, in its transaction: locks the deleted tasks
/// of the items `$3` still holds, in task id order (as deletes, restores
/// and purges lock them). Completions of one task's last items by several
/// workers so run one after the other, and the later one's [`COMPLETE`]
/// sees the earlier one's removal: exactly one of them finds the task
/// finished.
pub(crate) const LOCK_COMPLETED_TASKS: &str = "\
    SELECT task_id FROM task_results \
    WHERE project_id = $1 AND task_id IN ( \
        SELECT task_id FROM cleanup_items \
        WHERE project_id = $1 AND id = ANY($2) AND lease_owner = $3 \
          AND task_id IS NOT NULL) \
    ORDER BY task_id FOR UPDATE";

/// The completion of a batch's items of one project, in one call of
/// `vodsnap_complete` (migration 0013): removes the items `$3` still
/// holds, counts them as drained at `$4` in `cleanup_drained` (one row,
/// none when nothing was completed), drops the project's drained rows
/// older than `$5` (the rate window's start), and answers how many it
/// completed and the deleted tasks it finished: those of its items of
/// which no other item is left (parked ones included).
pub(crate) const COMPLETE: &str =
    "SELECT completed, tasks, assets FROM vodsnap_complete($1, $2, $3, $4, $5)";

/// The `thumbnails.purged` event of a completion, written in its
/// transaction (`vodsnap_outbox`, migration 0013; see [`bind_events`]).
pub(crate) const PURGED_OUTBOX: &str = "SELECT vodsnap_outbox($1, $2, $3, $4, $5)";

#[derive(sqlx::FromRow)]
struct Completed {
    completed: i64,
    tasks: Vec<String>,
    assets: Vec<String>,
}

impl PgCleanup {
    /// One project's part of [`WorkQueue::complete`], in one
    /// transaction.
    async fn complete_in_project(
        &self,
        project: &ProjectId,
        ids: &[i64],
        worker: &str,
        now: Timestamp,
        purged: &PurgePlan,
        database: &PgDatabase,
    ) -> Result<u64, DbError> {
        let at = to_db_time(now)?;
        let window_start = to_db_time(now - RATE_WINDOW)?;
        let mut conn = database.acquire().await?;
        let mut tx = conn
            .begin()
            .await
            .db("failed to begin a cleanup completion")?;
        sqlx::query(LOCK_COMPLETED_TASKS)
            .bind(project.as_str())
            .bind(ids)
            .bind(worker)
            .execute(&mut *tx)
            .instrument(crate::statement::span("LOCK_COMPLETED_TASKS"))
            .await
            .db("failed to lock the tasks of completed cleanup items")?;
        let completed: Completed = sqlx::query_as(COMPLETE)
            .bind(project.as_str())
            .bind(ids)
            .bind(worker)
            .bind(at)
            .bind(window_start)
            .fetch_one(&mut *tx)
            .instrument(crate::statement::span("COMPLETE"))
            .await
            .db("failed to complete cleanup items")?;
        let finished = completed
            .tasks
            .iter()
            .zip(&completed.assets)
            .map(|(task, asset)| {
                Ok(EventTask {
                    task: parse_stored(TaskId::parse, task)?,
                    asset: parse_stored(AssetId::parse, asset)?,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        if !finished.is_empty()
            && let Some(event) = purged(project, finished)
        {
            bind_events(
                sqlx::query(PURGED_OUTBOX).bind(project.as_str()),
                std::slice::from_ref(&event),
            )?
            .execute(&mut *tx)
            .instrument(crate::statement::span("PURGED_OUTBOX"))
            .await
            .db("failed to write a purged event")?;
        }
        tx.commit()
            .await
            .db("failed to commit a cleanup completion")?;
        conn.release();
        Ok(u64::try_from(completed.completed).unwrap_or(0))
    }
}

#[async_trait]
impl PgKind for PgCleanup {
    type Job = CleanupItem;
    const QUEUE: Statements = QUEUE;

    /// The projects with due items ([`DUE_PROJECTS`], a lock-free read,
    /// remembered for a second as [`vodsnap_domain::DueProjects`]
    /// decides), then per project [`CLAIM_IN_PROJECT`] in the rounds
    /// [`vodsnap_domain::ClaimShares`] gives, each in autocommit. A claim
    /// is one statement for one project with due items, `1 + k` for `k`
    /// projects (more rounds only when a project had fewer items than its
    /// share and others more; no listing when the remembered list fills
    /// the batch). Should a statement fail half way, the items already
    /// leased wait for their lease to run out, as a crashed worker's do.
    async fn claim(
        &self,
        database: &PgDatabase,
        leasing: &Leasing<'_>,
        now: Timestamp,
        max: u32,
    ) -> Result<Vec<CleanupItem>, DbError> {
        let mut conn = database.acquire().await?;
        let mut items = Vec::new();
        let mut room = max;
        loop {
            let recalled = self.due_projects().recall(now);
            let listed = recalled.is_none();
            let projects = match recalled {
                Some(projects) => projects,
                None => {
                    let projects = QUEUE.due_projects(&mut conn, leasing.now, max).await?;
                    self.due_projects().remember(now, &projects);
                    projects
                }
            };
            room = QUEUE
                .claim_in_rounds(
                    &mut conn,
                    projects,
                    room,
                    leasing,
                    |project, (id, key, attempts, trace): (i64, String, i32, Option<String>)| {
                        items.push(CleanupItem {
                            id,
                            project: project.clone(),
                            object_key: parse_stored(ObjectKey::parse, &key)?,
                            attempts: u32::try_from(attempts).unwrap_or(0),
                            trace: trace.as_deref().and_then(TraceContext::parse),
                        });
                        Ok(())
                    },
                )
                .await?;
            if listed || !self.due_projects().claimed(room) {
                break;
            }
        }
        conn.release();
        Ok(items)
    }

    /// Per project among `items`, one transaction:
    /// [`LOCK_COMPLETED_TASKS`], [`COMPLETE`], and, when it finished tasks
    /// and `purged` plans an event, [`PURGED_OUTBOX`]; retried as a whole
    /// when the database aborts it (a deadlock, a serialisation failure).
    async fn complete(
        &self,
        database: &PgDatabase,
        items: &[CleanupItem],
        worker: &str,
        now: Timestamp,
        purged: &PurgePlan,
    ) -> Result<u64, DbError> {
        let mut done = 0u64;
        for (project, members) in by_project(items, |i| &i.project) {
            let ids: Vec<i64> = members.iter().map(|i| i.id).collect();
            let mut attempt = 1;
            loop {
                match self
                    .complete_in_project(project, &ids, worker, now, purged, database)
                    .await
                {
                    Ok(n) => {
                        done += n;
                        break;
                    }
                    Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                        tracing::warn!(attempt, error = ?e, "cleanup completion aborted; retrying");
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(done)
    }
}

#[async_trait]
impl CleanupQueue for PgQueue<PgCleanup> {
    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError> {
        let (referenced,): (bool,) = sqlx::query_as(IS_REFERENCED)
            .bind(project.as_str())
            .bind(key.as_str())
            .fetch_one(
                &mut *self
                    .database
                    .acquire()
                    .instrument(crate::statement::span("IS_REFERENCED"))
                    .await?,
            )
            .await
            .db("failed to check whether an object is still referenced")?;
        Ok(referenced)
    }

    async fn referenced(
        &self,
        project: &ProjectId,
        keys: &[ObjectKey],
    ) -> Result<BTreeSet<ObjectKey>, CleanupError> {
        if keys.is_empty() {
            return Ok(BTreeSet::new());
        }
        let raw: Vec<&str> = keys.iter().map(ObjectKey::as_str).collect();
        let found: Vec<String> = sqlx::query_scalar(REFERENCED)
            .bind(project.as_str())
            .bind(&raw)
            .fetch_all(
                &mut *self
                    .database
                    .acquire()
                    .instrument(crate::statement::span("REFERENCED"))
                    .await?,
            )
            .await
            .db("failed to check whether objects are still referenced")?;
        Ok(found
            .iter()
            .map(|k| parse_stored(ObjectKey::parse, k))
            .collect::<Result<_, _>>()?)
    }

    async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError> {
        // An item in a recycle bin waits on purpose (not yet due, never
        // handed to the cleanup): it is counted apart, not as backlog.
        let (queued, recycle_bin, leased, parked, oldest, attempts, drained): (
            i64,
            i64,
            i64,
            i64,
            Option<DateTime<Utc>>,
            i64,
            i64,
        ) = sqlx::query_as(
            // Two aggregates joined, not a subquery in the select list:
            // Citus fans each out to every shard, and refuses the other
            // form ("cannot push down subquery on the target list").
            "SELECT q.*, d.drained FROM ( \
                 SELECT count(*) FILTER (WHERE parked_at IS NULL AND NOT in_bin), \
                        count(*) FILTER (WHERE in_bin), \
                        count(*) FILTER (WHERE parked_at IS NULL AND lease_until > $1), \
                        count(*) FILTER (WHERE parked_at IS NOT NULL), \
                        min(enqueued_at) FILTER (WHERE parked_at IS NULL AND NOT in_bin), \
                        coalesce(sum(attempts), 0)::bigint \
                 FROM (SELECT parked_at, lease_until, enqueued_at, attempts, \
                              (parked_at IS NULL AND lease_owner IS NULL AND attempts = 0 \
                               AND due_at > $1) AS in_bin \
                       FROM cleanup_items) c) q, \
             (SELECT coalesce(sum(items), 0)::bigint AS drained FROM cleanup_drained \
              WHERE at > $2 AND at <= $1) d",
        )
        .bind(to_db_time(now)?)
        .bind(to_db_time(now - RATE_WINDOW)?)
        .fetch_one(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the cleanup queue's figures")?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(CleanupStatus {
            queued: count(queued),
            recycle_bin: count(recycle_bin),
            leased: count(leased),
            parked: count(parked),
            oldest_enqueued_at: oldest.map(from_db_time),
            failed_attempts: count(attempts),
            drained_in_window: count(drained),
        })
    }

    async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError> {
        let rows: Vec<(String, i64, String, i32, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT project_id, id, object_key, attempts, last_error, enqueued_at \
             FROM cleanup_items WHERE parked_at IS NOT NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to list parked cleanup items")?;
        rows.into_iter()
            .map(|(project, id, key, attempts, last_error, enqueued_at)| {
                Ok(ParkedItem {
                    item: CleanupItem {
                        id,
                        project: parse_stored(ProjectId::parse, &project)?,
                        object_key: parse_stored(ObjectKey::parse, &key)?,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        trace: None,
                    },
                    last_error,
                    enqueued_at: from_db_time(enqueued_at),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(CleanupError::from)
    }
}
