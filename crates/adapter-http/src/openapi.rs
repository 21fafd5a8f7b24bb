//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! `docs/openapi.json` is this document, committed; the test
//! `tests/openapi.rs` fails when it is out of date. Its endpoint,
//! `GET /openapi.json`, is here too rather than with the other operations
//! endpoints (`ops`): the document lists those handlers, so a handler there
//! serving it would make the two modules import each other.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Response, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::{cleanup, images, ops, purges, recycle_bin, thumbnails, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vodsnap",
        version = "1",
        description = "Huawei Cloud VOD-compatible snapshot API, contract version 1. \
            Generated from the handlers; docs/API.md is the contract, with every rule and decision.",
    ),
    paths(
        thumbnails::register,
        thumbnails::list,
        thumbnails::details,
        thumbnails::delete,
        purges::delete_assets,
        purges::progress,
        recycle_bin::restore,
        recycle_bin::deleted,
        recycle_bin::purge,
        cleanup::status,
        webhooks::create,
        webhooks::list,
        webhooks::remove,
        webhooks::deliveries,
        webhooks::redeliver,
        images::image,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        document,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Cross),
    tags(
        (name = "thumbnails", description = "the snapshot endpoints, authenticated"),
        (name = "vodsnap", description = "vodsnap extensions, authenticated like the snapshot endpoints"),
        (name = "images", description = "snapshot images behind the signed links of details answers; the link is the credential"),
        (name = "operations", description = "health, readiness, metrics, this document; no authentication"),
    ),
)]
struct ApiDoc;

/// The error answers every authenticated operation can give, declared here
/// once rather than on each handler; a handler declares only its own (409,
/// 404, 415). Status, then description.
const AUTHENTICATED_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "a parameter or the body is missing, malformed or out of range (VOD.10053)",
    ),
    (
        "401",
        "not authenticated (APIGW.0301; APIGW.0307 for an expired token)",
    ),
    (
        "403",
        "the credential is not granted this project (VOD.10057)",
    ),
    (
        "405",
        "method not allowed on this path (VOD.10058), with an Allow header",
    ),
    (
        "413",
        "request body over --max-body (12 MiB by default; 8 KiB for GET and DELETE) (VODSNAP.0413)",
    ),
    ("414", "query string over 8 KiB (VODSNAP.0414)"),
    ("429", "the project's rate limit is reached (APIGW.0308)"),
    ("431", "request headers over 32 KiB (VODSNAP.0431)"),
    ("500", "internal error (VOD.10051)"),
    (
        "503",
        "the database is unavailable, the request timed out, or the server's memory for request bodies is full (VOD.10052); Retry-After when waiting helps",
    ),
];

/// What every answer shares: the security schemes, the common error
/// answers of the authenticated operations, the `X-Request-Id` header (set
/// on every response) and `Retry-After` on 429 and 503.
struct Cross;

impl Modify for Cross {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "aksk",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=..., with X-Sdk-Date",
            ))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "a vst1 token issued by `vodsnap token issue`",
            ))),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    for (status, description) in AUTHENTICATED_ERRORS {
                        operation
                            .responses
                            .responses
                            .entry((*status).to_owned())
                            .or_insert_with(|| error_response(description));
                    }
                }
                for (status, response) in &mut operation.responses.responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    response.headers.insert(
                        "X-Request-Id".to_owned(),
                        RefOr::T(HeaderBuilder::new()
                            .schema(Some(Object::with_type(Type::String)))
                            .description(Some(
                                "the request id: the client's, when valid, or 32 random hex digits; \
                                 equals request_id in an error body",
                            ))
                            .build()),
                    );
                    if status == "429" || status == "503" {
                        response.headers.insert(
                            "Retry-After".to_owned(),
                            RefOr::T(
                                HeaderBuilder::new()
                                    .schema(Some(Object::with_type(Type::Integer)))
                                    .description(Some(
                                        "whole seconds to wait, at least 1 (on 503: when waiting helps)",
                                    ))
                                    .build(),
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// An error answer with Huawei's error body.
fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The OpenAPI document as pretty JSON with a trailing newline, as
/// committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// [`openapi_json`], computed once.
fn cached_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(openapi_json)
}

/// The OpenAPI document, generated from the handlers and committed as
/// docs/openapi.json.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "OpenApi",
    tag = "operations",
    responses((status = 200, description = "this document (OpenAPI 3.1)", body = Object, content_type = "application/json")),
)]
pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], cached_json())
}
