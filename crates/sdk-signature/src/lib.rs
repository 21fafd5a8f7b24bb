#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`authorization`]: the `Authorization` header, parsed;
//! - [`canonical`]: the canonical request and the payload hash, the part
//!   both sides compute alike;
//! - [`sign`]: the client side;
//! - [`verify`]: the server side.
//!
//! ## Compatibility
//!
//! The reference is `huaweicloudsdkcore/signer/signer.py` (class `Signer`).
//! The SDK canonicalizes the request from its *unencoded* parts; a server only
//! sees the wire form, so the path and query are percent-decoded first and
//! then re-encoded the way Python's `quote(s, safe='~')` does. Sorting happens
//! on the decoded strings, because that is what the SDK sorts (encoded and
//! decoded orders differ, e.g. `a~` and `a%C3%A9`).
//!
//! Known limits of the SDK's scheme, kept for compatibility:
//! - `%2F` in a path segment and `/` canonicalize alike, and a trailing `/` is
//!   always appended; the signature does not tell those paths apart.
//! - With `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (which the SDK sends for
//!   bodies that are not JSON or BSON) the body is not covered by the signature.
//! - The SDK sorts repeated query values by their Python type, so repeated
//!   *integer* values (`9` before `10`) would not verify; the VOD API has none.

pub mod authorization;
pub mod canonical;
mod date;
pub mod sign;
pub mod verify;

pub use authorization::Authorization;
pub use canonical::{canonical_request, payload_hash};
pub use sign::{SignError, sign, sign_request};
pub use verify::{SignedRequest, check_date, verify};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// How far the client's `X-Sdk-Date` may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Longest `Authorization` value parsed; a real one is a few hundred bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Longest access key accepted.
pub const MAX_ACCESS_KEY_LEN: usize = 128;
/// The header carrying the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const DATE_HEADER: &str = "x-sdk-date";
/// The header that, when signed, stands in for the body's hash.
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The `X-Sdk-Content-Sha256` value the SDK sends for non-JSON bodies.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `hex(sha256(""))`, the payload hash of an empty body.
pub const EMPTY_PAYLOAD_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Why a signed request was refused. The `Malformed` reason names what to fix;
/// no variant carries a secret or the expected signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("{0}")]
    Malformed(&'static str),
    #[error("the X-Sdk-Date header is missing")]
    MissingDate,
    #[error("X-Sdk-Date must be one of the SignedHeaders")]
    DateNotSigned,
    #[error("X-Sdk-Date must be formatted YYYYMMDDTHHMMSSZ (UTC)")]
    BadDate,
    #[error("X-Sdk-Date is more than 15 minutes away from the server's clock")]
    DateOutOfWindow,
    #[error("the signed header {0} is not in the request")]
    MissingSignedHeader(String),
    #[error("the signature does not match the request")]
    Mismatch,
}
