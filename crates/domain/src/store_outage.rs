//! Whose fault a failed object-store request is, and what the cleanup does
//! about an outage (issue 25).
//!
//! An adapter reads what happened ([`StoreFailure`]: no connection, a
//! timeout, an HTTP status, an S3 error code); [`StoreFailure::blame`]
//! says whether that is the store's fault (it is down, overloaded or
//! throttling: the key is not to blame) or the key's own (a 403 on one
//! key, a malformed key). [`StoreVerdict::of_batch`] judges a bulk
//! removal as a whole: the store is down only when every key it was asked
//! about failed for the store's reason. [`StoreWatch`] is what a worker
//! remembers of the store: down since when, and how long to pause before
//! its next probe (1 s doubling to [`LONGEST_PAUSE`]), so that an outage
//! spends no item's attempts and its end is noticed within seconds.

use std::fmt;
use std::time::Duration;

use crate::time::Timestamp;

/// What went wrong with one request to the object store, as read from the
/// failure: facts, no judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// No connection, or one cut off: refused, reset, name resolution,
    /// TLS, a request interrupted mid-way.
    Unreachable,
    /// No answer in time.
    TimedOut,
    /// The store answered with this non-2xx HTTP status (an S3 error code
    /// counts as its documented status: [`StoreFailure::of_s3_code`]).
    Status(u16),
    /// The key was refused before any request: the store cannot hold it
    /// under its own name.
    MalformedKey,
    /// Anything else: an answer that could not be read, a local error, a
    /// bug.
    Other,
}

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The store's: it is down, overloaded or throttling. The key is not
    /// to blame, and trying it again later is the fix.
    Store,
    /// The key's own (a refusal of this key, a malformed key) or unknown:
    /// it counts against the key's attempts.
    Key,
}

impl StoreFailure {
    /// The status S3 documents for an error `code` of a bulk delete's
    /// per-key answer or of an error body: `InternalError` 500,
    /// `ServiceUnavailable` and `SlowDown` 503, `RequestTimeout` 400 (S3's
    /// own figure: the client was slow), `AccessDenied` 403, `NoSuchBucket`
    /// 404. Codes it does not know are [`StoreFailure::Other`].
    pub fn of_s3_code(code: &str) -> Self {
        match code {
            "InternalError" => Self::Status(500),
            "ServiceUnavailable" | "SlowDown" => Self::Status(503),
            "RequestTimeout" => Self::Status(400),
            "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => Self::Status(403),
            "NoSuchBucket" => Self::Status(404),
            _ => Self::Other,
        }
    }

    /// Whose fault it is: no answer, a timeout, a 5xx, 408 (the store gave
    /// up waiting) and 429 (throttling) are the store's; any other status
    /// (403 on a key, 400), a malformed key and the unknown are the key's,
    /// as every failure was before this rule: a bug still ends parked
    /// rather than retried for ever.
    pub fn blame(self) -> Blame {
        match self {
            Self::Unreachable | Self::TimedOut => Blame::Store,
            Self::Status(status) if status >= 500 || status == 408 || status == 429 => Blame::Store,
            Self::Status(_) | Self::MalformedKey | Self::Other => Blame::Key,
        }
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Status(status) => write!(f, "status {status}"),
            Self::MalformedKey => f.write_str("malformed key"),
            Self::Other => f.write_str("failed"),
        }
    }
}

/// What a bulk removal's answers say about the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreVerdict {
    /// Nothing was asked of the store: it said nothing.
    Untried,
    /// The store answered for at least one key (a removal, or a refusal
    /// of the key's own): it is up, and each failed key counts its attempt.
    Answered,
    /// Every key asked about failed for the store's reason: an outage.
    /// The batch is given back without spending attempts.
    Down,
}

impl StoreVerdict {
    /// Judges a batch from each key's answer: `None` removed, `Some(blame)`
    /// failed. A batch whose keys all failed for the store's reason is
    /// [`StoreVerdict::Down`]; a success or a key's own failure anywhere
    /// means the store answered, so a 5xx on one key among successes is
    /// that key's attempt (one key that always fails cannot stop the
    /// queue).
    pub fn of_batch(answers: impl IntoIterator<Item = Option<Blame>>) -> Self {
        let mut verdict = Self::Untried;
        for answer in answers {
            match answer {
                Some(Blame::Store) => verdict = Self::Down,
                None | Some(Blame::Key) => return Self::Answered,
            }
        }
        verdict
    }
}

/// The first pause after the store is found down.
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause between two probes of a store that is down: its
/// return is noticed within this long.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// How the store's state changed with a batch's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChange {
    /// Nothing changed (up and answering, down and still failing, or a
    /// batch that asked the store nothing).
    Same,
    /// It was up and is now down.
    WentDown,
    /// It was down and answers again, after this long.
    CameBack { down_for: Duration },
}

/// What a worker remembers of its store: whether it is down, since when,
/// and how many probes failed since. While the store is down the worker
/// claims one item per pass ([`StoreWatch::batch`]): that item's removal
/// is the probe, one small request, and when it fails it is given back
/// too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreWatch {
    down_since: Option<Timestamp>,
    /// Batches found down in a row (the first included).
    failed: u32,
}

impl StoreWatch {
    /// Whether the store was last found down.
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// The batch to claim: `batch` while the store is up, one item (the
    /// probe) while it is down.
    pub fn batch(&self, batch: u32) -> u32 {
        if self.is_down() { batch.min(1) } else { batch }
    }

    /// Records a batch's verdict at `now`.
    pub fn record(&mut self, verdict: StoreVerdict, now: Timestamp) -> StoreChange {
        match (verdict, self.down_since) {
            (StoreVerdict::Untried, _) | (StoreVerdict::Answered, None) => StoreChange::Same,
            (StoreVerdict::Answered, Some(since)) => {
                *self = Self::default();
                StoreChange::CameBack {
                    down_for: now.since(since),
                }
            }
            (StoreVerdict::Down, Some(_)) => {
                self.failed = self.failed.saturating_add(1);
                StoreChange::Same
            }
            (StoreVerdict::Down, None) => {
                *self = Self {
                    down_since: Some(now),
                    failed: 1,
                };
                StoreChange::WentDown
            }
        }
    }

    /// The pause before the next probe: none while the store is up; then
    /// [`FIRST_PAUSE`] doubling with each failed probe, at most
    /// [`LONGEST_PAUSE`]. Whole seconds, no jitter: one probe per worker
    /// is a trickle, and the pause is counted in seconds.
    pub fn pause(&self) -> Duration {
        if !self.is_down() {
            return Duration::ZERO;
        }
        let exponent = self.failed.saturating_sub(1).min(16);
        FIRST_PAUSE
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(LONGEST_PAUSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    #[test]
    fn no_answer_a_timeout_5xx_and_throttling_are_the_stores_fault() {
        for failure in [
            StoreFailure::Unreachable,
            StoreFailure::TimedOut,
            StoreFailure::Status(500),
            StoreFailure::Status(502),
            StoreFailure::Status(503),
            StoreFailure::Status(408),
            StoreFailure::Status(429),
            StoreFailure::of_s3_code("SlowDown"),
            StoreFailure::of_s3_code("InternalError"),
            StoreFailure::of_s3_code("ServiceUnavailable"),
        ] {
            assert_eq!(failure.blame(), Blame::Store, "{failure}");
        }
    }

    #[test]
    fn a_refused_or_malformed_key_and_the_unknown_are_the_keys_fault() {
        for failure in [
            StoreFailure::Status(403),
            StoreFailure::Status(400),
            StoreFailure::Status(404),
            StoreFailure::of_s3_code("AccessDenied"),
            StoreFailure::of_s3_code("RequestTimeout"),
            StoreFailure::of_s3_code("SomethingNew"),
            StoreFailure::MalformedKey,
            StoreFailure::Other,
        ] {
            assert_eq!(failure.blame(), Blame::Key, "{failure}");
        }
    }

    #[test]
    fn a_batch_is_down_only_when_every_key_failed_for_the_store() {
        use Blame::{Key, Store};
        assert_eq!(StoreVerdict::of_batch([]), StoreVerdict::Untried);
        assert_eq!(
            StoreVerdict::of_batch([Some(Store), Some(Store)]),
            StoreVerdict::Down
        );
        assert_eq!(
            StoreVerdict::of_batch([Some(Store), None]),
            StoreVerdict::Answered,
            "one key removed: the store answers"
        );
        assert_eq!(
            StoreVerdict::of_batch([Some(Store), Some(Key)]),
            StoreVerdict::Answered,
            "a key refused on its own: the store answers"
        );
        assert_eq!(StoreVerdict::of_batch([None]), StoreVerdict::Answered);
    }

    #[test]
    fn a_watch_goes_down_probes_one_item_and_comes_back() {
        let mut watch = StoreWatch::default();
        assert_eq!(watch.batch(500), 500);
        assert_eq!(watch.pause(), Duration::ZERO);

        assert_eq!(
            watch.record(StoreVerdict::Down, at(10)),
            StoreChange::WentDown
        );
        assert!(watch.is_down());
        assert_eq!(watch.batch(500), 1, "the probe is one item");
        assert_eq!(watch.pause(), FIRST_PAUSE);
        assert_eq!(
            watch.record(StoreVerdict::Untried, at(11)),
            StoreChange::Same,
            "a batch that asked nothing says nothing"
        );
        assert!(watch.is_down());

        assert_eq!(
            watch.record(StoreVerdict::Answered, at(55)),
            StoreChange::CameBack {
                down_for: Duration::from_secs(45)
            }
        );
        assert_eq!(watch, StoreWatch::default());
    }

    #[test]
    fn pauses_double_from_one_second_to_ten() {
        let mut watch = StoreWatch::default();
        let mut pauses = Vec::new();
        for i in 0..6 {
            watch.record(StoreVerdict::Down, at(i));
            pauses.push(watch.pause().as_secs());
        }
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
    }

    fn verdict() -> impl Strategy<Value = StoreVerdict> {
        prop_oneof![
            Just(StoreVerdict::Untried),
            Just(StoreVerdict::Answered),
            Just(StoreVerdict::Down),
        ]
    }

    proptest! {
        /// Whatever the verdicts: a pause never exceeds the longest one and
        /// is zero exactly when the store is up; the watch is down exactly
        /// when the last verdict that said something was `Down`.
        #[test]
        fn the_watch_follows_the_last_telling_verdict(
            verdicts in proptest::collection::vec(verdict(), 0..40),
        ) {
            let mut watch = StoreWatch::default();
            let mut last_telling = None;
            for (i, v) in verdicts.into_iter().enumerate() {
                let before = watch.pause();
                watch.record(v, at(i as i64));
                if v != StoreVerdict::Untried {
                    last_telling = Some(v);
                }
                prop_assert!(watch.pause() <= LONGEST_PAUSE);
                prop_assert_eq!(watch.pause().is_zero(), !watch.is_down());
                if v == StoreVerdict::Down && !before.is_zero() {
                    prop_assert!(watch.pause() >= before, "pauses never shrink while down");
                }
            }
            prop_assert_eq!(watch.is_down(), last_telling == Some(StoreVerdict::Down));
        }
    }
}
