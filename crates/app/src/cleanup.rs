//! The cleanup worker: removes the image objects of deleted task results.
//!
//! It claims items under a lease, skips an object that a live task still
//! references, removes the rest (an absent object counts as removed), and
//! completes the item; a failure is retried with exponential backoff and
//! jitter, and parked after the policy's last attempt. It runs inside
//! `vodsnap serve` and as `vodsnap cleanup run`, any number at once: leases
//! keep them off each other's items, and a crashed worker's lease runs out.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use vodsnap_domain::{AfterFailure, RetryPolicy, Timestamp};
use vodsnap_ports::{CleanupError, CleanupItem, CleanupQueue, Clock, ImageStore};

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
        if self.queue.is_referenced(&item.object_key).await? {
            tracing::info!(
                key = item.object_key.as_str(),
                "object kept: a live task still references it"
            );
            self.queue.complete(item, &self.name).await?;
            metrics::counter!("vodsnap_cleanup_objects_total", "result" => "kept").increment(1);
            pass.kept += 1;
            return Ok(());
        }
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
                    .fail(item, &self.name, &message, retry_at)
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

/// Starts `--cleanup-workers` workers that stop when `stop` turns true.
pub fn spawn_workers(
    args: &crate::cli::CleanupArgs,
    queue: Arc<dyn CleanupQueue>,
    images: Arc<dyn ImageStore>,
    clock: Arc<dyn Clock>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let settings = settings(args)?;
    Ok((0..args.cleanup_workers)
        .map(|i| {
            let worker = Worker {
                name: worker_name(i),
                queue: queue.clone(),
                images: images.clone(),
                clock: clock.clone(),
                settings: settings.clone(),
            };
            tokio::spawn(worker.run(stop.clone()))
        })
        .collect())
}

/// The workers' settings from the command line.
pub fn settings(args: &crate::cli::CleanupArgs) -> anyhow::Result<WorkerSettings> {
    let policy = RetryPolicy::new(
        args.cleanup_retry_base,
        args.cleanup_retry_max,
        args.cleanup_max_attempts,
    )
    .map_err(|e| anyhow::anyhow!("invalid cleanup retry settings: {e}"))?;
    Ok(WorkerSettings {
        policy,
        lease: args.cleanup_lease,
        idle: args.cleanup_idle,
        ..WorkerSettings::default()
    })
}

/// A name unique to this process and worker, for leases and logs.
pub fn worker_name(index: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!("{host}:{}:{index}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vodsnap_adapter_memory::MemoryStore;
    use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
    use vodsnap_domain::{
        AssetId, DeleteSelection, NewTaskResult, ObjectKey, ProjectId, Snapshot, TaskId,
        ThumbnailPara, ThumbnailParaInput,
    };
    use vodsnap_ports::{ImageStoreError, MockImageStore, SystemClock, TaskResultStore};

    fn actor() -> vodsnap_ports::Actor {
        vodsnap_ports::Actor::system("test")
    }

    fn new_result(task: &str, keys: &[&str]) -> NewTaskResult {
        let para = ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some("time".into()),
            ..Default::default()
        })
        .unwrap();
        let snapshots = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Snapshot::new(i as i64, ObjectKey::parse(k).unwrap()).unwrap())
            .collect();
        NewTaskResult::new(
            ProjectId::parse("p").unwrap(),
            AssetId::parse("a").unwrap(),
            TaskId::parse(task).unwrap(),
            para,
            snapshots,
        )
        .unwrap()
    }

    async fn delete(store: &MemoryStore, task: &str) {
        let selection = DeleteSelection::new(None, vec![TaskId::parse(task).unwrap()]).unwrap();
        store
            .delete(
                &ProjectId::parse("p").unwrap(),
                &selection,
                SystemClock.now(),
                &actor(),
            )
            .await
            .unwrap();
    }

    fn worker(store: Arc<MemoryStore>, images: Arc<dyn ImageStore>, max_attempts: u32) -> Worker {
        Worker {
            name: "test".into(),
            queue: store,
            images,
            clock: Arc::new(SystemClock),
            settings: WorkerSettings {
                policy: RetryPolicy::new(
                    Duration::from_micros(1),
                    Duration::from_micros(1),
                    max_attempts,
                )
                .unwrap(),
                ..WorkerSettings::default()
            },
        }
    }

    fn never() -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test]
    async fn removes_the_objects_of_deleted_tasks_and_keeps_shared_live_ones() {
        let store = Arc::new(MemoryStore::new());
        let images = Arc::new(ObjectImageStore::open(&StorageUrl::Memory).unwrap());
        for key in ["k/1.jpg", "k/2.jpg", "k/shared.jpg", "k/live.jpg"] {
            images
                .put(&ObjectKey::parse(key).unwrap(), b"jpg".to_vec())
                .await
                .unwrap();
        }
        let now = SystemClock.now();
        store
            .register(
                new_result("gone", &["k/1.jpg", "k/2.jpg", "k/shared.jpg"]),
                now,
                &actor(),
            )
            .await
            .unwrap();
        store
            .register(
                new_result("live", &["k/shared.jpg", "k/live.jpg"]),
                now,
                &actor(),
            )
            .await
            .unwrap();
        delete(&store, "gone").await;

        let pass = worker(store.clone(), images.clone(), 3)
            .pass(&never())
            .await
            .unwrap();

        assert_eq!((pass.claimed, pass.removed, pass.kept), (3, 2, 1));
        for (key, exists) in [
            ("k/1.jpg", false),
            ("k/2.jpg", false),
            ("k/shared.jpg", true),
            ("k/live.jpg", true),
        ] {
            assert_eq!(
                images
                    .exists(&ObjectKey::parse(key).unwrap())
                    .await
                    .unwrap(),
                exists,
                "{key}"
            );
        }
        assert_eq!(store.status(SystemClock.now()).await.unwrap().queued, 0);
    }

    #[tokio::test]
    async fn failures_back_off_then_park() {
        let store = Arc::new(MemoryStore::new());
        let mut images = MockImageStore::new();
        images.expect_delete().returning(|_| {
            Err(ImageStoreError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )))
        });
        images.expect_describe().returning(|| "mock".into());
        store
            .register(
                new_result("gone", &["k/1.jpg"]),
                SystemClock.now(),
                &actor(),
            )
            .await
            .unwrap();
        delete(&store, "gone").await;
        let w = worker(store.clone(), Arc::new(images), 3);

        let mut passes = Vec::new();
        for _ in 0..3 {
            // The 1 µs backoff has passed by the next pass.
            tokio::time::sleep(Duration::from_millis(2)).await;
            passes.push(w.pass(&never()).await.unwrap());
        }

        let summary: Vec<(usize, usize)> = passes.iter().map(|p| (p.retried, p.parked)).collect();
        assert_eq!(summary, [(1, 0), (1, 0), (0, 1)]);
        let status = store.status(SystemClock.now()).await.unwrap();
        assert_eq!(
            (status.queued, status.parked, status.failed_attempts),
            (0, 1, 3)
        );
        let parked = store.parked(10).await.unwrap();
        assert!(parked[0].last_error.contains("connection refused"));
    }

    #[tokio::test]
    async fn stops_between_items_when_asked() {
        let store = Arc::new(MemoryStore::new());
        let images = Arc::new(ObjectImageStore::open(&StorageUrl::Memory).unwrap());
        store
            .register(
                new_result("gone", &["k/1.jpg", "k/2.jpg"]),
                SystemClock.now(),
                &actor(),
            )
            .await
            .unwrap();
        delete(&store, "gone").await;
        let (tx, rx) = watch::channel(true);
        let pass = worker(store, images, 3).pass(&rx).await.unwrap();
        drop(tx);
        assert_eq!((pass.claimed, pass.removed), (2, 0));
    }
}
