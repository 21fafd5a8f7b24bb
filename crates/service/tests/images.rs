//! The snapshot images use case against mocked ports: which link opens
//! which image, and in what order the checks run.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failed expectation is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use vodsnap_domain::{ImageFormat, ObjectKey, ProjectId, Timestamp};
use vodsnap_ports::{
    LinkProof, LinkRefused, MockCleanupQueue, MockClock, MockImageStore, MockSnapshotLinks,
};
use vodsnap_service::{OpenImageError, SnapshotImages};

const NOW: i64 = 1_000_000_000;
const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(|| Timestamp::from_micros(NOW));
    Arc::new(clock)
}

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap()
}

fn proof() -> LinkProof {
    LinkProof {
        expires: "1".into(),
        signature: "00".into(),
    }
}

/// Links that verify, expiring `secs` after `NOW`.
fn valid_links(secs: i64) -> MockSnapshotLinks {
    let mut links = MockSnapshotLinks::new();
    links
        .expect_verify()
        .returning(move |_, _, _| Ok(Timestamp::from_micros(NOW + secs * 1_000_000)));
    links
}

fn images(
    links: MockSnapshotLinks,
    references: MockCleanupQueue,
    store: MockImageStore,
) -> SnapshotImages {
    SnapshotImages::new(
        Arc::new(links),
        Arc::new(references),
        Arc::new(store),
        clock(),
    )
}

#[tokio::test]
async fn a_refused_link_looks_at_nothing_else() {
    for refusal in [
        LinkRefused::BadSignature,
        LinkRefused::Expired,
        LinkRefused::NotServedHere,
    ] {
        // Arrange: no expectation on the queue or the store, so a call fails the test.
        let mut links = MockSnapshotLinks::new();
        let answer = refusal.clone();
        links
            .expect_verify()
            .returning(move |_, _, _| Err(answer.clone()));
        let service = images(links, MockCleanupQueue::new(), MockImageStore::new());

        // Act
        let error = service
            .open(&key("p/a/t/0.jpg"), &proof())
            .await
            .unwrap_err();

        // Assert
        assert!(matches!(error, OpenImageError::Refused(r) if r == refusal));
    }
}

#[tokio::test]
async fn a_deleted_tasks_image_is_not_found_though_its_file_remains() {
    let mut references = MockCleanupQueue::new();
    references
        .expect_is_referenced()
        .withf(|project, key| {
            *project == ProjectId::parse("p").unwrap() && key.as_str() == "p/a/t/0.jpg"
        })
        .returning(|_, _| Ok(false));
    // The store is never read: its file waits for the cleanup.
    let service = images(valid_links(60), references, MockImageStore::new());

    let error = service
        .open(&key("p/a/t/0.jpg"), &proof())
        .await
        .unwrap_err();

    assert!(matches!(error, OpenImageError::NotFound));
}

#[tokio::test]
async fn a_key_outside_every_project_is_not_found() {
    let service = images(
        valid_links(60),
        MockCleanupQueue::new(),
        MockImageStore::new(),
    );

    let error = service.open(&key("0.jpg"), &proof()).await.unwrap_err();

    assert!(matches!(error, OpenImageError::NotFound));
}

#[tokio::test]
async fn a_live_image_comes_with_its_format_and_the_links_remaining_life() {
    let mut references = MockCleanupQueue::new();
    references.expect_is_referenced().returning(|_, _| Ok(true));
    let mut store = MockImageStore::new();
    store.expect_get().returning(|_| Ok(Some(JPEG.to_vec())));
    let service = images(valid_links(90), references, store);

    let image = service.open(&key("p/a/t/0.bin"), &proof()).await.unwrap();

    assert_eq!(image.bytes, JPEG);
    assert_eq!(image.format, ImageFormat::Jpeg);
    assert_eq!(image.valid_for, Duration::from_secs(90));
}

#[tokio::test]
async fn a_referenced_key_without_its_object_is_not_found() {
    let mut references = MockCleanupQueue::new();
    references.expect_is_referenced().returning(|_, _| Ok(true));
    let mut store = MockImageStore::new();
    store.expect_get().returning(|_| Ok(None));
    let service = images(valid_links(90), references, store);

    let error = service
        .open(&key("p/a/t/0.jpg"), &proof())
        .await
        .unwrap_err();

    assert!(matches!(error, OpenImageError::NotFound));
}

#[tokio::test]
async fn links_are_made_at_the_clocks_now() {
    let mut links = MockSnapshotLinks::new();
    links
        .expect_link()
        .withf(|key, now| key.as_str() == "p/0.jpg" && now.as_micros() == NOW)
        .returning(|key, _| Ok(format!("https://cdn.test/{}", key.as_str())));
    let service = images(links, MockCleanupQueue::new(), MockImageStore::new());

    assert_eq!(
        service.link(&key("p/0.jpg")).await.unwrap(),
        "https://cdn.test/p/0.jpg"
    );
}
