//! The client side: signing a request as the Huawei SDKs do.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request};
use sha2::Sha256;

use crate::canonical::{Utf8, canonicalize, payload_hash, string_to_sign};
use crate::date::format_sdk_date;
use crate::{ALGORITHM, CONTENT_SHA256_HEADER, DATE_HEADER};

/// Why [`sign_request`] could not sign a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// The request has neither a `Host` header nor an authority in its URI.
    #[error("the request has no Host header and its URI no authority")]
    NoHost,
    /// A header the signature would cover is not UTF-8.
    #[error("the value of header {0} is not UTF-8")]
    HeaderNotUtf8(String),
}

/// Signs a request as the SDK does and returns the `Authorization` value.
/// For Rust clients: tests, benchmarks, tools.
///
/// `headers` must already hold `X-Sdk-Date` and `Host` (without a date the
/// result will not verify). Every header is signed except names containing
/// `_`, as the SDK does; for a name given twice the first value is signed.
/// Unlike the SDK, nothing is added: send `X-Sdk-Content-Sha256` yourself if
/// you want it. Invalid UTF-8 behind percent escapes is replaced by U+FFFD, as
/// Python's `unquote` does.
pub fn sign(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
    access_key: &str,
    secret_key: &str,
) -> String {
    let mut signed: Vec<(String, &str)> = Vec::new();
    for &(name, value) in headers {
        let name = name.to_ascii_lowercase();
        if !name.contains('_') && !signed.iter().any(|(n, _)| *n == name) {
            signed.push((name, value));
        }
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));

    let find = |wanted: &str| {
        signed
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.trim())
    };
    let date = find(DATE_HEADER).unwrap_or_default();
    let payload = payload_hash(body, find(CONTENT_SHA256_HEADER).filter(|v| !v.is_empty()));

    let pairs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    // Lossy decoding cannot fail, so there is no error to report.
    let canonical = canonicalize(method, raw_path, raw_query, &pairs, &payload, Utf8::Lossy)
        .unwrap_or_default();
    // HMAC accepts keys of any length, so this cannot be empty in practice.
    let signature = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .map(|mut mac| {
            mac.update(string_to_sign(date, &canonical).as_bytes());
            crate::canonical::lower_hex(&mac.finalize().into_bytes())
        })
        .unwrap_or_default();

    let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={signature}",
        names.join(";")
    )
}

/// Signs an [`http::Request`] in place, as the SDK would send it: adds
/// `Host` (from the URI's authority) and `X-Sdk-Date` (from `now`) when the
/// request lacks them, then signs every header it has (names with `_`
/// aside) and sets `Authorization`.
///
/// The URI's path and query are signed as they are, so build them already
/// percent-encoded, as they will go on the wire. A body sent with
/// `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` is not covered.
pub fn sign_request<B: AsRef<[u8]>>(
    request: &mut Request<B>,
    access_key: &str,
    secret_key: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    if !request.headers().contains_key(HOST) {
        let host = request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or(SignError::NoHost)?;
        request.headers_mut().insert(HOST, host);
    }
    if !request.headers().contains_key(DATE_HEADER) {
        let date = HeaderValue::from_str(&format_sdk_date(now))
            .map_err(|_| SignError::HeaderNotUtf8(DATE_HEADER.to_owned()))?;
        request.headers_mut().insert(DATE_HEADER, date);
    }
    // A re-signed request must not sign its old signature.
    request.headers_mut().remove(AUTHORIZATION);

    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            std::str::from_utf8(value.as_bytes())
                .map(|value| (name.as_str(), value))
                .map_err(|_| SignError::HeaderNotUtf8(name.as_str().to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let authorization = sign(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
        &headers,
        request.body().as_ref(),
        access_key,
        secret_key,
    );
    // Made of a header name list, hex and the access key: visible ASCII
    // unless the access key is not, which no server would accept anyway.
    let value = HeaderValue::from_str(&authorization)
        .map_err(|_| SignError::HeaderNotUtf8(AUTHORIZATION.as_str().to_owned()))?;
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}
