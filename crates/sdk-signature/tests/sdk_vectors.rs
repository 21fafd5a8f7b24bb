//! The Huawei SDK's test vectors, and the behaviour of sign and verify
//! around them.
//!
//! The vectors below were produced by the real Python SDK,
//! huaweicloudsdkcore 3.1.219 (PyPI), with this script:
//!
//! ```python
//! from huaweicloudsdkcore.sdk_request import SdkRequest
//! from huaweicloudsdkcore.signer.signer import Signer
//! from huaweicloudsdkcore.auth.credentials import BasicCredentials
//! cred = BasicCredentials(AK, SK, PROJECT)
//! def sign(method, path, query, body, ctype="application/json"):
//!     h = {"X-Sdk-Date": "20240131T084500Z", "X-Project-Id": PROJECT, "Content-Type": ctype}
//!     r = SdkRequest(method=method, schema="https", host=HOST, resource_path=path,
//!                    query_params=query, header_params=h, body=body)
//!     r = Signer(cred).sign(r)
//!     print(method, r.uri, r.body, r.header_params)
//! P = "/v1/" + PROJECT
//! sign("DELETE", P + "/asset/thumbnails", [("asset_id", "a1"), ("task_id", ["t2", "t1", "t10"])], None)
//! sign("GET", P + "/asset/thumbnails", [("offset", 0), ("limit", 10)], None)
//! sign("POST", P + "/asset/thumbnails", [], BODY)
//! sign("GET", P + "/asset/caf%C3%A9%20%2A%21~x/details", [("name", "a b+c/é~"), ("empty", "")], None)
//! sign("GET", P + "/asset/thumbnails", [("a~", "1"), ("aé", "2"), ("task_id", "x"), ("task_id", "X")], None)
//! sign("PUT", P + "/asset/upload", [], b"raw bytes", ctype="application/octet-stream")
//! ```
//!
//! `r.uri` is what the SDK puts on the wire (path, then its canonical query).

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use vodsnap_sdk_signature::{
    Authorization, EMPTY_PAYLOAD_HASH, SignatureError, SignedRequest, canonical_request,
    check_date, sign, verify,
};

const AK: &str = "TESTAK0123456789";
const SK: &str = "testSecretKey/+=0123456789abcdef";
const PROJECT: &str = "0b1c2d3e4f5a6b7c8d9e";
const HOST: &str = "vod.cn-north-4.myhuaweicloud.com";
const DATE: &str = "20240131T084500Z";
/// `DATE` in seconds since the epoch.
const DATE_SECS: i64 = 1_706_690_700;
const SIGNED: &str = "content-type;host;x-project-id;x-sdk-date";

struct Vector {
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    content_type: &'static str,
    extra_header: Option<(&'static str, &'static str)>,
    body: &'static [u8],
    signed_headers: &'static str,
    signature: &'static str,
}

impl Vector {
    fn authorization(&self) -> String {
        format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={}, Signature={}",
            self.signed_headers, self.signature
        )
    }

    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut headers = vec![
            ("X-Sdk-Date", DATE),
            ("X-Project-Id", PROJECT),
            ("Content-Type", self.content_type),
            ("Host", HOST),
        ];
        headers.extend(self.extra_header);
        headers
    }

    fn header_map(&self) -> HeaderMap {
        header_map(&self.headers())
    }
}

const DELETE_REPEATED: Vector = Vector {
    method: "DELETE",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/thumbnails",
    query: Some("asset_id=a1&task_id=t1&task_id=t10&task_id=t2"),
    content_type: "application/json",
    extra_header: None,
    body: b"",
    signed_headers: SIGNED,
    signature: "fbb1e47fe069304ebc2eb491a7ee1a29a3f342c1e72c86ab96daec474149d65d",
};
const GET_PAGED: Vector = Vector {
    method: "GET",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/thumbnails",
    query: Some("limit=10&offset=0"),
    content_type: "application/json",
    extra_header: None,
    body: b"",
    signed_headers: SIGNED,
    signature: "89ef3dd146314ef0acd6e6fdc320d3a20004f764c779687c2d9a4456f674a05e",
};
const POST_JSON: Vector = Vector {
    method: "POST",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/thumbnails",
    query: None,
    content_type: "application/json",
    extra_header: None,
    body: br#"{"asset_id":"a1","thumbnail_para":{"type":"time","time":5}}"#,
    signed_headers: SIGNED,
    signature: "2fb67de3386dc8429c4913bbe495f63e99c69015695780bd6561cc207f852144",
};
const GET_ENCODED: Vector = Vector {
    method: "GET",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/caf%C3%A9%20%2A%21~x/details",
    query: Some("empty=&name=a%20b%2Bc%2F%C3%A9~"),
    content_type: "application/json",
    extra_header: None,
    body: b"",
    signed_headers: SIGNED,
    signature: "9d053bad6fdb626782dd81385f68c84c763dd520eba41c7f6a1e666f7fe305b5",
};
const GET_DECODED_ORDER: Vector = Vector {
    method: "GET",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/thumbnails",
    query: Some("a~=1&a%C3%A9=2&task_id=X&task_id=x"),
    content_type: "application/json",
    extra_header: None,
    body: b"",
    signed_headers: SIGNED,
    signature: "e8d3b5eb91fc208955ee7c392464c611b9d30945b8e194a315628881b3e5eed4",
};
const PUT_UNSIGNED_PAYLOAD: Vector = Vector {
    method: "PUT",
    path: "/v1/0b1c2d3e4f5a6b7c8d9e/asset/upload",
    query: None,
    content_type: "application/octet-stream",
    extra_header: Some(("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")),
    body: b"raw bytes",
    signed_headers: "content-type;host;x-project-id;x-sdk-content-sha256;x-sdk-date",
    signature: "f01ce95778ea2769f27a364f3a8f1dec2ac0686d32cc536c901696e35c800847",
};

const VECTORS: [&Vector; 6] = [
    &DELETE_REPEATED,
    &GET_PAGED,
    &POST_JSON,
    &GET_ENCODED,
    &GET_DECODED_ORDER,
    &PUT_UNSIGNED_PAYLOAD,
];

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            panic!("not a valid test header: {name}: {value}");
        };
        map.append(name, value);
    }
    map
}

/// The server's clock, `offset_secs` after the vectors' date.
fn at(offset_secs: i64) -> i64 {
    DATE_SECS + offset_secs
}

/// Percent-encodes as a client might (more than the SDK's set: verify must
/// decode whatever escapes it is given).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Verifies `vector` with its parts replaced by the given overrides.
fn check(
    vector: &Vector,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    authorization: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let auth = Authorization::parse(authorization)?;
    let request = SignedRequest {
        method: vector.method,
        raw_path: path,
        raw_query: query,
        headers,
        body,
    };
    verify(&request, &auth, SK, now)
}

fn check_vector(vector: &Vector, now: i64) -> Result<(), SignatureError> {
    check(
        vector,
        vector.path,
        vector.query,
        &vector.header_map(),
        vector.body,
        &vector.authorization(),
        now,
    )
}

/// `s` with its last character (an ASCII digit or letter) changed.
fn flip_last_byte(s: &str) -> String {
    let mut s = s.to_owned();
    let last = s.pop();
    s.push(if last == Some('1') { '2' } else { '1' });
    s
}

#[test]
fn verify_accepts_every_python_vector() {
    for vector in VECTORS {
        assert_eq!(
            check_vector(vector, at(3 * 60)),
            Ok(()),
            "{}",
            vector.method
        );
    }
}

#[test]
fn sign_reproduces_every_python_vector() {
    for vector in VECTORS {
        let value = sign(
            vector.method,
            vector.path,
            vector.query,
            &vector.headers(),
            vector.body,
            AK,
            SK,
        );
        assert_eq!(
            value,
            vector.authorization(),
            "{} {}",
            vector.method,
            vector.path
        );
    }
}

#[test]
fn the_query_order_on_the_wire_does_not_matter() {
    let scrambled = Some("task_id=t2&task_id=t10&asset_id=a1&task_id=t1");
    let v = &DELETE_REPEATED;
    let result = check(
        v,
        v.path,
        scrambled,
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn equivalent_encodings_verify_alike() {
    // The SDK's own escapes, and other spellings of the same characters.
    let v = &GET_ENCODED;
    let path = "/v1/0b1c2d3e4f5a6b7c8d9e/asset/caf%c3%a9%20*!%7Ex/details/";
    let query = Some("name=a%20b%2bc/%C3%A9%7E&empty");
    let result = check(
        v,
        path,
        query,
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn a_changed_body_byte_is_a_mismatch() {
    let v = &POST_JSON;
    let mut body = v.body.to_vec();
    body[2] ^= 1;
    let result = check(
        v,
        v.path,
        v.query,
        &v.header_map(),
        &body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn a_changed_query_byte_is_a_mismatch() {
    for query in [
        "asset_id=a1&task_id=t1&task_id=t10&task_id=t3",
        "asset_id=a1&task_id=t1&task_id=t10",
        "asset_id=a1&task_id=t1&task_id=t10&task_id=t2&x=",
    ] {
        let v = &DELETE_REPEATED;
        let result = check(
            v,
            v.path,
            Some(query),
            &v.header_map(),
            v.body,
            &v.authorization(),
            at(0),
        );
        assert_eq!(result, Err(SignatureError::Mismatch), "{query}");
    }
}

#[test]
fn a_literal_plus_is_not_a_space() {
    let v = &GET_ENCODED;
    let query = Some("empty=&name=a+b%2Bc%2F%C3%A9~");
    let result = check(
        v,
        v.path,
        query,
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn a_changed_path_byte_is_a_mismatch() {
    let v = &GET_PAGED;
    let path = flip_last_byte(v.path);
    let result = check(
        v,
        &path,
        v.query,
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn a_changed_signed_header_is_a_mismatch() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.insert(
        "x-project-id",
        HeaderValue::from_static("0b1c2d3e4f5a6b7c8d9f"),
    );
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn an_unsigned_header_may_change() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.insert("user-agent", HeaderValue::from_static("anything"));
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn a_changed_signature_is_a_mismatch() {
    let v = &GET_PAGED;
    let auth = flip_last_byte(&v.authorization());
    let result = check(v, v.path, v.query, &v.header_map(), v.body, &auth, at(0));
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn another_secret_key_is_a_mismatch() {
    let v = &GET_PAGED;
    let auth = Authorization::parse(&v.authorization()).unwrap();
    let headers = v.header_map();
    let request = SignedRequest {
        method: v.method,
        raw_path: v.path,
        raw_query: v.query,
        headers: &headers,
        body: v.body,
    };
    assert_eq!(
        verify(&request, &auth, "other", at(0)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_method_is_signed() {
    let v = &GET_PAGED;
    let auth = Authorization::parse(&v.authorization()).unwrap();
    let headers = v.header_map();
    let request = SignedRequest {
        method: "DELETE",
        raw_path: v.path,
        raw_query: v.query,
        headers: &headers,
        body: v.body,
    };
    assert_eq!(
        verify(&request, &auth, SK, at(0)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_window_is_fifteen_minutes_either_way() {
    let v = &GET_PAGED;
    assert_eq!(check_vector(v, at(15 * 60)), Ok(()));
    assert_eq!(check_vector(v, at(-15 * 60)), Ok(()));
    // One second further either way: this also pins DATE_SECS to DATE.
    assert_eq!(
        check_vector(v, at(15 * 60 + 1)),
        Err(SignatureError::DateOutOfWindow)
    );
    assert_eq!(
        check_vector(v, at(-15 * 60 - 1)),
        Err(SignatureError::DateOutOfWindow)
    );
    assert_eq!(
        check_vector(v, at(16 * 60)),
        Err(SignatureError::DateOutOfWindow)
    );
    assert_eq!(
        check_vector(v, at(-16 * 60)),
        Err(SignatureError::DateOutOfWindow)
    );
}

#[test]
fn an_unsigned_date_is_refused() {
    let v = &GET_PAGED;
    let headers = [("X-Sdk-Date", DATE), ("Host", HOST)];
    let auth = sign(v.method, v.path, v.query, &[("Host", HOST)], v.body, AK, SK);
    let result = check(
        v,
        v.path,
        v.query,
        &header_map(&headers),
        v.body,
        &auth,
        at(0),
    );
    assert_eq!(result, Err(SignatureError::DateNotSigned));
}

#[test]
fn a_missing_date_is_refused() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.remove("x-sdk-date");
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::MissingDate));
}

#[test]
fn a_date_in_another_format_is_refused() {
    let v = &GET_PAGED;
    for date in [
        "2024-01-31T08:45:00Z",
        "20240131T084500",
        "2024131T0845000Z",
        "20241331T084500Z",
        "20240131T250000Z",
        "+0240131T084500Z",
        "20240131 084500Z",
    ] {
        let mut headers = v.header_map();
        headers.insert("x-sdk-date", HeaderValue::from_str(date).unwrap());
        let result = check(
            v,
            v.path,
            v.query,
            &headers,
            v.body,
            &v.authorization(),
            at(0),
        );
        assert_eq!(result, Err(SignatureError::BadDate), "{date}");
    }
}

#[test]
fn a_missing_signed_header_is_named() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.remove("x-project-id");
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(
        result,
        Err(SignatureError::MissingSignedHeader("x-project-id".into()))
    );
}

#[test]
fn a_non_utf8_signed_header_is_malformed() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.insert(
        "x-project-id",
        HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert!(
        matches!(result, Err(SignatureError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn a_utf8_signed_header_value_verifies() {
    // The SDK sends values as their UTF-8 bytes.
    let headers = [("X-Sdk-Date", DATE), ("Host", HOST), ("X-Note", " café ")];
    let v = &GET_PAGED;
    let auth = sign(v.method, v.path, v.query, &headers, v.body, AK, SK);
    let mut map = HeaderMap::new();
    map.insert("x-sdk-date", HeaderValue::from_static(DATE));
    map.insert("host", HeaderValue::from_static(HOST));
    map.insert(
        "x-note",
        HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    );
    assert_eq!(
        check(v, v.path, v.query, &map, v.body, &auth, at(0)),
        Ok(())
    );
}

#[test]
fn the_first_of_repeated_signed_headers_is_checked() {
    let v = &GET_PAGED;
    let mut headers = v.header_map();
    headers.append("x-project-id", HeaderValue::from_static("other"));
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        v.body,
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn non_utf8_path_or_query_is_malformed_not_a_panic() {
    let v = &GET_PAGED;
    let bad_path = check(
        v,
        "/v1/%FF/x",
        v.query,
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    let bad_query = check(
        v,
        v.path,
        Some("a=%C3"),
        &v.header_map(),
        v.body,
        &v.authorization(),
        at(0),
    );
    assert!(matches!(bad_path, Err(SignatureError::Malformed(_))));
    assert!(matches!(bad_query, Err(SignatureError::Malformed(_))));
}

#[test]
fn an_unsigned_content_sha256_header_is_ignored() {
    // Otherwise a forger could swap the body and declare the old hash.
    let v = &POST_JSON;
    let mut headers = v.header_map();
    let original = hex::encode(Sha256::digest(v.body));
    headers.insert(
        "x-sdk-content-sha256",
        HeaderValue::from_str(&original).unwrap(),
    );
    let result = check(
        v,
        v.path,
        v.query,
        &headers,
        b"{}",
        &v.authorization(),
        at(0),
    );
    assert_eq!(result, Err(SignatureError::Mismatch));
}

#[test]
fn a_signed_content_sha256_must_match_the_body() {
    let v = &POST_JSON;
    let real = hex::encode(Sha256::digest(v.body));
    let mut headers = v.headers();
    headers.push(("X-Sdk-Content-Sha256", &real));
    let auth = sign(v.method, v.path, v.query, &headers, v.body, AK, SK);
    let map = header_map(&headers);
    assert_eq!(
        check(v, v.path, v.query, &map, v.body, &auth, at(0)),
        Ok(())
    );
    assert_eq!(
        check(v, v.path, v.query, &map, b"{}", &auth, at(0)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn sign_then_verify_round_trips() {
    let headers = [
        ("Host", "localhost:8080"),
        ("X-Sdk-Date", DATE),
        ("Content-Type", "application/json"),
        ("X_Not_Signed", "x"),
    ];
    let path = "/v1/p/asset/thumbnails";
    let query = Some("task_id=b&task_id=a&asset_id=%E4%B8%AD");
    let auth = sign("delete", path, query, &headers, b"", "AK", SK);
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-sdk-date,"),
        "{auth}"
    );
    let parsed = Authorization::parse(&auth).unwrap();
    let map = header_map(&headers);
    let request = SignedRequest {
        method: "DELETE",
        raw_path: path,
        raw_query: query,
        headers: &map,
        body: b"",
    };
    assert_eq!(verify(&request, &parsed, SK, at(60)), Ok(()));
}

#[test]
fn parse_reads_the_three_fields() {
    let auth = Authorization::parse(&GET_PAGED.authorization()).unwrap();
    assert_eq!(auth.access_key(), AK);
    assert_eq!(
        auth.signed_headers(),
        ["content-type", "host", "x-project-id", "x-sdk-date"]
    );
    assert!(!format!("{auth:?}").contains(GET_PAGED.signature));
}

#[test]
fn parse_tolerates_spacing_and_field_order() {
    let sig = GET_PAGED.signature;
    for value in [
        format!("SDK-HMAC-SHA256 Access=AK,SignedHeaders=host;x-sdk-date,Signature={sig}"),
        format!("SDK-HMAC-SHA256 Signature={sig},  Access=AK, SignedHeaders=host;x-sdk-date"),
        format!(" SDK-HMAC-SHA256 Access=AK , SignedHeaders=host;x-sdk-date, Signature={sig} "),
    ] {
        assert_eq!(
            Authorization::parse(&value).unwrap().access_key(),
            "AK",
            "{value}"
        );
    }
}

#[test]
fn parse_rejects_malformed_values() {
    let sig = GET_PAGED.signature;
    let long_ak = "A".repeat(129);
    let cases = [
        String::new(),
        "SDK-HMAC-SHA256".to_owned(),
        format!("SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature={sig}"),
        format!("sdk-hmac-sha256 Access=AK, SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
        "SDK-HMAC-SHA256 Access=AK, Signature=00".to_owned(),
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host".to_owned(),
        format!("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access={long_ak}, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A\u{e9}, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A\tB, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={sig}, Extra=1"),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=ho st, Signature={sig}"),
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=zz".to_owned(),
        format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={}",
            &sig[1..]
        ),
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={sig}00"),
        format!("SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature={sig}"),
        format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders={}, Signature={sig}",
            "a;".repeat(5000) + "b"
        ),
    ];
    for value in cases {
        assert!(
            matches!(
                Authorization::parse(&value),
                Err(SignatureError::Malformed(_))
            ),
            "{value:.80}"
        );
    }
}

#[test]
fn canonical_request_matches_the_sdk_layout() {
    let canonical = canonical_request(
        "get",
        "/v1/p/caf%C3%A9",
        Some("b=2&a=1&a=0"),
        &[("host", " example.com "), ("x-sdk-date", DATE)],
        EMPTY_PAYLOAD_HASH,
    )
    .unwrap();
    assert_eq!(
        canonical,
        format!(
            "GET\n/v1/p/caf%C3%A9/\na=0&a=1&b=2\nhost:example.com\nx-sdk-date:{DATE}\n\n\
             host;x-sdk-date\n{EMPTY_PAYLOAD_HASH}"
        )
    );
}

proptest! {
    #[test]
    fn parse_never_panics(value in any::<String>()) {
        let _ = Authorization::parse(&value);
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        ak in "[ -~]{0,140}",
        signed in "[a-zA-Z;_ -]{0,40}",
        sig in "[0-9a-fA-Z]{0,70}",
    ) {
        let value = format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders={signed}, Signature={sig}");
        let _ = Authorization::parse(&value);
    }

    #[test]
    fn verify_never_panics(
        method in "\\PC{0,8}",
        path in "(/|%[0-9a-fA-F]{0,2}|\\PC){0,40}",
        query in proptest::option::of("(&|=|\\+|%[0-9a-fA-F]{0,2}|\\PC){0,40}"),
        date in "\\PC{0,20}|[0-9]{8}T[0-9]{6}Z",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        content_sha in proptest::option::of("[ -~]{0,70}"),
        now in any::<i64>(),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(date) = HeaderValue::from_str(&date) {
            headers.insert("x-sdk-date", date);
        }
        headers.insert("host", HeaderValue::from_static(HOST));
        if let Some(Ok(value)) = content_sha.as_deref().map(HeaderValue::from_str) {
            headers.insert("x-sdk-content-sha256", value);
        }
        let auth = Authorization::parse(&format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-content-sha256;x-sdk-date, Signature={}",
            "0".repeat(64)
        )).unwrap();
        let request = SignedRequest {
            method: &method,
            raw_path: &path,
            raw_query: query.as_deref(),
            headers: &headers,
            body: &body,
        };
        let _ = verify(&request, &auth, SK, now);
        let _ = sign(&method, &path, query.as_deref(), &[("X-Sdk-Date", &date)], &body, "AK", SK);
    }

    #[test]
    fn sign_then_verify_round_trips_for_any_path_and_query(
        segments in proptest::collection::vec("\\PC{0,6}", 1..5),
        pairs in proptest::collection::vec(("\\PC{1,4}", "\\PC{0,4}"), 0..5),
        body in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        // Encode as a client would; verify must decode to the same thing.
        let path: String = segments.iter().map(|s| format!("/{}", encode(s))).collect();
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let headers = [("Host", HOST), ("X-Sdk-Date", DATE)];
        let auth = sign("POST", &path, Some(&query), &headers, &body, AK, SK);
        let map = header_map(&headers);
        let request = SignedRequest {
            method: "POST",
            raw_path: &path,
            raw_query: Some(&query),
            headers: &map,
            body: &body,
        };
        let parsed = Authorization::parse(&auth).unwrap();
        prop_assert_eq!(verify(&request, &parsed, SK, at(0)), Ok(()));
    }
}

#[test]
fn check_date_needs_no_body_and_applies_the_same_window() {
    let v = &POST_JSON;
    let auth = Authorization::parse(&v.authorization()).unwrap();
    let headers = v.header_map();
    assert_eq!(check_date(&headers, &auth, at(15 * 60)), Ok(DATE));
    assert_eq!(
        check_date(&headers, &auth, at(15 * 60 + 1)),
        Err(SignatureError::DateOutOfWindow)
    );
}
