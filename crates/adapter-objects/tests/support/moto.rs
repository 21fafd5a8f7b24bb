//! moto's S3 server (`vodsnap-test-support`), and image stores on it.

use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
pub use vodsnap_test_support::moto::{Moto, SECRETS};

/// A store on a fresh bucket of `moto`.
pub fn store(moto: &Moto, bucket: &str) -> ObjectImageStore {
    moto.create_bucket(bucket);
    s3_store(bucket, moto.port())
}

/// A store for `bucket` on the S3 endpoint at a loopback port, configured
/// through the same `AWS_*` names an operator would export.
pub fn s3_store(bucket: &str, port: u16) -> ObjectImageStore {
    let url = StorageUrl::S3 {
        bucket: bucket.to_owned(),
    };
    let env = vodsnap_test_support::moto::s3_env(([127, 0, 0, 1], port).into());
    ObjectImageStore::open_with_env(&url, env).expect("open the S3 image store")
}
