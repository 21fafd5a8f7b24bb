//! The recycle bin's use cases: restore, early purge, and the list of
//! restorable task results.
//!
//! The store finds and locks the named tasks (and a tombstone's queued
//! objects, so that the cleanup cannot take them meanwhile); the domain
//! decides ([`BinPlan::restore`], [`BinPlan::purge`]); the store commits
//! the plan with its audit record and its events. A planned change carries
//! everything the store writes with it ([`PlannedBinChange`]), so that all
//! of it is written in the same transaction.

use vodsnap_domain::{
    AssetId, BinAction, BinOutcome, BinPlan, BinSelection, BinnedTask, Event, ListPage, ProjectId,
};
use vodsnap_ports::{Actor, AuditRecord, BinError, DeletedListing, ListError, PlannedBinChange};

use crate::Snapshots;
use crate::snapshots::new_event_id;

impl Snapshots {
    /// Restores the named task results from the recycle bin: each in its
    /// window, with its objects untouched by the cleanup, is live again as
    /// it was; a live one answers restored again; the rest fail with a
    /// reason. Audited in the change's unit of work, with one
    /// `thumbnails.restored` event when it brought at least one task back.
    ///
    /// A store failure is an error (503): restores are idempotent, so the
    /// call is safe to retry whatever happened.
    pub async fn restore(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        actor: &Actor,
    ) -> Result<Vec<BinOutcome>, BinError> {
        self.bin_change(BinAction::Restore, project, selection, actor)
            .await
    }

    /// Purges the named task results from the recycle bin now: their
    /// window closes and their objects are due for removal at once. A
    /// tombstone whose window closed already answers purged again; a live
    /// or unknown task fails. Audited in the change's unit of work.
    pub async fn purge(
        &self,
        project: &ProjectId,
        selection: &BinSelection,
        actor: &Actor,
    ) -> Result<Vec<BinOutcome>, BinError> {
        self.bin_change(BinAction::Purge, project, selection, actor)
            .await
    }

    /// A restore or a purge: the store finds and locks, the domain plans
    /// `action`, the store commits.
    async fn bin_change(
        &self,
        action: BinAction,
        project: &ProjectId,
        selection: &BinSelection,
        actor: &Actor,
    ) -> Result<Vec<BinOutcome>, BinError> {
        let at = self.clock.now();
        let planner = |found: Vec<BinnedTask>| {
            let plan = BinPlan::for_action(action, selection, found, at);
            planned(project, selection, plan, at, actor)
        };
        let done = match action {
            BinAction::Restore => self.store.restore(project, selection, &planner).await?,
            BinAction::Purge => self.store.purge(project, selection, &planner).await?,
        };
        Ok(done.plan.items().to_vec())
    }

    /// The restorable task results, oldest deletion first.
    pub async fn deleted(
        &self,
        project: &ProjectId,
        asset: Option<AssetId>,
        page: ListPage,
    ) -> Result<DeletedListing, ListError> {
        self.store
            .deleted(project, asset, page, self.clock.now())
            .await
    }
}

fn planned(
    project: &ProjectId,
    selection: &BinSelection,
    plan: BinPlan,
    at: vodsnap_domain::Timestamp,
    actor: &Actor,
) -> PlannedBinChange {
    let audit = AuditRecord::bin_change(project, selection, &plan, at, actor);
    // A restore tells subscribers which tasks came back; a purge tells
    // nothing yet: `thumbnails.purged` comes from the cleanup, once the
    // objects are gone.
    let events = match plan.action() {
        BinAction::Restore => {
            Event::of_restore(new_event_id(), project.clone(), plan.changed_tasks(), at)
                .into_iter()
                .collect()
        }
        BinAction::Purge => Vec::new(),
    };
    PlannedBinChange {
        plan,
        audit,
        at,
        events,
    }
}
