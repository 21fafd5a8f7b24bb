//! Purging whole assets (Huawei's `DeleteAssets`), the third kind of the
//! work queue: [`AssetPurges`] records a purge per asset and answers at
//! once (a constant number of statements, whatever the assets' sizes);
//! [`Purger`] is the kind's [`JobRunner`]: it tombstones each asset's
//! tasks a batch at a time ([`vodsnap_domain::PURGE_BATCH`]), each batch planned by the
//! domain ([`DeletePlan::of_purge`]) and written as a delete is (audit
//! record, `thumbnails.deleted`, cleanup items due at the recycle bin's
//! `purge_at`), until a batch finds none left; then the job completes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use vodsnap_domain::{
    Actor, AssetId, AuditRecord, DeletePlan, DeleteSelection, DeleteStatus, Event, EventTask,
    FoundTask, ProjectId, PurgeProgress, Retention, RetryPolicy, Timestamp, purge_has_more,
};
use vodsnap_ports::{
    Clock, PlannedDelete, PlannedPurgeBatch, PlannedPurges, PurgeFinish, PurgeJob, PurgeQueue,
    QueueError,
};

use crate::queue::{JobRunner, Outcome, QueueWorker};
use crate::snapshots::new_event_id;

/// The `DeleteAssets` use cases: record, preview, progress. Cheap to
/// clone.
#[derive(Clone)]
pub struct AssetPurges {
    queue: Arc<dyn PurgeQueue>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AssetPurges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetPurges").finish_non_exhaustive()
    }
}

impl AssetPurges {
    pub fn new(queue: Arc<dyn PurgeQueue>, clock: Arc<dyn Clock>) -> Self {
        Self { queue, clock }
    }

    /// Records a purge of each asset (one already running is kept) and
    /// answers each `DELETED`, in the order given: from now on their tasks
    /// read as deleted. An asset with nothing in the project is `DELETED`
    /// too (idempotent; it tells nothing of other projects). The purges
    /// are recorded together, so a store failure is the whole call's
    /// error: nothing per asset is left unknown. The call is audited with
    /// its caller (`asset.delete`, one record per asset) in the same unit
    /// of work.
    pub async fn delete_assets(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
        actor: &Actor,
    ) -> Result<Vec<(AssetId, DeleteStatus)>, QueueError> {
        let at = self.clock.now();
        let planned = PlannedPurges {
            assets: assets.to_vec(),
            at,
            audit: AuditRecord::asset_deletions(project, assets, at, actor),
        };
        self.queue.record(project, &planned).await?;
        Ok(assets
            .iter()
            .map(|a| (a.clone(), DeleteStatus::Deleted))
            .collect())
    }

    /// What [`AssetPurges::delete_assets`] would purge: each asset's live
    /// tasks, in the order given; nothing changes.
    pub async fn preview(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
    ) -> Result<Vec<(AssetId, u64)>, QueueError> {
        let counts = self.queue.preview(project, assets).await?;
        Ok(assets.iter().cloned().zip(counts).collect())
    }

    /// The latest purge of `asset` in `project`.
    pub async fn progress(
        &self,
        project: &ProjectId,
        asset: &AssetId,
    ) -> Result<Option<PurgeProgress>, QueueError> {
        self.queue.progress(project, asset).await
    }

    /// Purges waiting, running or parked, over every project, for the
    /// gauges and `vodsnap cleanup status`.
    pub async fn backlog(&self) -> Result<vodsnap_ports::QueueBacklog, QueueError> {
        self.queue.backlog(self.clock.now()).await
    }
}

/// How a purge worker works.
#[derive(Debug, Clone)]
pub struct PurgeSettings {
    pub policy: RetryPolicy,
    /// Purges claimed per pass; each is run to its end (or to `stop`).
    pub batch: u32,
    /// How long a claim (and each batch, which extends it) keeps other
    /// workers away.
    pub lease: Duration,
    pub idle: Duration,
    /// The recycle bin's window: purged tasks stay restorable for it.
    pub retention: Retention,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            batch: 4,
            lease: Duration::from_secs(60),
            idle: Duration::from_secs(1),
            retention: Retention::NONE,
        }
    }
}

/// One purge worker; cheap to clone.
#[derive(Clone)]
pub struct Purger {
    pub name: String,
    pub queue: Arc<dyn PurgeQueue>,
    pub clock: Arc<dyn Clock>,
    pub settings: PurgeSettings,
}

impl std::fmt::Debug for Purger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purger")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The label of a purge run to its end.
const PURGED: &str = "purged";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgePass {
    pub claimed: usize,
    pub purged: usize,
    pub retried: usize,
    pub parked: usize,
}

impl Purger {
    /// Claims purges and runs each to its end, a batch at a time; stops
    /// between batches when `stop` turns true (the lease then runs out and
    /// any instance continues the purge where it stopped).
    pub async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<PurgePass, QueueError> {
        let queue = QueueWorker {
            name: &self.name,
            queue: &*self.queue,
            clock: &*self.clock,
            policy: self.settings.policy,
            batch: self.settings.batch.max(1),
            lease: self.settings.lease,
        };
        let run = PurgeRun {
            purger: self,
            stop: stop.clone(),
        };
        let settled = queue.pass(&run, stop).await?;
        if let Ok(backlog) = self.queue.backlog(self.clock.now()).await {
            metrics::gauge!("vodsnap_asset_purges_running").set(backlog.queued as f64);
            metrics::gauge!("vodsnap_asset_purges_parked").set(backlog.parked as f64);
        }
        Ok(PurgePass {
            claimed: settled.claimed,
            purged: settled.done(PURGED),
            retried: settled.retried,
            parked: settled.parked,
        })
    }

    /// Works until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        tracing::info!(worker = self.name.as_str(), "asset purge worker started");
        let worker = &self;
        crate::polling::run_passes(
            self.settings.idle,
            stop,
            "asset purge",
            move |stop| async move {
                worker
                    .pass(&stop)
                    .await
                    .map(|pass| crate::polling::Pace::of(pass.claimed > 0))
            },
        )
        .await;
        tracing::info!(worker = self.name.as_str(), "asset purge worker stopped");
    }

    /// Runs one purge to its end; `None` when stopped or when its lease
    /// went to another worker (nothing to record: that one continues).
    async fn purge(
        &self,
        job: &PurgeJob,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<u64>, QueueError> {
        let selection = DeleteSelection::new(Some(job.asset.clone()), Vec::new())
            .map_err(|e| QueueError::Unknown(anyhow::anyhow!("an asset-only selection: {e}")))?;
        let actor = Actor::system("asset-purge");
        let mut purged = 0u64;
        loop {
            if *stop.borrow() {
                return Ok(None);
            }
            let at = self.clock.now();
            let purge_at = self.settings.retention.purge_at(at);
            let planner = |progress: &PurgeProgress, found: Vec<FoundTask>| {
                let last = !purge_has_more(found.len());
                let plan = DeletePlan::of_purge(&job.asset, found);
                let audit =
                    AuditRecord::deletion(&job.project, &selection, plan.items(), at, &actor);
                let tombstoned: Vec<EventTask> = plan
                    .doomed()
                    .iter()
                    .map(|task| EventTask {
                        task: task.clone(),
                        asset: job.asset.clone(),
                    })
                    .collect();
                let finish = last.then(|| PurgeFinish {
                    at,
                    events: vec![Event::of_asset_purge(
                        new_event_id(),
                        job.project.clone(),
                        job.asset.clone(),
                        progress.total_after(tombstoned.len() as u64),
                        at,
                    )],
                });
                let events = Event::of_delete(
                    new_event_id(),
                    job.project.clone(),
                    Some(job.asset.clone()),
                    tombstoned,
                    at,
                )
                .into_iter()
                .collect();
                PlannedPurgeBatch {
                    delete: PlannedDelete {
                        plan,
                        audit,
                        at,
                        purge_at,
                        events,
                        trace: None,
                    },
                    finish,
                }
            };
            let Some(batch) = self
                .queue
                .purge_batch(job, &self.name, &planner, at, self.settings.lease)
                .await?
            else {
                tracing::warn!(
                    purge = job.id,
                    project = job.project.as_str(),
                    "the purge's lease went to another worker; leaving it to that one"
                );
                return Ok(None);
            };
            purged += batch.tasks;
            metrics::counter!("vodsnap_asset_purge_tasks_total").increment(batch.tasks);
            tracing::debug!(
                purge = job.id,
                project = job.project.as_str(),
                asset = job.asset.as_str(),
                tasks = batch.tasks,
                objects = batch.objects,
                "purge batch"
            );
            if batch.finished {
                return Ok(Some(purged));
            }
        }
    }
}

/// One pass's runner: the worker and the pass's `stop`.
struct PurgeRun<'a> {
    purger: &'a Purger,
    stop: watch::Receiver<bool>,
}

#[async_trait]
impl JobRunner<PurgeJob> for PurgeRun<'_> {
    /// One purge at a time: each is completed as soon as it ends.
    fn chunk(&self) -> usize {
        1
    }

    async fn run(&self, jobs: Vec<PurgeJob>) -> Result<Vec<(PurgeJob, Outcome)>, QueueError> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            match self.purger.purge(&job, &self.stop).await {
                Ok(Some(tasks)) => {
                    tracing::info!(
                        purge = job.id,
                        project = job.project.as_str(),
                        asset = job.asset.as_str(),
                        tasks,
                        "asset purged"
                    );
                    // Closed by its last batch.
                    outcomes.push((job, Outcome::Closed(PURGED)));
                }
                // Stopped or taken over: nothing to record.
                Ok(None) => {}
                Err(QueueError::Unavailable(e)) => return Err(QueueError::Unavailable(e)),
                Err(QueueError::Unknown(e)) => {
                    outcomes.push((job, Outcome::Failed(format!("{e:#}"))));
                }
            }
        }
        Ok(outcomes)
    }

    fn completion(&self, _now: Timestamp) -> Box<()> {
        Box::new(())
    }
}
