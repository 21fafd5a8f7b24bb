//! The outcome of a delete: one item per selected task, with its status.

use crate::id::{AssetId, TaskId};

/// The per-item status, spelled exactly as on the wire (`UNKNOW` is Huawei's
/// spelling and part of the API).
///
/// ```
/// use vodsnap_domain::{DeleteStatus, ItemError};
///
/// assert_eq!(DeleteStatus::Unknow.as_str(), "UNKNOW");
/// assert_eq!(ItemError::UnknownTask.status(), DeleteStatus::Failed);
/// assert_eq!(ItemError::Indeterminate.status(), DeleteStatus::Unknow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteStatus {
    /// Deleted now or by an earlier call; durable.
    Deleted,
    /// Not deleted, for the reason in the item's error.
    Failed,
    /// The outcome could not be determined; safe to retry.
    Unknow,
}

impl DeleteStatus {
    /// The wire spelling: `DELETED`, `FAILED` or `UNKNOW`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "DELETED",
            Self::Failed => "FAILED",
            Self::Unknow => "UNKNOW",
        }
    }
}

/// Why an item was not deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemError {
    /// No such task in the project (`VOD.10062`).
    UnknownTask,
    /// The task belongs to another asset than the selection's (`VOD.10053`).
    OtherAsset,
    /// The store could not say what happened (`VOD.10052`).
    Indeterminate,
    /// A restore of a tombstone whose recycle-bin window has closed: it
    /// expired, was purged, or its objects' cleanup has begun
    /// (`VODSNAP.0410`).
    WindowClosed,
    /// A purge of a live task: only deleted tasks are in the recycle bin
    /// (`VODSNAP.0412`).
    NotDeleted,
}

impl ItemError {
    /// The item's status: `UNKNOW` for [`ItemError::Indeterminate`] (retry),
    /// `FAILED` otherwise.
    pub const fn status(self) -> DeleteStatus {
        match self {
            Self::UnknownTask | Self::OtherAsset | Self::WindowClosed | Self::NotDeleted => {
                DeleteStatus::Failed
            }
            Self::Indeterminate => DeleteStatus::Unknow,
        }
    }
}

/// One item of a delete result: the task, its asset, and why it failed if
/// it did. A restore's or a purge's item is one too, with the call's
/// action ([`crate::BinOutcome`]).
///
/// ```
/// use vodsnap_domain::{AssetId, DeleteStatus, ItemError, ItemOutcome, TaskId};
///
/// let (task, asset) = (TaskId::parse("t1")?, AssetId::parse("a1")?);
/// let done = ItemOutcome::deleted(task.clone(), asset.clone());
/// assert_eq!((done.status(), done.asset_id()), (DeleteStatus::Deleted, Some(&asset)));
///
/// let failed = ItemOutcome::failed(task, None, ItemError::UnknownTask);
/// assert_eq!(failed.status(), DeleteStatus::Failed);
/// assert_eq!(failed.error(), Some(ItemError::UnknownTask));
/// # Ok::<(), vodsnap_domain::IdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    task_id: TaskId,
    asset_id: Option<AssetId>,
    error: Option<ItemError>,
}

impl ItemOutcome {
    /// The task is deleted (now or earlier); `asset_id` is the task's own.
    pub fn deleted(task_id: TaskId, asset_id: AssetId) -> Self {
        Self::done(task_id, asset_id)
    }

    /// The call did to the task what it asks (a delete, a restore or a
    /// purge); `asset_id` is the task's own.
    pub(crate) fn done(task_id: TaskId, asset_id: AssetId) -> Self {
        Self {
            task_id,
            asset_id: Some(asset_id),
            error: None,
        }
    }

    /// The call did not do to the task what it asks. `asset_id` is the
    /// task's asset when known, else the selection's.
    pub fn failed(task_id: TaskId, asset_id: Option<AssetId>, error: ItemError) -> Self {
        Self {
            task_id,
            asset_id,
            error: Some(error),
        }
    }

    /// The task the item is about.
    pub fn task_id(&self) -> &TaskId {
        &self.task_id
    }

    /// The task's own asset, or the selection's when the task was not
    /// found (`None` when the selection named none).
    pub fn asset_id(&self) -> Option<&AssetId> {
        self.asset_id.as_ref()
    }

    /// Why the item failed; `None` when it is done.
    pub fn error(&self) -> Option<ItemError> {
        self.error
    }

    /// The item's wire status, from its error.
    pub fn status(&self) -> DeleteStatus {
        self.error.map_or(DeleteStatus::Deleted, ItemError::status)
    }
}

/// The answer to a valid delete call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteReport {
    pub items: Vec<ItemOutcome>,
    /// Live task results of the selection's asset left after this call; 0
    /// for a call by task ids alone.
    pub remaining: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_exact() {
        assert_eq!(DeleteStatus::Deleted.as_str(), "DELETED");
        assert_eq!(DeleteStatus::Failed.as_str(), "FAILED");
        assert_eq!(DeleteStatus::Unknow.as_str(), "UNKNOW");
    }

    #[test]
    fn status_follows_the_error() {
        let t = TaskId::parse("t").unwrap();
        let a = AssetId::parse("a").unwrap();
        assert_eq!(
            ItemOutcome::deleted(t.clone(), a.clone()).status(),
            DeleteStatus::Deleted
        );
        assert_eq!(
            ItemOutcome::failed(t.clone(), None, ItemError::UnknownTask).status(),
            DeleteStatus::Failed
        );
        assert_eq!(
            ItemOutcome::failed(t.clone(), Some(a), ItemError::OtherAsset).status(),
            DeleteStatus::Failed
        );
        assert_eq!(
            ItemOutcome::failed(t, None, ItemError::Indeterminate).status(),
            DeleteStatus::Unknow
        );
    }
}
