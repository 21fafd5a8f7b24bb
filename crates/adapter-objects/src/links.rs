//! The links of snapshot images ([`vodsnap_ports::SnapshotLinks`]), one kind
//! per way the images are reached:
//!
//! - [`SignedLinks`]: vodsnap serves the images itself at
//!   `{base}/{key}?expires={unix seconds}&sig={hex}`, with
//!   `sig = HMAC-SHA256(url key, "vsl1\n{expires}\n{key}")` in lower-case hex.
//!   The version tag is inside the MAC, so a later format cannot be confused
//!   with this one; the key is the object key itself (not its URL encoding),
//!   so any encoding a client or proxy picks verifies the same.
//! - [`PresignedLinks`]: S3 presigned GET URLs (SigV4 query signature), made
//!   by object_store's signer with the store's own credentials.
//! - [`PlainLinks`]: `{base}/{key}`, unsigned, for a CDN or a public bucket.
//!
//! Expiries are rounded up to a step (a tenth of the lifetime, at most five
//! minutes), so the links of one image stay the same for a while and
//! browsers and caches can reuse what they fetched.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3;
use object_store::signer::{Method, Signer as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use vodsnap_domain::{Blame, ObjectKey, Secret, Timestamp};
use vodsnap_ports::{LinkError, LinkProof, LinkRefused, SnapshotLinks};

use crate::failure::failure_of;

type HmacSha256 = Hmac<Sha256>;

/// Shortest URL key accepted, as for token keys.
pub const MIN_URL_KEY_LEN: usize = 32;
/// Shortest link lifetime: under a second, a link could expire in flight.
pub const MIN_LINK_TTL: Duration = Duration::from_secs(1);
/// Longest: S3 presigned URLs (SigV4) cannot live longer than 7 days.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest expiry step (see the module documentation).
const MAX_STEP_SECS: i64 = 300;
const VERSION: &str = "vsl1";

/// Characters escaped in a key's path segments: all but RFC 3986's
/// unreserved ones; '/' between segments is kept.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkSettingsError {
    #[error("the URL key must be at least {MIN_URL_KEY_LEN} bytes long (it has {0})")]
    KeyTooShort(usize),
    #[error("the link lifetime must be between 1s and 7d")]
    Lifetime,
}

/// A link lifetime within [`MIN_LINK_TTL`, `MAX_LINK_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTtl(Duration);

impl LinkTtl {
    pub fn new(ttl: Duration) -> Result<Self, LinkSettingsError> {
        if (MIN_LINK_TTL..=MAX_LINK_TTL).contains(&ttl) {
            Ok(Self(ttl))
        } else {
            Err(LinkSettingsError::Lifetime)
        }
    }

    pub fn get(self) -> Duration {
        self.0
    }

    /// The expiry of a link made at `now`, in Unix seconds: at least the
    /// lifetime away, rounded up to the step.
    fn expiry(self, now: Timestamp) -> i64 {
        let ttl = i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX);
        let step = (ttl / 10).clamp(1, MAX_STEP_SECS);
        let at_least = (now + self.0).as_secs();
        at_least.saturating_add(step - 1) / step * step
    }
}

/// `key` as a URL path: each segment percent-encoded.
fn encoded_path(key: &ObjectKey) -> String {
    let mut path = String::with_capacity(key.as_str().len());
    push_encoded_path(&mut path, key);
    path
}

/// Appends `key` as a URL path to `out`, without allocating on the way:
/// the encoder yields the runs that need no escaping as they are.
fn push_encoded_path(out: &mut String, key: &ObjectKey) {
    for (n, segment) in key.as_str().split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
}

/// Lower-case hex of a signature (64 characters for HMAC-SHA256).
fn hex_of(tag: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0_u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(tag) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    hex
}

/// Links to vodsnap's own `/snapshots/{key}`, signed with a key the
/// instances share.
#[derive(Clone)]
pub struct SignedLinks {
    base: String,
    mac: HmacSha256,
    ttl: LinkTtl,
}

impl fmt::Debug for SignedLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedLinks")
            .field("base", &self.base)
            .field("ttl", &self.ttl)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SignedLinks {
    /// Links under `base` (e.g. `https://vod.example/snapshots`), signed with
    /// the secret's UTF-8 bytes (at least [`MIN_URL_KEY_LEN`]). Every
    /// instance with the same key accepts the others' links.
    pub fn new(base: &str, key: &Secret, ttl: LinkTtl) -> Result<Self, LinkSettingsError> {
        let bytes = key.expose().as_bytes();
        if bytes.len() < MIN_URL_KEY_LEN {
            return Err(LinkSettingsError::KeyTooShort(bytes.len()));
        }
        let mac = HmacSha256::new_from_slice(bytes)
            .map_err(|_| LinkSettingsError::KeyTooShort(bytes.len()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            mac,
            ttl,
        })
    }

    /// Links with a fresh random key: they die with the process.
    pub fn random(base: &str, ttl: LinkTtl) -> Self {
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        rand::rngs::OsRng.fill_bytes(&mut block[..MIN_URL_KEY_LEN]);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            mac: <HmacSha256 as hmac::digest::KeyInit>::new(&block),
            ttl,
        }
    }

    /// The signature of `key` expiring at `expires` (the text as sent), as
    /// lower-case hex.
    fn signature(&self, key: &ObjectKey, expires: &str) -> [u8; 64] {
        let mut mac = self.mac.clone();
        mac.update(VERSION.as_bytes());
        mac.update(b"\n");
        mac.update(expires.as_bytes());
        mac.update(b"\n");
        mac.update(key.as_str().as_bytes());
        hex_of(&mac.finalize().into_bytes().into())
    }

    /// The link of `key` expiring at `expires` (Unix seconds). Built in one
    /// buffer: a details answer makes one per snapshot (issue 12's profile).
    pub fn link_expiring(&self, key: &ObjectKey, expires: i64) -> String {
        let expires = expires.to_string();
        let sig = self.signature(key, &expires);
        let mut link = String::with_capacity(
            self.base.len() + key.as_str().len() + expires.len() + sig.len() + 16,
        );
        link.push_str(&self.base);
        link.push('/');
        push_encoded_path(&mut link, key);
        link.push_str("?expires=");
        link.push_str(&expires);
        link.push_str("&sig=");
        link.extend(sig.iter().map(|&digit| char::from(digit)));
        link
    }
}

#[async_trait]
impl SnapshotLinks for SignedLinks {
    async fn link(&self, key: &ObjectKey, now: Timestamp) -> Result<String, LinkError> {
        Ok(self.link_expiring(key, self.ttl.expiry(now)))
    }

    fn verify(
        &self,
        key: &ObjectKey,
        proof: &LinkProof,
        now: Timestamp,
    ) -> Result<Timestamp, LinkRefused> {
        // Only the canonical form of an expiry was ever signed; anything
        // else (a sign, leading zeros, 20 digits) fails the MAC below.
        if proof.expires.is_empty() || proof.expires.len() > 19 || proof.signature.len() != 64 {
            return Err(LinkRefused::BadSignature);
        }
        let expected = self.signature(key, &proof.expires);
        if !bool::from(expected[..].ct_eq(proof.signature.as_bytes())) {
            return Err(LinkRefused::BadSignature);
        }
        let expires: i64 = proof
            .expires
            .parse()
            .map_err(|_| LinkRefused::BadSignature)?;
        let expires_at = Timestamp::from_secs(expires);
        if now >= expires_at {
            return Err(LinkRefused::Expired);
        }
        Ok(expires_at)
    }

    fn describe(&self) -> String {
        format!("signed links under {} for {:?}", self.base, self.ttl.get())
    }
}

/// S3 presigned GET URLs.
#[derive(Clone)]
pub struct PresignedLinks {
    s3: Arc<AmazonS3>,
    ttl: LinkTtl,
    description: String,
}

impl fmt::Debug for PresignedLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedLinks")
            .field("storage", &self.description)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl PresignedLinks {
    pub(crate) fn new(s3: Arc<AmazonS3>, ttl: LinkTtl, description: String) -> Self {
        Self {
            s3,
            ttl,
            description,
        }
    }
}

#[async_trait]
impl SnapshotLinks for PresignedLinks {
    async fn link(&self, key: &ObjectKey, now: Timestamp) -> Result<String, LinkError> {
        let path = object_store::path::Path::from(key.as_str());
        // SigV4 takes the lifetime, not the instant, in whole seconds; the
        // rounding keeps it within the 7 days S3 allows, since the lifetime
        // is at most that minus a step.
        let left = Timestamp::from_secs(self.ttl.expiry(now)).since(now);
        let expires_in = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            .min(MAX_LINK_TTL);
        match self.s3.signed_url(Method::GET, &path, expires_in).await {
            Ok(url) => Ok(url.to_string()),
            Err(err) => {
                let err = anyhow::Error::new(err).context("failed to presign an image URL");
                // Credentials from an instance role are fetched over the
                // network; a failure there passes.
                if err
                    .downcast_ref::<object_store::Error>()
                    .is_some_and(|e| failure_of(e).blame() == Blame::Store)
                {
                    Err(LinkError::Unavailable(err))
                } else {
                    Err(LinkError::Unknown(err))
                }
            }
        }
    }

    fn verify(&self, _: &ObjectKey, _: &LinkProof, _: Timestamp) -> Result<Timestamp, LinkRefused> {
        Err(LinkRefused::NotServedHere)
    }

    fn describe(&self) -> String {
        format!(
            "presigned links to {} for {:?}",
            self.description,
            self.ttl.get()
        )
    }
}

/// `{base}/{key}`, unsigned and never expiring: the base is a CDN or a
/// public bucket that serves the images itself.
#[derive(Debug, Clone)]
pub struct PlainLinks {
    base: String,
}

impl PlainLinks {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }
}

#[async_trait]
impl SnapshotLinks for PlainLinks {
    async fn link(&self, key: &ObjectKey, _: Timestamp) -> Result<String, LinkError> {
        Ok(format!("{}/{}", self.base, encoded_path(key)))
    }

    fn verify(&self, _: &ObjectKey, _: &LinkProof, _: Timestamp) -> Result<Timestamp, LinkRefused> {
        Err(LinkRefused::NotServedHere)
    }

    fn describe(&self) -> String {
        format!("plain links under {}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW_SECS: i64 = 1_700_000_000;

    fn now() -> Timestamp {
        Timestamp::from_micros(NOW_SECS * 1_000_000)
    }

    fn key(raw: &str) -> ObjectKey {
        ObjectKey::parse(raw).unwrap()
    }

    fn ttl(secs: u64) -> LinkTtl {
        LinkTtl::new(Duration::from_secs(secs)).unwrap()
    }

    fn links() -> SignedLinks {
        SignedLinks::new(
            "http://h/snapshots/",
            &Secret::new("k".repeat(MIN_URL_KEY_LEN)),
            ttl(3600),
        )
        .unwrap()
    }

    /// The expiry and signature of a link, as the server would read them.
    fn proof_of(link: &str) -> LinkProof {
        let query = link.split_once('?').unwrap().1;
        let (expires, sig) = query.split_once('&').unwrap();
        LinkProof {
            expires: expires.strip_prefix("expires=").unwrap().to_owned(),
            signature: sig.strip_prefix("sig=").unwrap().to_owned(),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// The link's exact text, against the documented format computed
    /// independently (`hex` and a fresh MAC), for a key that needs escaping:
    /// the one-buffer construction changes no byte.
    #[test]
    fn a_signed_link_is_exactly_the_documented_format() {
        let links = links();
        let k = key("p/a b/снимок#1?.jpg");
        let mut mac = HmacSha256::new_from_slice("k".repeat(MIN_URL_KEY_LEN).as_bytes()).unwrap();
        mac.update(format!("vsl1\n{NOW_SECS}\n{}", k.as_str()).as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            links.link_expiring(&k, NOW_SECS),
            format!(
                "http://h/snapshots/p/a%20b/%D1%81%D0%BD%D0%B8%D0%BC%D0%BE%D0%BA%231%3F.jpg?expires={NOW_SECS}&sig={sig}"
            )
        );
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let links = links();
        let k = key("p/a/t/0.jpg");
        let link = block_on(links.link(&k, now())).unwrap();
        assert!(link.starts_with("http://h/snapshots/p/a/t/0.jpg?expires="));
        let proof = proof_of(&link);
        let expires_at = links.verify(&k, &proof, now()).unwrap();
        assert!(expires_at.as_secs() >= NOW_SECS + 3600);
        assert!(expires_at.as_secs() < NOW_SECS + 3600 + 360);
        let last = expires_at - Duration::from_micros(1);
        assert!(links.verify(&k, &proof, last).is_ok());
        assert_eq!(
            links.verify(&k, &proof, expires_at),
            Err(LinkRefused::Expired)
        );
    }

    #[test]
    fn an_altered_link_is_refused() {
        let links = links();
        let k = key("p/a/t/0.jpg");
        let proof = proof_of(&block_on(links.link(&k, now())).unwrap());
        // Another key with the same proof.
        assert_eq!(
            links.verify(&key("p/a/t/1.jpg"), &proof, now()),
            Err(LinkRefused::BadSignature)
        );
        // A later expiry.
        let later = LinkProof {
            expires: (proof.expires.parse::<i64>().unwrap() + 1).to_string(),
            ..proof.clone()
        };
        assert_eq!(
            links.verify(&k, &later, now()),
            Err(LinkRefused::BadSignature)
        );
        // The same expiry written differently.
        let padded = LinkProof {
            expires: format!("0{}", proof.expires),
            ..proof.clone()
        };
        assert_eq!(
            links.verify(&k, &padded, now()),
            Err(LinkRefused::BadSignature)
        );
        // Upper-case hex of the right MAC, or nothing at all.
        let upper = LinkProof {
            signature: proof.signature.to_uppercase(),
            ..proof.clone()
        };
        assert_eq!(
            links.verify(&k, &upper, now()),
            Err(LinkRefused::BadSignature)
        );
        let empty = LinkProof {
            expires: String::new(),
            signature: String::new(),
        };
        assert_eq!(
            links.verify(&k, &empty, now()),
            Err(LinkRefused::BadSignature)
        );
    }

    #[test]
    fn another_key_refuses_the_link_and_a_shared_key_accepts_it() {
        let k = key("p/0.jpg");
        let proof = proof_of(&block_on(links().link(&k, now())).unwrap());
        let other = SignedLinks::new(
            "http://h/snapshots",
            &Secret::new("o".repeat(MIN_URL_KEY_LEN)),
            ttl(3600),
        )
        .unwrap();
        assert_eq!(
            other.verify(&k, &proof, now()),
            Err(LinkRefused::BadSignature)
        );
        assert!(links().verify(&k, &proof, now()).is_ok());
        let random = SignedLinks::random("http://h/snapshots", ttl(3600));
        assert_eq!(
            random.verify(&k, &proof, now()),
            Err(LinkRefused::BadSignature)
        );
    }

    #[test]
    fn a_signed_link_made_to_have_expired_is_refused_as_expired() {
        let links = links();
        let k = key("p/0.jpg");
        let proof = proof_of(&links.link_expiring(&k, NOW_SECS));
        assert_eq!(links.verify(&k, &proof, now()), Err(LinkRefused::Expired));
    }

    #[test]
    fn keys_are_escaped_segment_by_segment() {
        let k = key("p/a b/снимок#1?.jpg");
        assert_eq!(
            block_on(PlainLinks::new("https://cdn.test/v/").link(&k, now())).unwrap(),
            "https://cdn.test/v/p/a%20b/%D1%81%D0%BD%D0%B8%D0%BC%D0%BE%D0%BA%231%3F.jpg"
        );
    }

    #[test]
    fn short_keys_and_odd_lifetimes_are_refused() {
        assert_eq!(
            SignedLinks::new("b", &Secret::new("short"), ttl(60)).unwrap_err(),
            LinkSettingsError::KeyTooShort(5)
        );
        assert!(LinkTtl::new(Duration::from_millis(500)).is_err());
        assert!(LinkTtl::new(MAX_LINK_TTL + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let links = SignedLinks::new("b", &Secret::new("s".repeat(40)), ttl(60)).unwrap();
        assert!(!format!("{links:?}").contains("ssss"));
    }

    #[test]
    fn plain_and_presigned_links_are_not_served_here() {
        let proof = LinkProof {
            expires: "1".into(),
            signature: "0".repeat(64),
        };
        assert_eq!(
            PlainLinks::new("b").verify(&key("p/0.jpg"), &proof, now()),
            Err(LinkRefused::NotServedHere)
        );
    }

    proptest! {
        /// A link lives at least its lifetime, and at most one step more.
        #[test]
        fn expiries_are_rounded_up_within_a_step(secs in 1u64..=MAX_LINK_TTL.as_secs(), at in 0i64..4_000_000_000) {
            let now = Timestamp::from_micros(at * 1_000_000);
            let expiry = ttl(secs).expiry(now);
            let secs = i64::try_from(secs).unwrap();
            prop_assert!(expiry >= at + secs);
            prop_assert!(expiry < at + secs + (secs / 10).clamp(1, MAX_STEP_SECS));
        }
    }
}
