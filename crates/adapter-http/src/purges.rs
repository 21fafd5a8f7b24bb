//! Asset purges: Huawei's `DeleteAssets` (`DELETE /v1.0/{project_id}/asset`)
//! and the purge's progress (`GET /v1/{project_id}/asset/purges`), with
//! their wire types.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vodsnap_domain::{AssetId, DeleteAssetsRequest, PurgeProgress};

use crate::RequestId;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::query::Params;
use crate::state::AppState;
use crate::thumbnails::DRY_RUN_HEADER;

/// `DELETE /v1.0/{project_id}/asset`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeleteAssetsBody {
    delete_result_array: Vec<DeleteAssetItemBody>,
    /// `true` on a dry run's answer (a vodsnap extension); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeleteAssetItemBody {
    asset_id: String,
    /// `DELETED` once the asset's purge is recorded; `FAILED` on a
    /// per-asset failure.
    #[schema(example = "DELETED")]
    status: &'static str,
    /// On a dry run only (a vodsnap extension): the asset's live task
    /// results the purge would delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    tasks_total: Option<u64>,
}

/// `GET /v1/{project_id}/asset/purges`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssetPurgeBody {
    asset_id: String,
    /// `PURGING` or `PURGED`.
    #[schema(example = "PURGING")]
    state: &'static str,
    tasks_total: u64,
    tasks_deleted: u64,
    objects_queued: u64,
    /// RFC 3339.
    started_at: String,
    /// RFC 3339; `null` while purging.
    finished_at: Option<String>,
}

impl From<&PurgeProgress> for AssetPurgeBody {
    fn from(p: &PurgeProgress) -> Self {
        Self {
            asset_id: p.asset.as_str().to_owned(),
            state: p.state().as_str(),
            tasks_total: p.tasks_total,
            tasks_deleted: p.tasks_deleted,
            objects_queued: p.objects_queued,
            started_at: crate::wire::rfc3339(p.started_at),
            finished_at: p.finished_at.map(crate::wire::rfc3339),
        }
    }
}

/// Whether `X-Vodsnap-Dry-Run` asks for a dry run: `true` or `false`
/// exactly, as the query's `dry_run`.
fn dry_run_header(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(DRY_RUN_HEADER).map(|v| v.as_bytes()) {
        None | Some(b"false") => Ok(false),
        Some(b"true") => Ok(true),
        Some(_) => Err(ApiError::bad_parameter(
            "X-Vodsnap-Dry-Run must be true or false",
        )),
    }
}

/// `DELETE /v1.0/{project_id}/asset`: purges whole assets (Huawei's
/// `DeleteAssets`), or a dry run of it.
#[utoipa::path(
    delete,
    path = "/v1.0/{project_id}/asset",
    operation_id = "DeleteAssets",
    tag = "thumbnails",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("asset_id" = Vec<String>, Query, description = "the assets to purge, 1 to 10 (repeated key, or comma-separated)", style = Form, explode, min_items = 1, max_items = 10),
        ("dry_run" = Option<bool>, Query, description = "vodsnap extension: true answers what would be purged (tasks_total per asset) and changes nothing; so does the header X-Vodsnap-Dry-Run: true"),
    ),
    responses(
        (status = 200, description = "one item per distinct asset, in request order: DELETED once its purge is recorded", body = DeleteAssetsBody),
    ),
)]
pub(crate) async fn delete_assets(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let pairs = crate::query::pairs(uri.query())?;
    let request = DeleteAssetsRequest::from_query(&pairs, dry_run_header(&headers)?)
        .map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    if request.is_dry_run() {
        let preview = state
            .purges
            .preview(&caller.project, request.assets())
            .await?;
        let body = DeleteAssetsBody {
            delete_result_array: preview
                .into_iter()
                .map(|(asset, n)| DeleteAssetItemBody {
                    asset_id: asset.as_str().to_owned(),
                    status: vodsnap_domain::DeleteStatus::Deleted.as_str(),
                    tasks_total: Some(n),
                })
                .collect(),
            dry_run: Some(true),
        };
        return Ok(([(DRY_RUN_HEADER, "true")], Json(body)).into_response());
    }
    let answer = state
        .purges
        .delete_assets(
            &caller.project,
            request.assets(),
            &caller.actor(&request_id),
        )
        .await?;
    metrics::counter!("vodsnap_asset_purges_recorded_total").increment(answer.len() as u64);
    tracing::info!(assets = answer.len(), "asset purges recorded");
    Ok(Json(DeleteAssetsBody {
        delete_result_array: answer
            .into_iter()
            .map(|(asset, status)| DeleteAssetItemBody {
                asset_id: asset.as_str().to_owned(),
                status: status.as_str(),
                tasks_total: None,
            })
            .collect(),
        dry_run: None,
    })
    .into_response())
}

/// `GET /v1/{project_id}/asset/purges`: the latest purge of an asset.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/asset/purges",
    operation_id = "ShowAssetPurge",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("asset_id" = String, Query, description = "the asset", pattern = "^[A-Za-z0-9_-]{1,64}$"),
    ),
    responses(
        (status = 200, description = "the project's latest purge of the asset", body = AssetPurgeBody),
        (status = 404, description = "the project never purged this asset (VOD.10062)", body = ErrorBody),
    ),
)]
pub(crate) async fn progress(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<AssetPurgeBody>, ApiError> {
    let params = Params::parse(uri.query(), &["asset_id"])?;
    let asset = params
        .get("asset_id")
        .ok_or_else(|| ApiError::bad_parameter("asset_id is required"))
        .and_then(|raw| AssetId::parse(raw).map_err(|e| ApiError::bad_parameter(e.to_string())))?;
    let progress = state
        .purges
        .progress(&caller.project, &asset)
        .await?
        .ok_or_else(|| ApiError::not_found("this project never purged this asset"))?;
    Ok(Json(AssetPurgeBody::from(&progress)))
}
