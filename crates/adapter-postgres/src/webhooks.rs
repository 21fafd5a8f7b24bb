//! Webhooks on PostgreSQL: subscriptions with sealed signing secrets, and
//! the deliveries, the webhook delivery kind of the work queue
//! ([`crate::queue`]). The outbox that writes them is [`crate::outbox`].

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument as _;
use vodsnap_domain::{
    DeliveryState, EventTypes, ProjectId, Secret, Timestamp, TraceContext, WebhookId, WebhookUrl,
};
use vodsnap_ports::{
    AuditRecord, ClaimedDelivery, Delivery, Webhook, WebhookStore, WebhookStoreError,
};

use crate::audit;
use crate::cipher::{CredentialCipher, Sealed};
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};
use crate::outbox::event_from_row;
use crate::queue::{Leasing, PgKind, PgQueue, Statements, finish_by_project, queue_statements};
use crate::reseal::{Resealable, reseal_rows};
use crate::rows::{PgQuery, from_db_time, parse_stored, to_db_time};
use sqlx::Row as _;

/// A webhook with its audit record (`$9`..`$19`), in one call of
/// `vodsnap_webhook_create` (migration 0013).
pub(crate) const CREATE: &str = "SELECT vodsnap_webhook_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

pub(crate) const LIST: &str = "\
    SELECT id, url, events, created_at FROM webhooks \
    WHERE project_id = $1 ORDER BY created_at, id";

/// A webhook and its undelivered deliveries, with the audit record
/// (`$3`..`$13`) if it existed, in one call of `vodsnap_webhook_remove`
/// (migration 0013); answers whether it did.
pub(crate) const REMOVE: &str = "SELECT vodsnap_webhook_remove($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) AS removed";

/// Pruning's first step: the projects with events older than the cutoff
/// `$1`, oldest first, at most `$2`. It locks nothing (under Citus it may
/// fan out to every shard).
pub(crate) const PRUNE_PROJECTS: &str = "\
    SELECT project_id FROM webhook_events WHERE occurred_at < $1 \
    GROUP BY project_id ORDER BY min(occurred_at), project_id LIMIT $2";

/// Pruning one project: up to `$3` of its oldest events that
/// `vodsnap_domain::is_prunable` lets go at `$2` (no pending delivery, each
/// delivered or parked before `$2`; or none left), with their deliveries.
/// A delivery redelivered meanwhile fails the deletion's own check (which
/// PostgreSQL evaluates again on the row's latest version), and its event
/// is kept: an event goes only if every delivery it had went. Answers how
/// many events went.
pub(crate) const PRUNE: &str = "\
    WITH old AS ( \
        SELECT e.id, \
               (SELECT count(*) FROM webhook_deliveries d \
                WHERE d.project_id = $1 AND d.event_id = e.id) AS deliveries \
        FROM webhook_events e \
        WHERE e.project_id = $1 AND e.occurred_at < $2 \
          AND NOT EXISTS ( \
              SELECT 1 FROM webhook_deliveries d \
              WHERE d.project_id = $1 AND d.event_id = e.id \
                AND ((d.delivered_at IS NULL AND d.parked_at IS NULL) OR d.updated_at >= $2)) \
        ORDER BY e.occurred_at, e.id LIMIT $3), \
    gone_deliveries AS ( \
        DELETE FROM webhook_deliveries d \
        WHERE d.project_id = $1 AND d.event_id IN (SELECT o.id FROM old o) \
          AND (d.delivered_at IS NOT NULL OR d.parked_at IS NOT NULL) AND d.updated_at < $2 \
        RETURNING d.event_id), \
    gone AS ( \
        DELETE FROM webhook_events e \
        WHERE e.project_id = $1 AND e.id IN ( \
            SELECT o.id FROM old o \
            WHERE o.deliveries = (SELECT count(*) FROM gone_deliveries g WHERE g.event_id = o.id)) \
        RETURNING 1) \
    SELECT count(*) FROM gone";

pub(crate) const EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM webhooks WHERE project_id = $1 AND id = $2)";

pub(crate) const DELIVERIES: &str = "\
    SELECT d.id, d.attempts, d.delivered_at IS NOT NULL AS delivered, \
           d.parked_at IS NOT NULL AS parked, d.last_error, d.updated_at, \
           e.id AS event_id, e.type, e.occurred_at, e.data::text AS data \
    FROM webhook_deliveries d \
    JOIN webhook_events e ON e.project_id = $1 AND e.id = d.event_id \
    WHERE d.project_id = $1 AND d.webhook_id = $2 \
      AND (NOT $3 OR (d.delivered_at IS NULL AND d.attempts > 0)) \
    ORDER BY d.id DESC LIMIT $4";

pub(crate) const REDELIVER: &str = "\
    UPDATE webhook_deliveries SET delivered_at = NULL, parked_at = NULL, attempts = 0, \
        due_at = $4, updated_at = $4, lease_owner = NULL, lease_until = NULL \
    WHERE project_id = $1 AND webhook_id = $2 AND id = $3";

/// The webhook delivery kind's queue statements, on
/// `webhook_deliveries`: a delivered row stays (listed until pruned); a
/// claim answers what sending takes (the URL, the sealed secret, the
/// event); a failed attempt's `updated_at` is its retry time, or when it
/// was parked.
pub(crate) const QUEUE: Statements = queue_statements!(
    what: "webhook deliveries",
    table: "webhook_deliveries",
    pending: "delivered_at IS NULL AND parked_at IS NULL",
    unfinished: "delivered_at IS NULL",
    select: "l.id, l.attempts, w.id AS webhook_id, w.url, w.secret_ciphertext, w.nonce, \
             w.key_id, e.id AS event_id, e.type, e.occurred_at, e.data::text AS data, \
             e.trace_context",
    joins: "JOIN webhooks w ON w.project_id = $1 AND w.id = l.webhook_id \
            JOIN webhook_events e ON e.project_id = $1 AND e.id = l.event_id",
    fail_touch: ", updated_at = COALESCE(f.f_retry_at, f.f_parked_at)",
    retry_touch: ", updated_at = $1",
);

/// The claim's first step ([`Statements::due_projects`]).
pub(crate) const DUE_PROJECTS: &str = QUEUE.due_projects;

/// The claim's second step, per project ([`Statements::claim_in_project`]).
pub(crate) const CLAIM_IN_PROJECT: &str = QUEUE.claim_in_project;

/// Failed attempts ([`Statements::fail`]).
pub(crate) const FAIL: &str = QUEUE.fail;

/// Successful deliveries of one project that the worker still holds.
pub(crate) const DELIVERED: &str = "\
    UPDATE webhook_deliveries SET delivered_at = $4, updated_at = $4, attempts = attempts + 1, \
        lease_owner = NULL, lease_until = NULL \
    WHERE project_id = $1 AND id = ANY($2) AND lease_owner = $3 \
      AND delivered_at IS NULL AND parked_at IS NULL";

/// The webhook delivery kind on PostgreSQL: the cipher that seals new
/// signing secrets and opens stored ones (the credentials' keys).
#[derive(Debug, Clone)]
pub struct PgDeliveries {
    cipher: Arc<CredentialCipher>,
}

/// Webhooks and their deliveries in PostgreSQL: the [`WebhookStore`].
/// Cheap to clone.
pub type PgWebhookStore = PgQueue<PgDeliveries>;

fn events_of(raw: &[String]) -> Result<EventTypes, DbError> {
    EventTypes::parse(Some(raw))
        .context("failed to parse a webhook's stored events")
        .map_err(DbError::unknown)
}

#[derive(sqlx::FromRow)]
struct ListRow {
    id: String,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    attempts: i32,
    delivered: bool,
    parked: bool,
    last_error: String,
    updated_at: DateTime<Utc>,
    event_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    data: String,
}

/// The deliveries' claim: [`DUE_PROJECTS`], then [`CLAIM_IN_PROJECT`].
#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    attempts: i32,
    webhook_id: String,
    url: String,
    secret_ciphertext: Vec<u8>,
    nonce: Vec<u8>,
    key_id: String,
    event_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    data: String,
    trace_context: Option<String>,
}

impl PgQueue<PgDeliveries> {
    /// A store on a migrated database; `cipher` (the credentials' keys)
    /// seals new signing secrets and opens stored ones.
    pub fn new(database: impl Into<PgDatabase>, cipher: CredentialCipher) -> Self {
        Self {
            database: database.into(),
            kind: PgDeliveries {
                cipher: Arc::new(cipher),
            },
        }
    }

    async fn exists(&self, project: &ProjectId, id: &WebhookId) -> Result<bool, DbError> {
        let mut conn = self.database.acquire().await?;
        let exists: bool = sqlx::query_scalar(EXISTS)
            .bind(project.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .instrument(crate::statement::span("WEBHOOK_EXISTS"))
            .await
            .db("failed to look a webhook up")?;
        conn.release();
        Ok(exists)
    }
}

impl PgDeliveries {
    fn claimed(&self, project: &ProjectId, row: ClaimRow) -> Result<ClaimedDelivery, DbError> {
        let sealed = Sealed {
            key_id: row.key_id,
            nonce: row.nonce,
            ciphertext: row.secret_ciphertext,
        };
        let secret = self
            .cipher
            .open_webhook(project.as_str(), &row.webhook_id, &sealed)
            .map_err(DbError::unknown)?;
        Ok(ClaimedDelivery {
            id: row.id,
            project: project.clone(),
            webhook: parse_stored(WebhookId::parse, &row.webhook_id)?,
            url: parse_stored(WebhookUrl::parse, &row.url)?,
            secret,
            event: event_from_row(
                project,
                &row.event_id,
                &row.kind,
                row.occurred_at,
                &row.data,
            )?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            trace: row.trace_context.as_deref().and_then(TraceContext::parse),
        })
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    project_id: String,
    id: String,
    secret_ciphertext: Vec<u8>,
    nonce: Vec<u8>,
    key_id: String,
}

impl Resealable for SealedRow {
    fn bind_key<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query.bind(&self.project_id).bind(&self.id)
    }

    fn held(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.secret_ciphertext.clone(),
        }
    }

    fn reseal(&self, cipher: &CredentialCipher) -> anyhow::Result<Sealed> {
        let secret = cipher.open_webhook(&self.project_id, &self.id, &self.held())?;
        cipher.seal_webhook(&self.project_id, &self.id, &secret)
    }
}

impl PgQueue<PgDeliveries> {
    /// Re-seals every webhook secret not sealed with the current key, as
    /// `PgCredentialStore::reencrypt_all` does for SKs (both are run by
    /// `vodsnap credentials reencrypt`); returns how many were. An
    /// operator task that reads every project, not a hot statement.
    pub async fn reencrypt_all(&self) -> Result<usize, WebhookStoreError> {
        let current = self.kind.cipher.current_key_id();
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT project_id, id, secret_ciphertext, nonce, key_id              FROM webhooks WHERE key_id <> $1 ORDER BY project_id, id",
        )
        .bind(current)
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the webhooks to re-encrypt")?;
        Ok(reseal_rows(
            &self.database,
            &self.kind.cipher,
            &rows,
            "UPDATE webhooks SET secret_ciphertext = $3, nonce = $4, key_id = $5 \
             WHERE project_id = $1 AND id = $2 AND key_id = $6 AND nonce = $7",
            "failed to re-encrypt a webhook secret",
        )
        .await?)
    }
}

#[async_trait]
impl WebhookStore for PgQueue<PgDeliveries> {
    async fn create(
        &self,
        webhook: &Webhook,
        secret: &Secret,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError> {
        let sealed = self
            .kind
            .cipher
            .seal_webhook(webhook.project.as_str(), webhook.id.as_str(), secret)
            .map_err(DbError::unknown)?;
        let events: Vec<&str> = webhook
            .events
            .as_slice()
            .iter()
            .map(|e| e.as_str())
            .collect();
        let query = sqlx::query(CREATE)
            .bind(webhook.project.as_str())
            .bind(webhook.id.as_str())
            .bind(webhook.url.as_str())
            .bind(events)
            .bind(sealed.ciphertext)
            .bind(sealed.nonce)
            .bind(sealed.key_id)
            .bind(to_db_time(webhook.created_at)?);
        let query = audit::bind_webhook(audit::bind(query, audit)?, audit);
        let mut conn = self
            .database
            .acquire()
            .instrument(crate::statement::span("WEBHOOK_CREATE"))
            .await?;
        query
            .execute(&mut *conn)
            .await
            .db("failed to create a webhook")?;
        conn.release();
        Ok(())
    }

    async fn list(&self, project: &ProjectId) -> Result<Vec<Webhook>, WebhookStoreError> {
        let mut conn = self.database.acquire().await?;
        let rows: Vec<ListRow> = sqlx::query_as(LIST)
            .bind(project.as_str())
            .fetch_all(&mut *conn)
            .instrument(crate::statement::span("WEBHOOK_LIST"))
            .await
            .db("failed to list webhooks")?;
        conn.release();
        rows.into_iter()
            .map(|r| {
                Ok(Webhook {
                    id: parse_stored(WebhookId::parse, &r.id)?,
                    project: project.clone(),
                    url: parse_stored(WebhookUrl::parse, &r.url)?,
                    events: events_of(&r.events)?,
                    created_at: from_db_time(r.created_at),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(WebhookStoreError::from)
    }

    async fn remove(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError> {
        let query = sqlx::query(REMOVE).bind(project.as_str()).bind(id.as_str());
        let query = audit::bind_webhook(audit::bind(query, audit)?, audit);
        let mut conn = self
            .database
            .acquire()
            .instrument(crate::statement::span("WEBHOOK_REMOVE"))
            .await?;
        let removed: bool = query
            .fetch_one(&mut *conn)
            .await
            .db("failed to remove a webhook")?
            .try_get("removed")
            .db("failed to read a webhook's removal")?;
        conn.release();
        if removed {
            Ok(())
        } else {
            Err(WebhookStoreError::NotFound)
        }
    }

    async fn deliveries(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        failed_only: bool,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookStoreError> {
        if !self.exists(project, webhook).await? {
            return Err(WebhookStoreError::NotFound);
        }
        let mut conn = self.database.acquire().await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(DELIVERIES)
            .bind(project.as_str())
            .bind(webhook.as_str())
            .bind(failed_only)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .instrument(crate::statement::span("WEBHOOK_DELIVERIES"))
            .await
            .db("failed to list a webhook's deliveries")?;
        conn.release();
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.id,
                    webhook: webhook.clone(),
                    event: event_from_row(project, &r.event_id, &r.kind, r.occurred_at, &r.data)?,
                    state: match (r.delivered, r.parked) {
                        (true, _) => DeliveryState::Delivered,
                        (false, true) => DeliveryState::Parked,
                        (false, false) => DeliveryState::Pending,
                    },
                    attempts: u32::try_from(r.attempts).unwrap_or(0),
                    last_error: r.last_error,
                    updated_at: from_db_time(r.updated_at),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(WebhookStoreError::from)
    }

    async fn redeliver(
        &self,
        project: &ProjectId,
        webhook: &WebhookId,
        delivery: i64,
        now: Timestamp,
    ) -> Result<(), WebhookStoreError> {
        let mut conn = self.database.acquire().await?;
        let updated = sqlx::query(REDELIVER)
            .bind(project.as_str())
            .bind(webhook.as_str())
            .bind(delivery)
            .bind(to_db_time(now)?)
            .execute(&mut *conn)
            .instrument(crate::statement::span("WEBHOOK_REDELIVER"))
            .await
            .db("failed to redeliver a webhook delivery")?
            .rows_affected();
        conn.release();
        if updated == 1 {
            Ok(())
        } else {
            Err(WebhookStoreError::NotFound)
        }
    }

    /// [`PRUNE_PROJECTS`], then [`PRUNE`] per project, each in
    /// autocommit, until `max` events went or no project is left.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn prune(&self, cutoff: Timestamp, max: u32) -> Result<u64, WebhookStoreError> {
        let cutoff = to_db_time(cutoff)?;
        let mut conn = self.database.acquire().await?;
        let projects: Vec<String> = sqlx::query_scalar(PRUNE_PROJECTS)
            .bind(cutoff)
            .bind(i64::from(max))
            .fetch_all(&mut *conn)
            .instrument(crate::statement::span("WEBHOOK_PRUNE_PROJECTS"))
            .await
            .db("failed to list the projects with old webhook events")?;
        let mut left = i64::from(max);
        let mut pruned = 0u64;
        for project in projects {
            if left <= 0 {
                break;
            }
            let n: i64 = sqlx::query_scalar(PRUNE)
                .bind(&project)
                .bind(cutoff)
                .bind(left)
                .fetch_one(&mut *conn)
                .instrument(crate::statement::span("WEBHOOK_PRUNE"))
                .await
                .db("failed to prune webhook events")?;
            left -= n;
            pruned += u64::try_from(n).unwrap_or(0);
        }
        conn.release();
        Ok(pruned)
    }
}

#[async_trait]
impl PgKind for PgDeliveries {
    type Job = ClaimedDelivery;
    const QUEUE: Statements = QUEUE;

    /// [`DUE_PROJECTS`], then [`CLAIM_IN_PROJECT`] per project and round,
    /// each in autocommit; every secret opened with the cipher.
    async fn claim(
        &self,
        database: &PgDatabase,
        leasing: &Leasing<'_>,
        _now: Timestamp,
        max: u32,
    ) -> Result<Vec<ClaimedDelivery>, DbError> {
        QUEUE
            .claim(database, leasing, max, |project, row: ClaimRow| {
                self.claimed(project, row)
            })
            .await
    }

    /// [`DELIVERED`] once per project among `deliveries`.
    async fn complete(
        &self,
        database: &PgDatabase,
        deliveries: &[ClaimedDelivery],
        worker: &str,
        now: Timestamp,
        _: &(),
    ) -> Result<u64, DbError> {
        let failed = "failed to record webhook deliveries";
        finish_by_project(database, DELIVERED, deliveries, worker, now, failed).await
    }
}
