//! The leased work queue's rules, shared by every job kind (the cleanup's
//! objects, the webhook deliveries, and any kind added later): how a claim
//! is shared among projects ([`ClaimShares`], [`fair_claim`]), how long a
//! worker trusts its list of projects with due jobs ([`DueProjects`]), what
//! a lease is ([`Lease`]), and when a failed job is retried or parked
//! ([`RetryPolicy`]). Stores and workers apply them; none decides its own.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::id::ProjectId;
use crate::time::Timestamp;

/// Who holds a job, and until when. A lease keeps every other worker off
/// the job while it lives; a worker that dies leaves a lease that runs out,
/// and the job is claimed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: Timestamp,
}

impl Lease {
    /// A lease of `worker`'s from `now` for `length`.
    pub fn new(worker: &str, now: Timestamp, length: Duration) -> Self {
        Self {
            owner: worker.to_owned(),
            until: now + length,
        }
    }

    /// Whether it still keeps other workers away at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.until > now
    }

    /// Whether `worker` holds it (live or not: a worker whose lease ran
    /// out may still record what it did, and a job it finished is not
    /// finished again).
    pub fn is_held_by(&self, worker: &str) -> bool {
        self.owner == worker
    }
}

/// Picks the jobs of one claim of at most `max` among `due` (each due
/// job's due time, id and project), as every store must
/// (`vodsnap_ports::WorkQueue::claim`): projects served in the order of
/// their oldest due job (ties by project id), each project's jobs oldest
/// due first (ties by id), the batch shared as [`ClaimShares`] says. The
/// answer is in id order.
pub fn fair_claim<Id: Copy + Ord>(max: u32, mut due: Vec<(Timestamp, Id, ProjectId)>) -> Vec<Id> {
    due.sort_unstable_by_key(|d| (d.0, d.1));
    let mut by_project: BTreeMap<ProjectId, Vec<Id>> = BTreeMap::new();
    let mut order: Vec<(Timestamp, ProjectId)> = Vec::new();
    for (due_at, id, project) in due {
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
            let take = ids.len().min(usize::try_from(asked).unwrap_or(usize::MAX));
            let got = ids.drain(..take);
            shares.took(&project, asked, u32::try_from(got.len()).unwrap_or(asked));
            claimed.extend(got);
        }
    }
    claimed.sort_unstable();
    claimed
}

/// Exponential backoff with jitter, and the attempt after which an item is
/// parked for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    base: Duration,
    max_delay: Duration,
    max_attempts: u32,
}

/// Why a retry policy is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryPolicyError {
    #[error("the base delay must be > 0 and <= the maximum delay")]
    Delays,
    #[error("max attempts must be at least 1")]
    Attempts,
}

/// What to do with an item whose removal just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    Park,
}

impl RetryPolicy {
    pub fn new(
        base: Duration,
        max_delay: Duration,
        max_attempts: u32,
    ) -> Result<Self, RetryPolicyError> {
        if base.is_zero() || base > max_delay {
            return Err(RetryPolicyError::Delays);
        }
        if max_attempts == 0 {
            return Err(RetryPolicyError::Attempts);
        }
        Ok(Self {
            base,
            max_delay,
            max_attempts,
        })
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// After the `attempts`-th failed attempt (1-based): park once the
    /// limit is reached, else wait `base * 2^(attempts-1)`, capped, scaled
    /// by `jitter` in [0, 1] to between half and all of it, so that items
    /// that failed together do not retry together.
    pub fn after_failure(&self, attempts: u32, jitter: f64) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::Park;
        }
        let exponent = attempts.saturating_sub(1).min(32);
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            1.0
        };
        AfterFailure::RetryIn(full.mul_f64(0.5 + jitter / 2.0))
    }
}

impl RetryPolicy {
    /// After a job's `attempts`-th failed attempt (1-based) at `now`: when
    /// it is due again, or `None` to park it for an operator
    /// ([`Self::after_failure`], `jitter` in [0, 1]).
    pub fn retry_at(&self, attempts: u32, jitter: f64, now: Timestamp) -> Option<Timestamp> {
        match self.after_failure(attempts, jitter) {
            AfterFailure::RetryIn(delay) => Some(now + delay),
            AfterFailure::Park => None,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_attempts: 10,
        }
    }
}

/// How one claim of at most `max` cleanup items is shared among the
/// projects that have due items, so that one project with a large backlog
/// cannot starve the others: it gets its share of each batch, not the
/// whole batch.
///
/// The claim goes in rounds. Each round spreads the room left evenly over
/// the projects still open (the ones served first get the remainder); a
/// project that yields fewer items than its share has nothing more to give
/// and is closed, so the next round gives its unused room to the others.
/// At most `max` projects are served, since each served project gets at
/// least one item; the caller lists them in the order they should be
/// served (the PostgreSQL store: oldest due item first, so that every
/// project's turn comes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimShares {
    room: u32,
    open: Vec<ProjectId>,
}

impl ClaimShares {
    /// A claim of at most `max` items from `projects`, in serving order.
    pub fn new(max: u32, mut projects: Vec<ProjectId>) -> Self {
        projects.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Self {
            room: max,
            open: projects,
        }
    }

    /// The next round: each open project with the most items to claim
    /// from it. Empty when the claim is done (full, or no project left
    /// with items to give).
    pub fn round(&self) -> Vec<(ProjectId, u32)> {
        let served = self
            .open
            .len()
            .min(usize::try_from(self.room).unwrap_or(usize::MAX));
        let Ok(k) = u32::try_from(served) else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        let (each, extra) = (self.room / k, self.room % k);
        self.open
            .iter()
            .take(served)
            .zip(0u32..)
            .map(|(p, i)| (p.clone(), each + u32::from(i < extra)))
            .collect()
    }

    /// Records that `project`, asked for `asked` items, gave `got`.
    pub fn took(&mut self, project: &ProjectId, asked: u32, got: u32) {
        self.room = self.room.saturating_sub(got);
        if got < asked {
            self.open.retain(|p| p != project);
        }
    }

    /// Room left in the batch.
    pub fn room(&self) -> u32 {
        self.room
    }
}

/// How long a worker serves its claims from the list of projects with due
/// items before it lists them again. Listing reads every due item (no index
/// gives the projects without them), so with a large queue it is the
/// batch's one cost that grows with the backlog; a second's list keeps
/// every project's turn while paying that read about once a second
/// instead of once a batch.
pub const DUE_PROJECTS_TTL: Duration = Duration::from_secs(1);

/// A worker's memory of which projects had due cleanup items, so that
/// claims in quick succession need not list them again.
///
/// A remembered list is used while it is younger than [`DUE_PROJECTS_TTL`]
/// (a clock that went back forgets it). It never makes a worker idle while
/// items wait: a claim served from memory that does not fill its batch
/// forgets the list and lists again at once ([`DueProjects::claimed`]),
/// since projects that became due since the listing may have what the
/// remembered ones lacked. A project's items that become due after the
/// listing so wait at most a second while the others fill the batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueProjects {
    listed: Option<(Timestamp, Vec<ProjectId>)>,
}

impl DueProjects {
    /// The remembered list, when one was made less than
    /// [`DUE_PROJECTS_TTL`] before `now`.
    pub fn recall(&self, now: Timestamp) -> Option<Vec<ProjectId>> {
        let (at, projects) = self.listed.as_ref()?;
        (*at <= now && now < *at + DUE_PROJECTS_TTL).then(|| projects.clone())
    }

    /// Remembers the projects a listing at `now` found.
    pub fn remember(&mut self, now: Timestamp, projects: &[ProjectId]) {
        self.listed = Some((now, projects.to_vec()));
    }

    /// After a claim served from the remembered list, with `room` of its
    /// batch left unfilled: whether to list again at once. A claim that
    /// filled its batch keeps the list; one that did not forgets it.
    pub fn claimed(&mut self, room: u32) -> bool {
        if room == 0 {
            return false;
        }
        self.listed = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs a claim over projects with `available` items each, as a store
    /// would; returns what each project gave.
    fn run_claim(max: u32, available: &[u32]) -> Vec<u32> {
        let projects: Vec<ProjectId> = (0..available.len())
            .map(|i| ProjectId::parse(&format!("p{i}")).unwrap())
            .collect();
        let mut left = available.to_vec();
        let mut given = vec![0u32; available.len()];
        let mut shares = ClaimShares::new(max, projects.clone());
        let mut rounds = 0;
        loop {
            let round = shares.round();
            if round.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds <= max as usize + 1, "a claim must end");
            for (project, asked) in round {
                let i = projects.iter().position(|p| *p == project).unwrap();
                let got = asked.min(left[i]);
                left[i] -= got;
                given[i] += got;
                shares.took(&project, asked, got);
            }
        }
        given
    }

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    #[test]
    fn a_due_project_list_is_recalled_for_a_second_only() {
        let projects = vec![
            ProjectId::parse("a").unwrap(),
            ProjectId::parse("b").unwrap(),
        ];
        let mut due = DueProjects::default();
        assert_eq!(due.recall(at(0)), None, "nothing listed yet");
        due.remember(at(5_000_000), &projects);
        assert_eq!(due.recall(at(5_000_000)), Some(projects.clone()));
        assert_eq!(due.recall(at(5_999_999)), Some(projects.clone()));
        assert_eq!(due.recall(at(6_000_000)), None, "a second old");
        assert_eq!(due.recall(at(4_999_999)), None, "the clock went back");
    }

    #[test]
    fn a_claim_that_does_not_fill_its_batch_lists_again() {
        let projects = vec![ProjectId::parse("a").unwrap()];
        let mut due = DueProjects::default();
        due.remember(at(0), &projects);
        assert!(!due.claimed(0), "a full batch keeps the list");
        assert_eq!(due.recall(at(1)), Some(projects));
        assert!(due.claimed(1), "a batch with room left lists again");
        assert_eq!(due.recall(at(1)), None);
    }

    #[test]
    fn a_busy_project_gets_its_share_not_the_batch() {
        assert_eq!(run_claim(8, &[100, 2, 2]), [4, 2, 2]);
        assert_eq!(run_claim(6, &[100, 100, 100]), [2, 2, 2]);
    }

    #[test]
    fn one_project_takes_the_whole_batch_in_one_round() {
        let shares = ClaimShares::new(32, vec![ProjectId::parse("p").unwrap()]);
        assert_eq!(shares.round(), [(ProjectId::parse("p").unwrap(), 32)]);
    }

    #[test]
    fn more_projects_than_room_serve_the_first_ones_one_each() {
        assert_eq!(run_claim(2, &[5, 5, 5]), [1, 1, 0]);
    }

    proptest! {
        /// Never more than `max`; full whenever enough items are there;
        /// each served project gets at least its even share of the batch
        /// or all it has.
        #[test]
        fn shares_are_full_and_fair(
            max in 0u32..64,
            available in proptest::collection::vec(1u32..40, 0..12),
        ) {
            let given = run_claim(max, &available);
            let total: u32 = given.iter().sum();
            let served = available.len().min(max as usize);
            let there: u32 = available.iter().take(served).sum();
            prop_assert_eq!(total, max.min(there));
            if served > 0 {
                let even = max / served as u32;
                for i in 0..served {
                    prop_assert!(given[i] >= even.min(available[i]), "{:?} -> {:?}", available, given);
                }
            }
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(60), 5).unwrap()
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy();
        let full: Vec<AfterFailure> = (1..=4).map(|a| p.after_failure(a, 1.0)).collect();
        assert_eq!(
            full,
            [1, 2, 4, 8].map(|s| AfterFailure::RetryIn(Duration::from_secs(s)))
        );
        let capped = RetryPolicy::new(Duration::from_secs(10), Duration::from_secs(15), 9).unwrap();
        assert_eq!(
            capped.after_failure(3, 1.0),
            AfterFailure::RetryIn(Duration::from_secs(15))
        );
    }

    #[test]
    fn jitter_takes_between_half_and_all() {
        assert_eq!(
            policy().after_failure(2, 0.0),
            AfterFailure::RetryIn(Duration::from_secs(1))
        );
        assert_eq!(
            policy().after_failure(2, f64::NAN),
            AfterFailure::RetryIn(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_retry_is_due_after_the_delay_and_the_last_failure_parks() {
        let now = at(10_000_000);
        assert_eq!(policy().retry_at(3, 1.0, now), Some(at(14_000_000)));
        assert_eq!(policy().retry_at(5, 1.0, now), None);
    }

    #[test]
    fn the_fair_claim_shares_the_batch_and_serves_the_oldest_project_first() {
        let p = |s: &str| ProjectId::parse(s).unwrap();
        // "busy" has 5 due jobs from t=1; "quiet" one at t=2; "late" one
        // at t=9, served last.
        let mut due: Vec<(Timestamp, i64, ProjectId)> =
            (1..=5).map(|i| (at(i), i, p("busy"))).collect();
        due.push((at(2), 10, p("quiet")));
        due.push((at(9), 20, p("late")));
        assert_eq!(fair_claim(4, due.clone()), [1, 2, 10, 20]);
        assert_eq!(fair_claim(2, due.clone()), [1, 10]);
        assert_eq!(fair_claim(100, due), [1, 2, 3, 4, 5, 10, 20]);
        assert_eq!(fair_claim::<i64>(3, Vec::new()), Vec::<i64>::new());
    }

    #[test]
    fn a_lease_lives_until_its_end_and_belongs_to_its_worker() {
        let lease = Lease::new("w1", at(0), Duration::from_secs(2));
        assert!(lease.is_live(at(1_999_999)));
        assert!(!lease.is_live(at(2_000_000)));
        assert!(lease.is_held_by("w1"));
        assert!(!lease.is_held_by("w2"));
    }

    #[test]
    fn parks_at_the_limit() {
        assert_eq!(policy().after_failure(5, 0.5), AfterFailure::Park);
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert_eq!(
            RetryPolicy::new(Duration::ZERO, Duration::from_secs(1), 1),
            Err(RetryPolicyError::Delays)
        );
        assert_eq!(
            RetryPolicy::new(Duration::from_secs(2), Duration::from_secs(1), 1),
            Err(RetryPolicyError::Delays)
        );
        assert_eq!(
            RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 0),
            Err(RetryPolicyError::Attempts)
        );
    }

    proptest! {
        #[test]
        fn a_delay_never_exceeds_the_cap(attempts in 0u32..u32::MAX, jitter in any::<f64>()) {
            if let AfterFailure::RetryIn(d) = policy().after_failure(attempts, jitter) {
                prop_assert!(d <= Duration::from_secs(60));
                prop_assert!(attempts < 5);
            }
        }
    }
}
