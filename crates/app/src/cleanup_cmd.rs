//! `vodsnap cleanup run|status|parked|retry`: the cleanup, for operators.

use std::sync::Arc;

use anyhow::Context;
use vodsnap_adapter_postgres::PgCleanupQueue;
use vodsnap_ports::{CleanupQueue, Clock, SystemClock};
use vodsnap_service::{CleanupAdmin, Pass, Worker};

use crate::backends;
use crate::cleanup;
use crate::cli::{CleanupCommand, DatabaseArgs};

async fn queue(database: &DatabaseArgs) -> anyhow::Result<Arc<dyn CleanupQueue>> {
    let pool = backends::connect_ready(database, database.database_max_connections).await?;
    Ok(Arc::new(PgCleanupQueue::new(pool)))
}

async fn admin(database: &DatabaseArgs) -> anyhow::Result<CleanupAdmin> {
    Ok(CleanupAdmin::new(
        queue(database).await?,
        Arc::new(SystemClock),
    ))
}

fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub async fn run(command: CleanupCommand) -> anyhow::Result<()> {
    match command {
        CleanupCommand::Run {
            database,
            storage,
            cleanup: args,
            once,
        } => {
            let queue = queue(&database).await?;
            let images = backends::images(&storage)?;
            backends::check_storage(&images).await?;
            let images: Arc<dyn vodsnap_ports::ImageStore> = Arc::new(images);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            if once {
                let (_keep, stop) = tokio::sync::watch::channel(false);
                let worker = Worker::new(
                    cleanup::worker_name(0),
                    queue,
                    images,
                    clock,
                    cleanup::settings(&args)?,
                );
                let mut total = Pass::default();
                loop {
                    let pass = worker.pass(&stop).await.context("cleanup pass failed")?;
                    // Given back untried: the store is down, and another
                    // pass now would only give them back again.
                    if pass.given_back > 0 {
                        anyhow::bail!(
                            "the image storage is down: {} items given back untried (no attempt \
                             spent); {} removed before",
                            pass.given_back,
                            total.removed
                        );
                    }
                    total.removed += pass.removed;
                    total.kept += pass.kept;
                    total.retried += pass.retried;
                    total.parked += pass.parked;
                    if pass.claimed == 0 {
                        break;
                    }
                }
                println!(
                    "{{\"removed\":{},\"kept\":{},\"retried\":{},\"parked\":{}}}",
                    total.removed, total.kept, total.retried, total.parked
                );
                return Ok(());
            }
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let workers = cleanup::spawn_workers(&args, queue, images, clock, &stop_rx)?;
            crate::serve::shutdown_signal().await;
            let _ = stop_tx.send(true);
            for worker in workers {
                worker.await.context("a cleanup worker panicked")?;
            }
        }
        CleanupCommand::Status { database } => {
            let now = SystemClock.now();
            let pool =
                backends::connect_ready(&database, database.database_max_connections).await?;
            let status = CleanupAdmin::new(
                Arc::new(PgCleanupQueue::new(pool.clone())),
                Arc::new(SystemClock),
            )
            .status()
            .await
            .context("failed to read the queue")?;
            let purges = vodsnap_service::AssetPurges::new(
                Arc::new(vodsnap_adapter_postgres::PgPurgeQueue::new(pool)),
                Arc::new(SystemClock),
            )
            .backlog()
            .await
            .context("failed to read the asset purges")?;
            let oldest_age_seconds = status
                .oldest_enqueued_at
                .map_or(0, |t| now.since(t).as_secs());
            let drain = CleanupAdmin::drain(&status);
            let line = serde_json::json!({
                "queued": status.queued,
                "leased": status.leased,
                "parked": status.parked,
                "failed_attempts": status.failed_attempts,
                "oldest_age_seconds": oldest_age_seconds,
                "drained_last_minute": status.drained_in_window,
                "drain_per_second": (drain.per_second() * 10.0).round() / 10.0,
                "seconds_to_drain": drain.time_to_drain().map(|d| d.as_secs()),
                "recycle_bin": status.recycle_bin,
                "purges_running": purges.queued,
                "purges_parked": purges.parked,
            });
            println!("{line}");
        }
        CleanupCommand::Parked { database, limit } => {
            for parked in admin(&database)
                .await?
                .parked(limit)
                .await
                .context("failed to list parked items")?
            {
                let line = serde_json::json!({
                    "id": parked.item.id,
                    "project_id": parked.item.project.as_str(),
                    "object_key": parked.item.object_key.as_str(),
                    "attempts": parked.item.attempts,
                    "last_error": parked.last_error,
                    "enqueued_at": micros_to_rfc3339(parked.enqueued_at.as_micros()),
                });
                println!("{line}");
            }
        }
        CleanupCommand::Retry { database, ids } => {
            let n = admin(&database)
                .await?
                .retry_parked(ids)
                .await
                .context("failed to retry parked items")?;
            println!("{{\"retried\":{n}}}");
        }
    }
    Ok(())
}
