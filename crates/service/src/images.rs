//! The snapshot images use case: the links that details answers carry, and
//! serving the images those links point at when vodsnap serves them itself.

use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{Blame, ImageFormat, ObjectKey};
use vodsnap_ports::{
    CleanupError, CleanupQueue, Clock, ImageStore, ImageStoreError, LinkError, LinkProof,
    LinkRefused, SnapshotLinks,
};

/// An image to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedImage {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    /// How much longer the link it was asked through stays valid: no cache
    /// may keep it longer.
    pub valid_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenImageError {
    /// The link is refused (expired, altered, or not served here).
    #[error(transparent)]
    Refused(LinkRefused),
    /// No live task references the key (its task was deleted, or never
    /// existed), or the object is missing.
    #[error("no such snapshot")]
    NotFound,
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

impl From<CleanupError> for OpenImageError {
    fn from(e: CleanupError) -> Self {
        match e {
            CleanupError::Unavailable(e) => Self::Unavailable(e),
            CleanupError::Unknown(e) => Self::Unknown(e),
        }
    }
}

impl From<ImageStoreError> for OpenImageError {
    fn from(e: ImageStoreError) -> Self {
        match e.blame() {
            Blame::Store => Self::Unavailable(e.into()),
            Blame::Key => Self::Unknown(e.into()),
        }
    }
}

/// Links to snapshot images and the images behind vodsnap's own links.
/// Cheap to clone.
#[derive(Clone)]
pub struct SnapshotImages {
    links: Arc<dyn SnapshotLinks>,
    references: Arc<dyn CleanupQueue>,
    images: Arc<dyn ImageStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SnapshotImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotImages")
            .field("links", &self.links.describe())
            .finish_non_exhaustive()
    }
}

impl SnapshotImages {
    /// `references` answers whether a live task of a project references a
    /// key (the cleanup queue's check, the same one the cleanup trusts).
    pub fn new(
        links: Arc<dyn SnapshotLinks>,
        references: Arc<dyn CleanupQueue>,
        images: Arc<dyn ImageStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            links,
            references,
            images,
            clock,
        }
    }

    /// The URL a client fetches the image under `key` at.
    pub async fn link(&self, key: &ObjectKey) -> Result<String, LinkError> {
        self.links.link(key, self.clock.now()).await
    }

    /// The image behind a link vodsnap served: the link must verify, and a
    /// live task of the key's project must still reference the key, so a
    /// deleted task's images are gone at once, before the cleanup removes
    /// their files. The signature is checked first, so nobody without a
    /// link learns whether a key exists.
    pub async fn open(
        &self,
        key: &ObjectKey,
        proof: &LinkProof,
    ) -> Result<ServedImage, OpenImageError> {
        let now = self.clock.now();
        let expires_at = self
            .links
            .verify(key, proof, now)
            .map_err(OpenImageError::Refused)?;
        let Some(project) = key.project() else {
            return Err(OpenImageError::NotFound);
        };
        if !self.references.is_referenced(&project, key).await? {
            return Err(OpenImageError::NotFound);
        }
        let bytes = self
            .images
            .get(key)
            .await?
            .ok_or(OpenImageError::NotFound)?;
        Ok(ServedImage {
            format: ImageFormat::of(key.as_str(), &bytes),
            bytes,
            valid_for: expires_at.since(now),
        })
    }
}
