//! The canonical request: what the signature covers, computed alike by the
//! signer and the verifier from the request's wire form.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::{ALGORITHM, EMPTY_PAYLOAD_HASH, SignatureError};

/// Bytes that Python's `quote(s, safe='~')` leaves alone: `A-Z a-z 0-9 _ . - ~`.
const SDK_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// The SDK's payload hash: the empty hash for an empty body, else the declared
/// `X-Sdk-Content-Sha256` value when there is one, else `hex(sha256(body))`.
pub fn payload_hash(body: &[u8], declared: Option<&str>) -> String {
    match declared {
        _ if body.is_empty() => EMPTY_PAYLOAD_HASH.to_owned(),
        Some(declared) => declared.to_owned(),
        None => lower_hex(&Sha256::digest(body)),
    }
}

/// The canonical request the signature covers:
/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH`.
///
/// `signed_headers` are `(lower-case name, value)` pairs in signing order;
/// values are trimmed here. `raw_path` and `raw_query` are the wire forms.
/// Fails if the path or query is not UTF-8 once percent-decoded.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    signed_headers: &[(&str, &str)],
    payload_hash: &str,
) -> Result<String, SignatureError> {
    canonicalize(
        method,
        raw_path,
        raw_query,
        signed_headers,
        payload_hash,
        Utf8::Strict,
    )
}

/// What to do with percent-decoded bytes that are not UTF-8.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Utf8 {
    /// Refuse them: the server must not guess what the client signed.
    Strict,
    /// Replace them, as Python's `unquote` does when the SDK signs.
    Lossy,
}

pub(crate) fn canonicalize(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    signed_headers: &[(&str, &str)],
    payload_hash: &str,
    utf8: Utf8,
) -> Result<String, SignatureError> {
    let uri = canonical_uri(raw_path, utf8)?;
    let query = canonical_query(raw_query.unwrap_or_default(), utf8)?;
    let mut out = String::with_capacity(256 + raw_path.len() + query.len());
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&uri);
    out.push('\n');
    out.push_str(&query);
    out.push('\n');
    for (name, value) in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    for (n, (name, _)) in signed_headers.iter().enumerate() {
        if n > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// What the HMAC is computed over: the algorithm, the `X-Sdk-Date` value as
/// sent, and the canonical request's hash.
pub(crate) fn string_to_sign(date: &str, canonical_request: &str) -> String {
    let hash = Sha256::digest(canonical_request.as_bytes());
    let mut out = String::with_capacity(ALGORITHM.len() + date.len() + 2 + 2 * hash.len());
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(date);
    out.push('\n');
    push_lower_hex(&mut out, &hash);
    out
}

/// Lower-case hex, as Python's `hexdigest()`; from a table, where
/// `hex::encode` goes through `char`s (issue 12's profile: every AK/SK
/// request hashes twice).
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    push_lower_hex(&mut out, bytes);
    out
}

fn push_lower_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// Percent-decodes without turning `+` into a space (the SDK encodes both as
/// escapes, so a literal `+` is just a `+`).
fn decode(raw: &str, utf8: Utf8, what: &'static str) -> Result<String, SignatureError> {
    let decoded = percent_decode_str(raw);
    match utf8 {
        Utf8::Strict => decoded
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| SignatureError::Malformed(what)),
        Utf8::Lossy => Ok(decoded.decode_utf8_lossy().into_owned()),
    }
}

/// Appends `decoded` quoted; the encoder yields the runs that need no
/// escaping as they are, so nothing is allocated on the way.
fn push_encoded(out: &mut String, decoded: &str) {
    out.extend(utf8_percent_encode(decoded, SDK_ENCODE_SET));
}

/// `unquote(path).split('/')`, each segment quoted, joined, `/` appended.
fn canonical_uri(raw_path: &str, utf8: Utf8) -> Result<String, SignatureError> {
    let decoded = decode(raw_path, utf8, "the path is not UTF-8 once percent-decoded")?;
    let mut uri = String::with_capacity(decoded.len() + 1);
    for (n, segment) in decoded.split('/').enumerate() {
        if n > 0 {
            uri.push('/');
        }
        push_encoded(&mut uri, segment);
    }
    if !uri.ends_with('/') {
        uri.push('/');
    }
    Ok(uri)
}

/// Pairs decoded, sorted by key then value (on the decoded strings, as the
/// SDK sorts them), re-encoded, `k=` for empty values. Empty pieces such as a
/// trailing `&` carry no parameter, so they are skipped, as query parsers do.
fn canonical_query(raw_query: &str, utf8: Utf8) -> Result<String, SignatureError> {
    const WHAT: &str = "the query is not UTF-8 once percent-decoded";
    let mut pairs = raw_query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode(key, utf8, WHAT)?, decode(value, utf8, WHAT)?))
        })
        .collect::<Result<Vec<_>, SignatureError>>()?;
    pairs.sort();
    let mut query = String::with_capacity(raw_query.len());
    for (n, (key, value)) in pairs.iter().enumerate() {
        if n > 0 {
            query.push('&');
        }
        push_encoded(&mut query, key);
        query.push('=');
        push_encoded(&mut query, value);
    }
    Ok(query)
}
