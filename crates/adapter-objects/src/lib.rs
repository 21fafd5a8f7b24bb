//! vodsnap's image store on object storage: the [`vodsnap_ports::ImageStore`]
//! port for S3-compatible buckets (AWS, Huawei OBS, MinIO, ...), a local
//! directory, or memory, chosen by a [`StorageUrl`].
//!
//! Failures after a short, bounded retry become
//! [`ImageStoreError::Unavailable`](vodsnap_ports::ImageStoreError) when the
//! storage is unreachable or answers a server error, and `Unknown` otherwise.
//! Nothing this crate logs or returns carries an access key or secret.

mod failure;
mod storage_url;
mod store;

pub use storage_url::{StorageUrl, StorageUrlError};
pub use store::{CONNECT_TIMEOUT, MAX_RETRIES, ObjectImageStore, REQUEST_TIMEOUT, RETRY_WINDOW};
