//! The recycle bin's endpoints (vodsnap extensions): restore, the deleted
//! list, and the early purge.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::Uri;
use vodsnap_domain::{AssetId, BinSelection, ListPage};

use crate::RequestId;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::query::Params;
use crate::state::AppState;
use crate::wire::{BinItemBody, DeletedBody, DeletedItemBody, PurgeBody, RestoreBody};

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_parameter(e.to_string())
}

fn selection(uri: &Uri) -> Result<BinSelection, ApiError> {
    let pairs = crate::query::pairs(uri.query())?;
    BinSelection::from_query(&pairs).map_err(bad)
}

/// `POST /v1/{project_id}/asset/thumbnails/restore`: restores deleted task
/// results from the recycle bin.
#[utoipa::path(
    post,
    path = "/v1/{project_id}/asset/thumbnails/restore",
    operation_id = "RestoreThumbnails",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("task_id" = Vec<String>, Query, description = "deleted task results to restore, 1 to 10", style = Form, explode, min_items = 1, max_items = 10),
    ),
    responses(
        (status = 200, description = "the outcome, item by item: RESTORED (live again as before, or already live) or FAILED (VOD.10062 unknown; VODSNAP.0410 window closed)", body = RestoreBody),
    ),
)]
pub(crate) async fn restore(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    uri: Uri,
) -> Result<Json<RestoreBody>, ApiError> {
    let selection = selection(&uri)?;
    let items = state
        .snapshots
        .restore(&caller.project, &selection, &caller.actor(&request_id))
        .await?;
    let body = RestoreBody {
        restore_result_array: items.iter().map(BinItemBody::from).collect(),
    };
    for item in &body.restore_result_array {
        metrics::counter!("vodsnap_restores_total", "status" => item.status).increment(1);
    }
    tracing::info!(
        restored = items.iter().filter(|i| i.error().is_none()).count(),
        "restore answered"
    );
    Ok(Json(body))
}

/// `GET /v1/{project_id}/asset/thumbnails/deleted`: the recycle bin.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/asset/thumbnails/deleted",
    operation_id = "ListDeletedThumbnails",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("asset_id" = Option<String>, Query, description = "only this asset's deleted task results", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("offset" = Option<i64>, Query, description = "items to skip (default 0)", minimum = 0, maximum = 20000),
        ("limit" = Option<i64>, Query, description = "items per page (default 10)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "the restorable task results, oldest deletion first", body = DeletedBody),
    ),
)]
pub(crate) async fn deleted(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<DeletedBody>, ApiError> {
    let params = Params::parse(uri.query(), &["asset_id", "offset", "limit"])?;
    let asset = params
        .get("asset_id")
        .map(AssetId::parse)
        .transpose()
        .map_err(bad)?;
    let page = ListPage::new(params.integer("offset")?, params.integer("limit")?).map_err(bad)?;
    let listing = state
        .snapshots
        .deleted(&caller.project, asset, page)
        .await?;
    Ok(Json(DeletedBody {
        total: listing.total,
        deleted: listing.items.iter().map(DeletedItemBody::from).collect(),
        retention_seconds: state.snapshots.retention().window().as_secs(),
    }))
}

/// `DELETE /v1/{project_id}/asset/thumbnails/deleted`: purges deleted task
/// results from the recycle bin now.
#[utoipa::path(
    delete,
    path = "/v1/{project_id}/asset/thumbnails/deleted",
    operation_id = "PurgeDeletedThumbnails",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("task_id" = Vec<String>, Query, description = "deleted task results to purge, 1 to 10", style = Form, explode, min_items = 1, max_items = 10),
    ),
    responses(
        (status = 200, description = "the outcome, item by item: PURGED (objects queued for removal at once) or FAILED (VOD.10062 unknown; VODSNAP.0412 not deleted)", body = PurgeBody),
    ),
)]
pub(crate) async fn purge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    uri: Uri,
) -> Result<Json<PurgeBody>, ApiError> {
    let selection = selection(&uri)?;
    let items = state
        .snapshots
        .purge(&caller.project, &selection, &caller.actor(&request_id))
        .await?;
    let body = PurgeBody {
        purge_result_array: items.iter().map(BinItemBody::from).collect(),
    };
    for item in &body.purge_result_array {
        metrics::counter!("vodsnap_purges_total", "status" => item.status).increment(1);
    }
    tracing::info!(
        purged = items.iter().filter(|i| i.error().is_none()).count(),
        "purge answered"
    );
    Ok(Json(body))
}
