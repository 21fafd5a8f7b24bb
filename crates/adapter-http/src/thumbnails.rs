//! The snapshot endpoints: register, list, details, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use vodsnap_domain::{AssetId, DeleteRequest, DetailsPage, ListFilter, ListPage, TaskId};
use vodsnap_ports::Registered;

use crate::RequestId;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, code};
use crate::query::Params;
use crate::state::AppState;
use crate::wire::{
    DeleteBody, DetailBody, DetailsBody, ListBody, RegisterBody, SummaryBody, TaskResultBody,
};

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_parameter(e.to_string())
}

/// `POST /v1/{project_id}/asset/thumbnails`: registers a task result.
#[utoipa::path(
    post,
    path = "/v1/{project_id}/asset/thumbnails",
    operation_id = "RegisterThumbnails",
    tag = "thumbnails",
    security(("aksk" = []), ("token" = [])),
    params(("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = RegisterBody, content_type = "application/json"),
    // The errors every authenticated operation shares are declared once,
    // in openapi.rs; each handler declares only its own.
    responses(
        (status = 200, description = "already registered with the same body: the stored result", body = TaskResultBody),
        (status = 201, description = "registered: the stored result", body = TaskResultBody),
        (status = 409, description = "conflicts with a live result under this task_id, or the task_id was deleted (VODSNAP.0409)", body = ErrorBody),
        (status = 415, description = "a body without Content-Type: application/json (VOD.10059)", body = ErrorBody),
    ),
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !body.is_empty() && !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_parameter(
            "a JSON body is required: asset_id, task_id, thumbnail_para, thumbnails",
        ));
    }
    let mut decoder = serde_json::Deserializer::from_slice(&body);
    let parsed: RegisterBody = serde_path_to_error::deserialize(&mut decoder).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            ApiError::bad_parameter(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad_parameter(format!("{path}: {inner}"))
        }
    })?;
    decoder
        .end()
        .map_err(|e| ApiError::bad_parameter(format!("invalid JSON body: {e}")))?;
    let new = parsed.try_into_domain(caller.project.clone())?;
    let registered = state
        .snapshots
        .register(new, &caller.actor(&request_id))
        .await?;
    Ok(match registered {
        Registered::Created(stored) => {
            metrics::counter!("vodsnap_registrations_total", "outcome" => "created").increment(1);
            tracing::info!(task_id = %stored.task(), "task result registered");
            (StatusCode::CREATED, Json(TaskResultBody::from(&stored)))
        }
        Registered::AlreadyRegistered(stored) => {
            metrics::counter!("vodsnap_registrations_total", "outcome" => "already_registered")
                .increment(1);
            (StatusCode::OK, Json(TaskResultBody::from(&stored)))
        }
    })
}

/// `GET /v1/{project_id}/asset/thumbnails`: lists live task results.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/asset/thumbnails",
    operation_id = "ListThumbnailInfo",
    tag = "thumbnails",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("asset_id" = Option<String>, Query, description = "only this asset's task results", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("task_id" = Option<String>, Query, description = "only this task result", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("offset" = Option<i64>, Query, description = "items to skip (default 0)", minimum = 0, maximum = 20000),
        ("limit" = Option<i64>, Query, description = "items per page (default 10)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "live task results, oldest first", body = ListBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<ListBody>, ApiError> {
    let params = Params::parse(uri.query(), &["asset_id", "task_id", "offset", "limit"])?;
    let filter = ListFilter {
        asset: params
            .get("asset_id")
            .map(AssetId::parse)
            .transpose()
            .map_err(bad)?,
        task: params
            .get("task_id")
            .map(TaskId::parse)
            .transpose()
            .map_err(bad)?,
    };
    let page = ListPage::new(params.integer("offset")?, params.integer("limit")?).map_err(bad)?;
    let listing = state.snapshots.list(&caller.project, &filter, page).await?;
    Ok(Json(ListBody {
        total: listing.total,
        thumbnails: listing.items.iter().map(SummaryBody::from).collect(),
    }))
}

/// `GET /v1/{project_id}/asset/thumbnail/details`: one task's snapshots.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/asset/thumbnail/details",
    operation_id = "ListThumbnailDetails",
    tag = "thumbnails",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("task_id" = String, Query, description = "the task result", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("offset" = Option<i64>, Query, description = "snapshots to skip (default 0)", minimum = 0, maximum = 20480),
        ("limit" = Option<i64>, Query, description = "snapshots per page (default 20)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "the task's snapshots, ordered by offset", body = DetailsBody),
        (status = 404, description = "unknown or deleted task (VOD.10062)", body = ErrorBody),
    ),
)]
pub(crate) async fn details(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<DetailsBody>, ApiError> {
    let params = Params::parse(uri.query(), &["task_id", "offset", "limit"])?;
    let task = params
        .get("task_id")
        .ok_or_else(|| ApiError::bad_parameter("task_id is required"))
        .and_then(|raw| TaskId::parse(raw).map_err(bad))?;
    let page =
        DetailsPage::new(params.integer("offset")?, params.integer("limit")?).map_err(bad)?;
    let snapshots = state
        .snapshots
        .details(&caller.project, &task, page)
        .await?;
    let mut thumbnail_result = Vec::with_capacity(snapshots.items.len());
    for snapshot in &snapshots.items {
        thumbnail_result.push(DetailBody {
            offset: snapshot.offset(),
            url: state.images.link(snapshot.object_key()).await?,
        });
    }
    Ok(Json(DetailsBody {
        total: snapshots.total,
        thumbnail_result,
    }))
}

/// Sent, `true`, on the answer of a dry run, so that a client (or a log)
/// can tell it from a delete without reading the body.
pub(crate) const DRY_RUN_HEADER: &str = "x-vodsnap-dry-run";

/// `DELETE /v1/{project_id}/asset/thumbnails`: deletes up to 10 task results (or a dry run).
///
/// With `dry_run=true` it answers what the delete would answer, and changes
/// nothing.
#[utoipa::path(
    delete,
    path = "/v1/{project_id}/asset/thumbnails",
    operation_id = "DeleteThumbnails",
    tag = "thumbnails",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("asset_id" = Option<String>, Query, description = "the asset whose task results to delete, or to which the named tasks must belong", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("task_id" = Option<Vec<String>>, Query, description = "task results to delete, up to 10", style = Form, explode, max_items = 10),
        ("dry_run" = Option<bool>, Query, description = "vodsnap extension: true answers what the delete would answer, with \"dry_run\": true and the header X-Vodsnap-Dry-Run, and changes nothing; false (the default) deletes"),
    ),
    responses(
        (status = 200, description = "the outcome, item by item (on a dry run: what it would be)", body = DeleteBody,
            headers(("X-Vodsnap-Dry-Run" = String, description = "true, on the answer of a dry run only"))),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let pairs = crate::query::pairs(uri.query())?;
    let request = DeleteRequest::from_query(&pairs).map_err(bad)?;
    if request.is_dry_run() {
        let report = state
            .snapshots
            .delete_dry_run(&caller.project, request.selection())
            .await?;
        let would_delete = report.items.iter().filter(|i| i.error().is_none()).count();
        tracing::info!(
            would_delete,
            remaining = report.remaining,
            "delete dry run answered"
        );
        return Ok((
            [(DRY_RUN_HEADER, "true")],
            Json(DeleteBody::dry_run(&report)),
        )
            .into_response());
    }
    let report = state
        .snapshots
        .delete(
            &caller.project,
            request.selection(),
            &caller.actor(&request_id),
        )
        .await?;
    for item in &report.items {
        metrics::counter!("vodsnap_deletions_total", "status" => item.status().as_str())
            .increment(1);
    }
    let deleted = report.items.iter().filter(|i| i.error().is_none()).count();
    tracing::info!(deleted, remaining = report.remaining, "delete answered");
    Ok(Json(DeleteBody::from(&report)).into_response())
}
