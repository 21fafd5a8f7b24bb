//! The JSON shapes on the wire, mapped to and from the domain.
//!
//! Field names are Huawei's; extension fields (`remaining`, `error_code`,
//! `created_at`, ...) are additions the SDKs ignore.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vodsnap_domain::{
    AssetId, BinOutcome, DeleteReport, DeletedTask, ItemError, ItemOutcome, NewTaskResult,
    ObjectKey, ProjectId, Snapshot, TaskId, TaskResult, TaskSummary, ThumbnailKind, ThumbnailPara,
    ThumbnailParaInput, Timestamp,
};

use crate::error::{ApiError, code};

/// Body of `POST /v1/{project_id}/asset/thumbnails`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    asset_id: String,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    task_id: String,
    thumbnail_para: ParaBody,
    #[schema(min_items = 1, max_items = 10000)]
    thumbnails: Vec<SnapshotBody>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParaBody {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ParaKind, required = true)]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<u64>>, min_items = 1, max_items = 10000)]
    dots: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10)]
    quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    quantity_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    cover_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1)]
    format: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    aspect_ratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    max_length: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SnapshotBody {
    #[schema(minimum = 0, maximum = 2147483647)]
    offset: i64,
    #[schema(min_length = 1, max_length = 1024)]
    object_key: String,
}

/// The snapshot type of `thumbnail_para` (the schema of `type` only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // documents the wire; the domain parses the string
pub(crate) enum ParaKind {
    Time,
    Dots,
    Quantity,
}

/// The status of one item of a delete (the schema of `status` only).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)] // documents the wire; the domain names the status
pub(crate) enum DeleteStatus {
    DELETED,
    FAILED,
    UNKNOW,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_parameter(e.to_string())
}

impl RegisterBody {
    pub(crate) fn try_into_domain(self, project: ProjectId) -> Result<NewTaskResult, ApiError> {
        let asset = AssetId::parse(&self.asset_id).map_err(bad)?;
        let task = TaskId::parse(&self.task_id).map_err(bad)?;
        let para = ThumbnailPara::parse(ThumbnailParaInput {
            kind: self.thumbnail_para.kind,
            time: self.thumbnail_para.time,
            dots: self.thumbnail_para.dots,
            quantity: self.thumbnail_para.quantity,
            quantity_time: self.thumbnail_para.quantity_time,
            cover_position: self.thumbnail_para.cover_position,
            format: self.thumbnail_para.format,
            aspect_ratio: self.thumbnail_para.aspect_ratio,
            max_length: self.thumbnail_para.max_length,
        })
        .map_err(bad)?;
        let snapshots = self
            .thumbnails
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let key = ObjectKey::parse(&s.object_key)
                    .map_err(|e| ApiError::bad_parameter(format!("thumbnails[{i}]: {e}")))?;
                Snapshot::new(s.offset, key)
                    .map_err(|e| ApiError::bad_parameter(format!("thumbnails[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        NewTaskResult::new(project, asset, task, para, snapshots).map_err(bad)
    }
}

impl From<&ThumbnailPara> for ParaBody {
    fn from(para: &ThumbnailPara) -> Self {
        let mut body = Self {
            kind: Some(para.kind_name().to_owned()),
            time: None,
            dots: None,
            quantity: None,
            quantity_time: None,
            cover_position: Some(para.cover_position()),
            format: Some(para.format()),
            aspect_ratio: Some(para.aspect_ratio()),
            max_length: para.max_length(),
        };
        match para.kind() {
            ThumbnailKind::Time { time } => body.time = Some(*time),
            ThumbnailKind::Dots { dots } => body.dots = Some(dots.clone()),
            ThumbnailKind::Quantity {
                quantity,
                quantity_time,
            } => {
                body.quantity = Some(*quantity);
                body.quantity_time = *quantity_time;
            }
        }
        body
    }
}

/// RFC 3339, UTC, microseconds.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    DateTime::from_timestamp_micros(at.as_micros())
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// A stored task result, as registration answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskResultBody {
    asset_id: String,
    task_id: String,
    thumbnail_para: ParaBody,
    thumbnail_count: usize,
    #[schema(format = DateTime)]
    created_at: String,
    thumbnails: Vec<StoredSnapshotBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoredSnapshotBody {
    offset: i64,
    object_key: String,
}

impl From<&TaskResult> for TaskResultBody {
    fn from(r: &TaskResult) -> Self {
        Self {
            asset_id: r.asset().as_str().to_owned(),
            task_id: r.task().as_str().to_owned(),
            thumbnail_para: r.para().into(),
            thumbnail_count: r.snapshots().len(),
            created_at: rfc3339(r.created_at()),
            thumbnails: r
                .snapshots()
                .iter()
                .map(|s| StoredSnapshotBody {
                    offset: s.offset(),
                    object_key: s.object_key().as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/{project_id}/asset/thumbnails`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListBody {
    pub total: u64,
    pub thumbnails: Vec<SummaryBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SummaryBody {
    task_id: String,
    asset_id: String,
    thumbnail_para: ParaBody,
    thumbnail_count: usize,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<&TaskSummary> for SummaryBody {
    fn from(s: &TaskSummary) -> Self {
        Self {
            task_id: s.task.as_str().to_owned(),
            asset_id: s.asset.as_str().to_owned(),
            thumbnail_para: (&s.para).into(),
            thumbnail_count: s.snapshot_count,
            created_at: rfc3339(s.created_at),
        }
    }
}

/// `GET /v1/{project_id}/asset/thumbnail/details`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetailsBody {
    pub total: u64,
    pub thumbnail_result: Vec<DetailBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetailBody {
    pub offset: i64,
    pub url: String,
}

/// `DELETE /v1/{project_id}/asset/thumbnails`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeleteBody {
    delete_result_array: Vec<DeleteItemBody>,
    remaining: u64,
    /// `true` on a dry run's answer (a vodsnap extension); absent on a delete's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    dry_run: Option<bool>,
}

impl DeleteBody {
    /// The answer of a dry run: the report of what the delete would do.
    pub(crate) fn dry_run(report: &DeleteReport) -> Self {
        Self {
            dry_run: Some(true),
            ..Self::from(report)
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeleteItemBody {
    asset_id: String,
    task_id: String,
    #[schema(value_type = DeleteStatus)]
    status: &'static str,
    /// On `FAILED` and `UNKNOW` items only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error_code: Option<&'static str>,
    /// On `FAILED` and `UNKNOW` items only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error_msg: Option<&'static str>,
}

fn item_error(error: ItemError) -> (&'static str, &'static str) {
    match error {
        ItemError::UnknownTask => (
            code::NOT_FOUND,
            "no task result with this task_id in the project",
        ),
        ItemError::OtherAsset => (
            code::BAD_PARAMETER,
            "the task result belongs to another asset than asset_id; it was not deleted",
        ),
        ItemError::Indeterminate => (
            code::UNAVAILABLE,
            "the outcome could not be determined; the call is safe to retry",
        ),
        ItemError::WindowClosed => (
            code::WINDOW_CLOSED,
            "the task result is no longer in the recycle bin: its window expired, it was purged, or its images are being removed",
        ),
        ItemError::NotDeleted => (
            code::NOT_DELETED,
            "the task result is live, not in the recycle bin; delete it first",
        ),
    }
}

/// A delete's items and a restore's or purge's are spelled alike: the
/// asset (empty when unknown), the task, the status the outcome gives, and
/// the error's code and message. They stay two types because the API
/// documents their statuses apart (docs/openapi.json); the mapping is one.
macro_rules! item_body_from {
    ($outcome:ty => $body:ty) => {
        impl From<&$outcome> for $body {
            fn from(item: &$outcome) -> Self {
                let error = item.error().map(item_error);
                Self {
                    asset_id: item.asset_id().map(ToString::to_string).unwrap_or_default(),
                    task_id: item.task_id().as_str().to_owned(),
                    status: item.status().as_str(),
                    error_code: error.map(|(c, _)| c),
                    error_msg: error.map(|(_, m)| m),
                }
            }
        }
    };
}

item_body_from!(ItemOutcome => DeleteItemBody);
item_body_from!(BinOutcome => BinItemBody);

impl From<&DeleteReport> for DeleteBody {
    fn from(report: &DeleteReport) -> Self {
        Self {
            delete_result_array: report.items.iter().map(Into::into).collect(),
            remaining: report.remaining,
            dry_run: None,
        }
    }
}

/// One item of a restore or a purge.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BinItemBody {
    /// The task's asset; empty for an unknown task.
    asset_id: String,
    task_id: String,
    /// `RESTORED` or `PURGED` (by the call), or `FAILED`.
    pub(crate) status: &'static str,
    /// On `FAILED` items only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error_code: Option<&'static str>,
    /// On `FAILED` items only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error_msg: Option<&'static str>,
}

/// `POST /v1/{project_id}/asset/thumbnails/restore`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RestoreBody {
    pub(crate) restore_result_array: Vec<BinItemBody>,
}

/// `DELETE /v1/{project_id}/asset/thumbnails/deleted`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PurgeBody {
    pub(crate) purge_result_array: Vec<BinItemBody>,
}

/// `GET /v1/{project_id}/asset/thumbnails/deleted`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedBody {
    pub total: u64,
    pub deleted: Vec<DeletedItemBody>,
    /// How long this server keeps a task it deletes restorable
    /// (`serve --retention`), in seconds; `0`: no recycle bin, its deletes
    /// are final (tasks another instance deleted may still be listed).
    pub retention_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedItemBody {
    task_id: String,
    asset_id: String,
    thumbnail_count: usize,
    #[schema(format = DateTime)]
    deleted_at: String,
    /// When the task leaves the recycle bin: no longer restorable, its
    /// images removed.
    #[schema(format = DateTime)]
    purge_at: String,
}

impl From<&DeletedTask> for DeletedItemBody {
    fn from(d: &DeletedTask) -> Self {
        Self {
            task_id: d.task.as_str().to_owned(),
            asset_id: d.asset.as_str().to_owned(),
            thumbnail_count: d.snapshot_count,
            deleted_at: rfc3339(d.deleted_at),
            purge_at: rfc3339(d.purge_at),
        }
    }
}
