//! `ObjectImageStore`: the image store port on the `object_store` crate, so
//! one adapter serves S3-compatible buckets, a local directory and memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig,
};
use tracing::Instrument as _;
use vodsnap_domain::{ObjectKey, StoreFailure};
use vodsnap_ports::{ImageStore, ImageStoreError};

use crate::failure::{failure, failure_of, is_absent};
use crate::inventory::StoreInventory;
use crate::links::{LinkTtl, PresignedLinks};
use crate::storage_url::StorageUrl;

/// How long to wait for a TCP (and TLS) connection to the storage.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take, body included; snapshot images are small.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times object_store repeats a failed request before giving up.
pub const MAX_RETRIES: usize = 3;
/// After this long since the first attempt no retry starts, so an outage
/// surfaces in seconds as a failure of the store's (cleanup retries later anyway) rather
/// than after object_store's default three minutes.
pub const RETRY_WINDOW: Duration = Duration::from_secs(10);

/// How many single-object deletes run at once when a batch is removed
/// without a bulk request (`--storage-bulk-delete false`, or a store with
/// no bulk API): object_store's own figure for S3 without bulk delete.
pub const SINGLE_DELETES_IN_FLIGHT: usize = 20;

/// Snapshot images in object storage: an S3-compatible bucket, a local
/// directory or memory, as `--storage` says.
#[derive(Clone)]
pub struct ObjectImageStore {
    objects: Arc<dyn ObjectStore>,
    /// The same store when it is S3, for presigning.
    s3: Option<Arc<AmazonS3>>,
    description: String,
    /// Whether `delete_many` goes through object_store's `delete_stream`
    /// (S3: `DeleteObjects`, 1,000 keys a request) or one `DELETE` per key.
    bulk_delete: bool,
    /// Whether listing must walk and sort (a directory lists in no order).
    walk: bool,
}

/// By hand: object_store's S3 client would print its credentials.
impl std::fmt::Debug for ObjectImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectImageStore")
            .field("storage", &self.description)
            .finish_non_exhaustive()
    }
}

impl ObjectImageStore {
    /// Opens the store named by `url`, reading the S3 settings from the
    /// process's `AWS_*` environment variables (see [`Self::open_with_env`]).
    pub fn open(url: &StorageUrl) -> anyhow::Result<Self> {
        Self::open_with_env(url, std::env::vars())
    }

    /// Opens the store named by `url` with the S3 settings taken from `env`,
    /// `(name, value)` pairs as in the process environment; pairs whose name
    /// does not start with `AWS_` are ignored.
    ///
    /// For `s3://bucket` these are read: `AWS_ENDPOINT_URL` (or
    /// `AWS_ENDPOINT`), `AWS_REGION` (or `AWS_DEFAULT_REGION`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_ALLOW_HTTP`, and the other `AWS_*` settings object_store knows
    /// (e.g. `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`). Taking them as an argument
    /// lets tests and embedders configure a store without touching the
    /// process environment, which parallel tests share.
    ///
    /// A `file:` directory is created if missing. Nothing here contacts the
    /// storage: an unreachable bucket shows up on first use, as a failure the domain
    /// blames on the store.
    pub fn open_with_env<K, V>(
        url: &StorageUrl,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        match url {
            StorageUrl::File(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("failed to create the image directory {}", dir.display())
                })?;
                let objects = LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| {
                        format!("failed to open the image directory {}", dir.display())
                    })?
                    // Deleting the last image of a task removes its now empty
                    // directories, so the tree does not fill with husks.
                    .with_automatic_cleanup(true);
                Ok(Self {
                    objects: Arc::new(objects),
                    s3: None,
                    description: url.to_string(),
                    bulk_delete: true,
                    walk: true,
                })
            }
            StorageUrl::S3 { bucket } => open_s3(bucket, aws_settings(env)),
            StorageUrl::Memory => Ok(Self {
                objects: Arc::new(InMemory::new()),
                s3: None,
                description: url.to_string(),
                bulk_delete: true,
                walk: false,
            }),
        }
    }

    /// With `false`, a batch is removed with one `DELETE` per key (at most
    /// [`SINGLE_DELETES_IN_FLIGHT`] at once) instead of a bulk request: for
    /// S3-compatible services without `DeleteObjects`
    /// (`--storage-bulk-delete false`). The default is bulk.
    #[must_use]
    pub fn with_bulk_delete(mut self, bulk: bool) -> Self {
        self.bulk_delete = bulk;
        self
    }

    /// The store's objects, listed (`vodsnap reconcile`).
    pub fn inventory(&self) -> StoreInventory {
        StoreInventory {
            objects: self.objects.clone(),
            walk: self.walk,
            description: self.description.clone(),
        }
    }

    /// Presigned GET links to this store's objects, valid for `ttl`; `None`
    /// unless it is an S3-compatible bucket.
    pub fn presigned_links(&self, ttl: LinkTtl) -> Option<PresignedLinks> {
        self.s3
            .as_ref()
            .map(|s3| PresignedLinks::new(s3.clone(), ttl, self.description.clone()))
    }
}

/// The `AWS_*` pairs of `env`, by name; later pairs win, as in a shell.
fn aws_settings<K, V>(env: impl IntoIterator<Item = (K, V)>) -> BTreeMap<String, String>
where
    K: Into<String>,
    V: Into<String>,
{
    env.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect()
}

fn open_s3(bucket: &str, settings: BTreeMap<String, String>) -> anyhow::Result<ObjectImageStore> {
    // The AWS SDKs' name first, then the older one object_store also reads.
    let endpoint = settings
        .get("AWS_ENDPOINT_URL")
        .or_else(|| settings.get("AWS_ENDPOINT"))
        .cloned();
    let allow_http = settings
        .get("AWS_ALLOW_HTTP")
        // The spellings object_store itself takes as true.
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes" | "y"
            )
        });
    if let Some(endpoint) = &endpoint
        && endpoint.starts_with("http://")
        && !allow_http
    {
        // object_store would refuse every request later with a vaguer message.
        anyhow::bail!("the S3 endpoint uses plain http://; set AWS_ALLOW_HTTP=true to allow it");
    }

    let mut builder = AmazonS3Builder::new()
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_WINDOW,
        });
    // Bulk `POST /?delete` stays on in object_store: `delete_many` takes
    // the single-key path itself when `--storage-bulk-delete false` says
    // the service lacks it.
    for (name, value) in &settings {
        if matches!(
            name.as_str(),
            "AWS_ENDPOINT_URL" | "AWS_ENDPOINT" | "AWS_BUCKET" | "AWS_BUCKET_NAME"
        ) {
            continue;
        }
        // Names object_store does not know (AWS_PROFILE, ...) are not ours
        // to judge: other tools share the environment.
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    if let Some(endpoint) = &endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    // The bucket comes from the URL only, whatever AWS_BUCKET says.
    let objects = builder
        .with_bucket_name(bucket)
        .build()
        // object_store's builder errors name settings, not their values.
        .context("failed to configure the S3 image store from the AWS_* settings")?;

    let description = match &endpoint {
        Some(endpoint) => format!("s3://{bucket} (endpoint {})", without_userinfo(endpoint)),
        None => format!("s3://{bucket}"),
    };
    let s3 = Arc::new(objects);
    Ok(ObjectImageStore {
        objects: s3.clone(),
        s3: Some(s3),
        description,
        bulk_delete: true,
        walk: false,
    })
}

/// `endpoint` without any `user:password@`, for logs.
fn without_userinfo(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut url) => {
            // Both only fail for URLs that cannot have credentials anyway.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => "(unparsable endpoint)".to_owned(),
    }
}

/// The object_store location for `key`, which must be the very same string:
/// producers upload under the key directly, so a rewritten key (object_store
/// drops a trailing '/', refuses empty and '.' segments) would miss them.
fn location(key: &ObjectKey) -> Result<Path, ImageStoreError> {
    let refused = || {
        ImageStoreError::new(
            StoreFailure::MalformedKey,
            anyhow::anyhow!(
                "object key {:?} cannot be stored as is (empty or '.' segment, or a trailing '/')",
                key.as_str()
            ),
        )
    };
    let path = Path::parse(key.as_str()).map_err(|_| refused())?;
    if path.as_ref() != key.as_str() {
        return Err(refused());
    }
    Ok(path)
}

/// One result per key of a `delete_stream` call, in the order of `keys`.
///
/// object_store answers with the paths it removed and with errors; a bulk
/// request's answer comes in the storage's order, and a request that
/// failed whole is one error for all its keys. So: a key whose path came
/// back is removed; a key named alone by an error (its message names the
/// path: object_store's `DeleteFailed` and `NotFound` do) gets that error,
/// an absent object counting as removed; any key left gets the other
/// errors (a whole request's, which names every key), never a success it
/// was not given.
fn per_key_results(
    keys: &[ObjectKey],
    answers: Vec<object_store::Result<Path>>,
) -> Vec<Result<(), ImageStoreError>> {
    let mut removed = std::collections::HashSet::new();
    let mut errors = Vec::new();
    for answer in answers {
        match answer {
            Ok(path) => {
                removed.insert(path.to_string());
            }
            Err(err) => errors.push(err),
        }
    }
    // Each error goes to the longest key its message names, so that
    // `a/1.jpg2`'s error is not taken for `a/1.jpg`'s.
    let mut named: std::collections::HashMap<usize, object_store::Error> =
        std::collections::HashMap::new();
    let mut unnamed = Vec::new();
    for err in errors {
        let text = err.to_string();
        let mut named_here: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(i, k)| {
                !removed.contains(k.as_str()) && !named.contains_key(i) && text.contains(k.as_str())
            })
            .map(|(i, _)| i)
            .collect();
        // Keys that are prefixes of a longer named key (`a/1.jpg` inside
        // `a/1.jpg2`) are not named by it.
        let all = named_here.clone();
        named_here.retain(|&i| {
            !all.iter().any(|&j| {
                j != i
                    && keys[j].as_str().len() > keys[i].as_str().len()
                    && keys[j].as_str().contains(keys[i].as_str())
            })
        });
        match named_here.as_slice() {
            // One key named: the error is that key's.
            [i] => {
                named.insert(*i, err);
            }
            // None or several (a request that failed whole lists them
            // all): every key without an answer gets it.
            _ => unnamed.push((text, failure_of(&err))),
        }
    }
    // A request that failed whole says what happened to all its keys; no
    // error at all for a key is an answer that could not be read.
    let unnamed_failure = unnamed.first().map_or(StoreFailure::Other, |(_, f)| *f);
    let unnamed: Vec<String> = unnamed.into_iter().map(|(text, _)| text).collect();
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            if removed.contains(key.as_str()) {
                return Ok(());
            }
            let doing = || format!("failed to delete image {:?}", key.as_str());
            match named.remove(&i) {
                Some(err) if is_absent(&err) => Ok(()),
                Some(err) => Err(failure(err, doing())),
                // A request that failed whole: what its error says, or
                // no answer at all.
                None => Err(ImageStoreError::new(
                    unnamed_failure,
                    anyhow::anyhow!(
                        "{}: the storage did not confirm the removal{}",
                        doing(),
                        if unnamed.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", unnamed.join("; "))
                        }
                    ),
                )),
            }
        })
        .collect()
}

impl ObjectImageStore {
    /// [`ImageStore::delete_many`], in its span.
    async fn delete_batch(&self, keys: &[ObjectKey]) -> Vec<Result<(), ImageStoreError>> {
        if !self.bulk_delete {
            let deletes: Vec<_> = keys.iter().map(|key| self.delete(key)).collect();
            return futures::stream::iter(deletes)
                .buffered(SINGLE_DELETES_IN_FLIGHT)
                .collect()
                .await;
        }
        // Keys object_store would store under another name are refused
        // one by one; the others go in one stream.
        let locations: Vec<Result<Path, ImageStoreError>> = keys.iter().map(location).collect();
        let valid: Vec<ObjectKey> = keys
            .iter()
            .zip(&locations)
            .filter(|(_, l)| l.is_ok())
            .map(|(k, _)| k.clone())
            .collect();
        let paths: Vec<object_store::Result<Path>> = locations
            .iter()
            .filter_map(|l| l.as_ref().ok().cloned().map(Ok))
            .collect();
        let answers: Vec<object_store::Result<Path>> = self
            .objects
            .delete_stream(futures::stream::iter(paths).boxed())
            .collect()
            .await;
        let mut results = per_key_results(&valid, answers).into_iter();
        locations
            .into_iter()
            .map(|l| match l {
                Ok(_) => results.next().unwrap_or_else(|| {
                    Err(ImageStoreError::new(
                        StoreFailure::Other,
                        anyhow::anyhow!("no answer for a key of the batch"),
                    ))
                }),
                Err(refused) => Err(refused),
            })
            .collect()
    }
}

#[async_trait]
impl ImageStore for ObjectImageStore {
    async fn delete_many(&self, keys: &[ObjectKey]) -> Vec<Result<(), ImageStoreError>> {
        // One span per object-store batch, made here rather than by
        // `#[instrument]`, which left this method's span disabled.
        let span = tracing::info_span!(
            "image_store.delete_many",
            store = %self.description,
            keys = keys.len(),
            bulk = self.bulk_delete,
        );
        self.delete_batch(keys).instrument(span).await
    }

    #[tracing::instrument(name = "image_store.delete", skip_all, fields(store = %self.description, key = key.as_str()))]
    async fn delete(&self, key: &ObjectKey) -> Result<(), ImageStoreError> {
        let path = location(key)?;
        match self.objects.delete(&path).await {
            Ok(()) => Ok(()),
            // S3 answers 204 for a missing key, a directory store NotFound:
            // either way the object is gone, which is what cleanup wants.
            Err(err) if is_absent(&err) => Ok(()),
            Err(err) => Err(failure(
                err,
                format!("failed to delete image {:?}", key.as_str()),
            )),
        }
    }

    #[tracing::instrument(name = "image_store.put", skip_all, fields(store = %self.description, key = key.as_str(), bytes = bytes.len()))]
    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), ImageStoreError> {
        let path = location(key)?;
        self.objects
            .put(&path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|err| failure(err, format!("failed to store image {:?}", key.as_str())))
    }

    #[tracing::instrument(name = "image_store.get", skip_all, fields(store = %self.description, key = key.as_str()))]
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ImageStoreError> {
        let path = location(key)?;
        let doing = || format!("failed to read image {:?}", key.as_str());
        let found = match self.objects.get(&path).await {
            Ok(found) => found,
            Err(err) if is_absent(&err) => return Ok(None),
            Err(err) => return Err(failure(err, doing())),
        };
        match found.bytes().await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            // Removed between the lookup and the read.
            Err(err) if is_absent(&err) => Ok(None),
            Err(err) => Err(failure(err, doing())),
        }
    }

    #[tracing::instrument(name = "image_store.exists", skip_all, fields(store = %self.description, key = key.as_str()))]
    async fn exists(&self, key: &ObjectKey) -> Result<bool, ImageStoreError> {
        let path = location(key)?;
        match self.objects.head(&path).await {
            Ok(_) => Ok(true),
            Err(err) if is_absent(&err) => Ok(false),
            Err(err) => Err(failure(
                err,
                format!("failed to look up image {:?}", key.as_str()),
            )),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> ObjectKey {
        ObjectKey::parse(raw).unwrap()
    }

    #[test]
    fn keys_map_to_the_same_location() {
        for raw in [
            "a",
            "p1/a1/t1/0.jpg",
            "снимки/图像/🎞.jpg",
            "a..b/c",
            "a b/c+d",
        ] {
            assert_eq!(location(&key(raw)).unwrap().as_ref(), raw);
        }
    }

    #[test]
    fn keys_object_store_would_rewrite_cannot_be_made() {
        for raw in ["a//b", "a/./b", "a/", ".", "a/b#12"] {
            assert!(ObjectKey::parse(raw).is_err(), "{raw}");
        }
    }

    proptest::proptest! {
        /// Every key the domain accepts is stored under exactly that name:
        /// object_store's `Path` keeps it unchanged, and its file store
        /// accepts the file name.
        #[test]
        fn every_accepted_key_round_trips_through_path(
            raw in proptest::string::string_regex("([a-z0-9#.~%\\\\ é_-]{0,4}/?){1,5}").unwrap(),
            any_raw in proptest::prelude::any::<String>(),
        ) {
            for candidate in [raw, any_raw] {
                if let Ok(key) = ObjectKey::parse(&candidate) {
                    let path = location(&key);
                    proptest::prop_assert!(path.is_ok(), "{candidate:?}: {path:?}");
                    let path = path.unwrap();
                    proptest::prop_assert_eq!(path.as_ref(), candidate.as_str());
                    let file_name = path.filename().unwrap_or_default();
                    let reserved = file_name
                        .split_once('#')
                        .is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
                    proptest::prop_assert!(!reserved, "{candidate:?}");
                }
            }
        }
    }

    #[test]
    fn plain_http_endpoints_need_allow_http() {
        let url = StorageUrl::S3 {
            bucket: "bucket".into(),
        };
        let env = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")];
        let err = ObjectImageStore::open_with_env(&url, env).unwrap_err();
        assert!(err.to_string().contains("AWS_ALLOW_HTTP"), "{err}");

        let env = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ALLOW_HTTP", "1"),
        ];
        assert!(ObjectImageStore::open_with_env(&url, env).is_ok());
    }

    #[test]
    fn s3_description_names_bucket_and_endpoint_but_no_secret() {
        let url = StorageUrl::S3 {
            bucket: "bucket".into(),
        };
        let env = [
            ("AWS_ENDPOINT_URL", "http://user:pw-in-url@127.0.0.1:9000/"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_BUCKET", "another-bucket"),
            ("HOME", "/root"),
        ];
        let store = ObjectImageStore::open_with_env(&url, env).unwrap();
        assert_eq!(
            store.describe(),
            "s3://bucket (endpoint http://127.0.0.1:9000)"
        );
        let debug = format!("{store:?}");
        for secret in ["AKIDEXAMPLE", "very-secret", "pw-in-url"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn aws_endpoint_url_wins_over_aws_endpoint() {
        let url = StorageUrl::S3 {
            bucket: "bucket".into(),
        };
        let env = [
            ("AWS_ENDPOINT", "https://old.example"),
            ("AWS_ENDPOINT_URL", "https://obs.example"),
        ];
        let store = ObjectImageStore::open_with_env(&url, env).unwrap();
        assert_eq!(
            store.describe(),
            "s3://bucket (endpoint https://obs.example)"
        );
    }

    #[test]
    fn file_store_creates_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("images/nested");
        let store = ObjectImageStore::open(&StorageUrl::File(dir.clone())).unwrap();
        assert!(dir.is_dir());
        assert!(store.describe().starts_with("file:///"));
    }
}
