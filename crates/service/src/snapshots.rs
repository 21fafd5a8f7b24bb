//! The snapshot use cases: register, list, details, delete, readiness
//! (the recycle bin's restore, purge and list are in [`crate::recycle_bin`]).

use std::sync::Arc;

use vodsnap_domain::{
    AuditStatus, DeletePlan, DeleteReport, DeleteSelection, DetailsPage, Event, EventId, EventTask,
    EventType, Existing, FoundTask, ListFilter, ListPage, NewTaskResult, OutageAnswer, ProjectId,
    RegistrationDecision, Retention, TaskId, TaskResult, Timestamp,
};
use vodsnap_ports::{
    Actor, AuditError, AuditLog, AuditRecord, Clock, DeleteError, DetailsError, Inserted,
    ListError, Listing, PingError, PlannedDelete, RegisterError, Registered, SnapshotPage, Stored,
    TaskResultStore,
};

/// The snapshot use cases, on a task-result store, its audit trail and a
/// clock, with the recycle bin's retention (none by default). Cheap to
/// clone.
#[derive(Clone)]
pub struct Snapshots {
    pub(crate) store: Arc<dyn TaskResultStore>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) retention: Retention,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").finish_non_exhaustive()
    }
}

impl Snapshots {
    pub fn new(
        store: Arc<dyn TaskResultStore>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            audit,
            clock,
            retention: Retention::NONE,
        }
    }

    /// The same use cases with a recycle bin: deleted task results stay
    /// restorable for `retention`, their objects kept until then.
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The recycle bin's retention.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Registers a task result: stored and audited if its id is free; the
    /// same body again answers the stored result (audited, nothing
    /// changed); a different body or a deleted id conflicts.
    pub async fn register(
        &self,
        new: NewTaskResult,
        actor: &Actor,
    ) -> Result<Registered, RegisterError> {
        let now = self.clock.now();
        let created = AuditRecord::registration(
            new.project(),
            new.asset(),
            new.task(),
            AuditStatus::Created,
            now,
            actor,
        );
        let registered = Event::of_task(
            new_event_id(),
            EventType::Registered,
            new.project().clone(),
            new.asset().clone(),
            new.task().clone(),
            now,
        );
        let stored = match self
            .store
            .insert(&new, now, &created, std::slice::from_ref(&registered))
            .await?
        {
            Inserted::Created(result) => return Ok(Registered::Created(result)),
            Inserted::Taken(stored) => stored,
            Inserted::AssetPurging => return Err(RegisterError::AssetPurging),
        };
        let decision = new.decide(match &stored {
            Stored::Live(result) => Existing::Live(result),
            Stored::Deleted => Existing::Deleted,
        });
        match (decision, stored) {
            (RegistrationDecision::AlreadyRegistered, Stored::Live(result)) => {
                let record = AuditRecord::registration(
                    new.project(),
                    new.asset(),
                    new.task(),
                    AuditStatus::AlreadyRegistered,
                    now,
                    actor,
                );
                self.audit.append(&record).await.map_err(|e| match e {
                    AuditError::Unavailable(e) => RegisterError::Unavailable(e),
                    AuditError::Unknown(e) => RegisterError::Unknown(e),
                })?;
                Ok(Registered::AlreadyRegistered(result))
            }
            (RegistrationDecision::ConflictsWithLive, _) => Err(RegisterError::ConflictsWithLive),
            (RegistrationDecision::ConflictsWithDeleted, _) => {
                Err(RegisterError::ConflictsWithDeleted)
            }
            (decision, _) => Err(RegisterError::Unknown(anyhow::anyhow!(
                "the store refused task id {} but the domain decided {decision:?}",
                new.task()
            ))),
        }
    }

    /// Live task results matching `filter`, oldest first.
    pub async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError> {
        self.store.list(project, filter, page).await
    }

    /// One live task's snapshots.
    pub async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError> {
        self.store.details(project, task, page).await
    }

    /// One live task result, or `None`.
    pub async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError> {
        self.store.get(project, task).await
    }

    /// Deletes the selected task results: the store locks, the domain
    /// plans, the store commits the plan with its audit record and the
    /// objects' cleanup items.
    ///
    /// When the store fails or cannot say whether it committed, a delete of
    /// named tasks answers every item `UNKNOW` (safe to retry); an
    /// asset-only delete returns the error.
    pub async fn delete(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        actor: &Actor,
    ) -> Result<DeleteReport, DeleteError> {
        let at = self.clock.now();
        let purge_at = self.retention.purge_at(at);
        let trace = vodsnap_ports::trace::current();
        let planner = |found: Vec<FoundTask>| {
            let plan = DeletePlan::decide(selection, found);
            let audit = AuditRecord::deletion(project, selection, plan.items(), at, actor);
            let events = deletion_event(project, selection, &plan, at)
                .into_iter()
                .collect();
            PlannedDelete {
                plan,
                audit,
                at,
                purge_at,
                events,
                trace: trace.clone(),
            }
        };
        match self.store.delete(project, selection, &planner).await {
            Ok(done) => Ok(done.planned.plan.into_report(done.live_left)),
            Err(error) => match OutageAnswer::for_selection(selection) {
                OutageAnswer::ItemsUnknown(report) => {
                    let cause = match &error {
                        DeleteError::Unavailable(c) | DeleteError::Unknown(c) => c,
                    };
                    tracing::warn!(error = format!("{cause:#}"), "delete outcome unknown");
                    Ok(report)
                }
                OutageAnswer::Unavailable => Err(error),
            },
        }
    }

    /// A dry run of [`Snapshots::delete`]: what it would answer now, found
    /// under the same locks and planned by the same domain rule, with
    /// nothing changed (no tombstone, no cleanup item, no audit record).
    ///
    /// A dry run that fails is an error for both selections: it wrote
    /// nothing, so there is no item whose outcome is unknown, and the
    /// honest answer is "try again" (503), not `UNKNOW` items.
    pub async fn delete_dry_run(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
    ) -> Result<DeleteReport, DeleteError> {
        let planner = |found: Vec<FoundTask>| DeletePlan::decide(selection, found);
        let preview = self
            .store
            .preview_delete(project, selection, &planner)
            .await?;
        Ok(preview.plan.into_report(preview.live_left))
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), PingError> {
        self.store.ping().await
    }
}

/// A fresh event id: 128 random bits, so that ids never repeat across
/// instances and restarts.
pub(crate) fn new_event_id() -> EventId {
    EventId::from_random(rand::random())
}

/// The `thumbnails.deleted` event of one delete call: the tasks its plan
/// tombstones, each with its asset; none when it tombstones nothing.
fn deletion_event(
    project: &ProjectId,
    selection: &DeleteSelection,
    plan: &DeletePlan,
    at: Timestamp,
) -> Option<Event> {
    let tombstoned = plan
        .items()
        .iter()
        .filter(|item| plan.doomed().contains(item.task_id()))
        .filter_map(|item| {
            item.asset_id().map(|asset| EventTask {
                task: item.task_id().clone(),
                asset: asset.clone(),
            })
        })
        .collect();
    Event::of_delete(
        new_event_id(),
        project.clone(),
        selection.asset().cloned(),
        tombstoned,
        at,
    )
}
