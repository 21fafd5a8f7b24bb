//! `vodsnap audit`: the audit trail as JSON lines.

use anyhow::Context;
use vodsnap_adapter_postgres::PgAuditLog;
use vodsnap_domain::{ProjectId, TaskId, Timestamp};
use vodsnap_ports::AuditQuery;
use vodsnap_service::AuditTrail;

use crate::backends;
use crate::cli::AuditArgs;

fn rfc3339(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(at.as_micros())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let query = AuditQuery {
        project: ProjectId::parse(&args.project).context("invalid --project")?,
        since: args
            .since
            .as_deref()
            .map(|raw| {
                chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|t| Timestamp::from_micros(t.timestamp_micros()))
                    .context("--since must be RFC 3339, e.g. 2026-11-25T12:00:00Z")
            })
            .transpose()?,
        task: args
            .task
            .as_deref()
            .map(TaskId::parse)
            .transpose()
            .context("invalid --task")?,
        limit: args.limit,
    };
    let pool = backends::connect_ready(&args.database, 2).await?;
    let trail = AuditTrail::new(std::sync::Arc::new(PgAuditLog::new(pool)));
    for record in trail
        .records(&query)
        .await
        .context("failed to read the audit trail")?
    {
        let line = serde_json::json!({
            "at": rfc3339(record.at),
            "project_id": record.project.as_str(),
            "action": record.action.as_str(),
            "principal": record.actor.principal,
            "request_id": record.actor.request_id,
            "client": record.actor.client,
            "asset_id": record.asset.as_ref().map(|a| a.as_str()),
            "task_ids": record.requested.iter().map(TaskId::as_str).collect::<Vec<_>>(),
            "outcomes": record.outcomes.iter().map(|o| serde_json::json!({
                "task_id": o.task.as_str(),
                "status": o.status.as_str(),
                "reason": o.reason.map(|r| r.as_str()),
            })).collect::<Vec<_>>(),
            "webhook": record.webhook.as_ref().map(|w| serde_json::json!({
                "id": w.id.as_str(),
                "url": w.url,
                "events": w.events.as_ref().map(|e| {
                    e.as_slice().iter().map(|t| t.as_str()).collect::<Vec<_>>()
                }),
            })),
        });
        println!("{line}");
    }
    Ok(())
}
