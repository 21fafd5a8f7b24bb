//! The loop every leased-queue worker runs (the cleanup's and the webhook
//! deliveries'): a pass, then the next at once when it found work, after
//! the idle pause when it found none, and with a doubling back-off (up to
//! 30 s) while passes fail because the store is down.

use std::fmt::Display;
use std::time::Duration;

use tokio::sync::watch;

/// The longest pause between failing passes.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a pass found, and so when the next one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// It found work: the next pass at once.
    Busy,
    /// Nothing to do: the next pass after the idle pause.
    Idle,
    /// A dependency is down (the cleanup's object store): the next pass,
    /// a probe, after this long.
    Pause(Duration),
}

impl Pace {
    /// [`Pace::Busy`] when a pass found work, else [`Pace::Idle`].
    pub(crate) fn of(found_work: bool) -> Self {
        if found_work { Self::Busy } else { Self::Idle }
    }
}

/// Runs `pass` until `stop` turns true. `pass` gets its own receiver of
/// `stop` (to end a long pass early) and answers its [`Pace`]; `what`
/// names the worker in the warning a failed pass logs.
pub(crate) async fn run_passes<E, F, Fut>(
    idle: Duration,
    mut stop: watch::Receiver<bool>,
    what: &str,
    mut pass: F,
) where
    E: Display,
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<Pace, E>>,
{
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        let pause = match pass(stop.clone()).await {
            Ok(pace) => {
                failures = 0;
                match pace {
                    Pace::Busy => Duration::ZERO,
                    Pace::Idle => idle,
                    Pace::Pause(pause) => pause,
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(
                    error = format!("{error:#}"),
                    "{what} pass failed; the store may be down"
                );
                backoff(idle, failures)
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// The pause after `failures` failed passes in a row.
fn backoff(idle: Duration, failures: u32) -> Duration {
    idle.saturating_mul(2u32.saturating_pow(failures.min(5)))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_stops_at_thirty_seconds() {
        let idle = Duration::from_millis(500);
        assert_eq!(backoff(idle, 1), Duration::from_secs(1));
        assert_eq!(backoff(idle, 3), Duration::from_secs(4));
        assert_eq!(backoff(idle, 5), Duration::from_secs(16));
        assert_eq!(backoff(idle, 9), Duration::from_secs(16));
        assert_eq!(backoff(Duration::from_secs(5), 9), MAX_BACKOFF);
    }
}
