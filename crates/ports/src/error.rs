//! The error of every store operation that has no business case of its own.

/// A store failed for a reason of its own, not the request's. Operations
/// with business cases (not found, conflict) have enums of their own that
/// end with these two variants.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A dependency is down; retry later.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or a surprise.
    #[error(transparent)]
    Unknown(anyhow::Error),
}
