//! The image store: where snapshot image files live (object storage).

use async_trait::async_trait;
use vodsnap_domain::{Blame, ObjectKey, StoreFailure};

/// A failed request to the image store: what happened (the domain's
/// [`StoreFailure`], read by the adapter from the storage's answer) and the
/// storage's own error. Whose fault it is, the store's (down, busy: retry
/// later, spending no attempt) or the key's, is the domain's rule:
/// [`ImageStoreError::blame`].
#[derive(Debug, thiserror::Error)]
#[error("the image store failed ({failure})")]
pub struct ImageStoreError {
    failure: StoreFailure,
    #[source]
    source: anyhow::Error,
}

impl ImageStoreError {
    pub fn new(failure: StoreFailure, source: anyhow::Error) -> Self {
        Self { failure, source }
    }

    /// The storage could not be reached (tests and stand-ins).
    pub fn unreachable(source: anyhow::Error) -> Self {
        Self::new(StoreFailure::Unreachable, source)
    }

    /// What happened.
    pub fn failure(&self) -> StoreFailure {
        self.failure
    }

    /// Whose fault it is ([`StoreFailure::blame`]).
    pub fn blame(&self) -> Blame {
        self.failure.blame()
    }

    /// The storage's own error.
    pub fn into_source(self) -> anyhow::Error {
        self.source
    }
}

/// Snapshot images by object key, relative to the store's root.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ImageStore: Send + Sync + 'static {
    /// Removes the object. An object that is already absent MUST count as
    /// removed (`Ok`): cleanup is retried and must converge.
    async fn delete(&self, key: &ObjectKey) -> Result<(), ImageStoreError>;

    /// Removes the objects under `keys` (at most
    /// [`vodsnap_domain::MAX_BATCH`]), with one bulk request where the
    /// storage has one (S3's `DeleteObjects`). Returns one result per key,
    /// in the order of `keys`, each with [`ImageStore::delete`]'s contract
    /// (an absent object is removed): a partial failure names exactly the
    /// keys that failed, so only those are retried.
    async fn delete_many(&self, keys: &[ObjectKey]) -> Vec<Result<(), ImageStoreError>>;

    /// Stores `bytes` under `key`, replacing any object there. Used by the
    /// demo data and tests; producers upload directly to the storage.
    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), ImageStoreError>;

    /// The bytes of the object under `key`; `None` when there is none.
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ImageStoreError>;

    /// Whether an object exists under `key`.
    async fn exists(&self, key: &ObjectKey) -> Result<bool, ImageStoreError>;

    /// A name for logs: the kind of storage and its root, never a secret.
    fn describe(&self) -> String;
}
