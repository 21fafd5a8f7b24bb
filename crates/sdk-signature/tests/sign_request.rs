//! `sign_request`: signing an `http::Request` in place, as a Rust client of
//! vodsnap or Huawei Cloud does, and verifying what it produced.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Request;
use vodsnap_sdk_signature::{
    Authorization, SignError, SignatureError, SignedRequest, sign, sign_request, verify,
};

const AK: &str = "TESTAK0123456789";
const SK: &str = "testSecretKey/+=0123456789abcdef";
/// 2024-01-31T08:45:00Z.
const NOW_SECS: u64 = 1_706_690_700;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn verify_at(request: Request<Vec<u8>>, secret_key: &str) -> Result<(), SignatureError> {
    let (parts, body) = request.into_parts();
    let value = parts.headers["authorization"].to_str().unwrap_or_default();
    let authorization = Authorization::parse(value)?;
    verify(
        &SignedRequest::from_parts(&parts, &body),
        &authorization,
        secret_key,
        NOW_SECS as i64,
    )
}

#[test]
fn a_signed_request_verifies_and_gains_host_and_date() {
    let mut request = Request::post("http://vod.example.com:8443/v1/p/asset/thumbnails")
        .header("Content-Type", "application/json")
        .body(br#"{"asset_id":"a1"}"#.to_vec())
        .unwrap();

    sign_request(&mut request, AK, SK, now()).unwrap();

    assert_eq!(request.headers()["host"], "vod.example.com:8443");
    assert_eq!(request.headers()["x-sdk-date"], "20240131T084500Z");
    assert_eq!(verify_at(request, SK), Ok(()));
}

#[test]
fn it_signs_exactly_what_sign_signs() {
    let mut request = Request::delete("/v1/p/asset/thumbnails?task_id=b&task_id=a")
        .header("Host", "localhost:8080")
        .header("X-Sdk-Date", "20240131T084500Z")
        .header("X-Project-Id", "p")
        .body(Vec::new())
        .unwrap();

    sign_request(&mut request, AK, SK, now()).unwrap();

    let expected = sign(
        "DELETE",
        "/v1/p/asset/thumbnails",
        Some("task_id=b&task_id=a"),
        &[
            ("Host", "localhost:8080"),
            ("X-Sdk-Date", "20240131T084500Z"),
            ("X-Project-Id", "p"),
        ],
        b"",
        AK,
        SK,
    );
    assert_eq!(request.headers()["authorization"], expected.as_str());
}

#[test]
fn signing_again_replaces_the_old_signature() {
    let mut request = Request::get("http://h/v1/p/asset/thumbnails?asset_id=a1")
        .body(Vec::new())
        .unwrap();
    sign_request(&mut request, "OLD", "old-secret", now()).unwrap();

    sign_request(&mut request, AK, SK, now()).unwrap();

    assert_eq!(request.headers().get_all("authorization").iter().count(), 1);
    assert!(
        !request.headers()["authorization"]
            .to_str()
            .unwrap()
            .contains("authorization"),
        "the old Authorization header must not be signed"
    );
    assert_eq!(verify_at(request, SK), Ok(()));
}

#[test]
fn a_changed_header_after_signing_does_not_verify() {
    let mut request = Request::get("http://h/v1/p/asset/thumbnails")
        .header("X-Project-Id", "p")
        .body(Vec::new())
        .unwrap();
    sign_request(&mut request, AK, SK, now()).unwrap();

    request
        .headers_mut()
        .insert("x-project-id", "q".parse().unwrap());

    assert_eq!(verify_at(request, SK), Err(SignatureError::Mismatch));
}

#[test]
fn a_request_without_a_host_cannot_be_signed() {
    let mut request = Request::get("/v1/p/asset/thumbnails")
        .body(Vec::new())
        .unwrap();

    assert_eq!(
        sign_request(&mut request, AK, SK, now()),
        Err(SignError::NoHost)
    );
}
