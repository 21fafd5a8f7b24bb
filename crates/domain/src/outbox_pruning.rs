//! Pruning the events' outbox: when a finished event (and its deliveries)
//! may go, and how much one prune removes.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::time::Duration;

use crate::delivery::DeliveryState;
use crate::time::Timestamp;

/// How long an event stays in the outbox once it is finished, by default
/// (`serve --webhook-event-retention`).
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// The most events one prune removes: the outbox is trimmed a bounded
/// amount at a time, whatever its size.
pub const PRUNE_BATCH: u32 = 1_000;

/// The time before which an event must have finished to be pruned at
/// `now` with `retention`.
pub fn prune_cutoff(now: Timestamp, retention: Duration) -> Timestamp {
    now - retention
}

/// Whether an event may leave the outbox (with its deliveries): none of
/// its deliveries is pending, and each was delivered or parked before
/// `cutoff` (a parked one stays redeliverable for the retention, then
/// goes, so that the outbox does not grow for ever). An event left without
/// deliveries (its webhooks were removed before delivering it) goes once
/// it occurred before `cutoff`. `deliveries` are each delivery's state and
/// `updated_at` (when it was delivered or parked).
pub fn is_prunable(
    occurred_at: Timestamp,
    deliveries: impl IntoIterator<Item = (DeliveryState, Timestamp)>,
    cutoff: Timestamp,
) -> bool {
    occurred_at < cutoff
        && deliveries
            .into_iter()
            .all(|(state, at)| state != DeliveryState::Pending && at < cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_pruned_once_every_delivery_finished_before_the_cutoff() {
        let t = Timestamp::from_micros;
        let cutoff = prune_cutoff(t(10_000_000), Duration::from_secs(4));
        assert_eq!(cutoff, t(6_000_000));
        let delivered = DeliveryState::Delivered;
        let parked = DeliveryState::Parked;
        assert!(is_prunable(
            t(1),
            [(delivered, t(2)), (parked, t(3))],
            cutoff
        ));
        // Finished, but not long enough ago.
        assert!(!is_prunable(
            t(1),
            [(delivered, t(2)), (parked, cutoff)],
            cutoff
        ));
        // Anything pending stays, however old.
        assert!(!is_prunable(t(1), [(DeliveryState::Pending, t(2))], cutoff));
        // No delivery left: goes by its own age.
        assert!(is_prunable(t(1), [], cutoff));
        assert!(!is_prunable(cutoff, [], cutoff));
    }
}
