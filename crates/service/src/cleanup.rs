//! The cleanup use case: removes the image objects of deleted task results.
//!
//! A worker claims a batch of items (up to [`MAX_BATCH`]) under a lease,
//! checks in one look per project which of the batch's keys a live task
//! still references, and asks the domain what to do with each item
//! ([`CleanupDecision`]): remove it (an absent object counts as removed),
//! keep it because a live task of its project still references it, or park
//! it without an attempt (a key outside its project's prefix). The objects
//! to remove go to the image store in one bulk request
//! ([`ImageStore::delete_many`]); the items done are completed in one
//! statement per project, and only the keys whose removal failed are
//! retried with exponential backoff and jitter, or parked after the
//! policy's last attempt ([`RetryPolicy`]). The completion that removes a
//! deleted task's last queued object writes its `thumbnails.purged` event
//! ([`Event::of_purge`]), one per batch and project. So a batch costs a constant
//! number of statements and requests, whatever its size. Workers run inside
//! `vodsnap serve` and as `vodsnap cleanup run`, any number at once: leases
//! keep them off each other's items, and a crashed worker's lease runs out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use vodsnap_domain::{
    CleanupDecision, DrainEstimate, Event, EventTask, MAX_BATCH, ObjectKey, ProjectId, RATE_WINDOW,
    RetryPolicy, Timestamp,
};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, Clock, ImageStore, ParkedItem,
    PurgePlan,
};

use crate::queue::{JobRunner, Outcome, QueueWorker};
use crate::snapshots::new_event_id;

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub policy: RetryPolicy,
    /// Items claimed per pass, at most [`MAX_BATCH`] (one bulk request).
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
            batch: MAX_BATCH,
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

impl Worker {
    /// Claims one batch and works it: one reference check per project of
    /// the batch, one bulk removal, one completion and one record of the
    /// failures (per project). When `stop` is true once the batch is
    /// claimed, nothing more is done: the leases run out and another pass
    /// takes the items.
    pub async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<Pass, CleanupError> {
        let started = std::time::Instant::now();
        let queue = QueueWorker {
            name: &self.name,
            queue: &*self.queue,
            clock: &*self.clock,
            policy: self.settings.policy,
            batch: self.settings.batch.clamp(1, MAX_BATCH),
            lease: self.settings.lease,
        };
        let settled = queue.pass(self, stop).await?;
        let pass = Pass {
            claimed: settled.claimed,
            removed: settled.done(REMOVED),
            kept: settled.done(KEPT),
            retried: settled.retried,
            parked: settled.parked,
        };
        if pass.removed + pass.kept + pass.retried + pass.parked == 0 {
            return Ok(pass);
        }
        for (result, n) in [
            (REMOVED, pass.removed),
            (KEPT, pass.kept),
            ("retried", pass.retried),
            ("parked", pass.parked),
        ] {
            if n > 0 {
                metrics::counter!("vodsnap_cleanup_objects_total", "result" => result)
                    .increment(n as u64);
            }
        }
        metrics::histogram!("vodsnap_cleanup_batch_seconds").record(started.elapsed());
        tracing::info!(
            worker = self.name.as_str(),
            claimed = pass.claimed,
            removed = pass.removed,
            kept = pass.kept,
            retried = pass.retried,
            parked = pass.parked,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cleanup batch"
        );
        Ok(pass)
    }

    /// One reference check per project of the batch, for its keys inside
    /// the project's prefix: the store is asked only about those; the
    /// domain's decision checks the prefix again whatever it answers.
    async fn referenced(
        &self,
        items: &[CleanupItem],
    ) -> Result<BTreeMap<ProjectId, BTreeSet<ObjectKey>>, CleanupError> {
        let mut keys: BTreeMap<&ProjectId, Vec<ObjectKey>> = BTreeMap::new();
        for item in items {
            if item.object_key.belongs_to(&item.project) {
                keys.entry(&item.project)
                    .or_default()
                    .push(item.object_key.clone());
            }
        }
        let mut referenced = BTreeMap::new();
        for (project, keys) in keys {
            let found = self.queue.referenced(project, &keys).await?;
            if !found.is_empty() {
                referenced.insert(project.clone(), found);
            }
        }
        Ok(referenced)
    }

    /// Works until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        tracing::info!(
            worker = self.name.as_str(),
            images = self.images.describe(),
            "cleanup worker started"
        );
        let worker = &self;
        crate::polling::run_passes(
            self.settings.idle,
            stop,
            "cleanup",
            move |stop| async move { worker.pass(&stop).await.map(|pass| pass.claimed > 0) },
        )
        .await;
        tracing::info!(worker = self.name.as_str(), "cleanup worker stopped");
    }
}

/// The label of an object removed (an absent one counts as removed).
const REMOVED: &str = "removed";
/// The label of an object kept because a live task still references it.
const KEPT: &str = "kept";

/// The cleanup kind's run: the domain's decision for each item of the
/// batch, then one bulk removal of those to remove.
#[async_trait]
impl JobRunner<CleanupItem> for Worker {
    fn chunk(&self) -> usize {
        usize::MAX
    }

    async fn run(
        &self,
        items: Vec<CleanupItem>,
    ) -> Result<Vec<(CleanupItem, Outcome)>, CleanupError> {
        let referenced = self.referenced(&items).await?;
        let mut outcomes = Vec::with_capacity(items.len());
        let mut to_remove: Vec<CleanupItem> = Vec::new();
        for item in items {
            let is_referenced = referenced
                .get(&item.project)
                .is_some_and(|keys| keys.contains(&item.object_key));
            match CleanupDecision::for_object(&item.project, &item.object_key, is_referenced) {
                CleanupDecision::KeepReferenced => {
                    tracing::debug!(
                        key = item.object_key.as_str(),
                        "object kept: a live task still references it"
                    );
                    outcomes.push((item, Outcome::Done(KEPT)));
                }
                CleanupDecision::Park(reason) => {
                    tracing::debug!(
                        key = item.object_key.as_str(),
                        project = item.project.as_str(),
                        reason = reason.message(),
                        "object not removed; parked"
                    );
                    outcomes.push((item, Outcome::Park(reason.message().to_owned())));
                }
                CleanupDecision::Remove => to_remove.push(item),
            }
        }
        if to_remove.is_empty() {
            return Ok(outcomes);
        }
        let keys: Vec<ObjectKey> = to_remove.iter().map(|i| i.object_key.clone()).collect();
        // A store that answered for fewer keys than asked leaves the rest
        // unconfirmed: they fail like any other and are retried.
        let mut results = self.images.delete_many(&keys).await.into_iter();
        for item in to_remove {
            let outcome = match results.next() {
                Some(Ok(())) => {
                    tracing::debug!(
                        key = item.object_key.as_str(),
                        project = item.project.as_str(),
                        worker = self.name.as_str(),
                        "object removed"
                    );
                    Outcome::Done(REMOVED)
                }
                Some(Err(error)) => Outcome::Failed(format!("{:#}", anyhow::Error::from(error))),
                None => Outcome::Failed("the image store gave no answer for this key".to_owned()),
            };
            outcomes.push((item, outcome));
        }
        Ok(outcomes)
    }

    /// A completion that removes the last queued object of deleted tasks
    /// sends one `thumbnails.purged` per project, listing them.
    fn completion(&self, now: Timestamp) -> Box<PurgePlan> {
        Box::new(move |project: &ProjectId, tasks: Vec<EventTask>| {
            Event::of_purge(new_event_id(), project.clone(), tasks, now)
        })
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

    /// The drain of the queue behind `status`: its backlog (queued items),
    /// the rate over the last [`RATE_WINDOW`] and the time to drain at it.
    pub fn drain(status: &CleanupStatus) -> DrainEstimate {
        DrainEstimate::new(status.queued, status.drained_in_window, RATE_WINDOW)
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
