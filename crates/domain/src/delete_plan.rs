//! The delete plan: what one delete call does to each selected task, decided
//! from the rows a store found (and locked) for it.
//!
//! A store reads; this module decides; the store then writes exactly what
//! the plan says (the tombstones of [`DeletePlan::doomed`]) in the same
//! atomic step. Both stores therefore answer the same way by construction.

use std::collections::HashMap;

use crate::id::{AssetId, TaskId};
use crate::outcome::{DeleteReport, ItemError, ItemOutcome};
use crate::selection::DeleteSelection;

/// A task as a store found it for a delete, under the delete's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTask {
    pub task: TaskId,
    /// The task's own asset.
    pub asset: AssetId,
    /// Deleted by an earlier call (a tombstone).
    pub deleted: bool,
}

impl FoundTask {
    /// A live task.
    pub fn live(task: TaskId, asset: AssetId) -> Self {
        Self {
            task,
            asset,
            deleted: false,
        }
    }
}

/// What a delete call does: one outcome per item, in answer order, and the
/// live tasks it turns into tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan {
    items: Vec<ItemOutcome>,
    doomed: Vec<TaskId>,
}

impl DeletePlan {
    /// Decides a delete from what the store found.
    ///
    /// - By task ids (`found` holds the selected tasks that exist, in any
    ///   order): one item per selected id, in selection order. A tombstone
    ///   answers `DELETED` again with its own asset; an unknown id fails
    ///   with `UnknownTask`; with an asset as well, a task of another asset
    ///   fails with `OtherAsset` and stays. Only live tasks are doomed.
    /// - By asset alone (`found` holds the asset's oldest live tasks the
    ///   store could lock, oldest first): each is `DELETED` and doomed, at
    ///   most [`crate::MAX_TASKS_PER_CALL`]; rows that are not live or not
    ///   of the asset are ignored, so a store's mistake cannot widen a delete.
    ///
    /// ```
    /// use vodsnap_domain::{AssetId, DeletePlan, DeleteSelection, FoundTask, ItemError, TaskId};
    ///
    /// let (a1, a2) = (AssetId::parse("a1")?, AssetId::parse("a2")?);
    /// let [t1, t2, t3, gone] = ["t1", "t2", "t3", "gone"].map(|t| TaskId::parse(t).unwrap());
    /// let selection = DeleteSelection::new(
    ///     Some(a1.clone()),
    ///     vec![t1.clone(), t2.clone(), t3.clone(), gone],
    /// )?;
    /// // What the store found: t1 live, t2 deleted earlier, t3 of another asset.
    /// let found = vec![
    ///     FoundTask::live(t1.clone(), a1.clone()),
    ///     FoundTask { task: t2.clone(), asset: a1.clone(), deleted: true },
    ///     FoundTask::live(t3, a2),
    /// ];
    ///
    /// let plan = DeletePlan::decide(&selection, found);
    ///
    /// let errors: Vec<_> = plan.items().iter().map(|i| i.error()).collect();
    /// assert_eq!(
    ///     errors,
    ///     [None, None, Some(ItemError::OtherAsset), Some(ItemError::UnknownTask)]
    /// );
    /// assert_eq!(plan.doomed(), [t1]); // only the live task becomes a tombstone
    /// let report = plan.into_report(Some(0));
    /// assert_eq!((report.items.len(), report.remaining), (4, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide(selection: &DeleteSelection, found: Vec<FoundTask>) -> Self {
        if selection.is_asset_only() {
            return Self::of_asset(selection, found);
        }
        let wanted = selection.asset();
        let mut by_id: HashMap<TaskId, FoundTask> =
            found.into_iter().map(|f| (f.task.clone(), f)).collect();
        let mut plan = Self {
            items: Vec::with_capacity(selection.tasks().len()),
            doomed: Vec::new(),
        };
        for task in selection.tasks() {
            let failed = |error| ItemOutcome::failed(task.clone(), wanted.cloned(), error);
            let item = match by_id.remove(task) {
                None => failed(ItemError::UnknownTask),
                Some(f) if wanted.is_some_and(|w| *w != f.asset) => failed(ItemError::OtherAsset),
                Some(f) => {
                    if !f.deleted {
                        plan.doomed.push(task.clone());
                    }
                    ItemOutcome::deleted(task.clone(), f.asset)
                }
            };
            plan.items.push(item);
        }
        plan
    }

    fn of_asset(selection: &DeleteSelection, found: Vec<FoundTask>) -> Self {
        let Some(asset) = selection.asset() else {
            return Self {
                items: Vec::new(),
                doomed: Vec::new(),
            };
        };
        Self::of_asset_up_to(asset, found, crate::MAX_TASKS_PER_CALL)
    }

    /// One batch of an asset's purge (`found`: the asset's live tasks the
    /// store locked for it): each is `DELETED` and doomed, at most
    /// [`crate::PURGE_BATCH`], with the asset-only delete's guards (rows
    /// not live or of another asset are ignored).
    pub fn of_purge(asset: &AssetId, found: Vec<FoundTask>) -> Self {
        Self::of_asset_up_to(asset, found, crate::PURGE_BATCH)
    }

    fn of_asset_up_to(asset: &AssetId, found: Vec<FoundTask>, max: usize) -> Self {
        let mut plan = Self {
            items: Vec::new(),
            doomed: Vec::new(),
        };
        for f in found {
            if plan.doomed.len() == max {
                break;
            }
            if f.deleted || f.asset != *asset || plan.doomed.contains(&f.task) {
                continue;
            }
            plan.items
                .push(ItemOutcome::deleted(f.task.clone(), f.asset));
            plan.doomed.push(f.task);
        }
        plan
    }

    /// The answer's items, in order.
    pub fn items(&self) -> &[ItemOutcome] {
        &self.items
    }

    /// The live tasks this call turns into tombstones.
    pub fn doomed(&self) -> &[TaskId] {
        &self.doomed
    }

    /// The answer, given the live tasks of the selection's asset left once
    /// the plan is committed (`None` when the selection names no asset:
    /// `remaining` is then 0).
    pub fn into_report(self, live_left: Option<u64>) -> DeleteReport {
        DeleteReport {
            items: self.items,
            remaining: live_left.unwrap_or(0),
        }
    }
}

/// What a delete answers when the store failed, or could not say whether
/// it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutageAnswer {
    /// Named tasks: every item `UNKNOW` (safe to retry), as the contract's
    /// status is for.
    ItemsUnknown(DeleteReport),
    /// An asset-only delete has no items to name: the call fails (503).
    Unavailable,
}

impl OutageAnswer {
    /// The answer to `selection` when the store failed.
    ///
    /// ```
    /// use vodsnap_domain::{AssetId, DeleteSelection, DeleteStatus, OutageAnswer, TaskId};
    ///
    /// let by_task = DeleteSelection::new(None, vec![TaskId::parse("t1")?])?;
    /// let OutageAnswer::ItemsUnknown(report) = OutageAnswer::for_selection(&by_task) else {
    ///     panic!("a delete by task ids names its items");
    /// };
    /// assert_eq!(report.items[0].status(), DeleteStatus::Unknow);
    ///
    /// let by_asset = DeleteSelection::new(Some(AssetId::parse("a1")?), vec![])?;
    /// assert_eq!(OutageAnswer::for_selection(&by_asset), OutageAnswer::Unavailable);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_selection(selection: &DeleteSelection) -> Self {
        if selection.is_asset_only() {
            return Self::Unavailable;
        }
        Self::ItemsUnknown(DeleteReport {
            items: selection
                .tasks()
                .iter()
                .map(|t| {
                    ItemOutcome::failed(
                        t.clone(),
                        selection.asset().cloned(),
                        ItemError::Indeterminate,
                    )
                })
                .collect(),
            remaining: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::fixtures::{a, t};
    use crate::outcome::DeleteStatus;
    use proptest::prelude::*;

    fn by_tasks(asset: Option<&str>, tasks: &[&str]) -> DeleteSelection {
        DeleteSelection::new(asset.map(a), tasks.iter().map(|x| t(x)).collect()).unwrap()
    }
    fn found(task: &str, asset: &str, deleted: bool) -> FoundTask {
        FoundTask {
            task: t(task),
            asset: a(asset),
            deleted,
        }
    }

    #[test]
    fn a_purge_batch_dooms_up_to_a_thousand_live_tasks_of_its_asset_only() {
        let mut rows: Vec<FoundTask> = (0..1_005)
            .map(|i| found(&format!("t{i:04}"), "a1", false))
            .collect();
        rows.insert(0, found("other", "a2", false));
        rows.insert(1, found("gone", "a1", true));
        let plan = DeletePlan::of_purge(&a("a1"), rows);
        assert_eq!(plan.doomed().len(), crate::PURGE_BATCH);
        assert_eq!(plan.doomed()[0], t("t0000"));
        assert!(!plan.doomed().contains(&t("other")));
        assert!(!plan.doomed().contains(&t("gone")));
        assert_eq!(plan.items().len(), plan.doomed().len());
    }

    #[test]
    fn named_tasks_answer_in_selection_order() {
        let plan = DeletePlan::decide(
            &by_tasks(None, &["t2", "t1"]),
            vec![found("t1", "a", false), found("t2", "b", false)],
        );
        let order: Vec<&str> = plan.items().iter().map(|i| i.task_id().as_str()).collect();
        assert_eq!(order, ["t2", "t1"]);
        assert_eq!(plan.doomed(), [t("t2"), t("t1")]);
        assert_eq!(plan.items()[0].asset_id(), Some(&a("b")));
    }

    #[test]
    fn an_unknown_task_fails_with_the_selections_asset() {
        let plan = DeletePlan::decide(&by_tasks(Some("a"), &["nope"]), vec![]);
        assert_eq!(plan.items()[0].error(), Some(ItemError::UnknownTask));
        assert_eq!(plan.items()[0].asset_id(), Some(&a("a")));
        assert!(plan.doomed().is_empty());
    }

    #[test]
    fn a_task_of_another_asset_fails_and_stays() {
        let plan = DeletePlan::decide(&by_tasks(Some("a"), &["t"]), vec![found("t", "b", false)]);
        assert_eq!(plan.items()[0].error(), Some(ItemError::OtherAsset));
        assert!(plan.doomed().is_empty());
    }

    #[test]
    fn a_tombstone_answers_deleted_again_and_is_not_doomed_twice() {
        let plan = DeletePlan::decide(&by_tasks(None, &["t"]), vec![found("t", "b", true)]);
        assert_eq!(plan.items()[0].status(), DeleteStatus::Deleted);
        assert_eq!(plan.items()[0].asset_id(), Some(&a("b")));
        assert!(plan.doomed().is_empty());
    }

    #[test]
    fn a_tombstone_of_another_asset_fails() {
        let plan = DeletePlan::decide(&by_tasks(Some("a"), &["t"]), vec![found("t", "b", true)]);
        assert_eq!(plan.items()[0].error(), Some(ItemError::OtherAsset));
    }

    #[test]
    fn an_asset_delete_takes_the_found_live_tasks_of_its_asset_only() {
        let selection = DeleteSelection::new(Some(a("a")), vec![]).unwrap();
        let plan = DeletePlan::decide(
            &selection,
            vec![
                found("t1", "a", false),
                found("t2", "b", false),
                found("t3", "a", true),
                found("t4", "a", false),
            ],
        );
        assert_eq!(plan.doomed(), [t("t1"), t("t4")]);
        assert!(plan.items().iter().all(|i| i.error().is_none()));
    }

    #[test]
    fn remaining_is_what_the_store_counted_or_zero_without_an_asset() {
        let plan = DeletePlan::decide(&by_tasks(None, &["t"]), vec![found("t", "a", false)]);
        assert_eq!(plan.clone().into_report(None).remaining, 0);
        assert_eq!(plan.into_report(Some(4)).remaining, 4);
    }

    #[test]
    fn an_outage_answers_unknown_items_or_unavailable() {
        let OutageAnswer::ItemsUnknown(report) =
            OutageAnswer::for_selection(&by_tasks(Some("a"), &["t1", "t2"]))
        else {
            panic!("named tasks get items");
        };
        assert!(
            report
                .items
                .iter()
                .all(|i| i.status() == DeleteStatus::Unknow && i.asset_id() == Some(&a("a")))
        );
        let asset_only = DeleteSelection::new(Some(a("a")), vec![]).unwrap();
        assert_eq!(
            OutageAnswer::for_selection(&asset_only),
            OutageAnswer::Unavailable
        );
    }

    fn arb_found() -> impl Strategy<Value = Vec<FoundTask>> {
        proptest::collection::vec(("t[0-9]", "a[0-2]", any::<bool>()), 0..12).prop_map(|rows| {
            let mut seen = std::collections::HashSet::new();
            rows.into_iter()
                .filter(|(task, _, _)| seen.insert(task.clone()))
                .map(|(task, asset, deleted)| found(&task, &asset, deleted))
                .collect()
        })
    }

    proptest! {
        /// One item per selected task, in order; a task is doomed only if it
        /// was found live and of the selection's asset, and then it answers
        /// DELETED; nothing outside the selection is ever doomed.
        #[test]
        fn named_deletes_doom_only_found_live_tasks_of_the_asset(
            tasks in proptest::collection::vec("t[0-9]", 1..10),
            asset in proptest::option::of("a[0-2]"),
            found_rows in arb_found(),
        ) {
            let selection = DeleteSelection::new(
                asset.as_deref().map(a),
                tasks.iter().map(|x| t(x)).collect(),
            ).unwrap();
            let plan = DeletePlan::decide(&selection, found_rows.clone());
            prop_assert_eq!(plan.items().len(), selection.tasks().len());
            for (item, task) in plan.items().iter().zip(selection.tasks()) {
                prop_assert_eq!(item.task_id(), task);
            }
            for doomed in plan.doomed() {
                prop_assert!(selection.tasks().contains(doomed));
                let row = found_rows.iter().find(|f| &f.task == doomed).unwrap();
                prop_assert!(!row.deleted);
                prop_assert!(selection.asset().is_none_or(|w| *w == row.asset));
            }
            for item in plan.items() {
                let row = found_rows.iter().find(|f| &f.task == item.task_id());
                let deletable = row.is_some_and(|r| selection.asset().is_none_or(|w| *w == r.asset));
                prop_assert_eq!(item.error().is_none(), deletable);
            }
        }

        /// An asset-only delete dooms at most ten distinct live tasks of its asset.
        #[test]
        fn asset_deletes_doom_at_most_ten_live_tasks_of_the_asset(found_rows in arb_found()) {
            let selection = DeleteSelection::new(Some(a("a0")), vec![]).unwrap();
            let plan = DeletePlan::decide(&selection, found_rows.clone());
            prop_assert!(plan.doomed().len() <= crate::MAX_TASKS_PER_CALL);
            prop_assert_eq!(plan.items().len(), plan.doomed().len());
            for doomed in plan.doomed() {
                let row = found_rows.iter().find(|f| &f.task == doomed).unwrap();
                prop_assert!(!row.deleted && row.asset == a("a0"));
            }
        }
    }
}
