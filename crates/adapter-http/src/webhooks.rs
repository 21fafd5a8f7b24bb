//! The webhook endpoints (a vodsnap extension): subscribe a URL to a
//! project's events, list and remove subscriptions, read a subscription's
//! deliveries and send one again. Any credential of the project may call
//! them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, Uri};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vodsnap_domain::{DeliveryState, EventTypes, WebhookId, WebhookUrl};
use vodsnap_ports::{Delivery, Webhook};

use crate::RequestId;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::query::Params;
use crate::state::AppState;
use crate::wire::rfc3339;

/// A subscription to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhookBody {
    /// Where events are POSTed: absolute http or https, at most 2048
    /// characters, no user info; its host must resolve to public addresses
    /// only (unless the server allows private ones).
    url: String,
    /// The events to receive (default: all): `thumbnails.registered`,
    /// `thumbnails.deleted`, `thumbnails.restored`, `thumbnails.purged`,
    /// `asset.purged`.
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// A subscription just created, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookCreatedBody {
    id: String,
    url: String,
    events: Vec<String>,
    /// The key of each delivery's `X-Vodsnap-Signature`; never shown again.
    secret: String,
}

/// A subscription (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookBody {
    id: String,
    url: String,
    events: Vec<String>,
    created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookListBody {
    /// The project's subscriptions, oldest first.
    webhooks: Vec<WebhookBody>,
}

/// One event's delivery to the subscription.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryBody {
    /// The delivery's id, for a redelivery.
    id: i64,
    /// The event's id (the body's `id`; receivers dedupe by it).
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    occurred_at: String,
    /// `pending` (not yet sent, or waiting for a retry), `delivered` (the
    /// receiver answered 2xx) or `parked` (every attempt failed).
    status: String,
    attempts: u32,
    /// The last failure (an HTTP status, a network error, a refused
    /// address), or empty.
    last_error: String,
    /// When it is due (pending), was delivered or was parked.
    updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveriesBody {
    /// Newest first, at most 100.
    deliveries: Vec<DeliveryBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RedeliveryBody {
    id: i64,
    /// Always `pending`: due now, attempts reset.
    status: String,
}

fn event_names(events: &EventTypes) -> Vec<String> {
    events
        .as_slice()
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect()
}

impl From<&Webhook> for WebhookBody {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.as_str().to_owned(),
            url: w.url.as_str().to_owned(),
            events: event_names(&w.events),
            created_at: rfc3339(w.created_at),
        }
    }
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event.id.as_str().to_owned(),
            kind: d.event.kind.as_str().to_owned(),
            occurred_at: rfc3339(d.event.occurred_at),
            status: match d.state {
                DeliveryState::Pending => "pending",
                DeliveryState::Delivered => "delivered",
                DeliveryState::Parked => "parked",
            }
            .to_owned(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    // An id that cannot exist names no webhook of the project.
    WebhookId::parse(raw).map_err(|_| ApiError::not_found("no such webhook in this project"))
}

/// `POST /v1/{project_id}/webhooks`: subscribes a URL.
#[utoipa::path(
    post,
    path = "/v1/{project_id}/webhooks",
    operation_id = "CreateWebhook",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = CreateWebhookBody, content_type = "application/json"),
    responses(
        (status = 201, description = "subscribed; the secret is shown this once", body = WebhookCreatedBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookCreatedBody>), ApiError> {
    let parsed: CreateWebhookBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_parameter(format!("invalid JSON body (url, events?): {e}")))?;
    let url =
        WebhookUrl::parse(&parsed.url).map_err(|e| ApiError::bad_parameter(format!("url: {e}")))?;
    let events = EventTypes::parse(parsed.events.as_deref())
        .map_err(|e| ApiError::bad_parameter(format!("events: {e}")))?;
    let (webhook, secret) = state
        .webhooks
        .create(&caller.project, url, events, &caller.actor(&request_id))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreatedBody {
            id: webhook.id.as_str().to_owned(),
            url: webhook.url.as_str().to_owned(),
            events: event_names(&webhook.events),
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// `GET /v1/{project_id}/webhooks`: the project's subscriptions.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/webhooks",
    operation_id = "ListWebhooks",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "the project's webhooks, oldest first, without secrets", body = WebhookListBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<WebhookListBody>, ApiError> {
    Params::parse(uri.query(), &[])?;
    let webhooks = state.webhooks.list(&caller.project).await?;
    Ok(Json(WebhookListBody {
        webhooks: webhooks.iter().map(WebhookBody::from).collect(),
    }))
}

/// `DELETE /v1/{project_id}/webhooks/{webhook_id}`: unsubscribes.
#[utoipa::path(
    delete,
    path = "/v1/{project_id}/webhooks/{webhook_id}",
    operation_id = "DeleteWebhook",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("webhook_id" = String, Path, description = "the webhook"),
    ),
    responses(
        (status = 204, description = "removed, with its undelivered deliveries"),
        (status = 404, description = "no such webhook in this project (VOD.10062)", body = ErrorBody),
    ),
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    state
        .webhooks
        .remove(&caller.project, &id, &caller.actor(&request_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/{project_id}/webhooks/{webhook_id}/deliveries`.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/webhooks/{webhook_id}/deliveries",
    operation_id = "ListWebhookDeliveries",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("webhook_id" = String, Path, description = "the webhook"),
        ("failed" = Option<bool>, Query, description = "only deliveries whose last attempt failed (waiting for a retry, or parked)"),
    ),
    responses(
        (status = 200, description = "the webhook's latest deliveries, newest first", body = DeliveriesBody),
        (status = 404, description = "no such webhook in this project (VOD.10062)", body = ErrorBody),
    ),
)]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<DeliveriesBody>, ApiError> {
    let params = Params::parse(uri.query(), &["failed"])?;
    let failed = match params.get("failed") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_parameter("failed must be true or false")),
    };
    let id = webhook_id(&id)?;
    let deliveries = state
        .webhooks
        .deliveries(&caller.project, &id, failed)
        .await?;
    Ok(Json(DeliveriesBody {
        deliveries: deliveries.iter().map(DeliveryBody::from).collect(),
    }))
}

/// `POST /v1/{project_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver`.
#[utoipa::path(
    post,
    path = "/v1/{project_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id = "RedeliverWebhookDelivery",
    tag = "vodsnap",
    security(("aksk" = []), ("token" = [])),
    params(
        ("project_id" = String, Path, description = "the project", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("webhook_id" = String, Path, description = "the webhook"),
        ("delivery_id" = i64, Path, description = "the delivery"),
    ),
    responses(
        (status = 202, description = "due again now, attempts reset; the event keeps its id", body = RedeliveryBody),
        (status = 404, description = "no such webhook or delivery in this project (VOD.10062)", body = ErrorBody),
    ),
)]
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, id, delivery)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<RedeliveryBody>), ApiError> {
    let id = webhook_id(&id)?;
    let delivery: i64 = delivery
        .parse()
        .map_err(|_| ApiError::not_found("no such delivery of this webhook"))?;
    state
        .webhooks
        .redeliver(&caller.project, &id, delivery)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RedeliveryBody {
            id: delivery,
            status: "pending".to_owned(),
        }),
    ))
}
