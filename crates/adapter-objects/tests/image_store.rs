//! The object image store against every storage it supports: the port's
//! behaviour suite on memory, a local directory and a real S3-compatible
//! server (moto), then what only a remote storage does: go away.
//!
//! The S3 tests need `VODSNAP_MOTO_SERVER`, the path of moto's
//! `moto_server` executable (see `support/moto.rs`); without it they fail
//! with a message saying how to get it.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

mod support;

use std::time::{Duration, Instant};

use support::fake_server;
use support::moto::{self, Moto};
use support::suite::{self, key};
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_domain::{Blame, StoreFailure};
use vodsnap_ports::{ImageStore, ImageStoreError};

/// A store under test and whatever must outlive it (a directory, a server).
struct Fixture {
    store: ObjectImageStore,
    _keep: Box<dyn std::any::Any>,
}

fn memory() -> Fixture {
    let store = ObjectImageStore::open(&StorageUrl::Memory).expect("open a memory store");
    Fixture {
        store,
        _keep: Box::new(()),
    }
}

fn local_directory() -> Fixture {
    let root = tempfile::tempdir().expect("create a temporary directory");
    // A directory that does not exist yet: open must create it.
    let url = StorageUrl::File(root.path().join("images"));
    let store = ObjectImageStore::open(&url).expect("open a directory store");
    Fixture {
        store,
        _keep: Box::new(root),
    }
}

fn moto_s3() -> Fixture {
    let moto = Moto::start();
    let store = moto::store(&moto, "vodsnap-images");
    Fixture {
        store,
        _keep: Box::new(moto),
    }
}

/// One test per behaviour of `support::suite`, for the backend `$make` builds.
macro_rules! image_store_suite {
    ($backend:ident, $describes_as:literal) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn put_then_exists_then_delete_then_gone() {
                let fx = $backend();
                suite::put_then_exists_then_delete_then_gone(&fx.store).await;
            }

            #[tokio::test]
            async fn putting_again_replaces() {
                let fx = $backend();
                suite::putting_again_replaces(&fx.store).await;
            }

            #[tokio::test]
            async fn deleting_an_absent_key_is_ok() {
                let fx = $backend();
                suite::deleting_an_absent_key_is_ok(&fx.store).await;
            }

            #[tokio::test]
            async fn nested_and_unicode_keys_round_trip() {
                let fx = $backend();
                suite::nested_and_unicode_keys_round_trip(&fx.store).await;
            }

            #[tokio::test]
            async fn delete_leaves_siblings() {
                let fx = $backend();
                suite::delete_leaves_siblings(&fx.store).await;
            }

            #[tokio::test]
            async fn a_prefix_of_other_keys_is_not_an_object() {
                let fx = $backend();
                suite::a_prefix_of_other_keys_is_not_an_object(&fx.store).await;
            }

            #[tokio::test]
            async fn a_key_under_an_object_is_absent() {
                let fx = $backend();
                suite::a_key_under_an_object_is_absent(&fx.store).await;
            }

            #[tokio::test]
            async fn get_returns_the_bytes_put_and_none_when_absent() {
                let fx = $backend();
                suite::get_returns_the_bytes_put_and_none_when_absent(&fx.store).await;
            }

            #[tokio::test]
            async fn delete_many_removes_each_key_and_absent_ones_count() {
                let fx = $backend();
                suite::delete_many_removes_each_key_and_absent_ones_count(&fx.store).await;
            }

            #[tokio::test]
            async fn delete_many_without_bulk_requests_removes_the_same() {
                let fx = $backend();
                let store = fx.store.clone().with_bulk_delete(false);
                suite::delete_many_removes_each_key_and_absent_ones_count(&store).await;
            }

            #[tokio::test]
            async fn describes_itself_without_secrets() {
                let fx = $backend();
                suite::describes_itself_without_secrets(&fx.store, $describes_as);
            }
        }
    };
}

image_store_suite!(memory, "memory://");
image_store_suite!(local_directory, "file:///");
image_store_suite!(moto_s3, "s3://vodsnap-images (endpoint http://127.0.0.1:");

// ---------------------------------------------------------------------------
// Storage that goes away

/// Longest an operation may take against a dead storage: object_store's
/// retry window plus a margin for a loaded machine. Far below the minutes
/// object_store would spend with its defaults.
const OUTAGE_LIMIT: Duration = Duration::from_secs(20);

/// Runs `op`, asserting it ends within `OUTAGE_LIMIT` with a failure the
/// domain blames on the store (not on the key).
async fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    op: impl Future<Output = Result<T, ImageStoreError>>,
) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(OUTAGE_LIMIT, op)
        .await
        .unwrap_or_else(|_| panic!("{what} still running after {OUTAGE_LIMIT:?}"));
    match outcome {
        Err(error) if error.blame() == Blame::Store => {
            let chain = format!("{:#}", anyhow::Error::from(error));
            for secret in moto::SECRETS {
                assert!(!chain.contains(secret), "{what}: the error shows a secret");
            }
        }
        other => panic!("{what}: expected the store's failure, got {other:?}"),
    }
    eprintln!("{what}: the store's failure after {:?}", started.elapsed());
}

#[tokio::test]
async fn an_unreachable_s3_endpoint_is_unavailable_quickly() {
    let store = moto::s3_store("vodsnap-images", vodsnap_test_support::free_port());
    let k = key("p1/asset-1/task-1/0.jpg");

    assert_unavailable("delete", store.delete(&k)).await;
    assert_unavailable("exists", store.exists(&k)).await;
    assert_unavailable("put", store.put(&k, b"image".to_vec())).await;
}

#[tokio::test]
async fn an_s3_endpoint_answering_503_is_unavailable() {
    let port = fake_server::answering("503 Service Unavailable").await;
    let store = moto::s3_store("vodsnap-images", port);
    let k = key("p1/asset-1/task-1/0.jpg");

    assert_unavailable("delete", store.delete(&k)).await;
    assert_unavailable("exists", store.exists(&k)).await;
}

#[tokio::test]
async fn an_s3_endpoint_refusing_access_is_not_unavailable() {
    // A refusal is read as its status; the domain blames it on the key.
    let port = fake_server::answering("403 Forbidden").await;
    let store = moto::s3_store("vodsnap-images", port);

    let outcome = store.delete(&key("p1/asset-1/task-1/0.jpg")).await;

    let error = outcome.expect_err("a refusal");
    assert_eq!(error.failure(), StoreFailure::Status(403), "{error:?}");
    assert_eq!(error.blame(), Blame::Key);
}

/// What S3 answers to a `DeleteObjects` of three keys when the middle one
/// was refused (`AccessDenied`, e.g. an object-level policy), in the
/// storage's own order. (A `SlowDown` or `InternalError` anywhere in the
/// answer makes object_store retry the whole request instead.)
const PARTIAL_DELETE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
<Deleted><Key>p1/a/t/2.jpg</Key></Deleted>\
<Error><Key>p1/a/t/1.jpg</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
<Deleted><Key>p1/a/t/0.jpg</Key></Deleted>\
</DeleteResult>";

#[tokio::test]
async fn a_bulk_delete_names_exactly_the_keys_that_failed() {
    let port = fake_server::answering_with("200 OK", PARTIAL_DELETE).await;
    let store = moto::s3_store("vodsnap-images", port);
    let keys = [
        key("p1/a/t/0.jpg"),
        key("p1/a/t/1.jpg"),
        key("p1/a/t/2.jpg"),
    ];

    let results = store.delete_many(&keys).await;

    let failed: Vec<bool> = results.iter().map(Result::is_err).collect();
    assert_eq!(failed, [false, true, false], "{results:?}");
    let refused = results[1].as_ref().unwrap_err();
    assert_eq!(refused.failure(), StoreFailure::Status(403), "{refused:?}");
    let error = format!(
        "{:#}",
        anyhow::Error::from(results.into_iter().nth(1).unwrap().unwrap_err())
    );
    assert!(error.contains("AccessDenied"), "{error}");
}

#[tokio::test]
async fn a_bulk_delete_that_fails_whole_fails_every_key() {
    let store = moto::s3_store("vodsnap-images", vodsnap_test_support::free_port());
    let keys = [key("p1/a/t/0.jpg"), key("p1/a/t/1.jpg")];

    let results = tokio::time::timeout(OUTAGE_LIMIT, store.delete_many(&keys))
        .await
        .expect("ends within the retry window");

    assert_eq!(results.len(), 2);
    for r in results {
        let error = r.expect_err("no answer");
        assert_eq!(error.failure(), StoreFailure::Unreachable, "{error:?}");
    }
}

#[tokio::test]
async fn delete_is_unavailable_while_s3_is_down_and_ok_once_it_is_back() {
    let mut moto = Moto::start();
    let store = moto::store(&moto, "vodsnap-images");
    let k = key("p1/asset-1/task-1/0.jpg");
    store
        .put(&k, b"image".to_vec())
        .await
        .expect("put while up");

    moto.stop();
    assert_unavailable("delete while down", store.delete(&k)).await;

    moto.restart();
    // moto forgot everything: the bucket is back, empty, as after a restore.
    moto.create_bucket("vodsnap-images");
    store
        .delete(&k)
        .await
        .expect("delete converges once the storage is back");
    assert!(!store.exists(&k).await.expect("exists once back"));
}

// ---------------------------------------------------------------------------
// Presigned links

/// GET `link` with a bare HTTP/1.1 request: the status line and the body.
fn fetch(link: &str) -> (String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let url = url::Url::parse(link).expect("a presigned link is a URL");
    let host = url.host_str().expect("the link names a host");
    let port = url.port_or_known_default().expect("the link names a port");
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut conn = std::net::TcpStream::connect((host, port)).expect("connect to the storage");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    conn.read_to_end(&mut response).expect("read the response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response has a head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    let body = response[split + 4..].to_vec();
    // moto answers with Content-Length, never chunked, for small objects.
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, body)
}

#[tokio::test]
async fn a_presigned_link_fetches_the_object_from_s3() {
    use vodsnap_adapter_objects::LinkTtl;
    use vodsnap_domain::Timestamp;
    use vodsnap_ports::SnapshotLinks as _;

    // Arrange
    let fx = moto_s3();
    let k = key("p1/a b/t1/0.jpg");
    fx.store.put(&k, b"jpeg bytes".to_vec()).await.unwrap();
    let links = fx
        .store
        .presigned_links(LinkTtl::new(Duration::from_secs(600)).unwrap())
        .expect("an S3 store presigns");
    let now = Timestamp::from_micros(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
        )
        .unwrap(),
    );

    // Act
    let link = links.link(&k, now).await.unwrap();
    let (status, body) = tokio::task::spawn_blocking(move || fetch(&link))
        .await
        .unwrap();

    // Assert
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, b"jpeg bytes");
    let link = links.link(&k, now).await.unwrap();
    assert!(link.contains("X-Amz-Signature="), "{link}");
    assert!(link.contains("X-Amz-Expires="), "{link}");
    for secret in moto::SECRETS[1..].iter() {
        assert!(
            !link.contains(secret),
            "a presigned link carries no secret key"
        );
    }
}

#[test]
fn only_s3_stores_presign() {
    use vodsnap_adapter_objects::LinkTtl;
    let ttl = LinkTtl::new(Duration::from_secs(60)).unwrap();
    assert!(memory().store.presigned_links(ttl).is_none());
    assert!(local_directory().store.presigned_links(ttl).is_none());
}
