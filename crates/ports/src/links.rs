//! Links to snapshot images: the `url` of each snapshot in details answers,
//! and the check of the links that vodsnap serves itself.

use async_trait::async_trait;
use vodsnap_domain::{ObjectKey, Timestamp};

/// What a served link carries besides the key: its expiry and signature,
/// as they came in the query (`?expires=...&sig=...`), unchecked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProof {
    /// Unix seconds after which the link is refused, as sent.
    pub expires: String,
    /// The signature, as sent.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The storage or its signer did not answer; retry.
    #[error("links cannot be made now")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// Why a served link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefused {
    /// This deployment's links do not point at vodsnap (a CDN base or
    /// presigned object-storage URLs): nothing is served here.
    #[error("snapshots are not served by vodsnap in this deployment")]
    NotServedHere,
    /// The expiry or signature is missing, malformed, or does not verify:
    /// the link was altered or never issued.
    #[error("the link is altered or was never issued")]
    BadSignature,
    /// The link verified but its expiry has passed.
    #[error("the link has expired")]
    Expired,
}

/// Makes the links of snapshot images, and checks those vodsnap serves.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SnapshotLinks: Send + Sync + 'static {
    /// A URL at which a client can GET the image stored under `key`,
    /// valid from `now` for at least the configured lifetime when it
    /// expires at all.
    async fn link(&self, key: &ObjectKey, now: Timestamp) -> Result<String, LinkError>;

    /// Checks a link vodsnap served for `key` and returns when it expires.
    ///
    /// - MUST return `NotServedHere` when this deployment's links do not
    ///   point at vodsnap.
    /// - MUST return `BadSignature` for any expiry or signature that this
    ///   signer (or one with the same key) did not make for `key`,
    ///   comparing in constant time.
    /// - MUST return `Expired` once `now` is at or past the expiry.
    fn verify(
        &self,
        key: &ObjectKey,
        proof: &LinkProof,
        now: Timestamp,
    ) -> Result<Timestamp, LinkRefused>;

    /// A name for logs: the kind of links, never a key.
    fn describe(&self) -> String;
}
