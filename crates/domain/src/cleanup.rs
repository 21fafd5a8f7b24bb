//! The cleanup of image objects: how often a failed removal is retried.

use std::time::Duration;

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
