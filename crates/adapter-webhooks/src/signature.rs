//! The `X-Vodsnap-Signature` header: `t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! Receivers verify it over the raw body as received (before any JSON
//! parsing), compare in constant time, and refuse a `t` too far from their
//! clock, so that a captured delivery cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header's name.
pub const HEADER: &str = "X-Vodsnap-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The header's value for `body` signed with `secret` at `t` (Unix
/// seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed signature header")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies a header value over `body` with `secret`, at `now` (Unix
/// seconds), accepting a `t` at most `tolerance` seconds away. Any of
/// several `v1=` values may match (room for a future secret rotation).
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?);
            }
            _ => {}
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now - t).abs() > tolerance {
        return Err(VerifyError::Stale);
    }
    let expected = mac(secret, t, body);
    if signatures
        .iter()
        .any(|s| bool::from(s.as_slice().ct_eq(expected.as_slice())))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test",
        //   b"1700000000.{}",hashlib.sha256).hexdigest())'
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn verify_accepts_its_own_and_refuses_changes() {
        let header = sign("s", 100, b"body");
        assert_eq!(verify("s", &header, b"body", 100, 300), Ok(()));
        assert_eq!(
            verify("s", &header, b"bodY", 100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("x", &header, b"body", 100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("s", &header, b"body", 401, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify("s", "v1=00", b"body", 100, 300),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verify("s", "t=100", b"body", 100, 300),
            Err(VerifyError::Malformed)
        );
    }
}
