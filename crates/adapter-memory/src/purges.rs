//! The embedded store's asset purges: the purge kind's [`JobQueue`] in the
//! shared state, and the [`PurgeQueue`] port on it. Every operation holds
//! the store's one lock, so a batch (find, plan, tombstones, cleanup items,
//! progress) is one atomic step, as a delete is.

use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{AssetId, FoundTask, ProjectId, PurgeProgress, TaskResult, Timestamp};
use vodsnap_ports::{
    PlannedPurges, PurgeBatchPlanner, PurgeJob, PurgeQueue, PurgedBatch, QueueError,
};

use crate::purge_state::PurgePayload;
use crate::queue::{Entry, JobQueue};
use crate::state::Inner;
use crate::work_queue::{MemoryKind, MemoryQueue};

fn job(e: &Entry<PurgePayload>) -> PurgeJob {
    PurgeJob {
        id: e.id,
        project: e.project.clone(),
        asset: e.payload.asset.clone(),
        attempts: e.attempts,
    }
}

fn progress_of(e: &Entry<PurgePayload>) -> PurgeProgress {
    PurgeProgress {
        asset: e.payload.asset.clone(),
        tasks_total: e.payload.tasks_total,
        tasks_deleted: e.payload.tasks_deleted,
        objects_queued: e.payload.objects_queued,
        started_at: e.enqueued_at,
        finished_at: e.finished_at,
    }
}

/// The asset purge kind of the embedded store's work queue.
#[derive(Debug)]
pub struct Purges;

/// The purges of a [`crate::MemoryStore`]: the [`PurgeQueue`].
pub type MemoryPurgeQueue = MemoryQueue<Purges>;

impl MemoryKind for Purges {
    type Job = PurgeJob;
    type Payload = PurgePayload;

    fn queue(inner: &mut Inner) -> &mut JobQueue<PurgePayload> {
        &mut inner.purges.queue
    }

    fn job(inner: &Inner, id: i64) -> Option<PurgeJob> {
        inner.purges.queue.get(id).map(job)
    }

    /// Done: the asset is no longer purging (its tasks are tombstones).
    fn complete(inner: &mut Inner, jobs: &[PurgeJob], worker: &str, now: Timestamp, _: &()) -> u64 {
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let done = inner.purges.queue.complete(&ids, worker, now);
        for j in jobs.iter().filter(|j| done.contains(&j.id)) {
            if let Some(p) = inner.projects.get_mut(&j.project) {
                p.purging.remove(&j.asset);
            }
        }
        done.len() as u64
    }
}

/// The asset's live tasks in `project` (purged or not: the purge sees
/// them all), oldest first, ties by task id.
fn live_of_asset<'a>(
    inner: &'a Inner,
    project: &ProjectId,
    asset: &AssetId,
) -> Vec<&'a TaskResult> {
    let Some(p) = inner.projects.get(project) else {
        return Vec::new();
    };
    let mut tasks: Vec<&TaskResult> = p.live().values().filter(|t| t.asset() == asset).collect();
    tasks.sort_by(|a, b| (a.created_at(), a.task()).cmp(&(b.created_at(), b.task())));
    tasks
}

#[async_trait]
impl PurgeQueue for MemoryQueue<Purges> {
    async fn record(&self, project: &ProjectId, planned: &PlannedPurges) -> Result<(), QueueError> {
        let now = planned.at;
        self.with_inner(|inner| {
            inner.audit.extend(planned.audit.iter().cloned());
            for asset in &planned.assets {
                let running = inner
                    .projects
                    .get(project)
                    .is_some_and(|p| p.purging.contains(asset));
                if running {
                    // A parked purge of the asset is due again: asking
                    // again is how a caller gets an asset out of it.
                    let queue = &mut inner.purges.queue;
                    let parked: Vec<i64> = queue
                        .entries()
                        .filter(|e| {
                            e.project == *project
                                && e.payload.asset == *asset
                                && e.parked_at.is_some()
                        })
                        .map(|e| e.id)
                        .collect();
                    if !parked.is_empty() {
                        queue.retry_parked(&parked, now);
                    }
                    continue;
                }
                let tasks_total = inner
                    .projects
                    .get(project)
                    .map_or(0, |p| p.live_of_asset_count(asset));
                let payload = PurgePayload {
                    asset: asset.clone(),
                    tasks_total,
                    tasks_deleted: 0,
                    objects_queued: 0,
                };
                inner.purges.queue.push(project.clone(), payload, now, now);
                inner
                    .projects
                    .entry(project.clone())
                    .or_default()
                    .purging
                    .insert(asset.clone());
            }
        });
        Ok(())
    }

    async fn preview(
        &self,
        project: &ProjectId,
        assets: &[AssetId],
    ) -> Result<Vec<u64>, QueueError> {
        Ok(self.with_inner(|inner| {
            assets
                .iter()
                .map(|a| {
                    inner
                        .projects
                        .get(project)
                        .map_or(0, |p| p.live_of_asset_count(a))
                })
                .collect()
        }))
    }

    async fn progress(
        &self,
        project: &ProjectId,
        asset: &AssetId,
    ) -> Result<Option<PurgeProgress>, QueueError> {
        Ok(self.with_inner(|inner| {
            inner
                .purges
                .queue
                .entries()
                .rev()
                .find(|e| e.project == *project && e.payload.asset == *asset)
                .map(progress_of)
        }))
    }

    async fn purge_batch<'a>(
        &self,
        job: &PurgeJob,
        worker: &str,
        planner: PurgeBatchPlanner<'a>,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<PurgedBatch>, QueueError> {
        self.with_inner(|inner| {
            let held = inner
                .purges
                .queue
                .get_mut(job.id)
                .filter(|e| {
                    e.project == job.project
                        && e.is_pending()
                        && e.lease.as_ref().is_some_and(|l| l.is_held_by(worker))
                })
                .map(|e| progress_of(e));
            let Some(progress) = held else {
                return Ok(None);
            };
            let found: Vec<FoundTask> = live_of_asset(inner, &job.project, &job.asset)
                .into_iter()
                .take(vodsnap_domain::PURGE_BATCH)
                .map(|t| FoundTask::live(t.task().clone(), job.asset.clone()))
                .collect();
            let batch_found = found.len();
            let planned = planner(&progress, found);
            if let Some(p) = inner.projects.get(&job.project) {
                p.check_doomed(planned.delete.plan.doomed())
                    .map_err(|e| QueueError::Unknown(anyhow::anyhow!("{e:#}")))?;
            } else if !planned.delete.plan.doomed().is_empty() {
                return Err(QueueError::Unknown(anyhow::anyhow!(
                    "the plan dooms tasks of a project with none"
                )));
            }
            let tasks = planned.delete.plan.doomed().len() as u64;
            let objects = inner.tombstone(&job.project, &planned.delete);
            if let Some(e) = inner.purges.queue.get_mut(job.id) {
                e.payload.tasks_deleted += tasks;
                e.payload.objects_queued += objects;
                e.payload.tasks_total = e.payload.tasks_total.max(e.payload.tasks_deleted);
                e.lease = Some(vodsnap_domain::Lease::new(worker, now, lease));
            }
            if let Some(finish) = &planned.finish {
                // The purge's end, in the same step as its last batch.
                Purges::complete(inner, std::slice::from_ref(job), worker, finish.at, &());
                inner.webhooks.enqueue(&finish.events, None);
            }
            Ok(Some(PurgedBatch {
                found: batch_found,
                tasks,
                objects,
                finished: planned.finish.is_some(),
            }))
        })
    }
}
