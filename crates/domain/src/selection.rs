//! The delete selection: which task results one DELETE call may remove.

use crate::id::{AssetId, IdError, TaskId};

/// At most this many task results are deleted by one call, whether named by
/// `task_id` or picked from an asset.
pub const MAX_TASKS_PER_CALL: usize = 10;

/// Why a DELETE query is not a valid selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("unknown query parameter '{0}': only asset_id and task_id are accepted")]
    UnknownParameter(String),
    #[error("asset_id may be given at most once")]
    RepeatedAssetId,
    #[error("give asset_id, task_id or both to say what to delete")]
    NoSelector,
    #[error("at most {MAX_TASKS_PER_CALL} distinct task_id values per call, got {0}")]
    TooManyTasks(usize),
    #[error(transparent)]
    InvalidId(#[from] IdError),
}

/// A valid selection. It names at least one selector and never more than
/// [`MAX_TASKS_PER_CALL`] distinct tasks, in first-seen order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSelection {
    asset: Option<AssetId>,
    tasks: Vec<TaskId>,
}

impl DeleteSelection {
    /// Builds a selection from an optional asset and task ids. Duplicate task
    /// ids collapse into the first occurrence.
    pub fn new(asset: Option<AssetId>, tasks: Vec<TaskId>) -> Result<Self, SelectionError> {
        let mut distinct: Vec<TaskId> = Vec::with_capacity(tasks.len().min(MAX_TASKS_PER_CALL));
        for task in tasks {
            if !distinct.contains(&task) {
                distinct.push(task);
            }
        }
        if distinct.len() > MAX_TASKS_PER_CALL {
            return Err(SelectionError::TooManyTasks(distinct.len()));
        }
        if asset.is_none() && distinct.is_empty() {
            return Err(SelectionError::NoSelector);
        }
        Ok(Self {
            asset,
            tasks: distinct,
        })
    }

    /// Parses decoded query pairs as the DELETE call receives them. Any key
    /// other than `asset_id` and `task_id` is refused, so that a misspelled
    /// selector can never widen a delete.
    pub fn from_query<K, V>(pairs: &[(K, V)]) -> Result<Self, SelectionError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut asset = None;
        let mut tasks = Vec::new();
        for (key, value) in pairs {
            match key.as_ref() {
                AssetId::FIELD => {
                    if asset.is_some() {
                        return Err(SelectionError::RepeatedAssetId);
                    }
                    asset = Some(AssetId::parse(value.as_ref())?);
                }
                TaskId::FIELD => tasks.push(TaskId::parse(value.as_ref())?),
                other => return Err(SelectionError::UnknownParameter(other.to_owned())),
            }
        }
        Self::new(asset, tasks)
    }

    /// The asset the selection is limited to, if any.
    pub fn asset(&self) -> Option<&AssetId> {
        self.asset.as_ref()
    }

    /// The distinct task ids, in request order; empty for an asset-only call.
    pub fn tasks(&self) -> &[TaskId] {
        &self.tasks
    }

    /// True when the call names only an asset: the store picks its oldest
    /// live task results, at most [`MAX_TASKS_PER_CALL`].
    pub fn is_asset_only(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(pairs: &[(&str, &str)]) -> Result<DeleteSelection, SelectionError> {
        DeleteSelection::from_query(pairs)
    }

    #[test]
    fn unknown_parameter_is_refused() {
        assert_eq!(
            q(&[("task_ids", "t1")]),
            Err(SelectionError::UnknownParameter("task_ids".into()))
        );
        assert_eq!(
            q(&[("asset_id", "a"), ("limit", "1")]),
            Err(SelectionError::UnknownParameter("limit".into()))
        );
    }

    #[test]
    fn no_selector_is_refused() {
        assert_eq!(q(&[]), Err(SelectionError::NoSelector));
    }

    #[test]
    fn more_than_ten_distinct_tasks_is_refused() {
        let ids: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        let pairs: Vec<(&str, &str)> = ids.iter().map(|t| ("task_id", t.as_str())).collect();
        assert_eq!(q(&pairs), Err(SelectionError::TooManyTasks(11)));
    }

    #[test]
    fn ten_distinct_tasks_with_duplicates_are_accepted() {
        let ids: Vec<String> = (0..10).chain(0..10).map(|i| format!("t{i}")).collect();
        let pairs: Vec<(&str, &str)> = ids.iter().map(|t| ("task_id", t.as_str())).collect();
        assert_eq!(q(&pairs).unwrap().tasks().len(), 10);
    }

    #[test]
    fn duplicates_collapse_in_first_seen_order() {
        let s = q(&[("task_id", "b"), ("task_id", "a"), ("task_id", "b")]).unwrap();
        let names: Vec<&str> = s.tasks().iter().map(TaskId::as_str).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn asset_alone_is_an_asset_only_selection() {
        let s = q(&[("asset_id", "a1")]).unwrap();
        assert!(s.is_asset_only());
        assert_eq!(s.asset().unwrap().as_str(), "a1");
    }

    #[test]
    fn asset_with_tasks_limits_the_tasks() {
        let s = q(&[("asset_id", "a1"), ("task_id", "t1")]).unwrap();
        assert!(!s.is_asset_only());
        assert_eq!(s.asset().unwrap().as_str(), "a1");
    }

    #[test]
    fn asset_id_twice_is_refused() {
        assert_eq!(
            q(&[("asset_id", "a1"), ("asset_id", "a2")]),
            Err(SelectionError::RepeatedAssetId)
        );
    }

    #[test]
    fn malformed_ids_name_their_field() {
        match q(&[("task_id", "")]) {
            Err(SelectionError::InvalidId(e)) => assert_eq!(e.field(), "task_id"),
            other => panic!("unexpected {other:?}"),
        }
        match q(&[("asset_id", "a b")]) {
            Err(SelectionError::InvalidId(e)) => assert_eq!(e.field(), "asset_id"),
            other => panic!("unexpected {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn a_selection_never_holds_more_than_ten_tasks(
            ids in proptest::collection::vec("[a-c]{1,2}", 0..40),
            asset in proptest::option::of("[a-z]{1,3}"),
        ) {
            let mut pairs: Vec<(String, String)> =
                ids.into_iter().map(|t| ("task_id".to_owned(), t)).collect();
            if let Some(a) = asset {
                pairs.push(("asset_id".to_owned(), a));
            }
            if let Ok(s) = DeleteSelection::from_query(&pairs) {
                prop_assert!(s.tasks().len() <= MAX_TASKS_PER_CALL);
                let mut sorted = s.tasks().to_vec();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), s.tasks().len());
            }
        }

        #[test]
        fn no_query_makes_the_parser_panic(
            pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..15)
        ) {
            let _ = DeleteSelection::from_query(&pairs);
        }
    }
}
