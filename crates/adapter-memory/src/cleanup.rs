//! The in-memory cleanup queue: the cleanup kind of the generic
//! [`JobQueue`], kept under the store's lock, with what only the cleanup
//! keeps (each item's deleted task, the drain rate's window).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use vodsnap_domain::{
    ObjectKey, ProjectId, QueuedObjects, RATE_WINDOW, TaskId, Timestamp, TraceContext,
};
use vodsnap_ports::{CleanupItem, CleanupStatus, ParkedItem, PlannedDelete};

use crate::queue::{Entry, JobQueue};

/// What a cleanup job keeps: the object, and the deleted task whose
/// snapshot it was (a restore takes it back).
#[derive(Debug)]
pub(crate) struct Removal {
    object_key: ObjectKey,
    task: Option<TaskId>,
    /// The trace of the delete that queued it, kept as given.
    trace: Option<TraceContext>,
}

fn item(e: &Entry<Removal>) -> CleanupItem {
    CleanupItem {
        id: e.id,
        project: e.project.clone(),
        object_key: e.payload.object_key.clone(),
        attempts: e.attempts,
        trace: e.payload.trace.clone(),
    }
}

fn of_task(e: &Entry<Removal>, project: &ProjectId, task: &TaskId) -> bool {
    e.project == *project && e.payload.task.as_ref() == Some(task)
}

#[derive(Debug, Default)]
pub(crate) struct CleanupState {
    queue: JobQueue<Removal>,
    /// Items completed, by when: the drain rate's window, older entries
    /// dropped as new ones come.
    drained: VecDeque<(Timestamp, u64)>,
}

impl CleanupState {
    /// Queues the object of a deleted task's snapshot, as `planned` says
    /// (queued at its `at`, with its trace), due at `due_at`.
    pub(crate) fn enqueue(
        &mut self,
        project: ProjectId,
        task: TaskId,
        object_key: ObjectKey,
        planned: &PlannedDelete,
        due_at: Timestamp,
    ) {
        let removal = Removal {
            object_key,
            task: Some(task),
            trace: planned.trace.clone(),
        };
        self.queue.push(project, removal, planned.at, due_at);
    }

    /// Queues orphans of `project` (`vodsnap reconcile --remove-orphans`),
    /// due at `now` and tied to no task: each of `keys` the project has no
    /// item of yet, once. Answers how many it queued.
    pub(crate) fn enqueue_orphans(
        &mut self,
        project: &ProjectId,
        keys: &[ObjectKey],
        now: Timestamp,
    ) -> u64 {
        let mut held: BTreeSet<ObjectKey> = self.queued_keys(project).cloned().collect();
        let mut queued = 0;
        for key in keys {
            if held.insert(key.clone()) {
                let removal = Removal {
                    object_key: key.clone(),
                    task: None,
                    // Queued by an operator's run, in no request's trace.
                    trace: None,
                };
                self.queue.push(project.clone(), removal, now, now);
                queued += 1;
            }
        }
        queued
    }

    /// The keys of `project`'s items, parked included, in queue order
    /// (a key may repeat: two deleted tasks may have shared it).
    pub(crate) fn queued_keys<'a>(
        &'a self,
        project: &'a ProjectId,
    ) -> impl Iterator<Item = &'a ObjectKey> + 'a {
        self.queue
            .entries()
            .filter(move |e| e.project == *project && e.finished_at.is_none())
            .map(|e| &e.payload.object_key)
    }

    /// The projects with items, parked included.
    pub(crate) fn projects(&self) -> impl Iterator<Item = &ProjectId> {
        self.queue
            .entries()
            .filter(|e| e.finished_at.is_none())
            .map(|e| &e.project)
    }

    /// Whether the task's queued items are intact ([`QueuedObjects::intact`]):
    /// a restore may then take them back.
    pub(crate) fn task_intact(&self, project: &ProjectId, task: &TaskId, expected: usize) -> bool {
        let objects = self
            .queue
            .entries()
            .filter(|e| of_task(e, project, task))
            .map(Entry::queued_object);
        QueuedObjects::tally(objects).intact(expected as u64)
    }

    /// Takes a restored task's items out of the queue.
    pub(crate) fn remove_task(&mut self, project: &ProjectId, task: &TaskId) {
        self.queue.retain(|e| !of_task(e, project, task));
    }

    /// Makes a purged task's items not parked due at `at`, none later.
    pub(crate) fn due_now(&mut self, project: &ProjectId, task: &TaskId, at: Timestamp) {
        for e in self.queue.entries_mut() {
            if of_task(e, project, task) && e.parked_at.is_none() && e.due_at > at {
                e.due_at = at;
            }
        }
    }

    pub(crate) fn queue(&mut self) -> &mut JobQueue<Removal> {
        &mut self.queue
    }

    /// The job with id `id`, as a worker gets it.
    pub(crate) fn item(&self, id: i64) -> Option<CleanupItem> {
        self.queue.get(id).map(item)
    }

    /// Completes the items `worker` holds, removing them, counting them as
    /// drained at `now`. Answers how many, and the deleted tasks (by
    /// project, each once, ordered by task id) of which no item is left
    /// once they are gone.
    pub(crate) fn complete_all(
        &mut self,
        ids: &[i64],
        worker: &str,
        now: Timestamp,
    ) -> (u64, BTreeMap<ProjectId, BTreeSet<TaskId>>) {
        let done = self.queue.complete(ids, worker, now);
        let mut touched: BTreeMap<ProjectId, BTreeSet<TaskId>> = BTreeMap::new();
        for e in self.queue.remove(&done) {
            if let Some(task) = e.payload.task {
                touched.entry(e.project).or_default().insert(task);
            }
        }
        for (project, tasks) in &mut touched {
            tasks.retain(|task| !self.queue.entries().any(|e| of_task(e, project, task)));
        }
        touched.retain(|_, tasks| !tasks.is_empty());
        let since = now - RATE_WINDOW;
        while self.drained.front().is_some_and(|(at, _)| *at <= since) {
            self.drained.pop_front();
        }
        let done = done.len() as u64;
        if done > 0 {
            self.drained.push_back((now, done));
        }
        (done, touched)
    }

    pub(crate) fn status(&self, now: Timestamp) -> CleanupStatus {
        let mut status = CleanupStatus::default();
        let since = now - RATE_WINDOW;
        status.drained_in_window = self
            .drained
            .iter()
            .filter(|(at, _)| *at > since && *at <= now)
            .map(|(_, n)| n)
            .sum();
        for e in self.queue.entries() {
            status.failed_attempts += u64::from(e.attempts);
            if e.parked_at.is_some() {
                status.parked += 1;
                continue;
            }
            if e.held(now) {
                status.recycle_bin += 1;
                continue;
            }
            status.queued += 1;
            if e.lease.as_ref().is_some_and(|l| l.is_live(now)) {
                status.leased += 1;
            }
            status.oldest_enqueued_at = Some(
                status
                    .oldest_enqueued_at
                    .map_or(e.enqueued_at, |o| o.min(e.enqueued_at)),
            );
        }
        status
    }

    pub(crate) fn parked(&self, limit: u32) -> Vec<ParkedItem> {
        self.queue
            .entries()
            .filter(|e| e.parked_at.is_some())
            .take(limit as usize)
            .map(|e| ParkedItem {
                item: item(e),
                last_error: e.last_error.clone(),
                enqueued_at: e.enqueued_at,
            })
            .collect()
    }
}
