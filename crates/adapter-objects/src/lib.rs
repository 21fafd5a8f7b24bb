//! vodsnap's image store on object storage: the [`vodsnap_ports::ImageStore`]
//! port for S3-compatible buckets (AWS, Huawei OBS, MinIO, ...), a local
//! directory, or memory, chosen by a [`StorageUrl`]; and the links clients
//! fetch those images at ([`vodsnap_ports::SnapshotLinks`]): signed links to
//! vodsnap itself, S3 presigned URLs, or plain links under a CDN base.
//!
//! Failures after a short, bounded retry become an
//! [`ImageStoreError`](vodsnap_ports::ImageStoreError) carrying what
//! happened ([`vodsnap_domain::StoreFailure`]: no connection, a timeout, a
//! status, an S3 error code); whose fault that is, is the domain's rule.
//! Nothing this crate logs or returns carries an access key or secret.

mod failure;
mod inventory;
mod links;
mod storage_url;
mod store;

pub use inventory::StoreInventory;
pub use links::{
    LinkSettingsError, LinkTtl, MAX_LINK_TTL, MIN_LINK_TTL, MIN_URL_KEY_LEN, PlainLinks,
    PresignedLinks, SignedLinks,
};
pub use storage_url::{StorageUrl, StorageUrlError};
pub use store::{CONNECT_TIMEOUT, MAX_RETRIES, ObjectImageStore, REQUEST_TIMEOUT, RETRY_WINDOW};
