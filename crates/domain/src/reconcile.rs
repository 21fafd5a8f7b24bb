//! Storage against database (`vodsnap reconcile`): merging the store's
//! listing of a project with the keys the database holds for it, both in
//! ascending byte order, in constant memory, and what each key is.
//!
//! The store lists objects; the database holds keys (referenced by a live
//! task, in the recycle bin, or queued for the cleanup). A listed object no
//! key names is an **orphan**; a key a live task references that the store
//! lacks is **missing**. Both sides are streams the caller feeds one head at
//! a time to [`Merge::step`], which says which head(s) to take and what the
//! key is; [`ReconcileTally`] counts, keeping a bounded sample.

use std::time::Duration;

use crate::{ObjectKey, ProjectId, Timestamp};

/// At most this many keys per sample of a report.
pub const SAMPLE_LIMIT: usize = 20;

/// Keys read per page from either side (one S3 `ListObjectsV2` page, one
/// keyset page of the database), and orphans queued per audited step.
pub const RECONCILE_PAGE: u32 = 1_000;

/// An object the store listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub last_modified: Timestamp,
}

/// A key the database holds for a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    pub key: String,
    /// A live task result references it (otherwise only the recycle bin or
    /// the cleanup queue holds it).
    pub live: bool,
}

/// What one key is, once both sides have been compared on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// Listed and held: storage and database agree.
    Agree,
    /// Listed, held by nothing.
    Orphan,
    /// Referenced by a live task, not listed.
    Missing,
    /// Held only by the recycle bin or the queue and not listed: the
    /// cleanup removed it or will find it gone. Not a difference.
    HeldAbsent,
}

/// Which heads a step consumed, and the finding of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The store's head only.
    Store(Finding),
    /// The database's head only.
    Database(Finding),
    /// Both heads: the same key.
    Both(Finding),
}

impl Step {
    pub fn finding(self) -> Finding {
        match self {
            Self::Store(f) | Self::Database(f) | Self::Both(f) => f,
        }
    }
}

/// A side gave a key not strictly after its previous one: the merge would
/// be wrong, so it stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfOrder {
    #[error("the store listed {next:?} after {previous:?}: not in ascending byte order")]
    Store { previous: String, next: String },
    #[error("the database gave {next:?} after {previous:?}: not in ascending byte order")]
    Database { previous: String, next: String },
}

/// The merge of two sorted key streams: remembers only the last key taken
/// from each side, to check the order.
#[derive(Debug, Clone, Default)]
pub struct Merge {
    last_store: Option<String>,
    last_database: Option<String>,
}

impl Merge {
    /// Given the current heads (`None`: that side is exhausted), which to
    /// take and what their key is; `None` when both are exhausted. Fails
    /// when a head is not strictly after the last key taken from its side.
    pub fn step(
        &mut self,
        store: Option<&ListedObject>,
        database: Option<&HeldKey>,
    ) -> Result<Option<Step>, OutOfOrder> {
        if let (Some(previous), Some(next)) = (&self.last_store, store)
            && next.key.as_str() <= previous.as_str()
        {
            return Err(OutOfOrder::Store {
                previous: previous.clone(),
                next: next.key.clone(),
            });
        }
        if let (Some(previous), Some(next)) = (&self.last_database, database)
            && next.key.as_str() <= previous.as_str()
        {
            return Err(OutOfOrder::Database {
                previous: previous.clone(),
                next: next.key.clone(),
            });
        }
        let held_only = |held: &HeldKey| {
            Step::Database(if held.live {
                Finding::Missing
            } else {
                Finding::HeldAbsent
            })
        };
        let step = match (store, database) {
            (None, None) => return Ok(None),
            (Some(_), None) => Step::Store(Finding::Orphan),
            (None, Some(held)) => held_only(held),
            (Some(listed), Some(held)) => match listed.key.as_bytes().cmp(held.key.as_bytes()) {
                std::cmp::Ordering::Less => Step::Store(Finding::Orphan),
                std::cmp::Ordering::Greater => held_only(held),
                std::cmp::Ordering::Equal => Step::Both(Finding::Agree),
            },
        };
        if let (Step::Store(_) | Step::Both(_), Some(listed)) = (step, store) {
            self.last_store = Some(listed.key.clone());
        }
        if let (Step::Database(_) | Step::Both(_), Some(held)) = (step, database) {
            self.last_database = Some(held.key.clone());
        }
        Ok(Some(step))
    }
}

/// The counts of a reconciliation (one project, or the sum of several),
/// with at most [`SAMPLE_LIMIT`] keys of each kind of difference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileTally {
    /// Objects the store listed.
    pub listed: u64,
    /// Distinct keys the database holds (live, recycle bin or queue).
    pub referenced: u64,
    pub orphans: u64,
    pub missing: u64,
    /// Orphans queued for the cleanup (`--remove-orphans`).
    pub orphans_queued: u64,
    /// Top-level store prefixes that are not project ids: nothing in the
    /// database can hold their objects, so they differ, and they are not
    /// listed further.
    pub foreign_prefixes: u64,
    pub sample_orphans: Vec<String>,
    pub sample_missing: Vec<String>,
}

impl ReconcileTally {
    /// Counts a step of [`Merge::step`] whose key is `key`.
    pub fn record(&mut self, step: Step, key: &str) {
        if matches!(step, Step::Store(_) | Step::Both(_)) {
            self.listed += 1;
        }
        if matches!(step, Step::Database(_) | Step::Both(_)) {
            self.referenced += 1;
        }
        match step.finding() {
            Finding::Orphan => {
                self.orphans += 1;
                push_sample(&mut self.sample_orphans, key);
            }
            Finding::Missing => {
                self.missing += 1;
                push_sample(&mut self.sample_missing, key);
            }
            Finding::Agree | Finding::HeldAbsent => {}
        }
    }

    /// Adds another project's tally (samples up to the limit).
    pub fn add(&mut self, other: &ReconcileTally) {
        self.listed += other.listed;
        self.referenced += other.referenced;
        self.orphans += other.orphans;
        self.missing += other.missing;
        self.orphans_queued += other.orphans_queued;
        self.foreign_prefixes += other.foreign_prefixes;
        for key in &other.sample_orphans {
            push_sample(&mut self.sample_orphans, key);
        }
        for key in &other.sample_missing {
            push_sample(&mut self.sample_missing, key);
        }
    }

    /// Whether storage and database agree: no orphan, nothing missing, no
    /// prefix outside every project. Queued orphans still differ: the run
    /// found them.
    pub fn agree(&self) -> bool {
        self.orphans == 0 && self.missing == 0 && self.foreign_prefixes == 0
    }
}

fn push_sample(sample: &mut Vec<String>, key: &str) {
    if sample.len() < SAMPLE_LIMIT {
        sample.push(key.to_owned());
    }
}

/// What `--remove-orphans --older-than` does with one orphan of `project`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrphanAction {
    /// Queue it for the cleanup (which still checks references first).
    Queue(ObjectKey),
    /// Modified within the grace period: a producer may be about to
    /// register it. Left alone.
    TooRecent,
    /// Not a key the cleanup can take (not a valid object key, or not under
    /// the project's prefix). Reported, left alone.
    Unqueueable,
}

impl OrphanAction {
    pub fn of(
        project: &ProjectId,
        orphan: &ListedObject,
        now: Timestamp,
        older_than: Duration,
    ) -> Self {
        if now.since(orphan.last_modified) <= older_than {
            return Self::TooRecent;
        }
        match ObjectKey::parse(&orphan.key) {
            Ok(key) if key.project().as_ref() == Some(project) => Self::Queue(key),
            _ => Self::Unqueueable,
        }
    }
}

/// Reconciles two whole sorted sequences: the merge and the tally, in one
/// call (the service drives [`Merge`] over paged streams instead).
pub fn reconcile(
    store: &[ListedObject],
    database: &[HeldKey],
) -> Result<ReconcileTally, OutOfOrder> {
    let (mut s, mut d) = (0, 0);
    let mut merge = Merge::default();
    let mut tally = ReconcileTally::default();
    while let Some(step) = merge.step(store.get(s), database.get(d))? {
        let key = match step {
            Step::Store(_) | Step::Both(_) => store[s].key.clone(),
            Step::Database(_) => database[d].key.clone(),
        };
        tally.record(step, &key);
        if matches!(step, Step::Store(_) | Step::Both(_)) {
            s += 1;
        }
        if matches!(step, Step::Database(_) | Step::Both(_)) {
            d += 1;
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn listed(keys: &[&str]) -> Vec<ListedObject> {
        keys.iter()
            .map(|k| ListedObject {
                key: (*k).to_owned(),
                last_modified: Timestamp::from_secs(0),
            })
            .collect()
    }

    fn held(keys: &[(&str, bool)]) -> Vec<HeldKey> {
        keys.iter()
            .map(|(k, live)| HeldKey {
                key: (*k).to_owned(),
                live: *live,
            })
            .collect()
    }

    #[test]
    fn both_sides_equal_agree() {
        let tally = reconcile(
            &listed(&["p/a", "p/b"]),
            &held(&[("p/a", true), ("p/b", false)]),
        )
        .unwrap();
        assert_eq!((tally.listed, tally.referenced), (2, 2));
        assert!(tally.agree());
    }

    #[test]
    fn an_object_nothing_holds_is_an_orphan() {
        let tally = reconcile(&listed(&["p/a", "p/b", "p/c"]), &held(&[("p/b", true)])).unwrap();
        assert_eq!(tally.orphans, 2);
        assert_eq!(tally.sample_orphans, ["p/a", "p/c"]);
        assert!(!tally.agree());
    }

    #[test]
    fn a_live_key_the_store_lacks_is_missing() {
        let tally = reconcile(&listed(&[]), &held(&[("p/a", true)])).unwrap();
        assert_eq!((tally.missing, tally.orphans), (1, 0));
        assert_eq!(tally.sample_missing, ["p/a"]);
    }

    #[test]
    fn a_binned_or_queued_key_the_store_lacks_is_no_difference() {
        let tally = reconcile(&listed(&[]), &held(&[("p/a", false)])).unwrap();
        assert_eq!(tally.referenced, 1);
        assert!(tally.agree());
    }

    #[test]
    fn order_is_bytewise_so_dot_comes_before_slash() {
        // '.' (0x2E) < '/' (0x2F): "p/a.x" sorts before "p/a/b".
        let tally = reconcile(
            &listed(&["p/a.x", "p/a/b"]),
            &held(&[("p/a.x", true), ("p/a/b", true)]),
        )
        .unwrap();
        assert!(tally.agree());
    }

    #[test]
    fn out_of_order_input_is_refused_not_miscounted() {
        let err = reconcile(&listed(&["p/b", "p/a"]), &[]).unwrap_err();
        assert!(matches!(err, OutOfOrder::Store { .. }));
        let err = reconcile(&[], &held(&[("p/a", true), ("p/a", false)])).unwrap_err();
        assert!(matches!(err, OutOfOrder::Database { .. }));
    }

    #[test]
    fn samples_stop_at_the_limit_but_counts_do_not() {
        let keys: Vec<String> = (0..50).map(|i| format!("p/{i:03}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let tally = reconcile(&listed(&refs), &[]).unwrap();
        assert_eq!(tally.orphans, 50);
        assert_eq!(tally.sample_orphans.len(), SAMPLE_LIMIT);
    }

    #[test]
    fn tallies_add_up_with_bounded_samples() {
        let keys: Vec<String> = (0..15).map(|i| format!("p/{i:03}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let one = reconcile(&listed(&refs), &[]).unwrap();
        let mut sum = ReconcileTally::default();
        sum.add(&one);
        sum.add(&one);
        assert_eq!(sum.orphans, 30);
        assert_eq!(sum.sample_orphans.len(), SAMPLE_LIMIT);
    }

    #[test]
    fn a_foreign_prefix_is_a_difference() {
        let tally = ReconcileTally {
            foreign_prefixes: 1,
            ..ReconcileTally::default()
        };
        assert!(!tally.agree());
    }

    fn p() -> ProjectId {
        ProjectId::parse("p").unwrap()
    }

    #[test]
    fn old_orphans_of_the_project_are_queued() {
        let orphan = ListedObject {
            key: "p/a/t/0.jpg".into(),
            last_modified: Timestamp::from_secs(1_000),
        };
        let now = Timestamp::from_secs(1_000 + 3_601);
        assert_eq!(
            OrphanAction::of(&p(), &orphan, now, Duration::from_secs(3_600)),
            OrphanAction::Queue(ObjectKey::parse("p/a/t/0.jpg").unwrap())
        );
    }

    #[test]
    fn recent_orphans_are_left_for_their_producer() {
        let orphan = ListedObject {
            key: "p/a/t/0.jpg".into(),
            last_modified: Timestamp::from_secs(1_000),
        };
        let now = Timestamp::from_secs(1_000 + 3_600);
        assert_eq!(
            OrphanAction::of(&p(), &orphan, now, Duration::from_secs(3_600)),
            OrphanAction::TooRecent
        );
    }

    #[test]
    fn orphans_outside_the_project_or_unparsable_are_not_queued() {
        let now = Timestamp::from_secs(10_000);
        for key in ["p2/a/t/0.jpg", "p/a//b"] {
            let orphan = ListedObject {
                key: key.into(),
                last_modified: Timestamp::from_secs(0),
            };
            assert_eq!(
                OrphanAction::of(&p(), &orphan, now, Duration::from_secs(1)),
                OrphanAction::Unqueueable,
                "{key}"
            );
        }
    }

    proptest::proptest! {
        /// The merge counts what a set comparison counts, whatever the
        /// keys (prefixes of one another, '.', '/', non-ASCII).
        #[test]
        fn the_merge_agrees_with_set_arithmetic(
            stored in proptest::collection::btree_set("[ab./é]{1,4}", 0..40),
            held_keys in proptest::collection::btree_map("[ab./é]{1,4}", proptest::bool::ANY, 0..40),
        ) {
            let store: Vec<ListedObject> = stored.iter().map(|k| ListedObject {
                key: k.clone(), last_modified: Timestamp::from_secs(0),
            }).collect();
            let database: Vec<HeldKey> = held_keys.iter().map(|(k, live)| HeldKey {
                key: k.clone(), live: *live,
            }).collect();

            let tally = reconcile(&store, &database).unwrap();

            let orphans: Vec<&String> = stored.iter().filter(|k| !held_keys.contains_key(*k)).collect();
            let missing: BTreeMap<&String, &bool> = held_keys.iter()
                .filter(|(k, live)| **live && !stored.contains(*k)).collect();
            proptest::prop_assert_eq!(tally.listed, stored.len() as u64);
            proptest::prop_assert_eq!(tally.referenced, held_keys.len() as u64);
            proptest::prop_assert_eq!(tally.orphans, orphans.len() as u64);
            proptest::prop_assert_eq!(tally.missing, missing.len() as u64);
            let sample: Vec<&String> = orphans.into_iter().take(SAMPLE_LIMIT).collect();
            proptest::prop_assert_eq!(tally.sample_orphans.iter().collect::<Vec<_>>(), sample);
        }
    }
}
