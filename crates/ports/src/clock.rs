//! Time, as a port, so that signature windows and token expiry can be tested.

use std::time::{SystemTime, UNIX_EPOCH};

use vodsnap_domain::Timestamp;

/// The current time.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// The current instant. MUST NOT go backwards by more than the system
    /// clock does.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_micros(micros)
    }
}
