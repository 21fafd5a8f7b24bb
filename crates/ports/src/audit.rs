//! The audit trail: who registered and deleted what, when, from where.

use async_trait::async_trait;
use vodsnap_domain::{
    AssetId, DeleteSelection, ItemError, ItemOutcome, ProjectId, TaskId, Timestamp,
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
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Delete => "delete",
        }
    }
}

/// What happened to one task in an audited call: `CREATED` or
/// `ALREADY_REGISTERED` for a registration; `DELETED`, `FAILED` or
/// `UNKNOW` for a delete, with the reason of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOutcome {
    pub task: TaskId,
    pub status: String,
    pub reason: Option<String>,
}

impl From<&ItemOutcome> for AuditOutcome {
    fn from(item: &ItemOutcome) -> Self {
        Self {
            task: item.task_id().clone(),
            status: item.status().as_str().to_owned(),
            reason: item.error().map(|e| {
                match e {
                    ItemError::UnknownTask => "unknown_task",
                    ItemError::OtherAsset => "other_asset",
                    ItemError::Indeterminate => "indeterminate",
                }
                .to_owned()
            }),
        }
    }
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
}

impl AuditRecord {
    /// The record of a registration answered `status` (`CREATED` or
    /// `ALREADY_REGISTERED`).
    pub fn registration(
        project: &ProjectId,
        asset: &AssetId,
        task: &TaskId,
        status: &str,
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
                status: status.to_owned(),
                reason: None,
            }],
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

/// Reads the audit trail that the task-result store writes.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Records of `query.project`, oldest first, at most `query.limit`.
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError>;
}
