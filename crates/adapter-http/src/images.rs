//! `GET /snapshots/{key}`: the snapshot images behind the signed links that
//! details answers carry when vodsnap serves the images itself.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use vodsnap_domain::ObjectKey;
use vodsnap_ports::LinkProof;

use crate::error::{ApiError, ErrorBody};
use crate::query::Params;
use crate::state::AppState;

/// One snapshot image, through a link from a details answer.
#[utoipa::path(
    get,
    path = "/snapshots/{key}",
    operation_id = "GetSnapshotImage",
    tag = "images",
    params(
        ("key" = String, Path, description = "the snapshot's object key (its '/' kept as path separators)"),
        ("expires" = String, Query, description = "Unix seconds after which the link is refused"),
        ("sig" = String, Query, description = "the link's signature (64 hex digits)"),
    ),
    responses(
        (status = 200, description = "the image, with Content-Type, ETag and Cache-Control (private, at most the link's remaining life)", content_type = "image/jpeg"),
        (status = 304, description = "If-None-Match names the image's ETag"),
        (status = 400, description = "a query parameter other than expires and sig, or one given twice (VOD.10053)", body = ErrorBody),
        (status = 403, description = "the link is expired or altered (VODSNAP.0403)", body = ErrorBody),
        (status = 404, description = "the task was deleted, the object is missing, or this deployment's links do not point at vodsnap (VOD.10062)", body = ErrorBody),
        (status = 503, description = "the database or the image storage is unavailable (VOD.10052)", body = ErrorBody),
    ),
)]
pub(crate) async fn image(
    State(state): State<AppState>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(uri.query(), &["expires", "sig"])?;
    // A key no project could have registered is no snapshot.
    let key = ObjectKey::parse(&key).map_err(|_| ApiError::not_found("no such snapshot"))?;
    let proof = LinkProof {
        expires: params.get("expires").unwrap_or_default().to_owned(),
        signature: params.get("sig").unwrap_or_default().to_owned(),
    };
    let image = state.images.open(&key, &proof).await?;

    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&image.bytes)[..16]));
    let cache = format!("private, max-age={}", image.valid_for.as_secs());
    let mut response = if if_none_match(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(image.bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(image.format.media_type()),
        );
        response
    };
    let headers = response.headers_mut();
    // Both are ASCII by construction.
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}
