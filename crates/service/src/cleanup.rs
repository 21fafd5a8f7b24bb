//! The cleanup use case: removes the image objects of deleted task results.
//!
//! A worker claims items under a lease and asks the domain what to do with
//! each ([`CleanupDecision`]): remove it (an absent object counts as
//! removed), keep it because a live task of its project still references
//! it, or park it without an attempt (a key outside its project's prefix).
//! A failed removal is retried with exponential backoff and jitter, and
//! parked after the policy's last attempt ([`RetryPolicy`]). Workers run
//! inside `vodsnap serve` and as `vodsnap cleanup run`, any number at once:
//! leases keep them off each other's items, and a crashed worker's lease
//! runs out.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use vodsnap_domain::{AfterFailure, CleanupDecision, RetryPolicy, Timestamp};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, Clock, ImageStore, ParkedItem,
};

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub policy: RetryPolicy,
    /// Items claimed per pass.
    pub batch: u32,
    /// How long a claim keeps other workers away; longer than the image
    /// store's request timeout, so an item is never worked on twice at once.
    pub lease: Duration,
    /// Pause after a pass that found nothing to do.
    pub idle: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            batch: 32,
            lease: Duration::from_secs(120),
            idle: Duration::from_secs(1),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub removed: usize,
    /// Still referenced by a live task: completed without removing.
    pub kept: usize,
    pub retried: usize,
    pub parked: usize,
}

/// One worker; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    pub queue: Arc<dyn CleanupQueue>,
    pub images: Arc<dyn ImageStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: WorkerSettings,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("images", &self.images.describe())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn later(now: Timestamp, delay: Duration) -> Timestamp {
    let micros = i64::try_from(delay.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(now.as_micros().saturating_add(micros))
}

impl Worker {
    /// Claims one batch and works it, stopping between items when
    /// `stop` turns true (the unfinished items' leases run out and another
    /// pass takes them).
    pub async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<Pass, CleanupError> {
        let items = self
            .queue
            .claim(
                &self.name,
                self.settings.batch,
                self.settings.lease,
                self.clock.now(),
            )
            .await?;
        let mut pass = Pass {
            claimed: items.len(),
            ..Pass::default()
        };
        for item in items {
            if *stop.borrow() {
                break;
            }
            self.work(&item, &mut pass).await?;
        }
        Ok(pass)
    }

    async fn work(&self, item: &CleanupItem, pass: &mut Pass) -> Result<(), CleanupError> {
        // The store is asked only about keys of the item's own project; the
        // domain's decision checks the prefix again whatever it answers.
        let referenced = item.object_key.belongs_to(&item.project)
            && self
                .queue
                .is_referenced(&item.project, &item.object_key)
                .await?;
        match CleanupDecision::for_object(&item.project, &item.object_key, referenced) {
            CleanupDecision::KeepReferenced => {
                tracing::info!(
                    key = item.object_key.as_str(),
                    "object kept: a live task still references it"
                );
                self.queue.complete(item, &self.name).await?;
                metrics::counter!("vodsnap_cleanup_objects_total", "result" => "kept").increment(1);
                pass.kept += 1;
            }
            CleanupDecision::Park(reason) => {
                tracing::error!(
                    key = item.object_key.as_str(),
                    project = item.project.as_str(),
                    reason = reason.message(),
                    "object not removed; parked"
                );
                self.queue
                    .fail(item, &self.name, reason.message(), None, self.clock.now())
                    .await?;
                metrics::counter!("vodsnap_cleanup_objects_total", "result" => "parked")
                    .increment(1);
                pass.parked += 1;
            }
            CleanupDecision::Remove => self.remove(item, pass).await?,
        }
        Ok(())
    }

    async fn remove(&self, item: &CleanupItem, pass: &mut Pass) -> Result<(), CleanupError> {
        match self.images.delete(&item.object_key).await {
            Ok(()) => {
                if self.queue.complete(item, &self.name).await? {
                    tracing::info!(
                        key = item.object_key.as_str(),
                        project = item.project.as_str(),
                        worker = self.name.as_str(),
                        "object removed"
                    );
                } else {
                    tracing::warn!(
                        key = item.object_key.as_str(),
                        "object removed after the lease ran out"
                    );
                }
                metrics::counter!("vodsnap_cleanup_objects_total", "result" => "removed")
                    .increment(1);
                pass.removed += 1;
            }
            Err(error) => {
                let attempts = item.attempts.saturating_add(1);
                let jitter: f64 = rand::thread_rng().r#gen();
                let message = format!("{:#}", anyhow::Error::from(error));
                let retry_at = match self.settings.policy.after_failure(attempts, jitter) {
                    AfterFailure::RetryIn(delay) => {
                        pass.retried += 1;
                        metrics::counter!("vodsnap_cleanup_objects_total", "result" => "retried")
                            .increment(1);
                        tracing::warn!(key = item.object_key.as_str(), attempts, retry_in = ?delay, error = message.as_str(), "object removal failed; will retry");
                        Some(later(self.clock.now(), delay))
                    }
                    AfterFailure::Park => {
                        pass.parked += 1;
                        metrics::counter!("vodsnap_cleanup_objects_total", "result" => "parked")
                            .increment(1);
                        tracing::error!(
                            key = item.object_key.as_str(),
                            attempts,
                            error = message.as_str(),
                            "object removal failed too often; parked"
                        );
                        None
                    }
                };
                self.queue
                    .fail(item, &self.name, &message, retry_at, self.clock.now())
                    .await?;
            }
        }
        Ok(())
    }

    /// Works until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            worker = self.name.as_str(),
            images = self.images.describe(),
            "cleanup worker started"
        );
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let pause = match self.pass(&stop).await {
                Ok(pass) => {
                    failures = 0;
                    if pass.claimed == 0 {
                        self.settings.idle
                    } else {
                        Duration::ZERO
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cleanup pass failed; the store may be down"
                    );
                    // Back off while the store is down, up to 30 s.
                    self.settings
                        .idle
                        .saturating_mul(2u32.saturating_pow(failures.min(5)))
                        .min(Duration::from_secs(30))
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!(worker = self.name.as_str(), "cleanup worker stopped");
    }
}

/// The operators' view of the cleanup queue: its figures, parked items,
/// and putting parked items back to work.
#[derive(Clone)]
pub struct CleanupAdmin {
    queue: Arc<dyn CleanupQueue>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CleanupAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanupAdmin").finish_non_exhaustive()
    }
}

impl CleanupAdmin {
    pub fn new(queue: Arc<dyn CleanupQueue>, clock: Arc<dyn Clock>) -> Self {
        Self { queue, clock }
    }

    /// The queue's figures now.
    pub async fn status(&self) -> Result<CleanupStatus, CleanupError> {
        self.queue.status(self.clock.now()).await
    }

    /// Parked items, oldest first.
    pub async fn parked(&self, limit: u32) -> Result<Vec<ParkedItem>, CleanupError> {
        self.queue.parked(limit).await
    }

    /// Makes the given parked items (all when `ids` is empty) due now, with
    /// their attempts reset.
    pub async fn retry_parked(&self, ids: Vec<i64>) -> Result<u64, CleanupError> {
        self.queue.retry_parked(ids, self.clock.now()).await
    }
}
