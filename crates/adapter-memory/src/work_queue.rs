//! The embedded store's work queue port, once for every job kind: a kind
//! says where its [`JobQueue`] lives in the shared state, what its claim
//! answers and what its completion writes ([`MemoryKind`]); failed
//! attempts, retries and the backlog are the same for all.

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::Timestamp;
use vodsnap_ports::{FailedAttempt, Job, QueueBacklog, QueueError, WorkQueue};

use crate::queue::JobQueue;
use crate::state::{Inner, Shared};

/// A job kind of the embedded store. Every method runs under the store's
/// lock, so each is one atomic step with the rest of the state.
pub(crate) trait MemoryKind: Send + Sync + 'static {
    type Job: Job;
    type Payload;

    /// The kind's queue in the shared state.
    fn queue(inner: &mut Inner) -> &mut JobQueue<Self::Payload>;

    /// The job with id `id`, as a claim answers it.
    fn job(inner: &Inner, id: i64) -> Option<Self::Job>;

    /// Completes the jobs `worker` holds ([`JobQueue::complete`]) with
    /// what the kind writes; answers how many.
    fn complete(
        inner: &mut Inner,
        jobs: &[Self::Job],
        worker: &str,
        now: Timestamp,
        completion: &<Self::Job as Job>::Completion,
    ) -> u64;
}

/// The queue of kind `K` of a [`crate::MemoryStore`]: [`WorkQueue`], and
/// the kind's own port.
#[derive(Debug)]
pub struct MemoryQueue<K> {
    shared: Shared,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for MemoryQueue<K> {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl<K> MemoryQueue<K> {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared,
            kind: PhantomData,
        }
    }

    pub(crate) fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }
}

// The kinds are this crate's own (`Cleanup`, `Deliveries`, `Purges`): nobody outside
// names `MemoryKind`, they use the ports the queues implement.
#[allow(private_interfaces, private_bounds)]
#[async_trait]
impl<K: MemoryKind> WorkQueue<K::Job> for MemoryQueue<K> {
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<K::Job>, QueueError> {
        Ok(self.with_inner(|inner| {
            let ids = K::queue(inner).claim(worker, max, lease, now);
            ids.into_iter().filter_map(|id| K::job(inner, id)).collect()
        }))
    }

    async fn complete(
        &self,
        jobs: &[K::Job],
        worker: &str,
        now: Timestamp,
        completion: &<K::Job as Job>::Completion,
    ) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| K::complete(inner, jobs, worker, now, completion)))
    }

    async fn fail(
        &self,
        failures: &[FailedAttempt<K::Job>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| {
            let queue = K::queue(inner);
            failures
                .iter()
                .filter(|f| queue.fail(f.item.id(), worker, &f.error, f.retry_at, now))
                .count() as u64
        }))
    }

    async fn give_back(
        &self,
        jobs: &[K::Job],
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| {
            let queue = K::queue(inner);
            jobs.iter()
                .filter(|j| queue.give_back(j.id(), worker, error, now))
                .count() as u64
        }))
    }

    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError> {
        Ok(self.with_inner(|inner| K::queue(inner).retry_parked(&ids, now)))
    }

    async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError> {
        Ok(self.with_inner(|inner| K::queue(inner).backlog(now)))
    }
}
