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
//!
//! An object-store outage is not an item failure (issue 25): a batch whose
//! every removal failed for the store's reason ([`StoreVerdict::Down`]) is
//! given back untried, no attempt spent; the worker pauses (1 s doubling to
//! 10 s, [`StoreWatch::pause`]) and probes with one item a pass until the
//! store answers, logging the outage's start and end once each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use vodsnap_domain::{
    Blame, CleanupDecision, DrainEstimate, Event, EventTask, MAX_BATCH, ObjectKey, ProjectId,
    RATE_WINDOW, RetryPolicy, StoreChange, StoreVerdict, StoreWatch, Timestamp,
};
use vodsnap_ports::{
    CleanupError, CleanupItem, CleanupQueue, CleanupStatus, Clock, ImageStore, ImageStoreError,
    ParkedItem, PurgePlan,
};

use crate::polling::Pace;
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
    /// Given back untried, no attempt spent: the object store was down
    /// ([`StoreVerdict::Down`]).
    pub given_back: usize,
}

/// One worker; cheap to clone (clones, and workers made by
/// [`Worker::renamed`], share what they know of the object store).
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    pub queue: Arc<dyn CleanupQueue>,
    pub images: Arc<dyn ImageStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: WorkerSettings,
    /// Whether the object store is down, since when, and the pause before
    /// the next probe: the domain's [`StoreWatch`].
    store: Arc<Mutex<StoreWatch>>,
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
    pub fn new(
        name: String,
        queue: Arc<dyn CleanupQueue>,
        images: Arc<dyn ImageStore>,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            name,
            queue,
            images,
            clock,
            settings,
            store: Arc::default(),
        }
    }

    /// Another worker of the same process, named `name`, sharing this
    /// one's watch on the object store: the process logs an outage once,
    /// and all its workers pause.
    pub fn renamed(&self, name: String) -> Self {
        Self {
            name,
            ..self.clone()
        }
    }

    /// Whether this worker last found the object store down.
    pub fn store_is_down(&self) -> bool {
        self.watch().is_down()
    }

    /// The watch on the object store (a poisoned lock still holds a valid
    /// one: every change to it is a single assignment).
    fn watch(&self) -> std::sync::MutexGuard<'_, StoreWatch> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims one batch and works it: one reference check per project of
    /// the batch, one bulk removal, one completion and one record of the
    /// failures (per project). While the object store is down the batch is
    /// one item, the probe ([`StoreWatch::batch`]); a batch whose every
    /// removal failed for the store's reason is given back untried
    /// ([`StoreVerdict::Down`]). When `stop` is true once the batch is
    /// claimed, nothing more is done: the leases run out and another pass
    /// takes the items.
    pub async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<Pass, CleanupError> {
        let started = std::time::Instant::now();
        let queue = QueueWorker {
            name: &self.name,
            queue: &*self.queue,
            clock: &*self.clock,
            policy: self.settings.policy,
            batch: self.watch().batch(self.settings.batch.clamp(1, MAX_BATCH)),
            lease: self.settings.lease,
        };
        let settled = queue.pass(self, stop).await?;
        let pass = Pass {
            claimed: settled.claimed,
            removed: settled.done(REMOVED),
            kept: settled.done(KEPT),
            retried: settled.retried,
            parked: settled.parked,
            given_back: settled.given_back,
        };
        if pass.given_back > 0 {
            metrics::counter!("vodsnap_cleanup_objects_total", "result" => "given_back")
                .increment(pass.given_back as u64);
        }
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
            given_back = pass.given_back,
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
        metrics::gauge!("vodsnap_image_store_up").set(1.0);
        let worker = &self;
        crate::polling::run_passes(
            self.settings.idle,
            stop,
            "cleanup",
            move |stop| async move { worker.pass(&stop).await.map(|pass| worker.pace(&pass)) },
        )
        .await;
        tracing::info!(worker = self.name.as_str(), "cleanup worker stopped");
    }
}

impl Worker {
    /// When the next pass starts: after the watch's pause when this one
    /// gave its batch back (the store is down: the next pass is the
    /// probe), else at once when it found work.
    fn pace(&self, pass: &Pass) -> Pace {
        if pass.given_back == 0 {
            return Pace::of(pass.claimed > 0);
        }
        let pause = self.watch().pause();
        metrics::counter!("vodsnap_cleanup_paused_seconds_total").increment(pause.as_secs());
        Pace::Pause(pause)
    }

    /// Records a bulk removal's verdict on the store; logs and publishes
    /// its going down and its coming back, once each.
    fn judge_store(&self, verdict: StoreVerdict, first_error: &str) {
        let now = self.clock.now();
        let change = self.watch().record(verdict, now);
        match change {
            StoreChange::Same => {}
            StoreChange::WentDown => {
                metrics::gauge!("vodsnap_image_store_up").set(0.0);
                tracing::warn!(
                    worker = self.name.as_str(),
                    images = self.images.describe(),
                    error = first_error,
                    "the image store is down: the cleanup gives its batches back untried \
                     and pauses, probing with one item"
                );
            }
            StoreChange::CameBack { down_for } => {
                metrics::gauge!("vodsnap_image_store_up").set(1.0);
                tracing::info!(
                    worker = self.name.as_str(),
                    images = self.images.describe(),
                    down_for_s = down_for.as_secs(),
                    "the image store answers again: the cleanup resumes"
                );
            }
        }
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
        let results = self.images.delete_many(&keys).await;
        // A store that answered for fewer keys than asked leaves the rest
        // unconfirmed: they fail like any other and are retried.
        let verdict = StoreVerdict::of_batch((0..to_remove.len()).map(|i| {
            results.get(i).map_or(Some(Blame::Key), |r| {
                r.as_ref().err().map(ImageStoreError::blame)
            })
        }));
        let mut results = results.into_iter();
        let mut first_error = None;
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
                Some(Err(error)) => {
                    let error = format!("{:#}", anyhow::Error::from(error));
                    first_error.get_or_insert_with(|| error.clone());
                    if verdict == StoreVerdict::Down {
                        Outcome::GiveBack(error)
                    } else {
                        Outcome::Failed(error)
                    }
                }
                None => Outcome::Failed("the image store gave no answer for this key".to_owned()),
            };
            outcomes.push((item, outcome));
        }
        self.judge_store(verdict, first_error.as_deref().unwrap_or_default());
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
