//! What the audit trail records of a call: who made it, which action it
//! was, and what happened to each task it named.
//!
//! The records are decided here, from the domain's own answers (a delete's
//! items, a restore's or a purge's plan), so that the answer and its audit
//! record cannot disagree; the stores write them with the change they
//! record, and the `AuditLog` port reads them.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use crate::event::EventTypes;
use crate::id::{AssetId, ProjectId, TaskId};
use crate::outcome::{DeleteStatus, ItemError, ItemOutcome};
use crate::recycle::{BinAction, BinOutcome, BinPlan, BinSelection, BinStatus};
use crate::selection::DeleteSelection;
use crate::task_result::ObjectKey;
use crate::time::Timestamp;
use crate::webhook::WebhookId;
use crate::webhook_url::WebhookUrl;

/// A task's outcome in an audited call, spelled as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditStatus {
    /// A registration stored a new task result.
    Created,
    /// A registration repeated a stored one; nothing changed.
    AlreadyRegistered,
    /// A delete's item answered `DELETED`.
    Deleted,
    /// A delete's item answered `FAILED`.
    Failed,
    /// A delete's item answered `UNKNOW`.
    Unknow,
    /// A restore's item answered `RESTORED`.
    Restored,
    /// A purge's item answered `PURGED`.
    Purged,
}

impl AuditStatus {
    const ALL: [Self; 7] = [
        Self::Created,
        Self::AlreadyRegistered,
        Self::Deleted,
        Self::Failed,
        Self::Unknow,
        Self::Restored,
        Self::Purged,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::AlreadyRegistered => "ALREADY_REGISTERED",
            Self::Deleted => DeleteStatus::Deleted.as_str(),
            Self::Failed => DeleteStatus::Failed.as_str(),
            Self::Unknow => DeleteStatus::Unknow.as_str(),
            Self::Restored => BinStatus::Restored.as_str(),
            Self::Purged => BinStatus::Purged.as_str(),
        }
    }

    /// The status spelled `raw`, as [`Self::as_str`] writes it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl From<DeleteStatus> for AuditStatus {
    fn from(status: DeleteStatus) -> Self {
        match status {
            DeleteStatus::Deleted => Self::Deleted,
            DeleteStatus::Failed => Self::Failed,
            DeleteStatus::Unknow => Self::Unknow,
        }
    }
}

impl From<&ItemOutcome> for AuditStatus {
    fn from(item: &ItemOutcome) -> Self {
        item.status().into()
    }
}

impl From<BinStatus> for AuditStatus {
    fn from(status: BinStatus) -> Self {
        match status {
            BinStatus::Restored => Self::Restored,
            BinStatus::Purged => Self::Purged,
            BinStatus::Failed => Self::Failed,
        }
    }
}

impl From<&BinOutcome> for AuditStatus {
    fn from(item: &BinOutcome) -> Self {
        item.status().into()
    }
}

impl ItemError {
    const ALL: [Self; 5] = [
        Self::UnknownTask,
        Self::OtherAsset,
        Self::Indeterminate,
        Self::WindowClosed,
        Self::NotDeleted,
    ];

    /// The reason as the audit trail stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTask => "unknown_task",
            Self::OtherAsset => "other_asset",
            Self::Indeterminate => "indeterminate",
            Self::WindowClosed => "window_closed",
            Self::NotDeleted => "not_deleted",
        }
    }

    /// The reason spelled `raw`, as [`Self::as_str`] writes it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }
}

/// Who made a change, carried into the store so that the audit record is
/// written with the change itself (for PostgreSQL: in its transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `ak:{AK}` or `token:{subject}`; never a secret.
    pub principal: String,
    pub request_id: String,
    /// The client's address, as the server saw it.
    pub client: Option<String>,
}

impl Actor {
    /// An actor for changes made by vodsnap itself (demo data, tools).
    pub fn system(what: &str) -> Self {
        Self {
            principal: format!("system:{what}"),
            request_id: String::new(),
            client: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Register,
    Delete,
    /// A restore from the recycle bin.
    Restore,
    /// An early purge from the recycle bin.
    Purge,
    /// A webhook subscribed.
    WebhookCreate,
    /// A webhook removed.
    WebhookDelete,
    /// Orphans queued for the cleanup by `vodsnap reconcile
    /// --remove-orphans` (their keys in [`AuditRecord::objects`]).
    ReconcileQueue,
    /// An asset's purge asked for (`DeleteAssets`): one record per asset
    /// of the call, with its caller; the purge's batches are `delete`
    /// records of `system:asset-purge`.
    AssetDelete,
}

impl AuditAction {
    const ALL: [Self; 8] = [
        Self::Register,
        Self::Delete,
        Self::Restore,
        Self::Purge,
        Self::WebhookCreate,
        Self::WebhookDelete,
        Self::ReconcileQueue,
        Self::AssetDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Delete => "delete",
            Self::Restore => "restore",
            Self::Purge => "purge",
            Self::WebhookCreate => "webhook.create",
            Self::WebhookDelete => "webhook.delete",
            Self::ReconcileQueue => "reconcile.queue",
            Self::AssetDelete => "asset.delete",
        }
    }

    /// The action spelled `raw`, as [`Self::as_str`] writes it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl From<BinAction> for AuditAction {
    fn from(action: BinAction) -> Self {
        match action {
            BinAction::Restore => Self::Restore,
            BinAction::Purge => Self::Purge,
        }
    }
}

/// What happened to one task in an audited call, with the reason of a
/// failed delete item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOutcome {
    pub task: TaskId,
    pub status: AuditStatus,
    pub reason: Option<ItemError>,
}

impl AuditOutcome {
    /// `item`'s task and reason, with the status its call answered.
    fn of(item: &ItemOutcome, status: AuditStatus) -> Self {
        Self {
            task: item.task_id().clone(),
            status,
            reason: item.error(),
        }
    }
}

impl From<&ItemOutcome> for AuditOutcome {
    fn from(item: &ItemOutcome) -> Self {
        Self::of(item, item.into())
    }
}

impl From<&BinOutcome> for AuditOutcome {
    fn from(item: &BinOutcome) -> Self {
        Self::of(item.item(), item.into())
    }
}

/// The webhook an audited call subscribed or removed. Never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedWebhook {
    pub id: WebhookId,
    /// The subscribed URL without its query and fragment
    /// ([`WebhookUrl::audited`]: they may carry the receiver's own token);
    /// `None` for a removal, which names the webhook by id only.
    pub url: Option<String>,
    /// The event types subscribed; `None` for a removal.
    pub events: Option<EventTypes>,
}

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub project: ProjectId,
    pub actor: Actor,
    pub action: AuditAction,
    /// The asset the call named (the registration's, or the delete's
    /// `asset_id`).
    pub asset: Option<AssetId>,
    /// The task ids the call named (empty for an asset-only delete).
    pub requested: Vec<TaskId>,
    pub outcomes: Vec<AuditOutcome>,
    /// The webhook of a `webhook.create` or `webhook.delete` record; `None`
    /// for the task results' records.
    pub webhook: Option<AuditedWebhook>,
    /// The object keys a `reconcile.queue` record queued; empty on the
    /// other records.
    pub objects: Vec<ObjectKey>,
}

impl AuditRecord {
    /// The record of a registration answered `status` (`Created` or
    /// `AlreadyRegistered`).
    pub fn registration(
        project: &ProjectId,
        asset: &AssetId,
        task: &TaskId,
        status: AuditStatus,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            asset: Some(asset.clone()),
            requested: vec![task.clone()],
            outcomes: vec![AuditOutcome {
                task: task.clone(),
                status,
                reason: None,
            }],
            ..Self::of(project, AuditAction::Register, at, actor)
        }
    }

    /// The record of an answered delete.
    pub fn deletion(
        project: &ProjectId,
        selection: &DeleteSelection,
        items: &[ItemOutcome],
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            asset: selection.asset().cloned(),
            requested: selection.tasks().to_vec(),
            outcomes: items.iter().map(AuditOutcome::from).collect(),
            ..Self::of(project, AuditAction::Delete, at, actor)
        }
    }

    /// The record of an answered restore or purge: the plan's action and
    /// its items' statuses, as the answer gives them.
    pub fn bin_change(
        project: &ProjectId,
        selection: &BinSelection,
        plan: &BinPlan,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            requested: selection.tasks().to_vec(),
            outcomes: plan.items().iter().map(AuditOutcome::from).collect(),
            ..Self::of(project, plan.action().into(), at, actor)
        }
    }

    /// The record of a webhook subscribed: its id, its URL without query
    /// and fragment, its events; never its secret.
    pub fn webhook_created(
        project: &ProjectId,
        id: &WebhookId,
        url: &WebhookUrl,
        events: &EventTypes,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            webhook: Some(AuditedWebhook {
                id: id.clone(),
                url: Some(url.audited()),
                events: Some(events.clone()),
            }),
            ..Self::of(project, AuditAction::WebhookCreate, at, actor)
        }
    }

    /// The record of a webhook removed, by its id.
    pub fn webhook_deleted(
        project: &ProjectId,
        id: &WebhookId,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            webhook: Some(AuditedWebhook {
                id: id.clone(),
                url: None,
                events: None,
            }),
            ..Self::of(project, AuditAction::WebhookDelete, at, actor)
        }
    }

    /// The record of orphans queued for the cleanup by a reconciliation.
    pub fn orphans_queued(
        project: &ProjectId,
        objects: &[ObjectKey],
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            objects: objects.to_vec(),
            ..Self::of(project, AuditAction::ReconcileQueue, at, actor)
        }
    }

    /// The records of a `DeleteAssets` call: one `asset.delete` per asset
    /// it named (in its order), each with the caller, so that `vodsnap
    /// audit` finds who asked for an asset's purge. They name no task:
    /// the purge's batches record those, as `system:asset-purge`.
    pub fn asset_deletions(
        project: &ProjectId,
        assets: &[AssetId],
        at: Timestamp,
        actor: &Actor,
    ) -> Vec<Self> {
        assets
            .iter()
            .map(|asset| Self {
                asset: Some(asset.clone()),
                ..Self::of(project, AuditAction::AssetDelete, at, actor)
            })
            .collect()
    }

    /// A record of `action` that names nothing yet: each constructor
    /// above fills in what its call named.
    fn of(project: &ProjectId, action: AuditAction, at: Timestamp, actor: &Actor) -> Self {
        Self {
            at,
            project: project.clone(),
            actor: actor.clone(),
            action,
            asset: None,
            requested: Vec::new(),
            outcomes: Vec::new(),
            webhook: None,
            objects: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::fixtures::{a, t};

    #[test]
    fn every_status_parses_back() {
        for status in AuditStatus::ALL {
            assert_eq!(AuditStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(AuditStatus::parse("deleted"), None);
    }

    #[test]
    fn every_reason_parses_back() {
        for reason in ItemError::ALL {
            assert_eq!(ItemError::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(ItemError::parse(""), None);
    }

    #[test]
    fn delete_statuses_keep_their_wire_spelling() {
        assert_eq!(AuditStatus::from(DeleteStatus::Unknow).as_str(), "UNKNOW");
        assert_eq!(AuditStatus::from(DeleteStatus::Deleted).as_str(), "DELETED");
    }

    fn p() -> ProjectId {
        ProjectId::parse("p").unwrap()
    }
    fn at() -> Timestamp {
        Timestamp::from_micros(7)
    }

    #[test]
    fn every_action_parses_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("Register"), None);
    }

    #[test]
    fn a_delete_assets_call_records_each_asset_with_its_caller() {
        let actor = Actor {
            principal: "ak:AK1".into(),
            request_id: "r1".into(),
            client: None,
        };
        let records = AuditRecord::asset_deletions(&p(), &[a("x"), a("y")], at(), &actor);
        let named: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.action.as_str(),
                    r.asset.clone(),
                    r.actor.principal.as_str(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [
                ("asset.delete", Some(a("x")), "ak:AK1"),
                ("asset.delete", Some(a("y")), "ak:AK1")
            ]
        );
        assert!(records.iter().all(|r| r.outcomes.is_empty()));
    }

    #[test]
    fn a_registration_records_its_one_task_and_status() {
        let actor = Actor::system("test");
        let record = AuditRecord::registration(
            &p(),
            &a("a"),
            &t("t"),
            AuditStatus::AlreadyRegistered,
            at(),
            &actor,
        );
        assert_eq!(record.action, AuditAction::Register);
        assert_eq!(record.asset, Some(a("a")));
        assert_eq!(record.requested, [t("t")]);
        assert_eq!(record.outcomes[0].status, AuditStatus::AlreadyRegistered);
        assert_eq!(
            (record.at, record.actor, record.webhook),
            (at(), actor, None)
        );
    }

    #[test]
    fn a_deletion_records_each_items_status_and_reason() {
        let selection =
            DeleteSelection::new(Some(a("a")), vec![t("t1"), t("t2"), t("t3")]).unwrap();
        let items = [
            ItemOutcome::deleted(t("t1"), a("a")),
            ItemOutcome::failed(t("t2"), Some(a("b")), ItemError::OtherAsset),
            ItemOutcome::failed(t("t3"), None, ItemError::Indeterminate),
        ];
        let record = AuditRecord::deletion(&p(), &selection, &items, at(), &Actor::system("x"));
        assert_eq!(record.action, AuditAction::Delete);
        assert_eq!(record.asset, Some(a("a")));
        let outcomes: Vec<(AuditStatus, Option<ItemError>)> = record
            .outcomes
            .iter()
            .map(|o| (o.status, o.reason))
            .collect();
        assert_eq!(
            outcomes,
            [
                (AuditStatus::Deleted, None),
                (AuditStatus::Failed, Some(ItemError::OtherAsset)),
                (AuditStatus::Unknow, Some(ItemError::Indeterminate)),
            ]
        );
    }

    #[test]
    fn a_bin_change_records_the_plans_action_and_statuses() {
        let selection = BinSelection::new(vec![t("t1"), t("nope")]).unwrap();
        let found = vec![crate::recycle::BinnedTask {
            task: t("t1"),
            asset: a("a"),
            state: crate::recycle::BinState::Live,
        }];
        let restore = BinPlan::restore(&selection, found.clone(), at());
        let record = AuditRecord::bin_change(&p(), &selection, &restore, at(), &Actor::system("x"));
        assert_eq!(record.action, AuditAction::Restore);
        assert_eq!(record.requested, [t("t1"), t("nope")]);
        let statuses: Vec<AuditStatus> = record.outcomes.iter().map(|o| o.status).collect();
        assert_eq!(statuses, [AuditStatus::Restored, AuditStatus::Failed]);
        assert_eq!(record.outcomes[1].reason, Some(ItemError::UnknownTask));

        let purge = BinPlan::purge(&selection, found, at());
        let record = AuditRecord::bin_change(&p(), &selection, &purge, at(), &Actor::system("x"));
        assert_eq!(record.action, AuditAction::Purge);
        assert_eq!(record.outcomes[0].reason, Some(ItemError::NotDeleted));
    }

    #[test]
    fn a_webhook_is_recorded_without_its_urls_query_and_removed_by_id() {
        let id = WebhookId::from_random(1);
        let url = WebhookUrl::parse("https://example.com/hook?token=s3cret#f").unwrap();
        let created = AuditRecord::webhook_created(
            &p(),
            &id,
            &url,
            &EventTypes::all(),
            at(),
            &Actor::system("x"),
        );
        assert_eq!(created.action, AuditAction::WebhookCreate);
        let webhook = created.webhook.unwrap();
        assert_eq!(webhook.url.as_deref(), Some("https://example.com/hook"));
        assert_eq!(webhook.events, Some(EventTypes::all()));
        assert!(created.requested.is_empty() && created.outcomes.is_empty());

        let deleted = AuditRecord::webhook_deleted(&p(), &id, at(), &Actor::system("x"));
        assert_eq!(deleted.action, AuditAction::WebhookDelete);
        assert_eq!(
            deleted.webhook,
            Some(AuditedWebhook {
                id,
                url: None,
                events: None
            })
        );
    }

    #[test]
    fn bin_statuses_are_audited_as_answered() {
        for status in [BinStatus::Restored, BinStatus::Purged, BinStatus::Failed] {
            assert_eq!(AuditStatus::from(status).as_str(), status.as_str());
        }
    }
}
