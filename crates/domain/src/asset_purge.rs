//! Purging whole assets (Huawei's `DeleteAssets`): which assets one call
//! names, how big a batch of the background purge is, and what a purge's
//! progress says.
//!
//! A call records one purge per asset and answers at once; the purge job
//! then tombstones the asset's tasks in batches of [`PURGE_BATCH`], each
//! batch planned by [`crate::DeletePlan::of_purge`] and written as a delete
//! is (tombstones, cleanup items, audit record, `thumbnails.deleted`).

use crate::id::{AssetId, IdError};
use crate::time::Timestamp;

/// At most this many distinct assets per `DeleteAssets` call (Huawei's
/// limit).
pub const MAX_ASSETS_PER_CALL: usize = 10;

/// Tasks tombstoned by one statement of a purge: large enough that a
/// 100,000-task asset takes a hundred transactions, small enough that one
/// holds its row locks for milliseconds.
pub const PURGE_BATCH: usize = 1_000;

/// Why a `DeleteAssets` query is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetSelectionError {
    #[error("unknown query parameter '{0}': only asset_id and dry_run are accepted")]
    UnknownParameter(String),
    #[error(
        "delete_type is not supported: vodsnap keeps no source files, so there is nothing but the snapshots to delete"
    )]
    DeleteType,
    #[error("asset_id is required: 1 to {MAX_ASSETS_PER_CALL} asset ids")]
    NoAsset,
    #[error("at most {MAX_ASSETS_PER_CALL} distinct asset_id values per call, got {0}")]
    TooManyAssets(usize),
    #[error("dry_run may be given at most once")]
    RepeatedDryRun,
    #[error("dry_run must be true or false")]
    InvalidDryRun,
    #[error(transparent)]
    InvalidId(#[from] IdError),
}

/// A valid `DeleteAssets` call: 1 to [`MAX_ASSETS_PER_CALL`] distinct
/// assets, in first-seen order, and whether it is a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAssetsRequest {
    assets: Vec<AssetId>,
    dry_run: bool,
}

impl DeleteAssetsRequest {
    /// The query parameter of a dry run (the header `X-Vodsnap-Dry-Run`
    /// says the same; the HTTP adapter passes it as `dry_run_header`).
    pub const DRY_RUN: &'static str = "dry_run";
    /// Huawei's parameter for what to delete besides the media; refused
    /// whatever its value.
    pub const DELETE_TYPE: &'static str = "delete_type";

    /// Parses decoded query pairs: `asset_id` repeated (as the SDKs send
    /// it) or comma-separated, duplicates counted once; `dry_run` `true` or
    /// `false` at most once; `delete_type` and any other key refused.
    /// `dry_run_header` is a dry run asked for by header.
    ///
    /// ```
    /// use vodsnap_domain::{AssetSelectionError, DeleteAssetsRequest};
    ///
    /// let request = DeleteAssetsRequest::from_query(&[("asset_id", "a,b"), ("asset_id", "a")], false)?;
    /// let assets: Vec<_> = request.assets().iter().map(|a| a.as_str()).collect();
    /// assert_eq!(assets, ["a", "b"]);
    /// assert!(!request.is_dry_run());
    ///
    /// assert_eq!(
    ///     DeleteAssetsRequest::from_query(&[("asset_id", "a"), ("delete_type", "origin")], false),
    ///     Err(AssetSelectionError::DeleteType)
    /// );
    /// # Ok::<(), AssetSelectionError>(())
    /// ```
    pub fn from_query<K, V>(
        pairs: &[(K, V)],
        dry_run_header: bool,
    ) -> Result<Self, AssetSelectionError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut assets: Vec<AssetId> = Vec::new();
        let mut dry_run = None;
        for (key, value) in pairs {
            match key.as_ref() {
                AssetId::FIELD => {
                    for raw in value.as_ref().split(',') {
                        let asset = AssetId::parse(raw)?;
                        if !assets.contains(&asset) {
                            assets.push(asset);
                        }
                    }
                }
                Self::DELETE_TYPE => return Err(AssetSelectionError::DeleteType),
                Self::DRY_RUN => {
                    if dry_run.is_some() {
                        return Err(AssetSelectionError::RepeatedDryRun);
                    }
                    dry_run = Some(match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(AssetSelectionError::InvalidDryRun),
                    });
                }
                other => return Err(AssetSelectionError::UnknownParameter(other.to_owned())),
            }
        }
        Self::new(assets, dry_run.unwrap_or(false) || dry_run_header)
    }

    /// A request for `assets` (duplicates collapse into the first).
    pub fn new(assets: Vec<AssetId>, dry_run: bool) -> Result<Self, AssetSelectionError> {
        let mut distinct: Vec<AssetId> = Vec::with_capacity(assets.len().min(MAX_ASSETS_PER_CALL));
        for asset in assets {
            if !distinct.contains(&asset) {
                distinct.push(asset);
            }
        }
        match distinct.len() {
            0 => Err(AssetSelectionError::NoAsset),
            n if n > MAX_ASSETS_PER_CALL => Err(AssetSelectionError::TooManyAssets(n)),
            _ => Ok(Self {
                assets: distinct,
                dry_run,
            }),
        }
    }

    /// The distinct assets, in request order.
    pub fn assets(&self) -> &[AssetId] {
        &self.assets
    }

    /// True when the call only asks what the purges would take.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

/// Where a purge is, as the progress call spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeState {
    /// Recorded, its tasks gone for readers, its batches running.
    Purging,
    /// Every task of the asset tombstoned; registration starts it afresh.
    Purged,
}

impl PurgeState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Purging => "PURGING",
            Self::Purged => "PURGED",
        }
    }
}

/// A purge of one asset, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeProgress {
    pub asset: AssetId,
    /// The asset's live tasks when the purge was recorded (raised if a
    /// restore brought more back while it ran).
    pub tasks_total: u64,
    pub tasks_deleted: u64,
    /// Image objects handed to the cleanup.
    pub objects_queued: u64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl PurgeProgress {
    /// Finished means purged; anything else (running, waiting for a
    /// retry, parked) is still purging.
    pub fn state(&self) -> PurgeState {
        match self.finished_at {
            Some(_) => PurgeState::Purged,
            None => PurgeState::Purging,
        }
    }
}

impl PurgeProgress {
    /// `tasks_total` once a batch tombstoned `tombstoned` more: never less
    /// than the tasks deleted (a restore during the purge may bring back
    /// tasks that a later batch takes again). The `asset.purged` event's
    /// figure, the same as the progress call then answers.
    pub fn total_after(&self, tombstoned: u64) -> u64 {
        self.tasks_total
            .max(self.tasks_deleted.saturating_add(tombstoned))
    }
}

/// Whether a purge whose batch found `found` live tasks has more to do: a
/// batch that found fewer than [`PURGE_BATCH`] took the last of them, and
/// closes the purge in its own unit of work (so that nothing, a restore
/// say, can land between the last batch and the purge's end).
pub fn purge_has_more(found: usize) -> bool {
    found >= PURGE_BATCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Vec<String>, AssetSelectionError> {
        DeleteAssetsRequest::from_query(pairs, false)
            .map(|r| r.assets().iter().map(|a| a.as_str().to_owned()).collect())
    }

    #[test]
    fn repeated_keys_and_commas_both_name_assets_in_order_once_each() {
        assert_eq!(
            parse(&[("asset_id", "a"), ("asset_id", "b,a"), ("asset_id", "c")]),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn no_asset_is_refused() {
        assert_eq!(parse(&[]), Err(AssetSelectionError::NoAsset));
        assert_eq!(
            parse(&[("dry_run", "true")]),
            Err(AssetSelectionError::NoAsset)
        );
    }

    #[test]
    fn an_empty_or_malformed_id_is_refused() {
        for bad in ["", "a,", ",a", "a b", "a/b", &"x".repeat(65)] {
            assert!(
                matches!(
                    parse(&[("asset_id", bad)]),
                    Err(AssetSelectionError::InvalidId(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn eleven_distinct_assets_are_refused_ten_are_not() {
        let ten: Vec<(String, String)> = (0..10)
            .map(|i| ("asset_id".to_owned(), format!("a{i}")))
            .collect();
        assert_eq!(
            DeleteAssetsRequest::from_query(&ten, false).map(|r| r.assets().len()),
            Ok(10)
        );
        let mut eleven = ten.clone();
        eleven.push(("asset_id".into(), "a10".into()));
        assert_eq!(
            DeleteAssetsRequest::from_query(&eleven, false),
            Err(AssetSelectionError::TooManyAssets(11))
        );
        let mut repeats = ten;
        repeats.push(("asset_id".into(), "a0,a1".into()));
        assert!(DeleteAssetsRequest::from_query(&repeats, false).is_ok());
    }

    #[test]
    fn delete_type_is_refused_whatever_its_value() {
        for value in ["", "origin", "all"] {
            assert_eq!(
                parse(&[("asset_id", "a"), ("delete_type", value)]),
                Err(AssetSelectionError::DeleteType)
            );
        }
    }

    #[test]
    fn unknown_parameters_are_refused() {
        assert_eq!(
            parse(&[("asset_ids", "a")]),
            Err(AssetSelectionError::UnknownParameter("asset_ids".into()))
        );
    }

    #[test]
    fn dry_run_by_query_or_header() {
        let q = |pairs: &[(&str, &str)], header| {
            DeleteAssetsRequest::from_query(pairs, header).map(|r| r.is_dry_run())
        };
        assert_eq!(q(&[("asset_id", "a")], false), Ok(false));
        assert_eq!(q(&[("asset_id", "a")], true), Ok(true));
        assert_eq!(
            q(&[("asset_id", "a"), ("dry_run", "true")], false),
            Ok(true)
        );
        assert_eq!(
            q(&[("asset_id", "a"), ("dry_run", "yes")], false),
            Err(AssetSelectionError::InvalidDryRun)
        );
        assert_eq!(
            q(
                &[
                    ("asset_id", "a"),
                    ("dry_run", "false"),
                    ("dry_run", "false")
                ],
                false
            ),
            Err(AssetSelectionError::RepeatedDryRun)
        );
    }

    #[test]
    fn a_purge_is_purged_once_finished() {
        let mut p = PurgeProgress {
            asset: AssetId::parse("a").unwrap(),
            tasks_total: 3,
            tasks_deleted: 1,
            objects_queued: 2,
            started_at: Timestamp::from_micros(1),
            finished_at: None,
        };
        assert_eq!(p.state(), PurgeState::Purging);
        p.finished_at = Some(Timestamp::from_micros(2));
        assert_eq!(p.state().as_str(), "PURGED");
    }

    #[test]
    fn a_short_batch_was_the_last() {
        assert!(purge_has_more(PURGE_BATCH));
        let progress = PurgeProgress {
            asset: AssetId::parse("a").unwrap(),
            tasks_total: 10,
            tasks_deleted: 8,
            objects_queued: 16,
            started_at: Timestamp::from_micros(0),
            finished_at: None,
        };
        assert_eq!(progress.total_after(1), 10);
        assert_eq!(progress.total_after(5), 13, "a restore brought more back");
        assert!(!purge_has_more(PURGE_BATCH - 1));
        assert!(!purge_has_more(0));
    }

    proptest! {
        #[test]
        fn a_valid_request_has_one_to_ten_distinct_assets(ids in proptest::collection::vec("[a-c]{1,2}", 0..30)) {
            let pairs: Vec<(&str, &str)> = ids.iter().map(|i| ("asset_id", i.as_str())).collect();
            if let Ok(r) = DeleteAssetsRequest::from_query(&pairs, false) {
                prop_assert!((1..=MAX_ASSETS_PER_CALL).contains(&r.assets().len()));
                let seen: std::collections::BTreeSet<&str> = r.assets().iter().map(|a| a.as_str()).collect();
                prop_assert_eq!(seen.len(), r.assets().len());
            }
        }
    }
}
