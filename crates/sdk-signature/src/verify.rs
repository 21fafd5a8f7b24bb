//! The server side: checking a signed request as it came off the wire.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::canonical::{Utf8, canonicalize, lower_hex, payload_hash, string_to_sign};
use crate::date::parse_sdk_date;
use crate::{
    Authorization, CONTENT_SHA256_HEADER, DATE_HEADER, MAX_CLOCK_SKEW_SECS, SignatureError,
    UNSIGNED_PAYLOAD,
};

/// A request as the server received it, before any decoding.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent on the wire, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as sent on the wire, without the `?`.
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// The parts of a received [`http::Request`], with its buffered body.
    pub fn from_parts(parts: &'a http::request::Parts, body: &'a [u8]) -> Self {
        Self {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            body,
        }
    }
}

/// Checks a signed request: `X-Sdk-Date` present, signed, well-formed and
/// within [`MAX_CLOCK_SKEW_SECS`] of `now_unix_secs` (the server's clock, in
/// seconds since the Unix epoch); then rebuilds the canonical request and
/// compares signatures in constant time.
///
/// If a signed header appears several times, its first value is the one
/// checked: the SDK never sends duplicates, and a fixed choice keeps the
/// check and whoever reads the header afterwards agreeing (`HeaderMap::get`
/// also returns the first).
///
/// `X-Sdk-Content-Sha256` replaces the body hash only when it is signed; an
/// unsigned one is ignored. A signed value other than `UNSIGNED-PAYLOAD` must
/// equal the body's real hash, so a declared hash cannot launder another body.
pub fn verify(
    request: &SignedRequest<'_>,
    auth: &Authorization,
    secret_key: &str,
    now_unix_secs: i64,
) -> Result<(), SignatureError> {
    let date = check_date(request.headers, auth, now_unix_secs)?;

    let headers = auth
        .signed_headers()
        .iter()
        .map(|name| {
            let value = request
                .headers
                .get(name.as_str())
                .ok_or_else(|| SignatureError::MissingSignedHeader(name.clone()))?;
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| SignatureError::Malformed("a signed header's value is not UTF-8"))?;
            Ok((name.as_str(), value))
        })
        .collect::<Result<Vec<_>, SignatureError>>()?;

    let declared = headers
        .iter()
        .find(|(name, _)| *name == CONTENT_SHA256_HEADER)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty());
    if let Some(declared) = declared
        && !request.body.is_empty()
        && declared != UNSIGNED_PAYLOAD
        && !declared.eq_ignore_ascii_case(&lower_hex(&Sha256::digest(request.body)))
    {
        return Err(SignatureError::Mismatch);
    }
    let payload = payload_hash(request.body, declared);

    let canonical = canonicalize(
        request.method,
        request.raw_path,
        request.raw_query,
        &headers,
        &payload,
        Utf8::Strict,
    )?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(string_to_sign(date, &canonical).as_bytes());
    mac.verify_slice(auth.signature())
        .map_err(|_| SignatureError::Mismatch)
}

/// The part of [`verify`] that needs no body: `X-Sdk-Date` present,
/// signed, well-formed and within [`MAX_CLOCK_SKEW_SECS`] of `now_unix_secs`.
/// A server runs it before reading the body, so that a stale or unsigned
/// request costs it no body. Returns the date as sent.
pub fn check_date<'h>(
    headers: &'h HeaderMap,
    auth: &Authorization,
    now_unix_secs: i64,
) -> Result<&'h str, SignatureError> {
    let date = headers
        .get(DATE_HEADER)
        .ok_or(SignatureError::MissingDate)?;
    if !auth.signs(DATE_HEADER) {
        return Err(SignatureError::DateNotSigned);
    }
    let date = date.to_str().map_err(|_| SignatureError::BadDate)?;
    let signed_at = parse_sdk_date(date).ok_or(SignatureError::BadDate)?;
    if now_unix_secs.abs_diff(signed_at) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::DateOutOfWindow);
    }
    Ok(date)
}
