//! The outbox: events written inside the changes' own calls
//! (`vodsnap_outbox`, migration 0013: one delivery per event and per
//! webhook of the project that asks for its type); and events read back
//! for their deliveries.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vodsnap_domain::{AssetId, Event, EventId, EventTask, EventType, ProjectId, TaskId};

use crate::db_error::DbError;
use crate::rows::{PgQuery, from_db_time, parse_stored, to_db_time};

/// An event's data as stored and delivered (`asset.purged`: `tasks`
/// empty, `tasks_total` set).
#[derive(Debug, Serialize, Deserialize)]
struct StoredData {
    asset_id: Option<String>,
    #[serde(default)]
    tasks: Vec<StoredTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tasks_total: Option<u64>,
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
        tasks_total: event.tasks_total,
    })
    .context("failed to serialise an event's data")
    .map_err(DbError::unknown)
}

/// Binds `events` to the next four placeholders (ids, types, times, data
/// as JSON text), as `vodsnap_outbox` reads them.
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
pub(crate) fn event_from_row(
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
        tasks_total: stored.tasks_total,
    })
}
