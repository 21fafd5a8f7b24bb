//! Instants, as whole microseconds since the Unix epoch (UTC), and the one
//! place where an instant and a duration are added or subtracted.

use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant. Microseconds keep the order of registrations that arrive in
/// the same millisecond, and fit PostgreSQL's `timestamptz` exactly.
///
/// `Timestamp + Duration` and `Timestamp - Duration` saturate at the first
/// and last representable instants: they never overflow, whatever the
/// duration (a retention of `u64::MAX` seconds is "forever", not a panic).
///
/// ```
/// use std::time::Duration;
/// use vodsnap_domain::Timestamp;
///
/// let t = Timestamp::from_secs(1_700_000_000);
/// assert_eq!((t + Duration::from_millis(1)).as_micros(), 1_700_000_000_001_000);
/// assert_eq!((t + Duration::from_secs(90)).since(t), Duration::from_secs(90));
/// assert_eq!(t + Duration::MAX, Timestamp::from_micros(i64::MAX)); // saturates
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// The instant `secs` whole seconds after the epoch, saturating at the
    /// first and last representable instants.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// How long after `earlier` this instant is; zero when it is not
    /// after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map_or(Duration::ZERO, Duration::from_micros)
    }
}

/// A duration in whole microseconds, saturated to what an instant can hold.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(micros(d)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(micros(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn adding_and_subtracting_saturate() {
        let t = Timestamp::from_micros(10);
        assert_eq!(t + Duration::from_micros(5), Timestamp::from_micros(15));
        assert_eq!(t - Duration::from_micros(15), Timestamp::from_micros(-5));
        assert_eq!(t + Duration::MAX, Timestamp::from_micros(i64::MAX));
        assert_eq!(t - Duration::MAX, Timestamp::from_micros(i64::MIN + 11));
        assert_eq!(
            Timestamp::from_micros(i64::MIN) - Duration::from_secs(1),
            Timestamp::from_micros(i64::MIN)
        );
    }

    #[test]
    fn whole_seconds_saturate() {
        assert_eq!(Timestamp::from_secs(3).as_micros(), 3_000_000);
        assert_eq!(Timestamp::from_secs(i64::MAX).as_micros(), i64::MAX);
        assert_eq!(Timestamp::from_secs(-2).as_secs(), -2);
    }

    #[test]
    fn since_is_never_negative() {
        let (a, b) = (
            Timestamp::from_micros(1_000_000),
            Timestamp::from_micros(3_500_000),
        );
        assert_eq!(b.since(a), Duration::from_millis(2_500));
        assert_eq!(a.since(b), Duration::ZERO);
        assert_eq!(
            Timestamp::from_micros(i64::MAX).since(Timestamp::from_micros(i64::MIN)),
            Duration::from_micros(i64::MAX as u64)
        );
    }

    proptest! {
        #[test]
        fn add_then_since_gives_the_duration_back(at in -1_000_000_000_000i64..1_000_000_000_000, us in 0u64..1_000_000_000_000) {
            let t = Timestamp::from_micros(at);
            let d = Duration::from_micros(us);
            prop_assert_eq!((t + d).since(t), d);
            prop_assert_eq!((t + d) - d, t);
        }
    }
}
