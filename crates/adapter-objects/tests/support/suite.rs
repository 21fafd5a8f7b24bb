//! The behaviour of the `ImageStore` port, written once and run against
//! every backend, so memory, a directory and S3 cannot drift apart.

use vodsnap_domain::ObjectKey;
use vodsnap_ports::ImageStore;

pub fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).expect("test keys are valid object keys")
}

async fn exists(store: &dyn ImageStore, raw: &str) -> bool {
    store
        .exists(&key(raw))
        .await
        .unwrap_or_else(|e| panic!("exists({raw}) failed: {e:#}"))
}

async fn put(store: &dyn ImageStore, raw: &str) {
    store
        .put(&key(raw), format!("image at {raw}").into_bytes())
        .await
        .unwrap_or_else(|e| panic!("put({raw}) failed: {e:#}"));
}

async fn delete(store: &dyn ImageStore, raw: &str) {
    store
        .delete(&key(raw))
        .await
        .unwrap_or_else(|e| panic!("delete({raw}) failed: {e:#}"));
}

pub async fn put_then_exists_then_delete_then_gone(store: &dyn ImageStore) {
    let k = "p1/asset-1/task-1/0.jpg";
    assert!(!exists(store, k).await, "nothing stored yet");

    put(store, k).await;
    assert!(exists(store, k).await, "stored image must exist");

    delete(store, k).await;
    assert!(!exists(store, k).await, "deleted image must be gone");
}

pub async fn putting_again_replaces(store: &dyn ImageStore) {
    let k = "p1/asset-1/task-1/5.jpg";
    put(store, k).await;
    store
        .put(&key(k), b"a newer image".to_vec())
        .await
        .expect("a second put replaces the first");
    assert!(exists(store, k).await);
}

pub async fn deleting_an_absent_key_is_ok(store: &dyn ImageStore) {
    // Never stored, in directories that do not exist either.
    delete(store, "never/stored/here.jpg").await;
    // Deleted twice: cleanup is retried and must converge.
    put(store, "twice.jpg").await;
    delete(store, "twice.jpg").await;
    delete(store, "twice.jpg").await;
    assert!(!exists(store, "twice.jpg").await);
}

pub async fn nested_and_unicode_keys_round_trip(store: &dyn ImageStore) {
    let keys = [
        "project/asset/task/10/20/30/40/deep.jpg",
        "项目/资产/任务/快照 1.jpg",
        "ünïcödé/ñame/🎞️ frame.png",
        "odd chars/a..b/c+d=e&f,g;h(1)'2'.jpg",
    ];
    for k in keys {
        put(store, k).await;
    }
    for k in keys {
        assert!(exists(store, k).await, "{k} must exist after put");
    }
    for k in keys {
        delete(store, k).await;
        assert!(!exists(store, k).await, "{k} must be gone after delete");
    }
}

pub async fn delete_leaves_siblings(store: &dyn ImageStore) {
    let doomed = "p1/asset-1/task-1/0.jpg";
    let sibling = "p1/asset-1/task-1/1.jpg";
    let cousin = "p1/asset-1/task-10.jpg";
    for k in [doomed, sibling, cousin] {
        put(store, k).await;
    }

    delete(store, doomed).await;

    assert!(!exists(store, doomed).await);
    assert!(exists(store, sibling).await, "a sibling must survive");
    assert!(
        exists(store, cousin).await,
        "a key sharing a prefix must survive"
    );
}

pub async fn a_prefix_of_other_keys_is_not_an_object(store: &dyn ImageStore) {
    let inside = "p1/asset-1/task-1/0.jpg";
    put(store, inside).await;

    // On a directory store "p1/asset-1" is a directory; on S3 it is nothing.
    assert!(!exists(store, "p1/asset-1").await);
    delete(store, "p1/asset-1").await;

    assert!(
        exists(store, inside).await,
        "deleting a prefix keeps what is under it"
    );
}

pub async fn a_key_under_an_object_is_absent(store: &dyn ImageStore) {
    let image = "p1/asset-1/image.jpg";
    put(store, image).await;

    // On a directory store this asks for a file under a file (ENOTDIR).
    let under = "p1/asset-1/image.jpg/thumb.jpg";
    assert!(!exists(store, under).await);
    delete(store, under).await;

    assert!(exists(store, image).await);
}

pub fn describes_itself_without_secrets(store: &dyn ImageStore, expected_prefix: &str) {
    let description = store.describe();
    assert!(
        description.starts_with(expected_prefix),
        "{description:?} should start with {expected_prefix:?}"
    );
    for secret in super::moto::SECRETS {
        assert!(
            !description.contains(secret),
            "{description:?} shows a secret"
        );
    }
}

pub async fn get_returns_the_bytes_put_and_none_when_absent(store: &dyn ImageStore) {
    let k = "p1/asset-1/task-1/7.jpg";
    let read = |raw: &'static str| async move {
        store
            .get(&key(raw))
            .await
            .unwrap_or_else(|e| panic!("get({raw}) failed: {e:#}"))
    };
    assert_eq!(read(k).await, None, "nothing stored yet");
    put(store, k).await;
    assert_eq!(read(k).await, Some(format!("image at {k}").into_bytes()));
    delete(store, k).await;
    assert_eq!(read(k).await, None, "deleted");
    // A prefix of a stored key is no object.
    put(store, "p1/asset-1/task-1/8.jpg").await;
    assert_eq!(read("p1/asset-1").await, None);
}

pub async fn delete_many_removes_each_key_and_absent_ones_count(store: &dyn ImageStore) {
    let present: Vec<String> = (0..120)
        .map(|i| format!("p1/a/t{}/{i}.jpg", i % 7))
        .collect();
    for k in &present {
        put(store, k).await;
    }
    put(store, "p1/a/kept.jpg").await;
    let mut keys: Vec<ObjectKey> = present.iter().map(|k| key(k)).collect();
    keys.insert(3, key("p1/a/never-stored.jpg"));

    let results = store.delete_many(&keys).await;

    assert_eq!(results.len(), keys.len(), "one result per key");
    for (k, r) in keys.iter().zip(&results) {
        assert!(r.is_ok(), "{}: {r:?}", k.as_str());
    }
    for k in &present {
        assert!(!exists(store, k).await, "{k} must be gone");
    }
    assert!(
        exists(store, "p1/a/kept.jpg").await,
        "a key not asked stays"
    );
    assert!(store.delete_many(&[]).await.is_empty());
}
