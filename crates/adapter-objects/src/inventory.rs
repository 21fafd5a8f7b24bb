//! `StoreInventory`: the [`ObjectInventory`] port, a project's objects in
//! ascending byte order of key, a page at a time.
//!
//! S3 (and S3-compatible services) answer `ListObjectsV2` in UTF-8 binary
//! order, a page of up to 1,000 keys per request, and the memory store
//! keeps its objects in a sorted map: both are passed through as listed.
//! A directory walk is in no order (`readdir`), so the file store is walked
//! here, one directory at a time: each directory's entries are read
//! (object_store's `list_with_delimiter`) and sorted, a subdirectory `d`
//! sorting as `d/` (every key under it starts with `d/`, and no sibling's
//! name can), so that a depth-first walk yields the keys in byte order.
//! Memory: the sorted entries of the directories on the current path only,
//! so bounded by the tree's depth times its largest directory (with the
//! layout `{project}/{asset}/{task}/{n}.jpg`, a project's assets).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use vodsnap_domain::{ListedObject, ProjectId, RECONCILE_PAGE, Timestamp};
use vodsnap_ports::{ImageStoreError, ObjectInventory, ObjectListing};

use crate::failure::failure;

/// The objects of an [`crate::ObjectImageStore`], listed.
#[derive(Clone)]
pub struct StoreInventory {
    pub(crate) objects: Arc<dyn ObjectStore>,
    /// Whether the storage lists in no order (a directory): walk and sort.
    pub(crate) walk: bool,
    pub(crate) description: String,
}

impl std::fmt::Debug for StoreInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreInventory")
            .field("storage", &self.description)
            .finish_non_exhaustive()
    }
}

fn listed(meta: &ObjectMeta) -> ListedObject {
    ListedObject {
        key: meta.location.to_string(),
        last_modified: Timestamp::from_micros(meta.last_modified.timestamp_micros()),
    }
}

/// A storage that lists in order: its stream, paged.
struct Sorted {
    stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
    project: ProjectId,
    /// The stream ended: it must not be polled again.
    done: bool,
}

#[async_trait]
impl ObjectListing for Sorted {
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ImageStoreError> {
        let mut page = Vec::new();
        while !self.done && page.len() < RECONCILE_PAGE as usize {
            match self.stream.next().await {
                Some(Ok(meta)) => page.push(listed(&meta)),
                Some(Err(err)) => {
                    return Err(failure(
                        err,
                        format!("failed to list the objects of project {}", self.project),
                    ));
                }
                None => self.done = true,
            }
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

enum Entry {
    Directory(Path),
    Object(ObjectMeta),
}

/// A directory tree, walked depth first with each directory sorted.
struct Walk {
    objects: Arc<dyn ObjectStore>,
    /// The entries left of each directory on the current path, innermost
    /// last.
    stack: Vec<VecDeque<Entry>>,
}

impl Walk {
    async fn read(&self, dir: &Path) -> Result<VecDeque<Entry>, ImageStoreError> {
        let found = self
            .objects
            .list_with_delimiter(Some(dir))
            .await
            .map_err(|err| failure(err, format!("failed to list the directory {dir}")))?;
        let mut entries: Vec<(String, Entry)> = found
            .common_prefixes
            .into_iter()
            .map(|d| (format!("{d}/"), Entry::Directory(d)))
            .chain(
                found
                    .objects
                    .into_iter()
                    .map(|o| (o.location.to_string(), Entry::Object(o))),
            )
            .collect();
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }
}

#[async_trait]
impl ObjectListing for Walk {
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ImageStoreError> {
        let mut page = Vec::new();
        while page.len() < RECONCILE_PAGE as usize {
            let Some(top) = self.stack.last_mut() else {
                break;
            };
            match top.pop_front() {
                None => {
                    self.stack.pop();
                }
                Some(Entry::Object(meta)) => page.push(listed(&meta)),
                Some(Entry::Directory(dir)) => {
                    let entries = self.read(&dir).await?;
                    self.stack.push(entries);
                }
            }
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

#[async_trait]
impl ObjectInventory for StoreInventory {
    async fn list_project(
        &self,
        project: &ProjectId,
    ) -> Result<Box<dyn ObjectListing>, ImageStoreError> {
        let prefix = Path::from(project.as_str());
        if !self.walk {
            return Ok(Box::new(Sorted {
                stream: self.objects.list(Some(&prefix)),
                project: project.clone(),
                done: false,
            }));
        }
        let mut walk = Walk {
            objects: self.objects.clone(),
            stack: Vec::new(),
        };
        let first = walk.read(&prefix).await?;
        walk.stack.push(first);
        Ok(Box::new(walk))
    }

    async fn top_level_prefixes(&self) -> Result<Vec<String>, ImageStoreError> {
        let found = self
            .objects
            .list_with_delimiter(None)
            .await
            .map_err(|err| failure(err, "failed to list the store's top level".to_owned()))?;
        Ok(found
            .common_prefixes
            .iter()
            .map(ToString::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use vodsnap_domain::ObjectKey;
    use vodsnap_ports::ImageStore as _;

    use super::*;
    use crate::{ObjectImageStore, StorageUrl};

    async fn keys_of(store: &ObjectImageStore, project: &str) -> Vec<String> {
        let project = ProjectId::parse(project).unwrap();
        let mut listing = store.inventory().list_project(&project).await.unwrap();
        let mut keys = Vec::new();
        while let Some(page) = listing.next_page().await.unwrap() {
            keys.extend(page.into_iter().map(|o| o.key));
        }
        keys
    }

    /// Keys whose directory order and byte order differ: '-' and '.' sort
    /// before '/', so `p/a.x` comes before everything under `p/a/`.
    const KEYS: [&str; 7] = [
        "p/a/b", "p/a.x", "p/a-", "p/ab", "p/a/c/d", "p/a/b0", "p2/x",
    ];

    async fn filled(url: StorageUrl) -> ObjectImageStore {
        let store = ObjectImageStore::open(&url).unwrap();
        for key in KEYS {
            store
                .put(&ObjectKey::parse(key).unwrap(), Vec::new())
                .await
                .unwrap();
        }
        store
    }

    fn expected(project: &str) -> Vec<String> {
        let mut keys: Vec<String> = KEYS
            .iter()
            .filter(|k| k.starts_with(&format!("{project}/")))
            .map(|k| (*k).to_owned())
            .collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn the_file_store_lists_a_project_in_byte_order_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let store = filled(StorageUrl::File(root.path().to_owned())).await;

        assert_eq!(keys_of(&store, "p").await, expected("p"));
        assert_eq!(keys_of(&store, "p2").await, expected("p2"));
        assert!(keys_of(&store, "absent").await.is_empty());
        let mut top = store.inventory().top_level_prefixes().await.unwrap();
        top.sort();
        assert_eq!(top, ["p", "p2"]);
    }

    #[tokio::test]
    async fn the_memory_store_lists_a_project_in_byte_order() {
        let store = filled(StorageUrl::Memory).await;

        assert_eq!(keys_of(&store, "p").await, expected("p"));
        assert_eq!(keys_of(&store, "p2").await, expected("p2"));
    }
}
