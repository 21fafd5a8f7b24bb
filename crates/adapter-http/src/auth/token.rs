//! `X-Auth-Token` tokens that vodsnap issues and checks itself: an HMAC over a
//! small text payload, so they need no storage and cannot be forged without
//! the server's key.
//!
//! Format: `vst1.{b64url(payload)}.{b64url(HMAC-SHA256(key, "vst1." + b64url(payload)))}`
//! with `payload = "{project}\n{subject}\n{expires_at_micros}\n{nonce_hex}"`.
//! The version prefix is inside the MAC, so a future `vst2` cannot be confused
//! with this one.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use vodsnap_domain::{ProjectId, Secret, Timestamp};
use vodsnap_ports::{TokenAuthority, TokenClaims, TokenError};

/// Shortest key accepted: HMAC-SHA256 gains nothing from more, and loses
/// strength with less.
pub const MIN_KEY_LEN: usize = 32;
/// Longest token looked at; issued tokens are a few hundred bytes, so anything
/// longer is refused before any work is done.
pub const MAX_TOKEN_LEN: usize = 2 * 1024;
/// Longest subject kept in a token, in bytes; longer ones are cut, so that an
/// issued token always stays under [`MAX_TOKEN_LEN`].
pub const MAX_SUBJECT_LEN: usize = 256;

const PREFIX: &str = "vst1.";
const NONCE_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// Why a token key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenKeyError {
    #[error("the token key must be at least {MIN_KEY_LEN} bytes long (it has {0})")]
    TooShort(usize),
}

/// Issues and checks tokens with one HMAC key.
#[derive(Clone)]
pub struct HmacTokenAuthority {
    /// Keyed once; cloned per use, which is cheaper than re-keying.
    mac: HmacSha256,
}

impl fmt::Debug for HmacTokenAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacTokenAuthority { key: [redacted] }")
    }
}

impl HmacTokenAuthority {
    /// An authority keyed with the secret's UTF-8 bytes, which must number at
    /// least [`MIN_KEY_LEN`] (e.g. `openssl rand -base64 48`). Every server
    /// that shares the key accepts the others' tokens.
    pub fn new(key: &Secret) -> Result<Self, TokenKeyError> {
        Self::from_bytes(key.expose().as_bytes())
    }

    /// An authority with a fresh random 32-byte key: its tokens die with it.
    /// For tests and single-process setups.
    pub fn random() -> Self {
        // HMAC zero-pads keys shorter than its 64-byte block, so this is HMAC
        // keyed with 32 random bytes, built without a fallible constructor.
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        OsRng.fill_bytes(&mut block[..MIN_KEY_LEN]);
        Self {
            mac: <HmacSha256 as hmac::digest::KeyInit>::new(&block),
        }
    }

    fn from_bytes(key: &[u8]) -> Result<Self, TokenKeyError> {
        if key.len() < MIN_KEY_LEN {
            return Err(TokenKeyError::TooShort(key.len()));
        }
        let mac =
            HmacSha256::new_from_slice(key).map_err(|_| TokenKeyError::TooShort(key.len()))?;
        Ok(Self { mac })
    }

    /// The base64url MAC of `vst1.{payload_b64}`.
    fn tag(&self, payload_b64: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(PREFIX.as_bytes());
        mac.update(payload_b64.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl TokenAuthority for HmacTokenAuthority {
    fn issue(&self, project: &ProjectId, subject: &str, ttl: Duration, now: Timestamp) -> Secret {
        let expires_at = (now + ttl).as_micros();
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);

        let payload = format!(
            "{project}\n{}\n{expires_at}\n{}",
            clean_subject(subject),
            hex::encode(nonce)
        );
        let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
        let tag = self.tag(&payload_b64);
        Secret::new(format!("{PREFIX}{payload_b64}.{tag}"))
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload_b64, tag) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(TokenError::Malformed)?;
        if payload_b64.is_empty() || tag.is_empty() {
            return Err(TokenError::Malformed);
        }

        // The MAC is checked before the payload is even decoded, so nothing an
        // attacker writes there is parsed. Comparing the encoded forms also
        // refuses non-canonical base64 of a valid MAC.
        let expected = self.tag(payload_b64);
        if !bool::from(expected.as_bytes().ct_eq(tag.as_bytes())) {
            return Err(TokenError::BadSignature);
        }

        let claims = parse_payload(payload_b64).ok_or(TokenError::Malformed)?;
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The subject as stored: newlines would split the payload's fields, so every
/// control character becomes a space; and it is cut to [`MAX_SUBJECT_LEN`].
fn clean_subject(subject: &str) -> String {
    let mut clean = String::with_capacity(subject.len().min(MAX_SUBJECT_LEN));
    for c in subject.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if clean.len() + c.len_utf8() > MAX_SUBJECT_LEN {
            break;
        }
        clean.push(c);
    }
    clean
}

/// Only reached for payloads this key signed, so a failure means a bug or a
/// leaked key, never an attacker's input.
fn parse_payload(payload_b64: &str) -> Option<TokenClaims> {
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).ok()?;
    let payload = String::from_utf8(payload).ok()?;
    let mut fields = payload.split('\n');
    let (project, subject, expires_at, nonce) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some()
        || nonce.len() != 2 * NONCE_LEN
        || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some(TokenClaims {
        project: ProjectId::parse(project).ok()?,
        subject: subject.to_owned(),
        expires_at: Timestamp::from_micros(expires_at.parse().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_micros(1_706_690_700_000_000);
    const HOUR: Duration = Duration::from_secs(3600);

    fn authority() -> HmacTokenAuthority {
        HmacTokenAuthority::new(&Secret::new("k".repeat(32))).unwrap()
    }

    fn project() -> ProjectId {
        ProjectId::parse("0b1c2d3e4f5a6b7c8d9e").unwrap()
    }

    /// `token` with the byte at `index` replaced by another base64url byte.
    fn tamper(token: &str, index: usize) -> String {
        let mut bytes = token.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn issue_then_verify_round_trips() {
        let tokens = authority();
        let token = tokens.issue(&project(), "ci-bot", HOUR, NOW);
        let claims = tokens.verify(token.expose(), NOW).unwrap();
        assert_eq!(
            claims,
            TokenClaims {
                project: project(),
                subject: "ci-bot".into(),
                expires_at: NOW + HOUR,
            }
        );
    }

    #[test]
    fn another_authority_with_the_same_key_accepts_the_token() {
        let token = authority().issue(&project(), "s", HOUR, NOW);
        assert!(authority().verify(token.expose(), NOW).is_ok());
    }

    #[test]
    fn two_tokens_for_the_same_claims_differ() {
        let tokens = authority();
        let a = tokens.issue(&project(), "s", HOUR, NOW);
        let b = tokens.issue(&project(), "s", HOUR, NOW);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn a_token_expires_exactly_at_its_expiry() {
        let tokens = authority();
        let token = tokens.issue(&project(), "s", HOUR, NOW);
        let expiry = NOW + HOUR;
        let just_before = expiry - Duration::from_micros(1);
        assert!(tokens.verify(token.expose(), just_before).is_ok());
        assert_eq!(
            tokens.verify(token.expose(), expiry),
            Err(TokenError::Expired)
        );
        assert_eq!(
            tokens.verify(token.expose(), expiry + HOUR),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_huge_ttl_saturates_instead_of_overflowing() {
        let tokens = authority();
        let token = tokens.issue(&project(), "s", Duration::MAX, NOW);
        let claims = tokens.verify(token.expose(), NOW).unwrap();
        assert_eq!(claims.expires_at, Timestamp::from_micros(i64::MAX));
    }

    #[test]
    fn another_key_is_a_bad_signature() {
        let token = authority().issue(&project(), "s", HOUR, NOW);
        let other = HmacTokenAuthority::new(&Secret::new("j".repeat(32))).unwrap();
        assert_eq!(
            other.verify(token.expose(), NOW),
            Err(TokenError::BadSignature)
        );
        let random = HmacTokenAuthority::random();
        assert_eq!(
            random.verify(token.expose(), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_or_mac_is_a_bad_signature() {
        let tokens = authority();
        let token = tokens.issue(&project(), "s", HOUR, NOW);
        let token = token.expose();
        let mac_start = token.rfind('.').unwrap() + 1;
        for index in [
            PREFIX.len(),
            PREFIX.len() + 10,
            mac_start - 2,
            mac_start,
            token.len() - 1,
        ] {
            let tampered = tamper(token, index);
            assert_eq!(
                tokens.verify(&tampered, NOW),
                Err(TokenError::BadSignature),
                "byte {index}"
            );
        }
    }

    #[test]
    fn a_forged_longer_expiry_is_a_bad_signature() {
        let tokens = authority();
        let token = tokens.issue(&project(), "s", HOUR, NOW);
        let (_, mac) = token.expose().rsplit_once('.').unwrap();
        let payload = format!("{}\ns\n{}\n{}", project(), i64::MAX, "0".repeat(32));
        let forged = format!("{PREFIX}{}.{mac}", URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(tokens.verify(&forged, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let tokens = authority();
        for garbage in [
            "",
            "vst1.",
            "vst1..",
            "vst1.abc",
            "vst1.abc.",
            "vst1..abc",
            "vst2.abc.def",
            "Bearer abc",
            "not a token at all",
        ] {
            assert_eq!(
                tokens.verify(garbage, NOW),
                Err(TokenError::Malformed),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn an_overlong_token_is_malformed_before_any_check() {
        let tokens = authority();
        let long = format!("{PREFIX}{}.{}", "A".repeat(MAX_TOKEN_LEN), "A".repeat(43));
        assert_eq!(tokens.verify(&long, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn a_correctly_signed_but_unparsable_payload_is_malformed() {
        let tokens = authority();
        for payload in ["only one field", "bad project!\ns\n1\n00", "p\ns\nsoon\n00"] {
            let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
            let token = format!("{PREFIX}{payload_b64}.{}", tokens.tag(&payload_b64));
            assert_eq!(
                tokens.verify(&token, NOW),
                Err(TokenError::Malformed),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn newlines_in_the_subject_cannot_forge_fields() {
        let tokens = authority();
        let token = tokens.issue(&project(), "eve\nother-project\n9", HOUR, NOW);
        let claims = tokens.verify(token.expose(), NOW).unwrap();
        assert_eq!(claims.subject, "eve other-project 9");
        assert_eq!(claims.project, project());
    }

    #[test]
    fn a_long_subject_is_cut_and_the_token_stays_verifiable() {
        let tokens = authority();
        let subject = "é".repeat(MAX_TOKEN_LEN);
        let token = tokens.issue(&project(), &subject, HOUR, NOW);
        let claims = tokens.verify(token.expose(), NOW).unwrap();
        assert!(claims.subject.len() <= MAX_SUBJECT_LEN);
        assert!(subject.starts_with(&claims.subject));
    }

    #[test]
    fn a_zero_padded_key_block_is_the_same_hmac_key() {
        // What `random` relies on to avoid a fallible constructor.
        let key = [7u8; MIN_KEY_LEN];
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        block[..MIN_KEY_LEN].copy_from_slice(&key);
        let padded = HmacTokenAuthority {
            mac: <HmacSha256 as hmac::digest::KeyInit>::new(&block),
        };
        let sliced = HmacTokenAuthority::from_bytes(&key).unwrap();
        assert_eq!(padded.tag("payload"), sliced.tag("payload"));
    }

    #[test]
    fn a_short_key_is_refused_with_a_reason() {
        let error = HmacTokenAuthority::new(&Secret::new("k".repeat(31))).unwrap_err();
        assert_eq!(error, TokenKeyError::TooShort(31));
        assert!(error.to_string().contains("at least 32 bytes"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = "secret-key-material-0123456789abcdef";
        let tokens = HmacTokenAuthority::new(&Secret::new(key)).unwrap();
        let printed = format!("{tokens:?}");
        assert!(!printed.contains(key), "{printed}");
        assert!(printed.contains("redacted"));
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in any::<String>(), now in any::<i64>()) {
            let _ = authority().verify(&token, Timestamp::from_micros(now));
        }

        #[test]
        fn verify_never_panics_on_near_misses(
            payload in "[A-Za-z0-9_-]{0,80}",
            mac in "[A-Za-z0-9_=+/-]{0,60}",
        ) {
            let token = format!("{PREFIX}{payload}.{mac}");
            let _ = authority().verify(&token, NOW);
        }

        #[test]
        fn every_issued_token_verifies(
            subject in any::<String>(),
            ttl_secs in 1u64..10_000_000,
            now in 0i64..4_000_000_000_000_000,
        ) {
            let tokens = authority();
            let now = Timestamp::from_micros(now);
            let token = tokens.issue(&project(), &subject, Duration::from_secs(ttl_secs), now);
            prop_assert!(token.expose().len() <= MAX_TOKEN_LEN);
            let claims = tokens.verify(token.expose(), now).unwrap();
            prop_assert_eq!(claims.project, project());
            prop_assert!(!claims.subject.contains('\n'));
        }
    }
}
