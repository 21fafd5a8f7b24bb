//! The audit trail on PostgreSQL: written inside the changes' transactions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;
use tracing::Instrument as _;
use vodsnap_domain::{AssetId, AuditStatus, EventTypes, ItemError, ObjectKey, TaskId, WebhookId};
use vodsnap_ports::{
    Actor, AuditAction, AuditError, AuditLog, AuditOutcome, AuditQuery, AuditRecord, AuditedWebhook,
};

use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt};
use crate::rows::{PgQuery, from_db_time, parse_stored, to_db_time};

#[derive(Serialize, Deserialize)]
struct StoredOutcome {
    task_id: String,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `audit_log`'s columns as the audit insert of every change fills them,
/// for statements that write their audit record themselves: the record's
/// ten values follow the statement's own parameters, bound by [`bind`].
macro_rules! audit_columns {
    () => {
        "audit_log (project_id, at, principal, request_id, client, action, \
             asset_id, requested, touched, outcomes)"
    };
}

/// A record's webhook as stored in `audit_log.webhook`: never a secret.
#[derive(Serialize, Deserialize)]
struct StoredWebhook {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
}

/// Binds `record`'s webhook (JSON, or NULL) to the next placeholder.
pub(crate) fn bind_webhook<'q>(query: PgQuery<'q>, record: &'q AuditRecord) -> PgQuery<'q> {
    let stored = record.webhook.as_ref().map(|w| {
        Json(StoredWebhook {
            id: w.id.as_str().to_owned(),
            url: w.url.clone(),
            events: w
                .events
                .as_ref()
                .map(|e| e.as_slice().iter().map(|t| t.as_str().to_owned()).collect()),
        })
    });
    query.bind(stored)
}

fn webhook_from_row(stored: StoredWebhook) -> Result<AuditedWebhook, DbError> {
    Ok(AuditedWebhook {
        id: parse_stored(WebhookId::parse, &stored.id)?,
        url: stored.url,
        events: stored
            .events
            .map(|names| {
                EventTypes::parse(Some(&names)).map_err(|e| {
                    DbError::unknown(
                        anyhow::Error::new(e)
                            .context("failed to parse an audited webhook's events"),
                    )
                })
            })
            .transpose()?,
    })
}

/// Binds `record`'s ten values to the next ten placeholders of `query`, in
/// the order of [`audit_columns`].
pub(crate) fn bind<'q>(
    query: PgQuery<'q>,
    record: &'q AuditRecord,
) -> Result<PgQuery<'q>, DbError> {
    let requested: Vec<&str> = record.requested.iter().map(TaskId::as_str).collect();
    let touched: Vec<&str> = record.outcomes.iter().map(|o| o.task.as_str()).collect();
    let outcomes: Vec<StoredOutcome> = record.outcomes.iter().map(stored_outcome).collect();
    Ok(query
        .bind(record.project.as_str())
        .bind(to_db_time(record.at)?)
        .bind(&record.actor.principal)
        .bind(&record.actor.request_id)
        .bind(record.actor.client.as_deref())
        .bind(record.action.as_str())
        .bind(record.asset.as_ref().map(AssetId::as_str))
        .bind(requested)
        .bind(touched)
        .bind(Json(outcomes)))
}

/// One record as `vodsnap_record_purges` (migration 0013) reads it.
#[derive(Serialize)]
struct StoredRecord<'a> {
    /// RFC 3339 with microseconds.
    at: String,
    principal: &'a str,
    request_id: &'a str,
    client: Option<&'a str>,
    action: &'static str,
    asset_id: Option<&'a str>,
    requested: Vec<&'a str>,
    touched: Vec<&'a str>,
    outcomes: Vec<StoredOutcome>,
}

/// Binds `records` (all of `project`: the statement's) as one JSON array
/// to the next placeholder, as `vodsnap_record_purges` reads it.
pub(crate) fn bind_many<'q>(
    query: PgQuery<'q>,
    project: &vodsnap_domain::ProjectId,
    records: &'q [AuditRecord],
) -> Result<PgQuery<'q>, DbError> {
    let stored = records
        .iter()
        .map(|record| {
            if record.project != *project || record.webhook.is_some() {
                return Err(DbError::unknown(anyhow::anyhow!(
                    "an audit record of project {} (or of a webhook) in a statement of project {project}",
                    record.project
                )));
            }
            Ok(StoredRecord {
                at: to_db_time(record.at)?
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                principal: &record.actor.principal,
                request_id: &record.actor.request_id,
                client: record.actor.client.as_deref(),
                action: record.action.as_str(),
                asset_id: record.asset.as_ref().map(AssetId::as_str),
                requested: record.requested.iter().map(TaskId::as_str).collect(),
                touched: record.outcomes.iter().map(|o| o.task.as_str()).collect(),
                outcomes: record.outcomes.iter().map(stored_outcome).collect(),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(query.bind(Json(stored)))
}

fn stored_outcome(o: &AuditOutcome) -> StoredOutcome {
    StoredOutcome {
        task_id: o.task.as_str().to_owned(),
        status: o.status.as_str().to_owned(),
        reason: o.reason.map(|r| r.as_str().to_owned()),
    }
}

/// One audit record on its own (a repeated registration's).
pub(crate) const INSERT: &str = concat!(
    "INSERT INTO ",
    audit_columns!(),
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// Writes `record` on `conn`, in its transaction if it has one.
pub(crate) async fn insert(conn: &mut PgConnection, record: &AuditRecord) -> Result<(), DbError> {
    bind(sqlx::query(INSERT), record)?
        .execute(conn)
        .instrument(crate::statement::span("AUDIT_INSERT"))
        .await
        .db("failed to write the audit record")?;
    Ok(())
}

type Row = (
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Vec<String>,
    Json<Vec<StoredOutcome>>,
    Option<Json<StoredWebhook>>,
    Option<Vec<String>>,
);

/// The audit trail in PostgreSQL (the records a change writes with itself
/// are written by its store, in its statement). Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgAuditLog {
    database: PgDatabase,
}

impl PgAuditLog {
    /// An audit trail on a migrated database (see [`crate::migrate`]).
    pub fn new(database: impl Into<PgDatabase>) -> Self {
        Self {
            database: database.into(),
        }
    }
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        let since = query.since.map(to_db_time).transpose()?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT at, principal, request_id, client, action, asset_id, requested, outcomes, \
                    webhook, objects \
             FROM audit_log \
             WHERE project_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) \
               AND ($3::text IS NULL OR $3 = ANY(requested) OR $3 = ANY(touched)) \
             ORDER BY at, id LIMIT $4",
        )
        .bind(query.project.as_str())
        .bind(since)
        .bind(query.task.as_ref().map(TaskId::as_str))
        .bind(i64::from(query.limit))
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the audit trail")?;
        rows.into_iter()
            .map(
                |(
                    at,
                    principal,
                    request_id,
                    client,
                    action,
                    asset,
                    requested,
                    outcomes,
                    webhook,
                    objects,
                )| {
                    Ok(AuditRecord {
                        at: from_db_time(at),
                        project: query.project.clone(),
                        actor: Actor {
                            principal,
                            request_id,
                            client,
                        },
                        action: parse_stored(parse_action, &action)?,
                        asset: asset
                            .map(|a| parse_stored(AssetId::parse, &a))
                            .transpose()?,
                        requested: requested
                            .iter()
                            .map(|t| parse_stored(TaskId::parse, t))
                            .collect::<Result<_, _>>()?,
                        outcomes: outcomes
                            .0
                            .into_iter()
                            .map(|o| {
                                Ok(AuditOutcome {
                                    task: parse_stored(TaskId::parse, &o.task_id)?,
                                    status: parse_stored(parse_status, &o.status)?,
                                    reason: o
                                        .reason
                                        .map(|r| parse_stored(parse_reason, &r))
                                        .transpose()?,
                                })
                            })
                            .collect::<Result<_, DbError>>()?,
                        webhook: webhook.map(|w| webhook_from_row(w.0)).transpose()?,
                        objects: objects
                            .unwrap_or_default()
                            .iter()
                            .map(|k| parse_stored(ObjectKey::parse, k))
                            .collect::<Result<_, _>>()?,
                    })
                },
            )
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(AuditError::from)
    }

    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut conn = self.database.acquire().await?;
        insert(&mut conn, record).await?;
        conn.release();
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown audit value '{0}'")]
struct UnknownValue(String);

fn parse_status(raw: &str) -> Result<AuditStatus, UnknownValue> {
    AuditStatus::parse(raw).ok_or_else(|| UnknownValue(raw.to_owned()))
}

fn parse_action(raw: &str) -> Result<AuditAction, UnknownValue> {
    AuditAction::parse(raw).ok_or_else(|| UnknownValue(raw.to_owned()))
}

fn parse_reason(raw: &str) -> Result<ItemError, UnknownValue> {
    ItemError::parse(raw).ok_or_else(|| UnknownValue(raw.to_owned()))
}
