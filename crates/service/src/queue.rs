//! The one worker of the leased work queue, for every job kind: claim a
//! batch, run it, complete what was done, and record what failed, each
//! failure retried or parked as the domain's [`RetryPolicy`] says, and give
//! back untried what failed because a dependency is down. A kind
//! brings only its [`JobRunner`] (what running a job means); the cleanup
//! ([`crate::Worker`]) and the webhook deliveries ([`crate::Deliverer`])
//! are two such kinds. [`crate::polling::run_passes`] repeats the passes.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::watch;
use tracing::Instrument;
use vodsnap_domain::{RetryPolicy, Timestamp};
use vodsnap_ports::{Clock, FailedAttempt, Job, QueueError, WorkQueue};

/// What became of one job a runner ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: completed on the queue. The label says how (`removed`,
    /// `kept`, `delivered`), for the pass's counts.
    Done(&'static str),
    /// Done, and already completed by the job's own last write (an asset
    /// purge closes itself in its last batch's unit of work): counted as
    /// done, not completed again.
    Closed(&'static str),
    /// Failed: due again after the policy's delay, or parked after its
    /// last attempt.
    Failed(String),
    /// Never to be tried again: parked at once, without an attempt of the
    /// policy's.
    Park(String),
    /// Not the job's failure: what it needs is down (the object store's
    /// outage). Given back untried ([`WorkQueue::give_back`]): no attempt
    /// spent, due again at once; the kind's worker pauses.
    GiveBack(String),
}

/// What running a kind's jobs means.
#[async_trait]
pub trait JobRunner<J: Job>: Send + Sync {
    /// How many jobs of a claimed batch one call of [`JobRunner::run`]
    /// takes: the whole batch (the cleanup's one bulk removal), or one (a
    /// delivery is recorded as soon as it is sent). Between two calls the
    /// worker stops if asked to; the rest's leases run out.
    fn chunk(&self) -> usize;

    /// Runs `jobs`; answers each job with its outcome (any order). An
    /// error fails the whole pass: nothing is recorded, the leases run out
    /// and the jobs are claimed again.
    async fn run(&self, jobs: Vec<J>) -> Result<Vec<(J, Outcome)>, QueueError>;

    /// What completing the jobs done at `now` takes (see [`Job::Completion`]).
    fn completion(&self, now: Timestamp) -> Box<J::Completion>;
}

/// What one pass did, over every chunk of its batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    pub claimed: usize,
    /// Jobs done, by their outcome's label.
    pub done: BTreeMap<&'static str, usize>,
    pub retried: usize,
    pub parked: usize,
    /// Given back untried ([`Outcome::GiveBack`]).
    pub given_back: usize,
}

impl Settled {
    /// Jobs done with `label`.
    pub fn done(&self, label: &str) -> usize {
        self.done.get(label).copied().unwrap_or(0)
    }
}

/// One pass of one worker over one kind's queue.
pub(crate) struct QueueWorker<'a, J: Job> {
    pub name: &'a str,
    pub queue: &'a dyn WorkQueue<J>,
    pub clock: &'a dyn Clock,
    pub policy: RetryPolicy,
    pub batch: u32,
    pub lease: Duration,
}

impl<J: Job> QueueWorker<'_, J> {
    /// Claims one batch and runs it, a chunk at a time, recording each
    /// chunk's outcomes before the next; stops between chunks when `stop`
    /// turns true.
    pub(crate) async fn pass(
        &self,
        runner: &dyn JobRunner<J>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Settled, QueueError> {
        let jobs = self
            .queue
            .claim(self.name, self.batch, self.lease, self.clock.now())
            .await?;
        let mut settled = Settled {
            claimed: jobs.len(),
            ..Settled::default()
        };
        let chunk = runner.chunk().max(1);
        let mut jobs = jobs.into_iter();
        while !*stop.borrow() {
            let next: Vec<J> = jobs.by_ref().take(chunk).collect();
            if next.is_empty() {
                break;
            }
            let span = batch_span::<J>(&next);
            async {
                let outcomes = runner.run(next).await?;
                self.settle(runner, outcomes, &mut settled).await
            }
            .instrument(span)
            .await?;
        }
        Ok(settled)
    }

    /// Completes the jobs done, in one call, and records the failures, in
    /// another, each retried or parked as the policy says.
    async fn settle(
        &self,
        runner: &dyn JobRunner<J>,
        outcomes: Vec<(J, Outcome)>,
        settled: &mut Settled,
    ) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut done = Vec::new();
        let mut failures = Vec::new();
        let mut given_back = Vec::new();
        let mut give_back_error = String::new();
        for (job, outcome) in outcomes {
            let (retry_at, error) = match outcome {
                Outcome::Done(label) => {
                    *settled.done.entry(label).or_default() += 1;
                    done.push(job);
                    continue;
                }
                Outcome::Closed(label) => {
                    *settled.done.entry(label).or_default() += 1;
                    continue;
                }
                Outcome::Failed(error) => {
                    let attempts = job.attempts().saturating_add(1);
                    let jitter: f64 = rand::thread_rng().r#gen();
                    let retry_at = self.policy.retry_at(attempts, jitter, now);
                    tracing::debug!(
                        kind = J::KIND,
                        job = job.id(),
                        project = job.project().as_str(),
                        attempts,
                        retry_at = retry_at.map(Timestamp::as_micros),
                        error = error.as_str(),
                        "job failed"
                    );
                    (retry_at, error)
                }
                Outcome::Park(error) => (None, error),
                Outcome::GiveBack(error) => {
                    if give_back_error.is_empty() {
                        give_back_error = error;
                    }
                    given_back.push(job);
                    continue;
                }
            };
            match retry_at {
                Some(_) => settled.retried += 1,
                None => settled.parked += 1,
            }
            failures.push(FailedAttempt {
                item: job,
                error,
                retry_at,
            });
        }
        if !done.is_empty() {
            let completion = runner.completion(now);
            let completed = self
                .queue
                .complete(&done, self.name, now, &*completion)
                .await?;
            let late = (done.len() as u64).saturating_sub(completed);
            if late > 0 {
                tracing::warn!(
                    kind = J::KIND,
                    jobs = late,
                    worker = self.name,
                    "jobs done after their lease ran out; another worker may redo them"
                );
            }
        }
        if let Some(first) = failures.first() {
            let parked = failures.iter().filter(|f| f.retry_at.is_none()).count();
            tracing::warn!(
                kind = J::KIND,
                worker = self.name,
                failed = failures.len(),
                parked,
                first_error = first.error.as_str(),
                "some jobs failed"
            );
            self.queue.fail(&failures, self.name, now).await?;
        }
        if !given_back.is_empty() {
            settled.given_back += given_back.len();
            // One debug line: the kind's worker logs the outage once.
            tracing::debug!(
                kind = J::KIND,
                worker = self.name,
                jobs = given_back.len(),
                error = give_back_error.as_str(),
                "jobs given back untried"
            );
            self.queue
                .give_back(&given_back, self.name, &give_back_error, now)
                .await?;
        }
        Ok(())
    }
}

/// The span of one batch of a kind (the run, and the statements that
/// complete it), linked to the traces of the calls that queued its jobs:
/// links, not a parent, as one batch does the work of many requests (each
/// distinct trace once). A debug span: nothing is made for it unless a
/// tracer (or `RUST_LOG=debug`) asks.
fn batch_span<J: Job>(jobs: &[J]) -> tracing::Span {
    let span = tracing::debug_span!("job batch", kind = J::KIND, jobs = jobs.len());
    if !span.is_disabled() && vodsnap_ports::trace::is_on() {
        let mut linked = std::collections::BTreeSet::new();
        for trace in jobs.iter().filter_map(Job::trace) {
            if linked.insert(trace.as_str()) {
                vodsnap_ports::trace::link(&span, trace);
            }
        }
    }
    span
}
