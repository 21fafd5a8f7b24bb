//! What the audit trail says happened to one task in an audited call.

use crate::outcome::{DeleteStatus, ItemError, ItemOutcome};
use crate::recycle::{BinOutcome, BinStatus};

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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bin_statuses_are_audited_as_answered() {
        for status in [BinStatus::Restored, BinStatus::Purged, BinStatus::Failed] {
            assert_eq!(AuditStatus::from(status).as_str(), status.as_str());
        }
    }
}
