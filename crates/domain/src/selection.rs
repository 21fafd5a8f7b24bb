//! The delete selection: which task results one DELETE call may remove,
//! and the DELETE request that carries it (a real delete or a dry run).

use crate::id::{AssetId, IdError, TaskId};

/// At most this many task results are deleted by one call, whether named by
/// `task_id` or picked from an asset.
pub const MAX_TASKS_PER_CALL: usize = 10;

/// Why a DELETE query is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("unknown query parameter '{0}': only asset_id, task_id and dry_run are accepted")]
    UnknownParameter(String),
    #[error("asset_id may be given at most once")]
    RepeatedAssetId,
    #[error("dry_run may be given at most once")]
    RepeatedDryRun,
    #[error("dry_run must be true or false")]
    InvalidDryRun,
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
    ///
    /// ```
    /// use vodsnap_domain::{AssetId, DeleteSelection, SelectionError, TaskId};
    ///
    /// let t1 = TaskId::parse("t1")?;
    /// let selection = DeleteSelection::new(None, vec![t1.clone(), t1.clone()])?;
    /// assert_eq!(selection.tasks(), [t1]);
    /// assert!(!selection.is_asset_only());
    ///
    /// let asset_only = DeleteSelection::new(Some(AssetId::parse("a1")?), vec![])?;
    /// assert!(asset_only.is_asset_only());
    ///
    /// assert_eq!(DeleteSelection::new(None, vec![]), Err(SelectionError::NoSelector));
    /// let eleven = (0..11).map(|i| TaskId::parse(&format!("t{i}"))).collect::<Result<_, _>>()?;
    /// assert_eq!(DeleteSelection::new(None, eleven), Err(SelectionError::TooManyTasks(11)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

/// A DELETE call as its query asks: what to delete, and whether to delete it
/// or only to say what a delete would answer (`dry_run=true`, a vodsnap
/// extension that the Huawei SDKs never send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    selection: DeleteSelection,
    dry_run: bool,
}

impl DeleteRequest {
    /// The query parameter of a dry run.
    pub const DRY_RUN: &'static str = "dry_run";

    /// A request for `selection`; `dry_run` only asks what it would answer.
    pub fn new(selection: DeleteSelection, dry_run: bool) -> Self {
        Self { selection, dry_run }
    }

    /// Parses decoded query pairs as the DELETE call receives them. Any key
    /// other than `asset_id`, `task_id` and `dry_run` is refused, so that a
    /// misspelled selector can never widen a delete; `dry_run` is `true` or
    /// `false` exactly, at most once, so that a misspelled value
    /// (`dry_run=yes`, `dry_run=1`) can never turn a preview into a delete.
    ///
    /// ```
    /// use vodsnap_domain::{DeleteRequest, SelectionError};
    ///
    /// let request = DeleteRequest::from_query(&[("asset_id", "a1"), ("task_id", "t1")])?;
    /// assert_eq!(request.selection().asset().map(|a| a.as_str()), Some("a1"));
    /// assert!(!request.is_dry_run());
    ///
    /// let preview = DeleteRequest::from_query(&[("task_id", "t1"), ("dry_run", "true")])?;
    /// assert!(preview.is_dry_run());
    ///
    /// assert_eq!(
    ///     DeleteRequest::from_query(&[("task_ids", "t1")]),
    ///     Err(SelectionError::UnknownParameter("task_ids".into()))
    /// );
    /// assert_eq!(
    ///     DeleteRequest::from_query(&[("task_id", "t1"), ("dry_run", "yes")]),
    ///     Err(SelectionError::InvalidDryRun)
    /// );
    /// # Ok::<(), SelectionError>(())
    /// ```
    pub fn from_query<K, V>(pairs: &[(K, V)]) -> Result<Self, SelectionError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut asset = None;
        let mut tasks = Vec::new();
        let mut dry_run = None;
        for (key, value) in pairs {
            match key.as_ref() {
                AssetId::FIELD => {
                    if asset.is_some() {
                        return Err(SelectionError::RepeatedAssetId);
                    }
                    asset = Some(AssetId::parse(value.as_ref())?);
                }
                TaskId::FIELD => tasks.push(TaskId::parse(value.as_ref())?),
                Self::DRY_RUN => {
                    if dry_run.is_some() {
                        return Err(SelectionError::RepeatedDryRun);
                    }
                    dry_run = Some(match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(SelectionError::InvalidDryRun),
                    });
                }
                other => return Err(SelectionError::UnknownParameter(other.to_owned())),
            }
        }
        Ok(Self {
            selection: DeleteSelection::new(asset, tasks)?,
            dry_run: dry_run.unwrap_or(false),
        })
    }

    /// What to delete.
    pub fn selection(&self) -> &DeleteSelection {
        &self.selection
    }

    /// True when the call asks only what the delete would answer, with
    /// nothing changed.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(pairs: &[(&str, &str)]) -> Result<DeleteSelection, SelectionError> {
        DeleteRequest::from_query(pairs).map(|r| r.selection().clone())
    }

    fn dry_run(pairs: &[(&str, &str)]) -> Result<bool, SelectionError> {
        DeleteRequest::from_query(pairs).map(|r| r.is_dry_run())
    }

    #[test]
    fn dry_run_absent_or_false_is_a_delete() {
        assert_eq!(dry_run(&[("task_id", "t1")]), Ok(false));
        assert_eq!(
            dry_run(&[("task_id", "t1"), ("dry_run", "false")]),
            Ok(false)
        );
    }

    #[test]
    fn dry_run_true_is_a_dry_run_of_the_same_selection() {
        let pairs = [("asset_id", "a1"), ("dry_run", "true"), ("task_id", "t1")];
        let request = DeleteRequest::from_query(&pairs).unwrap();
        assert!(request.is_dry_run());
        assert_eq!(
            request.selection(),
            &q(&[("asset_id", "a1"), ("task_id", "t1")]).unwrap()
        );
        assert_eq!(
            dry_run(&[("dry_run", "true"), ("asset_id", "a1")]),
            Ok(true)
        );
    }

    #[test]
    fn dry_run_takes_only_true_or_false() {
        for value in ["", "1", "0", "yes", "True", "TRUE", "false ", "on"] {
            assert_eq!(
                dry_run(&[("task_id", "t1"), ("dry_run", value)]),
                Err(SelectionError::InvalidDryRun),
                "{value:?}"
            );
        }
    }

    #[test]
    fn dry_run_twice_is_refused_even_when_both_agree() {
        assert_eq!(
            dry_run(&[("task_id", "t1"), ("dry_run", "true"), ("dry_run", "true")]),
            Err(SelectionError::RepeatedDryRun)
        );
    }

    #[test]
    fn dry_run_alone_selects_nothing() {
        assert_eq!(
            dry_run(&[("dry_run", "true")]),
            Err(SelectionError::NoSelector)
        );
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
            if let Ok(r) = DeleteRequest::from_query(&pairs) {
                let s = r.selection();
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
            let _ = DeleteRequest::from_query(&pairs);
        }
    }
}
