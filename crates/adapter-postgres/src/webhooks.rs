//! Webhooks on PostgreSQL: the outbox written inside the changes' own
//! statements, subscriptions with sealed signing secrets, and the delivery
//! queue leased as the cleanup queue is (project by project, `FOR UPDATE
//! SKIP LOCKED`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vodsnap_domain::{
    AssetId, DeliveryState, Event, EventId, EventTask, EventType, EventTypes, ProjectId, Secret,
    TaskId, Timestamp, WebhookId, WebhookUrl,
};
use vodsnap_ports::{
    AuditRecord, ClaimedDelivery, Delivery, DeliveryBacklog, Webhook, WebhookStore,
    WebhookStoreError,
};

use crate::audit::{self, PgQuery, audit_webhook_columns};
use crate::cipher::{CredentialCipher, Sealed};
use crate::claim::{Claim, Lease};
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};
use crate::task_results::{from_db_time, parse_stored, to_db_time};

/// The outbox part of a change's statement: its events (four arrays bound
/// by [`bind_events`]: ids, types, times, data as JSON text), written with
/// one delivery per event and per webhook of the project whose `events`
/// name the event's type. An event no webhook asked for is not kept.
/// `$gate` is a `WHERE` clause that keeps the events only when the change
/// happened (a registration: only if the task result was inserted).
macro_rules! outbox_ctes {
    ($project:literal, $gate:literal, $ids:literal, $types:literal, $ats:literal, $data:literal) => {
        concat!(
            "outbox_events AS ( \
                 SELECT e.id, e.type, e.occurred_at, e.data \
                 FROM UNNEST(",
            $ids,
            "::text[], ",
            $types,
            "::text[], ",
            $ats,
            "::timestamptz[], ",
            $data,
            "::text[]) AS e(id, type, occurred_at, data) ",
            $gate,
            "), \
             subscribed AS ( \
                 SELECT w.id AS webhook_id, e.id AS event_id, e.occurred_at \
                 FROM webhooks w JOIN outbox_events e ON e.type = ANY(w.events) \
                 WHERE w.project_id = ",
            $project,
            "), \
             outboxed AS ( \
                 INSERT INTO webhook_events (project_id, id, type, occurred_at, data) \
                 SELECT ",
            $project,
            ", e.id, e.type, e.occurred_at, e.data::jsonb \
                 FROM outbox_events e \
                 WHERE e.id IN (SELECT s.event_id FROM subscribed s)), \
             delivering AS ( \
                 INSERT INTO webhook_deliveries \
                     (project_id, webhook_id, event_id, due_at, updated_at) \
                 SELECT ",
            $project,
            ", s.webhook_id, s.event_id, s.occurred_at, s.occurred_at \
                 FROM subscribed s)"
        )
    };
}
pub(crate) use outbox_ctes;

/// An event's data as stored and delivered.
#[derive(Debug, Serialize, Deserialize)]
struct StoredData {
    asset_id: Option<String>,
    tasks: Vec<StoredTask>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTask {
    task_id: String,
    asset_id: String,
}

fn data_json(event: &Event) -> Result<String, DbError> {
    serde_json::to_string(&StoredData {
        asset_id: event.asset.as_ref().map(|a| a.as_str().to_owned()),
        tasks: event
            .tasks
            .iter()
            .map(|t| StoredTask {
                task_id: t.task.as_str().to_owned(),
                asset_id: t.asset.as_str().to_owned(),
            })
            .collect(),
    })
    .context("failed to serialise an event's data")
    .map_err(DbError::unknown)
}

/// Binds `events` to the next four placeholders, as [`outbox_ctes`] reads
/// them.
pub(crate) fn bind_events<'q>(
    query: PgQuery<'q>,
    events: &[Event],
) -> Result<PgQuery<'q>, DbError> {
    let ids: Vec<String> = events.iter().map(|e| e.id.as_str().to_owned()).collect();
    let types: Vec<String> = events.iter().map(|e| e.kind.as_str().to_owned()).collect();
    let ats = events
        .iter()
        .map(|e| to_db_time(e.occurred_at))
        .collect::<Result<Vec<_>, _>>()?;
    let data = events
        .iter()
        .map(data_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(query.bind(ids).bind(types).bind(ats).bind(data))
}

/// Rebuilds a stored event, checking it with the domain's rules again.
fn event_from_row(
    project: &ProjectId,
    id: &str,
    kind: &str,
    occurred_at: DateTime<Utc>,
    data: &str,
) -> Result<Event, DbError> {
    let stored: StoredData = serde_json::from_str(data)
        .context("failed to parse a stored event's data")
        .map_err(DbError::unknown)?;
    let tasks = stored
        .tasks
        .iter()
        .map(|t| {
            Ok(EventTask {
                task: parse_stored(TaskId::parse, &t.task_id)?,
                asset: parse_stored(AssetId::parse, &t.asset_id)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Event {
        id: parse_stored(EventId::parse, id)?,
        kind: parse_stored(EventType::parse, kind)?,
        project: project.clone(),
        occurred_at: from_db_time(occurred_at),
        asset: stored
            .asset_id
            .as_deref()
            .map(|a| parse_stored(AssetId::parse, a))
            .transpose()?,
        tasks,
    })
}

/// A subscription and its audit record (`$9`..`$19`, never the secret),
/// in one statement.
pub(crate) const CREATE: &str = concat!(
    "WITH created AS ( \
         INSERT INTO webhooks \
             (project_id, id, url, events, secret_ciphertext, nonce, key_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING 1) \
     INSERT INTO ",
    audit_webhook_columns!(),
    " SELECT $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM created"
);

pub(crate) const LIST: &str = "\
    SELECT id, url, events, created_at FROM webhooks \
    WHERE project_id = $1 ORDER BY created_at, id";

/// A webhook and its undelivered deliveries, with the audit record
/// (`$3`..`$13`) if it existed; answers a row if it did.
pub(crate) const REMOVE: &str = concat!(
    "WITH gone AS ( \
         DELETE FROM webhooks WHERE project_id = $1 AND id = $2 RETURNING id), \
     dropped AS ( \
         DELETE FROM webhook_deliveries \
         WHERE project_id = $1 AND webhook_id = $2 AND delivered_at IS NULL), \
     audited AS ( \
         INSERT INTO ",
    audit_webhook_columns!(),
    " SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM gone) \
     SELECT id FROM gone"
);

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

/// The claim's first step, as the cleanup's: the projects with due
/// deliveries, oldest due first; it locks nothing.
pub(crate) const DUE_PROJECTS: &str = "\
    SELECT project_id FROM webhook_deliveries \
    WHERE delivered_at IS NULL AND parked_at IS NULL AND due_at <= $1 \
      AND (lease_until IS NULL OR lease_until <= $1) \
    GROUP BY project_id ORDER BY min(due_at), project_id LIMIT $2";

/// The claim's second step, per project: leases up to `$3` of its due
/// deliveries (skipping those another worker is leasing), with what
/// sending them takes: the URL, the sealed secret, the event. The update
/// finds the chosen rows by primary key, as the cleanup's claim does (a
/// join there hashed the whole project's table).
pub(crate) const CLAIM_IN_PROJECT: &str = "\
    WITH due AS ( \
        SELECT id FROM webhook_deliveries \
        WHERE project_id = $1 AND delivered_at IS NULL AND parked_at IS NULL \
          AND due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
        ORDER BY due_at, id LIMIT $3 \
        FOR UPDATE SKIP LOCKED), \
    leased AS ( \
        UPDATE webhook_deliveries d SET lease_owner = $4, lease_until = $5 \
        WHERE d.project_id = $1 AND d.id = ANY(ARRAY(SELECT id FROM due)) \
        RETURNING d.id, d.webhook_id, d.event_id, d.attempts) \
    SELECT l.id, l.attempts, w.id AS webhook_id, w.url, w.secret_ciphertext, w.nonce, w.key_id, \
           e.id AS event_id, e.type, e.occurred_at, e.data::text AS data \
    FROM leased l \
    JOIN webhooks w ON w.project_id = $1 AND w.id = l.webhook_id \
    JOIN webhook_events e ON e.project_id = $1 AND e.id = l.event_id \
    ORDER BY l.id";

pub(crate) const DELIVERED: &str = "\
    UPDATE webhook_deliveries SET delivered_at = $4, updated_at = $4, attempts = attempts + 1, \
        lease_owner = NULL, lease_until = NULL \
    WHERE project_id = $1 AND id = $2 AND lease_owner = $3";

/// A failed attempt; times bound by the caller (`$5` the retry, `$6` when
/// parked, `$7` the row's new `updated_at`), never `now()`.
pub(crate) const FAILED: &str = "\
    UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = NULL, \
        lease_until = NULL, last_error = $4, due_at = COALESCE($5, due_at), parked_at = $6, \
        updated_at = $7 \
    WHERE project_id = $1 AND id = $2 AND lease_owner = $3";

pub(crate) const BACKLOG: &str = "\
    SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), \
           count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NOT NULL), \
           min(due_at) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL) \
    FROM webhook_deliveries WHERE delivered_at IS NULL";

/// Webhooks and their deliveries in PostgreSQL; signing secrets sealed
/// with the credentials' cipher. Cheap to clone.
#[derive(Clone)]
pub struct PgWebhookStore {
    database: PgDatabase,
    cipher: Arc<CredentialCipher>,
}

impl std::fmt::Debug for PgWebhookStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWebhookStore")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(at.as_micros().saturating_add(micros))
}

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
const DELIVERY_CLAIM: Claim = Claim {
    due_projects: DUE_PROJECTS,
    listing_failed: "failed to list the projects with due webhook deliveries",
    in_project: CLAIM_IN_PROJECT,
    claim_failed: "failed to claim webhook deliveries",
};

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
}

impl PgWebhookStore {
    /// A store on a migrated database; `cipher` (the credentials' keys)
    /// seals new signing secrets and opens stored ones.
    pub fn new(database: impl Into<PgDatabase>, cipher: CredentialCipher) -> Self {
        Self {
            database: database.into(),
            cipher: Arc::new(cipher),
        }
    }

    async fn exists(&self, project: &ProjectId, id: &WebhookId) -> Result<bool, DbError> {
        let mut conn = self.database.acquire().await?;
        let exists: bool = sqlx::query_scalar(EXISTS)
            .bind(project.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .await
            .db("failed to look a webhook up")?;
        conn.release();
        Ok(exists)
    }

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

impl PgWebhookStore {
    /// Re-seals every webhook secret not sealed with the current key, as
    /// `PgCredentialStore::reencrypt_all` does for SKs (both are run by
    /// `vodsnap credentials reencrypt`); returns how many were. An
    /// operator task that reads every project, not a hot statement.
    pub async fn reencrypt_all(&self) -> Result<usize, WebhookStoreError> {
        let current = self.cipher.current_key_id();
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT project_id, id, secret_ciphertext, nonce, key_id              FROM webhooks WHERE key_id <> $1 ORDER BY project_id, id",
        )
        .bind(current)
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the webhooks to re-encrypt")?;
        let mut resealed = 0;
        for row in rows {
            let old = Sealed {
                key_id: row.key_id.clone(),
                nonce: row.nonce.clone(),
                ciphertext: row.secret_ciphertext,
            };
            let secret = self
                .cipher
                .open_webhook(&row.project_id, &row.id, &old)
                .map_err(WebhookStoreError::Unknown)?;
            let sealed = self
                .cipher
                .seal_webhook(&row.project_id, &row.id, &secret)
                .map_err(WebhookStoreError::Unknown)?;
            let updated = sqlx::query(
                "UPDATE webhooks SET secret_ciphertext = $3, nonce = $4, key_id = $5                  WHERE project_id = $1 AND id = $2 AND key_id = $6 AND nonce = $7",
            )
            .bind(&row.project_id)
            .bind(&row.id)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(&sealed.key_id)
            .bind(&row.key_id)
            .bind(&row.nonce)
            .execute(&mut *self.database.acquire().await?)
            .await
            .db("failed to re-encrypt a webhook secret")?
            .rows_affected();
            resealed += usize::try_from(updated).unwrap_or(0);
        }
        Ok(resealed)
    }
}

#[async_trait]
impl WebhookStore for PgWebhookStore {
    async fn create(
        &self,
        webhook: &Webhook,
        secret: &Secret,
        audit: &AuditRecord,
    ) -> Result<(), WebhookStoreError> {
        let sealed = self
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
        let mut conn = self.database.acquire().await?;
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
        let mut conn = self.database.acquire().await?;
        let gone = query
            .fetch_optional(&mut *conn)
            .await
            .db("failed to remove a webhook")?;
        conn.release();
        gone.map(|_| ()).ok_or(WebhookStoreError::NotFound)
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

    #[tracing::instrument(level = "debug", skip_all, fields(worker))]
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<ClaimedDelivery>, WebhookStoreError> {
        let leasing = Lease {
            worker,
            now: to_db_time(now)?,
            until: to_db_time(plus(now, lease))?,
        };
        let mut conn = self.database.acquire().await?;
        let projects = DELIVERY_CLAIM
            .due_projects(&mut conn, leasing.now, max)
            .await?;
        let mut claimed = Vec::new();
        DELIVERY_CLAIM
            .in_rounds(
                &mut conn,
                projects,
                max,
                &leasing,
                |project, row: ClaimRow| {
                    claimed.push(self.claimed(project, row)?);
                    Ok(())
                },
            )
            .await?;
        conn.release();
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    async fn delivered(
        &self,
        delivery: &ClaimedDelivery,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, WebhookStoreError> {
        let mut conn = self.database.acquire().await?;
        let done = sqlx::query(DELIVERED)
            .bind(delivery.project.as_str())
            .bind(delivery.id)
            .bind(worker)
            .bind(to_db_time(now)?)
            .execute(&mut *conn)
            .await
            .db("failed to record a webhook delivery")?
            .rows_affected();
        conn.release();
        Ok(done == 1)
    }

    async fn failed(
        &self,
        delivery: &ClaimedDelivery,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, WebhookStoreError> {
        let parked_at = match retry_at {
            Some(_) => None,
            None => Some(to_db_time(now)?),
        };
        let updated_at = to_db_time(retry_at.unwrap_or(now))?;
        let retry_at = retry_at.map(to_db_time).transpose()?;
        let mut conn = self.database.acquire().await?;
        let done = sqlx::query(FAILED)
            .bind(delivery.project.as_str())
            .bind(delivery.id)
            .bind(worker)
            .bind(error)
            .bind(retry_at)
            .bind(parked_at)
            .bind(updated_at)
            .execute(&mut *conn)
            .await
            .db("failed to record a failed webhook delivery")?
            .rows_affected();
        conn.release();
        Ok(done == 1)
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
                .await
                .db("failed to prune webhook events")?;
            left -= n;
            pruned += u64::try_from(n).unwrap_or(0);
        }
        conn.release();
        Ok(pruned)
    }

    async fn backlog(&self) -> Result<DeliveryBacklog, WebhookStoreError> {
        let mut conn = self.database.acquire().await?;
        let (pending, parked, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(BACKLOG)
            .fetch_one(&mut *conn)
            .await
            .db("failed to read the webhook delivery backlog")?;
        conn.release();
        Ok(DeliveryBacklog {
            pending: u64::try_from(pending).unwrap_or(0),
            parked: u64::try_from(parked).unwrap_or(0),
            oldest_pending: oldest.map(from_db_time),
        })
    }
}
