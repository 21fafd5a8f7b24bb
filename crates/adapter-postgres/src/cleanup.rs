//! The cleanup queue on PostgreSQL: leases with `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use vodsnap_domain::{ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{CleanupError, CleanupItem, CleanupQueue, CleanupStatus, ParkedItem};

use crate::db_error::{DbError, DbResultExt};
use crate::task_results::{PgTaskResultStore, from_db_time, parse_stored, to_db_time};

type ItemRow = (String, i64, String, i32);

fn into_item((project, id, key, attempts): ItemRow) -> Result<CleanupItem, DbError> {
    Ok(CleanupItem {
        id,
        project: parse_stored(ProjectId::parse, &project)?,
        object_key: parse_stored(ObjectKey::parse, &key)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(at.as_micros().saturating_add(micros))
}

#[async_trait]
impl CleanupQueue for PgTaskResultStore {
    #[tracing::instrument(skip_all, fields(worker))]
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<CleanupItem>, CleanupError> {
        // SKIP LOCKED: workers in any process claim disjoint items without
        // waiting on each other; the lease keeps them disjoint afterwards.
        let rows: Vec<ItemRow> = sqlx::query_as(
            "WITH due AS ( \
                 SELECT project_id, id FROM cleanup_items \
                 WHERE parked_at IS NULL AND due_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) \
                 ORDER BY due_at, id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE cleanup_items c SET lease_owner = $3, lease_until = $4 \
             FROM due WHERE c.project_id = due.project_id AND c.id = due.id \
             RETURNING c.project_id, c.id, c.object_key, c.attempts",
        )
        .bind(to_db_time(now)?)
        .bind(i64::from(max))
        .bind(worker)
        .bind(to_db_time(plus(now, lease))?)
        .fetch_all(&mut *self.database().acquire().await?)
        .await
        .db("failed to claim cleanup items")?;
        let mut items = rows
            .into_iter()
            .map(into_item)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    async fn is_referenced(
        &self,
        project: &ProjectId,
        key: &ObjectKey,
    ) -> Result<bool, CleanupError> {
        let (referenced,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM snapshots WHERE project_id = $1 AND object_key = $2)",
        )
        .bind(project.as_str())
        .bind(key.as_str())
        .fetch_one(&mut *self.database().acquire().await?)
        .await
        .db("failed to check whether an object is still referenced")?;
        Ok(referenced)
    }

    async fn complete(&self, item: &CleanupItem, worker: &str) -> Result<bool, CleanupError> {
        let done = sqlx::query(
            "DELETE FROM cleanup_items WHERE project_id = $1 AND id = $2 AND lease_owner = $3",
        )
        .bind(item.project.as_str())
        .bind(item.id)
        .bind(worker)
        .execute(&mut *self.database().acquire().await?)
        .await
        .db("failed to complete a cleanup item")?
        .rows_affected();
        Ok(done == 1)
    }

    async fn fail(
        &self,
        item: &CleanupItem,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, CleanupError> {
        let retry_at = retry_at.map(to_db_time).transpose()?;
        let updated = sqlx::query(
            "UPDATE cleanup_items SET attempts = attempts + 1, lease_owner = NULL, \
                 lease_until = NULL, last_error = $4, due_at = COALESCE($5, due_at), \
                 parked_at = CASE WHEN $5::timestamptz IS NULL THEN now() ELSE NULL END \
             WHERE project_id = $1 AND id = $2 AND lease_owner = $3",
        )
        .bind(item.project.as_str())
        .bind(item.id)
        .bind(worker)
        .bind(error)
        .bind(retry_at)
        .execute(&mut *self.database().acquire().await?)
        .await
        .db("failed to record a failed cleanup attempt")?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn status(&self, now: Timestamp) -> Result<CleanupStatus, CleanupError> {
        let (queued, leased, parked, oldest, attempts): (
            i64,
            i64,
            i64,
            Option<DateTime<Utc>>,
            i64,
        ) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE parked_at IS NULL), \
                    count(*) FILTER (WHERE parked_at IS NULL AND lease_until > $1), \
                    count(*) FILTER (WHERE parked_at IS NOT NULL), \
                    min(enqueued_at) FILTER (WHERE parked_at IS NULL), \
                    coalesce(sum(attempts), 0)::bigint \
             FROM cleanup_items",
        )
        .bind(to_db_time(now)?)
        .fetch_one(&mut *self.database().acquire().await?)
        .await
        .db("failed to read the cleanup queue's figures")?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(CleanupStatus {
            queued: count(queued),
            leased: count(leased),
            parked: count(parked),
            oldest_enqueued_at: oldest.map(from_db_time),
            failed_attempts: count(attempts),
        })
    }

    async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError> {
        let rows: Vec<(String, i64, String, i32, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT project_id, id, object_key, attempts, last_error, enqueued_at \
             FROM cleanup_items WHERE parked_at IS NOT NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.database().acquire().await?)
        .await
        .db("failed to list parked cleanup items")?;
        rows.into_iter()
            .map(|(project, id, key, attempts, last_error, enqueued_at)| {
                Ok(ParkedItem {
                    item: into_item((project, id, key, attempts))?,
                    last_error,
                    enqueued_at: from_db_time(enqueued_at),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(CleanupError::from)
    }

    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, CleanupError> {
        let n = sqlx::query(
            "UPDATE cleanup_items SET parked_at = NULL, attempts = 0, due_at = $1 \
             WHERE parked_at IS NOT NULL AND (cardinality($2::bigint[]) = 0 OR id = ANY($2))",
        )
        .bind(to_db_time(now)?)
        .bind(&ids)
        .execute(&mut *self.database().acquire().await?)
        .await
        .db("failed to retry parked cleanup items")?
        .rows_affected();
        Ok(n)
    }
}
