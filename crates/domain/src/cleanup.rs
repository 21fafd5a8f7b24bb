//! The cleanup of image objects: what to do with one object of a deleted
//! task, and the drain figures. How often a failed removal is retried, and
//! how a claim is shared, are the work queue's rules ([`crate::queue`]).
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

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

/// The most items one cleanup batch holds: S3's `DeleteObjects` (and so
/// Huawei OBS's and MinIO's) takes at most 1,000 keys a request, so one
/// batch is one bulk request.
pub const MAX_BATCH: u32 = 1_000;

/// How far back `vodsnap cleanup status` looks for the drain rate.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The drain of the cleanup queue: how fast items are done and when the
/// backlog will be gone at that pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrainEstimate {
    backlog: u64,
    per_second: f64,
}

impl DrainEstimate {
    /// `drained` items were done (removed or kept) during the last
    /// `window`; `backlog` items are still queued.
    pub fn new(backlog: u64, drained: u64, window: Duration) -> Self {
        let secs = window.as_secs_f64();
        let per_second = if secs > 0.0 {
            drained as f64 / secs
        } else {
            0.0
        };
        Self {
            backlog,
            per_second,
        }
    }

    pub fn backlog(&self) -> u64 {
        self.backlog
    }

    /// Items done per second over the window.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// The time to drain the backlog at the window's pace: zero when there
    /// is no backlog, `None` when there is one and nothing drains.
    pub fn time_to_drain(&self) -> Option<Duration> {
        if self.backlog == 0 {
            return Some(Duration::ZERO);
        }
        if self.per_second <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(self.backlog as f64 / self.per_second).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_drain_estimate_divides_the_backlog_by_the_windows_rate() {
        let e = DrainEstimate::new(600, 120, Duration::from_secs(60));
        assert_eq!(e.per_second(), 2.0);
        assert_eq!(e.time_to_drain(), Some(Duration::from_secs(300)));
        assert_eq!(e.backlog(), 600);
    }

    #[test]
    fn an_empty_backlog_is_drained_and_a_stalled_one_never() {
        assert_eq!(
            DrainEstimate::new(0, 0, RATE_WINDOW).time_to_drain(),
            Some(Duration::ZERO)
        );
        assert_eq!(DrainEstimate::new(5, 0, RATE_WINDOW).time_to_drain(), None);
        assert_eq!(
            DrainEstimate::new(5, 10, Duration::ZERO).time_to_drain(),
            None
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

    }
}
