//! The leased work queue, written once for every kind of background job:
//! the cleanup's objects ([`crate::CleanupItem`]), the webhook deliveries
//! ([`crate::ClaimedDelivery`]), and any kind added later.
//!
//! A job belongs to one project. Workers in any process claim due jobs
//! under a lease ([`vodsnap_domain::Lease`]), shared fairly among projects
//! ([`vodsnap_domain::fair_claim`]); they complete the jobs they did, and
//! record failed attempts, each due again at its retry time or parked for an
//! operator when the domain's [`vodsnap_domain::RetryPolicy`] says so, or
//! give jobs back without an attempt when what they need is down. An
//! operator makes parked jobs due again. A crashed worker's lease runs out
//! and its jobs are claimed again: a job runs at least once.
//!
//! Adding a kind means a [`Job`] type, its table (or, in memory, a field of
//! the store) and what completing it writes; the claim, the leases, the
//! failures, the retries and the worker loop are this queue's.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use vodsnap_domain::{ProjectId, Timestamp};

use crate::error::StoreError;

/// A job of one kind, as a claim hands it to a worker.
pub trait Job: Clone + Debug + Send + Sync + 'static {
    /// What completing a batch of this kind takes from the service besides
    /// the jobs (the cleanup: the planner of its `thumbnails.purged`
    /// event; `()` for a kind that needs nothing).
    type Completion: ?Sized + Sync;

    /// The kind's name, for logs and metrics.
    const KIND: &'static str;

    /// The job's id, unique within its kind.
    fn id(&self) -> i64;

    /// The project it belongs to: every statement about it names it.
    fn project(&self) -> &ProjectId;

    /// Failed attempts so far.
    fn attempts(&self) -> u32;

    /// The trace of the call that queued it (see [`crate::trace`]): the
    /// batch that runs it links to it. `None` for a kind that keeps none.
    fn trace(&self) -> Option<&vodsnap_domain::TraceContext> {
        None
    }
}

/// Implements [`Job`] for a struct with `id: i64`, `project: ProjectId`
/// and `attempts: u32` fields: `impl_job!(Type, Completion, "kind")`;
/// `impl_job!(Type, Completion, "kind", traced)` for one that also has a
/// `trace: Option<TraceContext>` field.
#[macro_export]
macro_rules! impl_job {
    ($job:ty, $completion:ty, $kind:literal) => {
        $crate::impl_job!($job, $completion, $kind, {});
    };
    ($job:ty, $completion:ty, $kind:literal, traced) => {
        $crate::impl_job!($job, $completion, $kind, {
            fn trace(&self) -> Option<&vodsnap_domain::TraceContext> {
                self.trace.as_ref()
            }
        });
    };
    ($job:ty, $completion:ty, $kind:literal, { $($trace:item)* }) => {
        impl $crate::queue::Job for $job {
            type Completion = $completion;
            const KIND: &'static str = $kind;

            fn id(&self) -> i64 {
                self.id
            }

            fn project(&self) -> &vodsnap_domain::ProjectId {
                &self.project
            }

            fn attempts(&self) -> u32 {
                self.attempts
            }

            $($trace)*
        }
    };
}

/// A failed attempt at one job: what went wrong, and when to try again
/// (`None`: park it for an operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt<J> {
    pub item: J,
    pub error: String,
    pub retry_at: Option<Timestamp>,
}

/// A queue's figures over every project, for gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueBacklog {
    /// Jobs neither finished nor parked (due, waiting for a retry or
    /// leased), but not those held back on purpose (the cleanup's recycle
    /// bin).
    pub queued: u64,
    pub parked: u64,
    /// The earliest due time of a queued job (in the past: it is overdue by
    /// that much; in the future: every queued job waits for a retry).
    pub oldest_due: Option<Timestamp>,
}

/// A queue fails only as a store does.
pub type QueueError = StoreError;

/// The queue of one job kind.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WorkQueue<J: Job>: Send + Sync + 'static {
    /// Leases up to `max` jobs to `worker` until `now + lease`: jobs not
    /// finished, not parked, due (`due at <= now`), and not under another
    /// live lease. Concurrent callers (in any process) MUST never receive
    /// the same job while its lease lives. The batch MUST be shared among
    /// the projects with due jobs as [`vodsnap_domain::fair_claim`] says:
    /// a project with a large backlog cannot starve the others. Fewer than
    /// `max` may come back while other claimers hold some (they are
    /// skipped, not waited for). The jobs come back in id order.
    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<J>, QueueError>;

    /// The jobs are done: each is finished at `now` with what its kind
    /// writes (see the kind's port), atomically per project. Jobs whose
    /// lease is no longer `worker`'s are left unchanged. Returns how many
    /// were completed.
    async fn complete(
        &self,
        jobs: &[J],
        worker: &str,
        now: Timestamp,
        completion: &J::Completion,
    ) -> Result<u64, QueueError>;

    /// Records failed attempts and releases their leases: each job is due
    /// again at its `retry_at`, or parked at `now` when that is `None`. The
    /// time comes from the caller's clock, never the store's. Jobs whose
    /// lease is no longer `worker`'s are left unchanged. Returns how many
    /// were recorded. One statement per project among the jobs.
    async fn fail(
        &self,
        failures: &[FailedAttempt<J>],
        worker: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError>;

    /// Gives jobs back untried because their dependency is down, not
    /// because of anything of theirs (the cleanup: the object store's
    /// outage, [`vodsnap_domain::StoreVerdict::Down`]): their leases end at
    /// `now`, so any worker may claim them again, with their attempts and
    /// due times unchanged and `error` as their last error. The lease's
    /// owner stays recorded: a job once claimed never looks untouched again
    /// ([`vodsnap_domain::QueuedObject::untouched`]; the request may have
    /// reached the store). Jobs whose lease is no longer `worker`'s are left
    /// unchanged. Returns how many were given back. One statement per
    /// project among the jobs.
    async fn give_back(
        &self,
        jobs: &[J],
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<u64, QueueError>;

    /// Makes parked jobs due at `now` with their attempts reset: those
    /// with the given ids, or all when `ids` is empty. Returns how many.
    async fn retry_parked(&self, ids: Vec<i64>, now: Timestamp) -> Result<u64, QueueError>;

    /// The queue's figures at `now`.
    async fn backlog(&self, now: Timestamp) -> Result<QueueBacklog, QueueError>;
}
