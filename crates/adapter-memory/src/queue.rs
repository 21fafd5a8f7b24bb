//! The in-memory work queue, one generic type for every job kind, kept
//! under the store's lock so that a job is queued in the same atomic step
//! as the change that makes it. The rules are the domain's: the fair claim
//! ([`fair_claim`]), leases ([`Lease`]); the retry times come from the
//! worker.

use std::collections::BTreeMap;
use std::time::Duration;

use vodsnap_domain::{Lease, ProjectId, QueuedObject, Timestamp, fair_claim};
use vodsnap_ports::QueueBacklog;

/// One job and its queue state; `payload` is what the kind keeps.
#[derive(Debug)]
pub(crate) struct Entry<P> {
    pub id: i64,
    pub project: ProjectId,
    pub payload: P,
    /// Failed attempts, and the successful one once finished.
    pub attempts: u32,
    pub enqueued_at: Timestamp,
    pub due_at: Timestamp,
    /// The last lease taken; a failed attempt drops it, a crashed worker's
    /// stays until it runs out and the job is claimed again, and a job
    /// given back keeps it, ended.
    pub lease: Option<Lease>,
    pub parked_at: Option<Timestamp>,
    /// When it was completed, for kinds whose finished jobs stay listed.
    pub finished_at: Option<Timestamp>,
    /// When its state last changed (due again, finished or parked).
    pub updated_at: Timestamp,
    pub last_error: String,
}

impl<P> Entry<P> {
    /// Neither finished nor parked.
    pub fn is_pending(&self) -> bool {
        self.parked_at.is_none() && self.finished_at.is_none()
    }

    /// What the domain's rules read of a queued job.
    pub fn queued_object(&self) -> QueuedObject {
        QueuedObject {
            leased: self.lease.is_some(),
            attempts: self.attempts,
            parked: self.parked_at.is_some(),
            // The embedded store keeps a deleted task whole.
            restorable: true,
        }
    }

    /// Never handed to a worker ([`QueuedObject::untouched`]), and not
    /// finished.
    pub fn untouched(&self) -> bool {
        self.finished_at.is_none() && self.queued_object().untouched()
    }

    /// Held back on purpose at `now`: untouched and not due yet (the
    /// cleanup's recycle bin).
    pub fn held(&self, now: Timestamp) -> bool {
        self.untouched() && self.due_at > now
    }

    fn lease_live(&self, now: Timestamp) -> bool {
        self.lease.as_ref().is_some_and(|l| l.is_live(now))
    }

    /// Whether `worker` holds its lease, live or not: a worker whose lease
    /// ran out may still record what it did.
    fn held_by(&self, worker: &str) -> bool {
        self.lease.as_ref().is_some_and(|l| l.is_held_by(worker))
    }
}

/// One kind's jobs, by id (ids grow: oldest first).
#[derive(Debug)]
pub(crate) struct JobQueue<P> {
    entries: BTreeMap<i64, Entry<P>>,
    next_id: i64,
}

impl<P> Default for JobQueue<P> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            next_id: 0,
        }
    }
}

impl<P> JobQueue<P> {
    /// Queues a job of `project`, due at `due_at`; answers its id.
    pub fn push(
        &mut self,
        project: ProjectId,
        payload: P,
        now: Timestamp,
        due_at: Timestamp,
    ) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.entries.insert(
            id,
            Entry {
                id,
                project,
                payload,
                attempts: 0,
                enqueued_at: now,
                due_at,
                lease: None,
                parked_at: None,
                finished_at: None,
                updated_at: due_at,
                last_error: String::new(),
            },
        );
        id
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry<P>> {
        self.entries.values()
    }

    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry<P>> {
        self.entries.values_mut()
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut Entry<P>> {
        self.entries.get_mut(&id)
    }

    pub fn retain(&mut self, keep: impl FnMut(&Entry<P>) -> bool) {
        let mut keep = keep;
        self.entries.retain(|_, e| keep(e));
    }

    /// Takes jobs out of the queue; answers those that were there.
    pub fn remove(&mut self, ids: &[i64]) -> Vec<Entry<P>> {
        ids.iter()
            .filter_map(|id| self.entries.remove(id))
            .collect()
    }

    pub fn get(&self, id: i64) -> Option<&Entry<P>> {
        self.entries.get(&id)
    }

    /// Leases up to `max` due jobs to `worker` until `now + lease`, as
    /// [`fair_claim`] picks them; answers their ids in order.
    pub fn claim(&mut self, worker: &str, max: u32, lease: Duration, now: Timestamp) -> Vec<i64> {
        let due = self
            .entries
            .values()
            .filter(|e| e.is_pending() && e.due_at <= now && !e.lease_live(now))
            .map(|e| (e.due_at, e.id, e.project.clone()))
            .collect();
        let picked = fair_claim(max, due);
        for id in &picked {
            if let Some(e) = self.entries.get_mut(id) {
                e.lease = Some(Lease::new(worker, now, lease));
            }
        }
        picked
    }

    /// Finishes the jobs `worker` holds at `now` (one more attempt, the
    /// lease released); answers their ids. The kind then keeps them
    /// (listed as finished) or [`JobQueue::remove`]s them.
    pub fn complete(&mut self, ids: &[i64], worker: &str, now: Timestamp) -> Vec<i64> {
        let mut done = Vec::new();
        for id in ids {
            if let Some(e) = self
                .entries
                .get_mut(id)
                .filter(|e| e.is_pending() && e.held_by(worker))
            {
                e.attempts = e.attempts.saturating_add(1);
                e.lease = None;
                e.finished_at = Some(now);
                e.updated_at = now;
                done.push(*id);
            }
        }
        done
    }

    /// Records a failed attempt of a job `worker` holds: due again at
    /// `retry_at`, or parked at `now` when `None`. Answers whether it did.
    pub fn fail(
        &mut self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        let Some(e) = self
            .entries
            .get_mut(&id)
            .filter(|e| e.is_pending() && e.held_by(worker))
        else {
            return false;
        };
        e.attempts = e.attempts.saturating_add(1);
        e.lease = None;
        e.last_error = error.to_owned();
        match retry_at {
            Some(at) => {
                e.due_at = at;
                e.updated_at = at;
            }
            None => {
                e.parked_at = Some(now);
                e.updated_at = now;
            }
        }
        true
    }

    /// Gives back a job `worker` holds, untried: its lease ends at `now`
    /// (the owner stays recorded: a claimed job never looks untouched
    /// again), its attempts and due time unchanged. Answers whether it did.
    pub fn give_back(&mut self, id: i64, worker: &str, error: &str, now: Timestamp) -> bool {
        let Some(e) = self
            .entries
            .get_mut(&id)
            .filter(|e| e.is_pending() && e.held_by(worker))
        else {
            return false;
        };
        if let Some(lease) = e.lease.as_mut() {
            lease.until = now;
        }
        e.last_error = error.to_owned();
        true
    }

    /// Makes a job due again at `now`, whatever its state, with its
    /// attempts reset.
    pub fn requeue(e: &mut Entry<P>, now: Timestamp) {
        e.parked_at = None;
        e.finished_at = None;
        e.attempts = 0;
        e.lease = None;
        e.due_at = now;
        e.updated_at = now;
    }

    /// Makes parked jobs due at `now` with their attempts reset: those
    /// with the given ids, or all when `ids` is empty. Answers how many.
    pub fn retry_parked(&mut self, ids: &[i64], now: Timestamp) -> u64 {
        let mut n = 0;
        for e in self.entries.values_mut() {
            if e.parked_at.is_some() && (ids.is_empty() || ids.contains(&e.id)) {
                Self::requeue(e, now);
                n += 1;
            }
        }
        n
    }

    /// The figures at `now`: jobs held back on purpose are not queued.
    pub fn backlog(&self, now: Timestamp) -> QueueBacklog {
        let mut backlog = QueueBacklog::default();
        for e in self.entries.values() {
            if e.parked_at.is_some() {
                backlog.parked += 1;
            } else if e.finished_at.is_none() && !e.held(now) {
                backlog.queued += 1;
                backlog.oldest_due = Some(backlog.oldest_due.map_or(e.due_at, |o| o.min(e.due_at)));
            }
        }
        backlog
    }
}
