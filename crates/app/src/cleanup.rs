//! The cleanup workers of `vodsnap serve` and `vodsnap cleanup run`: their
//! settings from the command line, and their names. The use case itself is
//! `vodsnap_service::cleanup`.

use std::sync::Arc;

use tokio::sync::watch;
use vodsnap_domain::RetryPolicy;
use vodsnap_ports::{CleanupQueue, Clock, ImageStore};
use vodsnap_service::{Worker, WorkerSettings};

/// Starts `--cleanup-workers` workers that stop when `stop` turns true.
pub fn spawn_workers(
    args: &crate::cli::CleanupArgs,
    queue: Arc<dyn CleanupQueue>,
    images: Arc<dyn ImageStore>,
    clock: Arc<dyn Clock>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    // One watch on the object store for the process's workers: an outage
    // is logged once, and every worker pauses.
    let first = Worker::new(worker_name(0), queue, images, clock, settings(args)?);
    Ok((0..args.cleanup_workers)
        .map(|i| tokio::spawn(first.renamed(worker_name(i)).run(stop.clone())))
        .collect())
}

/// The workers' settings from the command line.
pub fn settings(args: &crate::cli::CleanupArgs) -> anyhow::Result<WorkerSettings> {
    let policy = RetryPolicy::new(
        args.cleanup_retry_base,
        args.cleanup_retry_max,
        args.cleanup_max_attempts,
    )
    .map_err(|e| anyhow::anyhow!("invalid cleanup retry settings: {e}"))?;
    Ok(WorkerSettings {
        policy,
        batch: args.cleanup_batch,
        lease: args.cleanup_lease,
        idle: args.cleanup_idle,
    })
}

/// A name unique to this process and worker, for leases and logs.
pub fn worker_name(index: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!("{host}:{}:{index}", std::process::id())
}

#[cfg(test)]
mod tests {
    //! The cleanup use case on the embedded store and real object stores.
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::watch;
    use vodsnap_adapter_memory::MemoryStore;
    use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
    use vodsnap_domain::RetryPolicy;
    use vodsnap_domain::{
        AssetId, DeleteSelection, NewTaskResult, ObjectKey, ProjectId, Snapshot, TaskId,
        ThumbnailPara, ThumbnailParaInput,
    };
    use vodsnap_ports::{CleanupQueue, Clock, ImageStore};
    use vodsnap_ports::{ImageStoreError, MockImageStore, SystemClock};
    use vodsnap_service::{Snapshots, Worker, WorkerSettings};

    fn actor() -> vodsnap_ports::Actor {
        vodsnap_ports::Actor::system("test")
    }

    fn new_result(task: &str, keys: &[&str]) -> NewTaskResult {
        let para = ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some("time".into()),
            ..Default::default()
        })
        .unwrap();
        let snapshots = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Snapshot::new(i as i64, ObjectKey::parse(k).unwrap()).unwrap())
            .collect();
        NewTaskResult::new(
            ProjectId::parse("p").unwrap(),
            AssetId::parse("a").unwrap(),
            TaskId::parse(task).unwrap(),
            para,
            snapshots,
        )
        .unwrap()
    }

    fn service(store: &Arc<MemoryStore>) -> Snapshots {
        Snapshots::new(
            store.clone(),
            Arc::new(store.audit_log()),
            Arc::new(SystemClock),
        )
    }

    async fn register(store: &Arc<MemoryStore>, new: NewTaskResult) {
        service(store).register(new, &actor()).await.unwrap();
    }

    async fn delete(store: &Arc<MemoryStore>, task: &str) {
        let selection = DeleteSelection::new(None, vec![TaskId::parse(task).unwrap()]).unwrap();
        service(store)
            .delete(&ProjectId::parse("p").unwrap(), &selection, &actor())
            .await
            .unwrap();
    }

    fn worker(store: Arc<MemoryStore>, images: Arc<dyn ImageStore>, max_attempts: u32) -> Worker {
        Worker::new(
            "test".into(),
            Arc::new(store.cleanup_queue()),
            images,
            Arc::new(SystemClock),
            WorkerSettings {
                policy: RetryPolicy::new(
                    Duration::from_micros(1),
                    Duration::from_micros(1),
                    max_attempts,
                )
                .unwrap(),
                ..WorkerSettings::default()
            },
        )
    }

    fn never() -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test]
    async fn removes_the_objects_of_deleted_tasks_and_keeps_shared_live_ones() {
        let store = Arc::new(MemoryStore::new());
        let images = Arc::new(ObjectImageStore::open(&StorageUrl::Memory).unwrap());
        for key in ["p/1.jpg", "p/2.jpg", "p/shared.jpg", "p/live.jpg"] {
            images
                .put(&ObjectKey::parse(key).unwrap(), b"jpg".to_vec())
                .await
                .unwrap();
        }
        register(
            &store,
            new_result("gone", &["p/1.jpg", "p/2.jpg", "p/shared.jpg"]),
        )
        .await;
        register(&store, new_result("live", &["p/shared.jpg", "p/live.jpg"])).await;
        delete(&store, "gone").await;

        let pass = worker(store.clone(), images.clone(), 3)
            .pass(&never())
            .await
            .unwrap();

        assert_eq!((pass.claimed, pass.removed, pass.kept), (3, 2, 1));
        for (key, exists) in [
            ("p/1.jpg", false),
            ("p/2.jpg", false),
            ("p/shared.jpg", true),
            ("p/live.jpg", true),
        ] {
            assert_eq!(
                images
                    .exists(&ObjectKey::parse(key).unwrap())
                    .await
                    .unwrap(),
                exists,
                "{key}"
            );
        }
        assert_eq!(
            store
                .cleanup_queue()
                .status(SystemClock.now())
                .await
                .unwrap()
                .queued,
            0
        );
    }

    #[tokio::test]
    async fn failures_back_off_then_park() {
        let store = Arc::new(MemoryStore::new());
        let mut images = MockImageStore::new();
        images.expect_delete_many().returning(|keys| {
            keys.iter()
                .map(|_| {
                    // A refusal of the key's own: it counts its attempts
                    // (an outage would not: tests/store_outage.rs).
                    Err(ImageStoreError::new(
                        vodsnap_domain::StoreFailure::Status(403),
                        anyhow::anyhow!("access denied"),
                    ))
                })
                .collect()
        });
        images.expect_describe().returning(|| "mock".into());
        register(&store, new_result("gone", &["p/1.jpg"])).await;
        delete(&store, "gone").await;
        let w = worker(store.clone(), Arc::new(images), 3);

        let mut passes = Vec::new();
        for _ in 0..3 {
            // The 1 µs backoff has passed by the next pass.
            tokio::time::sleep(Duration::from_millis(2)).await;
            passes.push(w.pass(&never()).await.unwrap());
        }

        let summary: Vec<(usize, usize)> = passes.iter().map(|p| (p.retried, p.parked)).collect();
        assert_eq!(summary, [(1, 0), (1, 0), (0, 1)]);
        let status = store
            .cleanup_queue()
            .status(SystemClock.now())
            .await
            .unwrap();
        assert_eq!(
            (status.queued, status.parked, status.failed_attempts),
            (0, 1, 3)
        );
        let parked = store.cleanup_queue().parked(10).await.unwrap();
        assert!(parked[0].last_error.contains("access denied"));
    }

    #[tokio::test]
    async fn stops_between_items_when_asked() {
        let store = Arc::new(MemoryStore::new());
        let images = Arc::new(ObjectImageStore::open(&StorageUrl::Memory).unwrap());
        register(&store, new_result("gone", &["p/1.jpg", "p/2.jpg"])).await;
        delete(&store, "gone").await;
        let (tx, rx) = watch::channel(true);
        let pass = worker(store, images, 3).pass(&rx).await.unwrap();
        drop(tx);
        assert_eq!((pass.claimed, pass.removed), (2, 0));
    }
}
