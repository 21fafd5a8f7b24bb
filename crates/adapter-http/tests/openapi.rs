//! `docs/openapi.json` is the document generated from the handlers.
//!
//! This test fails when the committed file is out of date. To regenerate
//! it after changing a handler's annotations or a wire type:
//!
//! ```sh
//! VODSNAP_UPDATE_OPENAPI=1 cargo test -p vodsnap-adapter-http --test openapi
//! ```

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn committed_openapi_document_is_up_to_date() -> Result<(), Box<dyn std::error::Error>> {
    let generated = vodsnap_adapter_http::openapi_json();
    let path = committed_path();
    if std::env::var_os("VODSNAP_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated)?;
        return Ok(());
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date with the handlers; regenerate it with\n\n    \
         VODSNAP_UPDATE_OPENAPI=1 cargo test -p vodsnap-adapter-http --test openapi\n\n\
         and commit the result"
    );
    Ok(())
}

#[test]
fn document_is_openapi_3_1_with_every_endpoint() -> Result<(), Box<dyn std::error::Error>> {
    let doc: serde_json::Value = serde_json::from_str(&vodsnap_adapter_http::openapi_json())?;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/{project_id}/asset/thumbnails", "post"),
        ("/v1/{project_id}/asset/thumbnails", "get"),
        ("/v1/{project_id}/asset/thumbnails", "delete"),
        ("/v1.0/{project_id}/asset", "delete"),
        ("/v1/{project_id}/asset/purges", "get"),
        ("/v1/{project_id}/asset/thumbnail/details", "get"),
        ("/v1/{project_id}/asset/thumbnails/restore", "post"),
        ("/v1/{project_id}/asset/thumbnails/deleted", "get"),
        ("/v1/{project_id}/asset/thumbnails/deleted", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            assert!(
                response["headers"]["X-Request-Id"].is_object(),
                "{method} {path} {status} lacks X-Request-Id"
            );
        }
    }
    let v1_errors = [
        "400", "401", "403", "405", "413", "414", "429", "431", "500", "503",
    ];
    for (path, method, extra) in [
        (
            "/v1/{project_id}/asset/thumbnails",
            "post",
            &["200", "201", "409", "415"][..],
        ),
        ("/v1/{project_id}/asset/thumbnails", "get", &["200"][..]),
        ("/v1/{project_id}/asset/thumbnails", "delete", &["200"][..]),
        (
            "/v1/{project_id}/asset/thumbnail/details",
            "get",
            &["200", "404"][..],
        ),
        (
            "/v1/{project_id}/asset/thumbnails/restore",
            "post",
            &["200"][..],
        ),
        (
            "/v1/{project_id}/asset/thumbnails/deleted",
            "get",
            &["200"][..],
        ),
        (
            "/v1/{project_id}/asset/thumbnails/deleted",
            "delete",
            &["200"][..],
        ),
    ] {
        let responses = &paths[path][method]["responses"];
        for status in v1_errors.iter().chain(extra) {
            assert!(
                responses[*status].is_object(),
                "{method} {path} lacks {status}"
            );
        }
        assert!(responses["429"]["headers"]["Retry-After"].is_object());
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["aksk"]["name"], "Authorization");
    assert_eq!(schemes["token"]["name"], "X-Auth-Token");
    Ok(())
}
