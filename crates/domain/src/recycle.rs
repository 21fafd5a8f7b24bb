//! The recycle bin: how long a deleted task result stays restorable, and
//! what a restore or an early purge does to each task it names.
//!
//! A delete stamps each tombstone with `purge_at = deleted_at + retention`
//! ([`Retention::purge_at`]); the task's image objects wait in the cleanup
//! queue, due at `purge_at`, so the cleanup cannot take them before. Until
//! then the task can be restored, as long as none of its objects was ever
//! handed to the cleanup ([`QueuedObjects::intact`]): a restore never
//! revives a task whose images may be gone. A purge closes the window now.
//!
//! A store reads (and locks); this module decides; the store writes what
//! the plan says, with its audit record, in the same atomic step.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::collections::HashMap;
use std::time::Duration;

use crate::event::EventTask;
use crate::id::{AssetId, IdError, TaskId};
use crate::outcome::{DeleteStatus, ItemError, ItemOutcome};
use crate::selection::MAX_TASKS_PER_CALL;
use crate::time::Timestamp;

/// How long a deleted task result stays restorable. Zero (the default)
/// is no recycle bin: a delete's objects are due for removal at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention(Duration);

/// Why a retention is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("the retention must be at most {} days", Retention::MAX.as_secs() / 86_400)]
    TooLong,
}

impl Retention {
    /// No recycle bin.
    pub const NONE: Self = Self(Duration::ZERO);
    /// Ten years: far beyond any sane window, and far from overflowing a
    /// timestamp.
    pub const MAX: Duration = Duration::from_secs(10 * 366 * 86_400);

    pub fn new(window: Duration) -> Result<Self, RetentionError> {
        if window > Self::MAX {
            return Err(RetentionError::TooLong);
        }
        Ok(Self(window))
    }

    pub fn window(self) -> Duration {
        self.0
    }

    /// When a task deleted at `deleted_at` leaves the recycle bin: its
    /// objects are due for removal then, and it is no longer restorable.
    pub fn purge_at(self, deleted_at: Timestamp) -> Timestamp {
        deleted_at + self.0
    }
}

/// Whether a tombstone can still be restored at `now`: strictly before its
/// `purge_at`. The deleted list shows exactly these.
pub fn in_window(purge_at: Timestamp, now: Timestamp) -> bool {
    now < purge_at
}

/// Why a restore or purge query is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinSelectionError {
    #[error("unknown query parameter '{0}': only task_id is accepted")]
    UnknownParameter(String),
    #[error("give 1 to {MAX_TASKS_PER_CALL} task_id values")]
    NoTask,
    #[error("at most {MAX_TASKS_PER_CALL} distinct task_id values per call, got {0}")]
    TooManyTasks(usize),
    #[error(transparent)]
    InvalidId(#[from] IdError),
}

/// The task ids a restore or a purge names: 1 to [`MAX_TASKS_PER_CALL`]
/// distinct ids, in first-seen order (duplicates collapse, as a delete's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinSelection {
    tasks: Vec<TaskId>,
}

impl BinSelection {
    pub fn new(tasks: Vec<TaskId>) -> Result<Self, BinSelectionError> {
        let mut distinct: Vec<TaskId> = Vec::with_capacity(tasks.len().min(MAX_TASKS_PER_CALL));
        for task in tasks {
            if !distinct.contains(&task) {
                distinct.push(task);
            }
        }
        if distinct.is_empty() {
            return Err(BinSelectionError::NoTask);
        }
        if distinct.len() > MAX_TASKS_PER_CALL {
            return Err(BinSelectionError::TooManyTasks(distinct.len()));
        }
        Ok(Self { tasks: distinct })
    }

    /// Parses decoded query pairs: `task_id` only, repeated 1 to 10 times.
    pub fn from_query<K, V>(pairs: &[(K, V)]) -> Result<Self, BinSelectionError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut tasks = Vec::new();
        for (key, value) in pairs {
            match key.as_ref() {
                TaskId::FIELD => tasks.push(TaskId::parse(value.as_ref())?),
                other => return Err(BinSelectionError::UnknownParameter(other.to_owned())),
            }
        }
        Self::new(tasks)
    }

    pub fn tasks(&self) -> &[TaskId] {
        &self.tasks
    }
}

/// A task's state as a store found it for a restore or a purge, under
/// their lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinState {
    Live,
    Deleted {
        purge_at: Timestamp,
        /// Every one of its objects still waits in the cleanup queue, never
        /// claimed, never attempted, never parked
        /// ([`QueuedObjects::intact`]).
        intact: bool,
    },
}

/// One queued cleanup object of a tombstone, as a store holds it: the
/// facts of whether the cleanup ever had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedObject {
    /// A cleanup worker holds (or held, and never gave back) a lease on
    /// it: a claim may be removing it.
    pub leased: bool,
    /// Failed removal attempts so far.
    pub attempts: u32,
    /// Parked for an operator after its last attempt.
    pub parked: bool,
    /// The object records what a restore needs to put its snapshot back
    /// (in PostgreSQL, its offset: items queued before the recycle bin
    /// have none).
    pub restorable: bool,
}

impl QueuedObject {
    /// Never handed to the cleanup: not leased (a lease is dropped only by
    /// a failed attempt, which counts; a job given back untried keeps its
    /// ended lease, since its removal may have reached the store), never
    /// attempted, not parked.
    pub fn untouched(self) -> bool {
        !self.leased && self.attempts == 0 && !self.parked
    }
}

/// A tombstone's queued cleanup objects, counted by what may have happened
/// to them: the facts from which [`Self::intact`] decides whether a
/// restore may take them back. A store that counts in its query fills the
/// fields; one that walks its items uses [`Self::tally`]. An object may
/// count under several of `leased`, `attempted`, `parked`, `unrestorable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuedObjects {
    /// The task's objects waiting in the queue.
    pub queued: u64,
    /// Of those, leased to a cleanup worker.
    pub leased: u64,
    /// Of those, attempted at least once.
    pub attempted: u64,
    /// Of those, parked.
    pub parked: u64,
    /// Of those, without what a restore needs to put the snapshot back.
    pub unrestorable: u64,
}

impl QueuedObjects {
    /// Counts `objects`, the queued objects of one tombstone.
    pub fn tally(objects: impl IntoIterator<Item = QueuedObject>) -> Self {
        objects.into_iter().fold(Self::default(), |mut n, o| {
            n.queued += 1;
            n.leased += u64::from(o.leased);
            n.attempted += u64::from(o.attempts > 0);
            n.parked += u64::from(o.parked);
            n.unrestorable += u64::from(!o.restorable);
            n
        })
    }

    /// Whether the tombstone of a task with `snapshot_count` snapshots is
    /// intact: exactly `snapshot_count` objects are queued (one per
    /// snapshot: none taken by the cleanup yet), and every one is
    /// [untouched](QueuedObject::untouched) and restorable. A restore may
    /// then take them back and revive the task as it was; otherwise some
    /// image may be gone, and the window is closed.
    pub fn intact(self, snapshot_count: u64) -> bool {
        self.queued == snapshot_count
            && self.leased == 0
            && self.attempted == 0
            && self.parked == 0
            && self.unrestorable == 0
    }
}

/// A selected task that exists, as a store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinnedTask {
    pub task: TaskId,
    pub asset: AssetId,
    pub state: BinState,
}

/// Which recycle-bin call: a restore, or an early purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinAction {
    Restore,
    Purge,
}

impl BinAction {
    /// What an item of this call that did not fail answers.
    pub const fn done(self) -> BinStatus {
        match self {
            Self::Restore => BinStatus::Restored,
            Self::Purge => BinStatus::Purged,
        }
    }
}

/// The status of one item of a restore or a purge, spelled exactly as on
/// the wire and in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinStatus {
    /// A restore's item: live again, or live already.
    Restored,
    /// A purge's item: its window closed now, or had closed.
    Purged,
    /// Neither, for the reason in the item's error. Every failure of a
    /// restore or a purge is a `FAILED` (none is `UNKNOW`: a store failure
    /// fails the whole call, which is safe to retry).
    Failed,
}

impl BinStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "RESTORED",
            Self::Purged => "PURGED",
            Self::Failed => DeleteStatus::Failed.as_str(),
        }
    }
}

/// What a restore or a purge answers for one task: done (`RESTORED` or
/// `PURGED`, by the call), or failed with a reason. The task, its asset
/// and the reason are held as a delete's item holds them; only the status
/// is the call's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinOutcome {
    action: BinAction,
    item: ItemOutcome,
}

impl BinOutcome {
    fn done(action: BinAction, task_id: TaskId, asset_id: AssetId) -> Self {
        Self {
            action,
            item: ItemOutcome::done(task_id, asset_id),
        }
    }

    fn failed(
        action: BinAction,
        task_id: TaskId,
        asset_id: Option<AssetId>,
        error: ItemError,
    ) -> Self {
        Self {
            action,
            item: ItemOutcome::failed(task_id, asset_id, error),
        }
    }

    pub fn task_id(&self) -> &TaskId {
        self.item.task_id()
    }

    /// The task's asset; `None` for an unknown task.
    pub fn asset_id(&self) -> Option<&AssetId> {
        self.item.asset_id()
    }

    pub fn error(&self) -> Option<ItemError> {
        self.item.error()
    }

    /// The item without the call's status: the task, its asset, the reason.
    pub(crate) fn item(&self) -> &ItemOutcome {
        &self.item
    }

    /// The item's status: [`BinStatus::Failed`] with an error, else what
    /// the call does ([`BinAction::done`]). The answer and the audit trail
    /// both read it.
    pub fn status(&self) -> BinStatus {
        match self.error() {
            Some(_) => BinStatus::Failed,
            None => self.action.done(),
        }
    }
}

/// A tombstone in the recycle bin, as the deleted list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedTask {
    pub task: TaskId,
    pub asset: AssetId,
    pub snapshot_count: usize,
    pub deleted_at: Timestamp,
    pub purge_at: Timestamp,
}

/// A plan that changes a task its store may not change (see
/// [`BinPlan::may_change`]): a store refuses to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnchangeableTask {
    pub action: BinAction,
    pub task: TaskId,
}

impl std::fmt::Display for UnchangeableTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let task = &self.task;
        match self.action {
            BinAction::Restore => write!(
                f,
                "the plan restores task {task}, which is not a locked, intact tombstone"
            ),
            BinAction::Purge => write!(
                f,
                "the plan purges task {task}, which is not a locked tombstone"
            ),
        }
    }
}

impl std::error::Error for UnchangeableTask {}

/// What one restore or purge call does: one outcome per named task, in
/// order, and the tasks whose stored state it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinPlan {
    action: BinAction,
    items: Vec<BinOutcome>,
    changed: Vec<TaskId>,
}

fn decide(
    action: BinAction,
    selection: &BinSelection,
    found: Vec<BinnedTask>,
    mut each: impl FnMut(&TaskId, BinnedTask) -> (BinOutcome, bool),
) -> BinPlan {
    let mut by_id: HashMap<TaskId, BinnedTask> =
        found.into_iter().map(|f| (f.task.clone(), f)).collect();
    let mut plan = BinPlan {
        action,
        items: Vec::with_capacity(selection.tasks().len()),
        changed: Vec::new(),
    };
    for task in selection.tasks() {
        let (item, changed) = match by_id.remove(task) {
            None => (
                BinOutcome::failed(action, task.clone(), None, ItemError::UnknownTask),
                false,
            ),
            Some(f) => each(task, f),
        };
        if changed {
            plan.changed.push(task.clone());
        }
        plan.items.push(item);
    }
    plan
}

impl BinPlan {
    /// Decides a restore at `now` from the named tasks the store found.
    ///
    /// - A live task is `RESTORED` again and left alone (idempotent).
    /// - A tombstone in its window (`now < purge_at`) whose objects are
    ///   all still queued and untouched is `RESTORED` and changed: live
    ///   again, as it was.
    /// - A tombstone past its window, purged, or whose cleanup has begun
    ///   fails with [`ItemError::WindowClosed`]; an unknown id with
    ///   [`ItemError::UnknownTask`].
    pub fn restore(selection: &BinSelection, found: Vec<BinnedTask>, now: Timestamp) -> Self {
        let action = BinAction::Restore;
        decide(action, selection, found, |task, f| match f.state {
            BinState::Live => (BinOutcome::done(action, task.clone(), f.asset), false),
            BinState::Deleted { purge_at, intact } if intact && in_window(purge_at, now) => {
                (BinOutcome::done(action, task.clone(), f.asset), true)
            }
            BinState::Deleted { .. } => (
                BinOutcome::failed(action, task.clone(), Some(f.asset), ItemError::WindowClosed),
                false,
            ),
        })
    }

    /// Decides an early purge at `now` from the named tasks the store found.
    ///
    /// - A tombstone in its window is `PURGED` and changed: its window
    ///   closes now and its objects are due at once.
    /// - A tombstone past its window (expired, or purged before) is
    ///   `PURGED` again, unchanged: its objects are already due.
    /// - A live task fails with [`ItemError::NotDeleted`] (delete it
    ///   first); an unknown id with [`ItemError::UnknownTask`].
    pub fn purge(selection: &BinSelection, found: Vec<BinnedTask>, now: Timestamp) -> Self {
        let action = BinAction::Purge;
        decide(action, selection, found, |task, f| match f.state {
            BinState::Live => (
                BinOutcome::failed(action, task.clone(), Some(f.asset), ItemError::NotDeleted),
                false,
            ),
            BinState::Deleted { purge_at, .. } => (
                BinOutcome::done(action, task.clone(), f.asset),
                in_window(purge_at, now),
            ),
        })
    }

    /// Decides `action`'s call: [`Self::restore`] or [`Self::purge`].
    pub fn for_action(
        action: BinAction,
        selection: &BinSelection,
        found: Vec<BinnedTask>,
        now: Timestamp,
    ) -> Self {
        match action {
            BinAction::Restore => Self::restore(selection, found, now),
            BinAction::Purge => Self::purge(selection, found, now),
        }
    }

    /// Whether a store doing `action` may write this plan over `found`,
    /// the named tasks it found and locked: the plan MUST be `action`'s,
    /// and each task it changes one of them and a tombstone, and for a
    /// restore an intact one. A store asks this before it writes, so that
    /// no planner can make it revive a task whose objects may be gone, or
    /// purge a live one.
    pub fn may_change(
        &self,
        action: BinAction,
        found: &[BinnedTask],
    ) -> Result<(), UnchangeableTask> {
        let may = |task: &TaskId| {
            self.action == action
                && found
                    .iter()
                    .find(|f| f.task == *task)
                    .is_some_and(|f| match (action, f.state) {
                        (BinAction::Restore, BinState::Deleted { intact, .. }) => intact,
                        (BinAction::Purge, BinState::Deleted { .. }) => true,
                        (_, BinState::Live) => false,
                    })
        };
        match self.changed.iter().find(|task| !may(task)) {
            Some(task) => Err(UnchangeableTask {
                action,
                task: task.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether this is a restore's plan or a purge's.
    pub fn action(&self) -> BinAction {
        self.action
    }

    /// The answer's items, in order.
    pub fn items(&self) -> &[BinOutcome] {
        &self.items
    }

    /// The tasks whose stored state this call changes: restored to live,
    /// or purged now.
    pub fn changed(&self) -> &[TaskId] {
        &self.changed
    }

    /// The tasks this call changes, each with its asset, in the answer's
    /// order: what a restore's `thumbnails.restored` event lists.
    pub fn changed_tasks(&self) -> Vec<EventTask> {
        self.items
            .iter()
            .filter(|item| self.changed.contains(item.task_id()))
            .filter_map(|item| {
                item.asset_id().map(|asset| EventTask {
                    task: item.task_id().clone(),
                    asset: asset.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::fixtures::{a, t};
    use proptest::prelude::*;

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }
    fn sel(tasks: &[&str]) -> BinSelection {
        BinSelection::new(tasks.iter().map(|x| t(x)).collect()).unwrap()
    }
    fn deleted(task: &str, purge_at: i64, intact: bool) -> BinnedTask {
        BinnedTask {
            task: t(task),
            asset: a("a"),
            state: BinState::Deleted {
                purge_at: at(purge_at),
                intact,
            },
        }
    }
    fn live(task: &str) -> BinnedTask {
        BinnedTask {
            task: t(task),
            asset: a("a"),
            state: BinState::Live,
        }
    }

    #[test]
    fn purge_at_is_deletion_plus_retention_and_zero_is_no_window() {
        let week = Retention::new(Duration::from_secs(7 * 86_400)).unwrap();
        assert_eq!(week.purge_at(at(5)), at(5 + 7 * 86_400 * 1_000_000));
        assert_eq!(Retention::NONE.purge_at(at(5)), at(5));
        assert!(!in_window(Retention::NONE.purge_at(at(5)), at(5)));
        assert_eq!(Retention::default(), Retention::NONE);
    }

    #[test]
    fn a_retention_beyond_ten_years_is_refused() {
        assert_eq!(
            Retention::new(Retention::MAX + Duration::from_secs(1)),
            Err(RetentionError::TooLong)
        );
        assert!(Retention::new(Retention::MAX).is_ok());
    }

    #[test]
    fn the_window_closes_at_purge_at() {
        assert!(in_window(at(10), at(9)));
        assert!(!in_window(at(10), at(10)));
        assert!(!in_window(at(10), at(11)));
    }

    #[test]
    fn selections_take_one_to_ten_distinct_task_ids_only() {
        let s =
            BinSelection::from_query(&[("task_id", "t2"), ("task_id", "t1"), ("task_id", "t2")])
                .unwrap();
        assert_eq!(s.tasks(), [t("t2"), t("t1")]);
        assert_eq!(
            BinSelection::from_query::<&str, &str>(&[]),
            Err(BinSelectionError::NoTask)
        );
        assert_eq!(
            BinSelection::from_query(&[("asset_id", "a")]),
            Err(BinSelectionError::UnknownParameter("asset_id".into()))
        );
        let eleven: Vec<(String, String)> = (0..11)
            .map(|i| ("task_id".to_owned(), format!("t{i}")))
            .collect();
        assert_eq!(
            BinSelection::from_query(&eleven),
            Err(BinSelectionError::TooManyTasks(11))
        );
        assert!(matches!(
            BinSelection::from_query(&[("task_id", "bad id")]),
            Err(BinSelectionError::InvalidId(_))
        ));
    }

    const UNTOUCHED: QueuedObject = QueuedObject {
        leased: false,
        attempts: 0,
        parked: false,
        restorable: true,
    };

    #[test]
    fn a_tombstone_is_intact_with_all_its_objects_queued_and_untouched() {
        let all = QueuedObjects::tally([UNTOUCHED; 3]);
        assert_eq!(all.queued, 3);
        assert!(all.intact(3));
    }

    #[test]
    fn a_tombstone_missing_an_object_or_with_one_too_many_is_not_intact() {
        assert!(!QueuedObjects::tally([UNTOUCHED; 2]).intact(3));
        assert!(!QueuedObjects::tally([UNTOUCHED; 4]).intact(3));
        assert!(!QueuedObjects::default().intact(1));
    }

    #[test]
    fn one_leased_attempted_parked_or_unrestorable_object_breaks_intact() {
        let touched = [
            QueuedObject {
                leased: true,
                ..UNTOUCHED
            },
            QueuedObject {
                attempts: 1,
                ..UNTOUCHED
            },
            QueuedObject {
                parked: true,
                ..UNTOUCHED
            },
        ];
        for object in touched {
            assert!(!object.untouched(), "{object:?}");
            assert!(
                !QueuedObjects::tally([UNTOUCHED, object]).intact(2),
                "{object:?}"
            );
        }
        let unrestorable = QueuedObject {
            restorable: false,
            ..UNTOUCHED
        };
        assert!(unrestorable.untouched());
        assert!(!QueuedObjects::tally([UNTOUCHED, unrestorable]).intact(2));
    }

    #[test]
    fn statuses_keep_their_wire_spelling() {
        assert_eq!(BinStatus::Restored.as_str(), "RESTORED");
        assert_eq!(BinStatus::Purged.as_str(), "PURGED");
        assert_eq!(BinStatus::Failed.as_str(), "FAILED");
    }

    #[test]
    fn an_item_answers_what_its_call_did_or_failed() {
        let restore = BinPlan::restore(
            &sel(&["t", "live", "nope"]),
            vec![deleted("t", 100, false), live("live")],
            at(1),
        );
        let statuses: Vec<BinStatus> = restore.items().iter().map(BinOutcome::status).collect();
        assert_eq!(
            statuses,
            [BinStatus::Failed, BinStatus::Restored, BinStatus::Failed]
        );
        assert_eq!(restore.action(), BinAction::Restore);
        let purge = BinPlan::purge(
            &sel(&["t", "live"]),
            vec![deleted("t", 100, false), live("live")],
            at(1),
        );
        let statuses: Vec<BinStatus> = purge.items().iter().map(BinOutcome::status).collect();
        assert_eq!(statuses, [BinStatus::Purged, BinStatus::Failed]);
        assert_eq!(purge.action(), BinAction::Purge);
    }

    #[test]
    fn a_restore_in_the_window_revives_an_intact_tombstone() {
        let plan = BinPlan::restore(&sel(&["t"]), vec![deleted("t", 100, true)], at(99));
        assert_eq!(plan.items()[0].error(), None);
        assert_eq!(plan.items()[0].asset_id(), Some(&a("a")));
        assert_eq!(plan.changed(), [t("t")]);
    }

    #[test]
    fn the_changed_tasks_carry_their_assets_in_the_answers_order() {
        let plan = BinPlan::restore(
            &sel(&["t2", "live", "t1", "nope"]),
            vec![
                deleted("t1", 100, true),
                live("live"),
                deleted("t2", 100, true),
            ],
            at(1),
        );
        let tasks: Vec<(TaskId, AssetId)> = plan
            .changed_tasks()
            .into_iter()
            .map(|e| (e.task, e.asset))
            .collect();
        assert_eq!(tasks, [(t("t2"), a("a")), (t("t1"), a("a"))]);
    }

    #[test]
    fn a_live_task_is_restored_again_unchanged() {
        let plan = BinPlan::restore(&sel(&["t"]), vec![live("t")], at(99));
        assert_eq!(plan.items()[0].error(), None);
        assert!(plan.changed().is_empty());
    }

    #[test]
    fn a_restore_past_the_window_or_after_the_cleanup_began_fails() {
        let late = BinPlan::restore(&sel(&["t"]), vec![deleted("t", 100, true)], at(100));
        assert_eq!(late.items()[0].error(), Some(ItemError::WindowClosed));
        let touched = BinPlan::restore(&sel(&["t"]), vec![deleted("t", 100, false)], at(1));
        assert_eq!(touched.items()[0].error(), Some(ItemError::WindowClosed));
        assert!(late.changed().is_empty() && touched.changed().is_empty());
    }

    #[test]
    fn unknown_tasks_fail_without_an_asset() {
        let plan = BinPlan::restore(&sel(&["nope"]), vec![], at(1));
        assert_eq!(plan.items()[0].error(), Some(ItemError::UnknownTask));
        assert_eq!(plan.items()[0].asset_id(), None);
        let purge = BinPlan::purge(&sel(&["nope"]), vec![], at(1));
        assert_eq!(purge.items()[0].error(), Some(ItemError::UnknownTask));
    }

    #[test]
    fn a_purge_closes_an_open_window_and_repeats_idempotently() {
        let open = BinPlan::purge(&sel(&["t"]), vec![deleted("t", 100, true)], at(50));
        assert_eq!(open.items()[0].error(), None);
        assert_eq!(open.changed(), [t("t")]);
        let closed = BinPlan::purge(&sel(&["t"]), vec![deleted("t", 50, true)], at(50));
        assert_eq!(closed.items()[0].error(), None);
        assert!(closed.changed().is_empty());
    }

    #[test]
    fn a_live_task_cannot_be_purged() {
        let plan = BinPlan::purge(&sel(&["t"]), vec![live("t")], at(50));
        assert_eq!(plan.items()[0].error(), Some(ItemError::NotDeleted));
        assert!(plan.changed().is_empty());
    }

    #[test]
    fn a_store_may_write_a_plan_over_what_it_found_only() {
        let restore = BinPlan::restore(&sel(&["t"]), vec![deleted("t", 100, true)], at(1));
        let restoring = BinAction::Restore;
        assert_eq!(
            restore.may_change(restoring, &[deleted("t", 100, true)]),
            Ok(())
        );
        for found in [vec![], vec![live("t")], vec![deleted("t", 100, false)]] {
            let refused = restore.may_change(restoring, &found).unwrap_err();
            assert_eq!((refused.action, refused.task), (BinAction::Restore, t("t")));
        }

        let purge = BinPlan::purge(&sel(&["t"]), vec![deleted("t", 100, false)], at(1));
        let purging = BinAction::Purge;
        assert_eq!(
            purge.may_change(purging, &[deleted("t", 100, false)]),
            Ok(())
        );
        assert!(purge.may_change(purging, &[live("t")]).is_err());
        assert!(purge.may_change(purging, &[]).is_err());
        // A purge's plan handed to a restore (or the other way) is refused:
        // a restore must never revive what only a purge may touch.
        let refused = purge
            .may_change(restoring, &[deleted("t", 100, false)])
            .unwrap_err();
        assert_eq!((refused.action, refused.task), (BinAction::Restore, t("t")));
        assert!(
            restore
                .may_change(purging, &[deleted("t", 100, true)])
                .is_err()
        );
    }

    #[test]
    fn for_action_decides_the_actions_plan() {
        let found = vec![deleted("t", 100, true)];
        for action in [BinAction::Restore, BinAction::Purge] {
            let plan = BinPlan::for_action(action, &sel(&["t"]), found.clone(), at(1));
            assert_eq!(plan.action(), action);
            assert_eq!(plan.items()[0].status(), action.done());
        }
    }

    fn arb_found() -> impl Strategy<Value = Vec<BinnedTask>> {
        proptest::collection::vec(
            ("t[0-9]", proptest::option::of((0i64..200, any::<bool>()))),
            0..12,
        )
        .prop_map(|rows| {
            let mut seen = std::collections::HashSet::new();
            rows.into_iter()
                .filter(|(task, _)| seen.insert(task.clone()))
                .map(|(task, state)| match state {
                    None => live(&task),
                    Some((purge_at, intact)) => deleted(&task, purge_at, intact),
                })
                .collect()
        })
    }

    fn arb_object() -> impl Strategy<Value = QueuedObject> {
        (any::<bool>(), 0u32..3, any::<bool>(), any::<bool>()).prop_map(
            |(leased, attempts, parked, restorable)| QueuedObject {
                leased,
                attempts,
                parked,
                restorable,
            },
        )
    }

    proptest! {
        /// Counting by kind decides as checking each object would: intact
        /// exactly when there is one object per snapshot and each is
        /// untouched and restorable.
        #[test]
        fn intact_is_one_untouched_restorable_object_per_snapshot(
            objects in proptest::collection::vec(arb_object(), 0..6),
            snapshot_count in 0u64..6,
        ) {
            let each = objects.len() as u64 == snapshot_count
                && objects.iter().all(|o| o.untouched() && o.restorable);
            prop_assert_eq!(QueuedObjects::tally(objects).intact(snapshot_count), each);
        }

        /// One item per named task, in order; a restore changes only
        /// tombstones in their window with untouched objects, and every
        /// one of those answers RESTORED.
        #[test]
        fn a_restore_revives_exactly_the_intact_tombstones_in_their_window(
            tasks in proptest::collection::vec("t[0-9]", 1..10),
            found in arb_found(),
            now in 0i64..200,
        ) {
            let selection = BinSelection::new(tasks.iter().map(|x| t(x)).collect()).unwrap();
            let plan = BinPlan::restore(&selection, found.clone(), at(now));
            prop_assert_eq!(plan.items().len(), selection.tasks().len());
            for (item, task) in plan.items().iter().zip(selection.tasks()) {
                prop_assert_eq!(item.task_id(), task);
                let row = found.iter().find(|f| &f.task == task);
                let revivable = matches!(row.map(|r| r.state),
                    Some(BinState::Deleted { purge_at, intact: true }) if now < purge_at.as_micros());
                prop_assert_eq!(plan.changed().contains(task), revivable);
                let ok = revivable || matches!(row.map(|r| r.state), Some(BinState::Live));
                prop_assert_eq!(item.error().is_none(), ok);
            }
        }

        /// A purge never touches a live task and changes a tombstone only
        /// while its window is open; every tombstone answers PURGED.
        #[test]
        fn a_purge_changes_only_open_tombstones(
            tasks in proptest::collection::vec("t[0-9]", 1..10),
            found in arb_found(),
            now in 0i64..200,
        ) {
            let selection = BinSelection::new(tasks.iter().map(|x| t(x)).collect()).unwrap();
            let plan = BinPlan::purge(&selection, found.clone(), at(now));
            for (item, task) in plan.items().iter().zip(selection.tasks()) {
                let row = found.iter().find(|f| &f.task == task);
                let open = matches!(row.map(|r| r.state),
                    Some(BinState::Deleted { purge_at, .. }) if now < purge_at.as_micros());
                prop_assert_eq!(plan.changed().contains(task), open);
                let is_tombstone = matches!(row.map(|r| r.state), Some(BinState::Deleted { .. }));
                prop_assert_eq!(item.error().is_none(), is_tombstone);
            }
        }

        /// A store may always write the plan its planner made from what it
        /// found: the domain never plans a change the store would refuse.
        #[test]
        fn a_plan_may_change_what_it_was_decided_from(
            tasks in proptest::collection::vec("t[0-9]", 1..10),
            found in arb_found(),
            now in 0i64..200,
            restore in any::<bool>(),
        ) {
            let selection = BinSelection::new(tasks.iter().map(|x| t(x)).collect()).unwrap();
            let action = if restore { BinAction::Restore } else { BinAction::Purge };
            let plan = BinPlan::for_action(action, &selection, found.clone(), at(now));
            prop_assert_eq!(plan.may_change(action, &found), Ok(()));
        }
    }
}
