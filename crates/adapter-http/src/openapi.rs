//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! `docs/openapi.json` is this document, committed; the test
//! `tests/openapi.rs` fails when it is out of date.

use std::sync::OnceLock;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Object, RefOr, Type};
use utoipa::{Modify, OpenApi};

use crate::{ops, thumbnails};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vodsnap",
        version = "1",
        description = "Huawei Cloud VOD-compatible snapshot API (API-CONTRACT.md, version 1). \
            Generated from the handlers; see docs/API.md for the decisions the contract leaves open.",
    ),
    paths(
        thumbnails::register,
        thumbnails::list,
        thumbnails::details,
        thumbnails::delete,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi,
    ),
    modifiers(&Cross),
    tags(
        (name = "thumbnails", description = "the snapshot endpoints, authenticated"),
        (name = "operations", description = "health, readiness, metrics, this document; no authentication"),
    ),
)]
struct ApiDoc;

/// What every answer shares: the security schemes, the `X-Request-Id`
/// header (the request-id middleware sets it on every response) and
/// `Retry-After` on 429.
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
                    if status == "429" {
                        response.headers.insert(
                            "Retry-After".to_owned(),
                            RefOr::T(
                                HeaderBuilder::new()
                                    .schema(Some(Object::with_type(Type::Integer)))
                                    .description(Some("whole seconds to wait, at least 1"))
                                    .build(),
                            ),
                        );
                    }
                }
            }
        }
    }
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
pub(crate) fn cached_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(openapi_json)
}
