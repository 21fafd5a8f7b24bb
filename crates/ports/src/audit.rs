//! The audit trail: who registered, deleted, restored or purged what, and
//! who subscribed or removed which webhook, when, from where.

use async_trait::async_trait;
use vodsnap_domain::{
    AssetId, AuditStatus, BinAction, BinOutcome, BinPlan, BinSelection, DeleteSelection,
    EventTypes, ItemError, ItemOutcome, ProjectId, TaskId, Timestamp, WebhookId, WebhookUrl,
};

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
}

impl AuditAction {
    const ALL: [Self; 6] = [
        Self::Register,
        Self::Delete,
        Self::Restore,
        Self::Purge,
        Self::WebhookCreate,
        Self::WebhookDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Delete => "delete",
            Self::Restore => "restore",
            Self::Purge => "purge",
            Self::WebhookCreate => "webhook.create",
            Self::WebhookDelete => "webhook.delete",
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

impl From<&ItemOutcome> for AuditOutcome {
    fn from(item: &ItemOutcome) -> Self {
        Self {
            task: item.task_id().clone(),
            status: item.into(),
            reason: item.error(),
        }
    }
}

impl From<&BinOutcome> for AuditOutcome {
    fn from(item: &BinOutcome) -> Self {
        Self {
            task: item.task_id().clone(),
            status: item.into(),
            reason: item.error(),
        }
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
            at,
            project: project.clone(),
            actor: actor.clone(),
            action: AuditAction::Register,
            asset: Some(asset.clone()),
            requested: vec![task.clone()],
            outcomes: vec![AuditOutcome {
                task: task.clone(),
                status,
                reason: None,
            }],
            webhook: None,
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
            at,
            project: project.clone(),
            actor: actor.clone(),
            action: AuditAction::Delete,
            asset: selection.asset().cloned(),
            requested: selection.tasks().to_vec(),
            outcomes: items.iter().map(AuditOutcome::from).collect(),
            webhook: None,
        }
    }
}

impl AuditRecord {
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
            at,
            project: project.clone(),
            actor: actor.clone(),
            action: plan.action().into(),
            asset: None,
            requested: selection.tasks().to_vec(),
            outcomes: plan.items().iter().map(AuditOutcome::from).collect(),
            webhook: None,
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
        Self::of_webhook(
            project,
            AuditAction::WebhookCreate,
            AuditedWebhook {
                id: id.clone(),
                url: Some(url.audited()),
                events: Some(events.clone()),
            },
            at,
            actor,
        )
    }

    /// The record of a webhook removed, by its id.
    pub fn webhook_deleted(
        project: &ProjectId,
        id: &WebhookId,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self::of_webhook(
            project,
            AuditAction::WebhookDelete,
            AuditedWebhook {
                id: id.clone(),
                url: None,
                events: None,
            },
            at,
            actor,
        )
    }

    fn of_webhook(
        project: &ProjectId,
        action: AuditAction,
        webhook: AuditedWebhook,
        at: Timestamp,
        actor: &Actor,
    ) -> Self {
        Self {
            at,
            project: project.clone(),
            actor: actor.clone(),
            action,
            asset: None,
            requested: Vec::new(),
            outcomes: Vec::new(),
            webhook: Some(webhook),
        }
    }
}

/// Which records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub project: ProjectId,
    pub since: Option<Timestamp>,
    /// Only records that named or touched this task.
    pub task: Option<TaskId>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// The audit trail. Changes write their records through the store that
/// makes them, atomically; this port reads them and appends the records of
/// calls that changed nothing.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Records of `query.project`, oldest first, at most `query.limit`.
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError>;

    /// Appends the record of a call that changed nothing (a repeated
    /// registration). MUST be durable before it returns.
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError>;
}
