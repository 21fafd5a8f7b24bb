//! The in-memory cleanup queue, kept under the store's lock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use vodsnap_domain::{ClaimShares, ObjectKey, ProjectId, RATE_WINDOW, TaskId, Timestamp};
use vodsnap_ports::{CleanupItem, CleanupStatus, ParkedItem};

#[derive(Debug)]
struct Queued {
    item: CleanupItem,
    enqueued_at: Timestamp,
    due_at: Timestamp,
    lease: Option<(String, Timestamp)>,
    parked: bool,
    last_error: String,
    /// The deleted task whose snapshot this was (restore takes it back).
    task: Option<TaskId>,
}

impl Queued {
    fn leased_to(&self, worker: &str, now: Option<Timestamp>) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|(owner, until)| owner == worker && now.is_none_or(|n| *until > n))
    }

    fn lease_live(&self, now: Timestamp) -> bool {
        self.lease.as_ref().is_some_and(|(_, until)| *until > now)
    }

    /// Never handed to the cleanup: not leased (a lease is only dropped by
    /// a failed attempt, which counts), never attempted, not parked.
    fn untouched(&self) -> bool {
        self.lease.is_none() && self.item.attempts == 0 && !self.parked
    }

    /// Waiting in a recycle bin at `now`: untouched and not due yet.
    fn in_recycle_bin(&self, now: Timestamp) -> bool {
        self.untouched() && self.due_at > now
    }

    fn of_task(&self, project: &ProjectId, task: &TaskId) -> bool {
        self.item.project == *project && self.task.as_ref() == Some(task)
    }
}

/// Items by id, so that claims go oldest first.
#[derive(Debug, Default)]
pub(crate) struct CleanupState {
    items: BTreeMap<i64, Queued>,
    next_id: i64,
    /// Items completed, by when: the drain rate's window, older entries
    /// dropped as new ones come.
    drained: VecDeque<(Timestamp, u64)>,
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(at.as_micros().saturating_add(micros))
}

impl CleanupState {
    /// Queues the object of a deleted task's snapshot, due at `due_at`
    /// (the task's `purge_at`).
    pub(crate) fn enqueue(
        &mut self,
        project: ProjectId,
        task: TaskId,
        object_key: ObjectKey,
        now: Timestamp,
        due_at: Timestamp,
    ) {
        self.next_id += 1;
        let id = self.next_id;
        self.items.insert(
            id,
            Queued {
                item: CleanupItem {
                    id,
                    project,
                    object_key,
                    attempts: 0,
                },
                enqueued_at: now,
                due_at,
                lease: None,
                parked: false,
                last_error: String::new(),
                task: Some(task),
            },
        );
    }

    /// Whether exactly `expected` items of the task are queued, all
    /// untouched: a restore may then take them back.
    pub(crate) fn task_intact(&self, project: &ProjectId, task: &TaskId, expected: usize) -> bool {
        let mut n = 0;
        for q in self.items.values().filter(|q| q.of_task(project, task)) {
            if !q.untouched() {
                return false;
            }
            n += 1;
        }
        n == expected
    }

    /// Takes a restored task's items out of the queue.
    pub(crate) fn remove_task(&mut self, project: &ProjectId, task: &TaskId) {
        self.items.retain(|_, q| !q.of_task(project, task));
    }

    /// Makes a purged task's items not parked due at `at`, none later.
    pub(crate) fn due_now(&mut self, project: &ProjectId, task: &TaskId, at: Timestamp) {
        for q in self.items.values_mut().filter(|q| q.of_task(project, task)) {
            if !q.parked && q.due_at > at {
                q.due_at = at;
            }
        }
    }

    pub(crate) fn claim(
        &mut self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Vec<CleanupItem> {
        let until = plus(now, lease);
        // Each project's due items, oldest due first (ties by id); projects
        // in the order of their oldest due item (ties by project id), as
        // the port says.
        let mut due: Vec<(Timestamp, i64)> = self
            .items
            .values()
            .filter(|q| !q.parked && q.due_at <= now && !q.lease_live(now))
            .map(|q| (q.due_at, q.item.id))
            .collect();
        due.sort_unstable();
        let mut by_project: BTreeMap<ProjectId, Vec<i64>> = BTreeMap::new();
        let mut order: Vec<(Timestamp, ProjectId)> = Vec::new();
        for (due_at, id) in due {
            let Some(project) = self.items.get(&id).map(|q| q.item.project.clone()) else {
                continue;
            };
            let ids = by_project.entry(project.clone()).or_default();
            if ids.is_empty() {
                order.push((due_at, project));
            }
            ids.push(id);
        }
        order.sort();
        let mut shares = ClaimShares::new(max, order.into_iter().map(|(_, p)| p).collect());
        let mut claimed = Vec::new();
        loop {
            let round = shares.round();
            if round.is_empty() {
                break;
            }
            for (project, asked) in round {
                let ids = by_project.entry(project.clone()).or_default();
                let take = ids.len().min(asked as usize);
                let got: Vec<i64> = ids.drain(..take).collect();
                shares.took(&project, asked, u32::try_from(got.len()).unwrap_or(asked));
                for id in got {
                    if let Some(q) = self.items.get_mut(&id) {
                        q.lease = Some((worker.to_owned(), until));
                        claimed.push(q.item.clone());
                    }
                }
            }
        }
        claimed.sort_by_key(|i| i.id);
        claimed
    }

    /// Completes the items `worker` holds, counting them as drained at
    /// `now`. Answers the deleted tasks (by project, each once, ordered by
    /// task id) of which no item is left once they are gone.
    pub(crate) fn complete_all(
        &mut self,
        ids: &[i64],
        worker: &str,
        now: Timestamp,
    ) -> (u64, BTreeMap<ProjectId, BTreeSet<TaskId>>) {
        let mut touched: BTreeMap<ProjectId, BTreeSet<TaskId>> = BTreeMap::new();
        let mut done = 0u64;
        for id in ids {
            if let Some(q) = self.complete(*id, worker) {
                done += 1;
                if let Some(task) = q.task {
                    touched.entry(q.item.project).or_default().insert(task);
                }
            }
        }
        for (project, tasks) in &mut touched {
            tasks.retain(|task| !self.items.values().any(|q| q.of_task(project, task)));
        }
        touched.retain(|_, tasks| !tasks.is_empty());
        let since = Timestamp::from_micros(
            now.as_micros()
                .saturating_sub(i64::try_from(RATE_WINDOW.as_micros()).unwrap_or(i64::MAX)),
        );
        while self.drained.front().is_some_and(|(at, _)| *at <= since) {
            self.drained.pop_front();
        }
        if done > 0 {
            self.drained.push_back((now, done));
        }
        (done, touched)
    }

    fn complete(&mut self, id: i64, worker: &str) -> Option<Queued> {
        // A worker whose lease ran out may still finish: its work is done
        // and idempotent, and a second worker will find nothing to redo.
        let owned = self
            .items
            .get(&id)
            .is_some_and(|q| q.leased_to(worker, None));
        if owned { self.items.remove(&id) } else { None }
    }

    pub(crate) fn fail(
        &mut self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> bool {
        let Some(q) = self
            .items
            .get_mut(&id)
            .filter(|q| q.leased_to(worker, None))
        else {
            return false;
        };
        q.item.attempts = q.item.attempts.saturating_add(1);
        q.lease = None;
        q.last_error = error.to_owned();
        match retry_at {
            Some(at) => q.due_at = at,
            None => q.parked = true,
        }
        true
    }

    pub(crate) fn status(&self, now: Timestamp) -> CleanupStatus {
        let mut status = CleanupStatus::default();
        let since = now
            .as_micros()
            .saturating_sub(i64::try_from(RATE_WINDOW.as_micros()).unwrap_or(i64::MAX));
        status.drained_in_window = self
            .drained
            .iter()
            .filter(|(at, _)| at.as_micros() > since && *at <= now)
            .map(|(_, n)| n)
            .sum();
        for q in self.items.values() {
            status.failed_attempts += u64::from(q.item.attempts);
            if q.parked {
                status.parked += 1;
                continue;
            }
            if q.in_recycle_bin(now) {
                status.recycle_bin += 1;
                continue;
            }
            status.queued += 1;
            if q.lease_live(now) {
                status.leased += 1;
            }
            status.oldest_enqueued_at = Some(
                status
                    .oldest_enqueued_at
                    .map_or(q.enqueued_at, |o| o.min(q.enqueued_at)),
            );
        }
        status
    }

    pub(crate) fn parked(&self, limit: u32) -> Vec<ParkedItem> {
        self.items
            .values()
            .filter(|q| q.parked)
            .take(limit as usize)
            .map(|q| ParkedItem {
                item: q.item.clone(),
                last_error: q.last_error.clone(),
                enqueued_at: q.enqueued_at,
            })
            .collect()
    }

    pub(crate) fn retry_parked(&mut self, ids: &[i64], now: Timestamp) -> u64 {
        let mut n = 0;
        for q in self.items.values_mut() {
            if q.parked && (ids.is_empty() || ids.contains(&q.item.id)) {
                q.parked = false;
                q.item.attempts = 0;
                q.due_at = now;
                n += 1;
            }
        }
        n
    }
}
