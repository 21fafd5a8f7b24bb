//! Issue 13, part 1 on the real binary, PostgreSQL, files on disk and real
//! sockets: with `--retention`, deleted task results wait in the recycle
//! bin with their images, are listed, restored exactly as they were (their
//! details links serve the images), or purged early, after which their
//! images go; bad queries get the contract's errors; the figures show in
//! `/metrics` and the cleanup status.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::Value;
use support::db::TestDb;
use support::http::{self, delete_items};
use support::server::{Secrets, Serve, cleanup_status};
use support::storage::FileStorage;
use support::{EVENTUALLY, eventually, keys_of, task_body};

fn items(answer: &http::Response, array: &str) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{array}: {}", answer.text());
    answer.json()[array].as_array().expect("an array").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_tasks_wait_in_the_bin_are_restored_whole_or_purged() {
    // Arrange: a server keeping deleted results for an hour, with a
    // cleanup worker, and two tasks whose images are on disk.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let serve = Serve::new(&db, &secrets, &storage.url())
        .workers(1)
        .arg("--retention", "1h");
    let server = serve.start().await;
    let api = server.api(&secrets);
    let kept = keys_of("a1", "kept", 3);
    let purged = keys_of("a1", "gone", 2);
    for (task, keys) in [("kept", &kept), ("gone", &purged)] {
        keys.iter().for_each(|k| storage.put(k));
        let made = api.register(&task_body("a1", task, keys)).await.unwrap();
        assert_eq!(made.status, 201, "{}", made.text());
    }
    let before = api.list("task_id=kept").await.unwrap().json()["thumbnails"][0].clone();

    // Act: delete both.
    let deleted = api.delete_tasks(&["kept", "gone"]).await.unwrap();
    assert!(delete_items(&deleted).iter().all(|(_, s)| s == "DELETED"));

    // Assert: both in the bin, oldest deletion first, with their window;
    // their images wait there, not as cleanup backlog.
    let bin = api.deleted("asset_id=a1&limit=10").await.unwrap();
    assert_eq!(bin.json()["total"], 2, "{}", bin.text());
    assert_eq!(bin.json()["retention_seconds"], 3600, "{}", bin.text());
    let listed = items(&bin, "deleted");
    let first = &listed[0];
    assert_eq!(
        first["thumbnail_count"].as_u64().unwrap() + listed[1]["thumbnail_count"].as_u64().unwrap(),
        5
    );
    let deleted_at =
        chrono::DateTime::parse_from_rfc3339(first["deleted_at"].as_str().unwrap()).unwrap();
    let purge_at =
        chrono::DateTime::parse_from_rfc3339(first["purge_at"].as_str().unwrap()).unwrap();
    assert_eq!(purge_at - deleted_at, chrono::Duration::hours(1));
    let status = cleanup_status(&db).await;
    assert_eq!(
        (status["recycle_bin"].as_u64(), status["queued"].as_u64()),
        (Some(5), Some(0)),
        "{status}"
    );
    assert!(storage.present(&kept).len() == 3 && storage.present(&purged).len() == 2);

    // Restore one (and an unknown id): live again exactly as before.
    let restored = items(
        &api.restore("task_id=kept&task_id=never").await.unwrap(),
        "restore_result_array",
    );
    assert_eq!(
        (
            restored[0]["task_id"].as_str(),
            restored[0]["status"].as_str()
        ),
        (Some("kept"), Some("RESTORED"))
    );
    assert_eq!(restored[0]["asset_id"], "a1");
    assert_eq!(restored[1]["status"], "FAILED");
    assert_eq!(restored[1]["error_code"], "VOD.10062");
    let after = api.list("task_id=kept").await.unwrap().json()["thumbnails"][0].clone();
    assert_eq!(
        after, before,
        "restored with the same created_at and parameters"
    );
    let details = api.details("kept").await.unwrap();
    assert_eq!(details.status, 200, "{}", details.text());
    assert_eq!(details.json()["total"], 3);
    let url = details.json()["thumbnail_result"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = url
        .split_once(&server.addr.to_string())
        .expect("a link to this server")
        .1;
    let image = http::request(server.addr, "GET", path, &[], &[])
        .await
        .unwrap();
    assert_eq!(image.status, 200, "the restored task's image is served");
    // Again: idempotent.
    let again = items(
        &api.restore("task_id=kept").await.unwrap(),
        "restore_result_array",
    );
    assert_eq!(again[0]["status"], "RESTORED");

    // Purge the other early (and the live one, which is refused).
    let purge = items(
        &api.purge("task_id=gone&task_id=kept").await.unwrap(),
        "purge_result_array",
    );
    assert_eq!(purge[0]["status"], "PURGED");
    assert_eq!(
        (purge[1]["status"].as_str(), purge[1]["error_code"].as_str()),
        (Some("FAILED"), Some("VODSNAP.0412"))
    );
    eventually(
        "the purged task's images are removed",
        EVENTUALLY,
        || async {
            let left = storage.present(&purged);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left: {left:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        storage.present(&kept),
        kept,
        "the restored task keeps its images"
    );
    let late = items(
        &api.restore("task_id=gone").await.unwrap(),
        "restore_result_array",
    );
    assert_eq!(
        (late[0]["status"].as_str(), late[0]["error_code"].as_str()),
        (Some("FAILED"), Some("VODSNAP.0410"))
    );
    assert_eq!(api.deleted("").await.unwrap().json()["total"], 0);
    // The id is never reused.
    let reuse = api
        .register(&task_body("a1", "gone", &purged))
        .await
        .unwrap();
    assert_eq!(reuse.status, 409, "{}", reuse.text());

    // The figures.
    let metrics = http::request(server.addr, "GET", "/metrics", &[], &[])
        .await
        .unwrap()
        .text();
    for series in [
        "vodsnap_restores_total{status=\"RESTORED\"}",
        "vodsnap_restores_total{status=\"FAILED\"}",
        "vodsnap_purges_total{status=\"PURGED\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_recycle_bin_queries_get_the_contract_error() {
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let server = Serve::new(&db, &secrets, &storage.url())
        .workers(0)
        .arg("--retention", "10m")
        .start()
        .await;
    let api = server.api(&secrets);
    let eleven: Vec<String> = (0..11).map(|i| format!("task_id=t{i}")).collect();
    for answer in [
        api.restore("").await.unwrap(),
        api.restore("asset_id=a1").await.unwrap(),
        api.restore(&eleven.join("&")).await.unwrap(),
        api.purge("task_id=bad%20id").await.unwrap(),
        api.deleted("limit=0").await.unwrap(),
        api.deleted("task_id=t1").await.unwrap(),
    ] {
        assert_eq!(answer.status, 400, "{}", answer.text());
        let body = answer.json();
        assert_eq!(body["error_code"], "VOD.10053");
        assert!(body["request_id"].is_string() && body["error_msg"].is_string());
    }
}
