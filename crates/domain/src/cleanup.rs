//! The cleanup of image objects: what to do with one object of a deleted
//! task, and how often a failed removal is retried.

use std::time::Duration;

use crate::id::ProjectId;
use crate::task_result::ObjectKey;

/// What the cleanup does with one queued object, before it asks the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupDecision {
    /// Remove it from object storage.
    Remove,
    /// A live task of the same project still references it: done, kept.
    KeepReferenced,
    /// Never remove it; park the item for an operator.
    Park(ParkReason),
}

/// Why an item is parked without an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// The key is outside its item's project prefix (`{project_id}/`): a
    /// row written before that rule; removing it could remove another
    /// project's image.
    OutsideProject,
}

impl ParkReason {
    pub const fn message(self) -> &'static str {
        match self {
            Self::OutsideProject => {
                "object key outside its project's prefix: never removed by the cleanup"
            }
        }
    }
}

impl CleanupDecision {
    /// Decides one item: `referenced` says whether a live task of
    /// `project` references `key`. The project check comes first, so no
    /// answer of the store can make the cleanup remove another project's key.
    pub fn for_object(project: &ProjectId, key: &ObjectKey, referenced: bool) -> Self {
        if !key.belongs_to(project) {
            Self::Park(ParkReason::OutsideProject)
        } else if referenced {
            Self::KeepReferenced
        } else {
            Self::Remove
        }
    }
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

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_attempts: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn an_object_is_removed_kept_or_parked() {
        let p = ProjectId::parse("p1").unwrap();
        let key = |raw| ObjectKey::parse(raw).unwrap();
        assert_eq!(
            CleanupDecision::for_object(&p, &key("p1/a/1.jpg"), false),
            CleanupDecision::Remove
        );
        assert_eq!(
            CleanupDecision::for_object(&p, &key("p1/a/1.jpg"), true),
            CleanupDecision::KeepReferenced
        );
        for foreign in ["p2/a/1.jpg", "p1x/a.jpg", "p1.jpg"] {
            assert_eq!(
                CleanupDecision::for_object(&p, &key(foreign), false),
                CleanupDecision::Park(ParkReason::OutsideProject),
                "{foreign}"
            );
        }
    }

    proptest! {
        /// A key outside the project's prefix is never removed, whatever
        /// the reference check said.
        #[test]
        fn a_foreign_key_is_never_removed(
            project in "[a-z]{1,4}",
            key in "[a-z]{1,4}/[a-z]{1,4}\\.jpg",
            referenced in any::<bool>(),
        ) {
            let p = ProjectId::parse(&project).unwrap();
            let k = ObjectKey::parse(&key).unwrap();
            let decision = CleanupDecision::for_object(&p, &k, referenced);
            prop_assert_eq!(
                decision == CleanupDecision::Remove,
                key.starts_with(&format!("{project}/")) && !referenced
            );
        }

        #[test]
        fn a_delay_never_exceeds_the_cap(attempts in 0u32..u32::MAX, jitter in any::<f64>()) {
            if let AfterFailure::RetryIn(d) = policy().after_failure(attempts, jitter) {
                prop_assert!(d <= Duration::from_secs(60));
                prop_assert!(attempts < 5);
            }
        }
    }
}
