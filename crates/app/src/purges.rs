//! Starting the asset purge worker of `vodsnap serve` (one per instance:
//! a purge runs batch after batch, and any instance continues one whose
//! lease ran out), with the cleanup's retry settings.

use std::sync::Arc;

use tokio::sync::watch;
use vodsnap_domain::Retention;
use vodsnap_ports::{Clock, PurgeQueue};
use vodsnap_service::{PurgeSettings, Purger};

/// Spawns the purge worker; purged tasks stay in the recycle bin for
/// `retention`, as deleted ones do; a purge's claim lasts `lease`.
pub fn spawn_worker(
    args: &crate::cli::CleanupArgs,
    retention: Retention,
    lease: std::time::Duration,
    queue: Arc<dyn PurgeQueue>,
    clock: Arc<dyn Clock>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let cleanup = crate::cleanup::settings(args)?;
    let purger = Purger {
        name: format!("{}-purge", crate::cleanup::worker_name(0)),
        queue,
        clock,
        settings: PurgeSettings {
            policy: cleanup.policy,
            idle: cleanup.idle,
            retention,
            lease,
            ..PurgeSettings::default()
        },
    };
    Ok(tokio::spawn(purger.run(stop.clone())))
}
