//! The workloads: one type for everything a workload is, its name on the
//! command line, its title in the report, its pgbench reference script, and
//! the pool of pre-registered ids it consumes.

/// One kind of request, measured through vodsnap and, statement for
/// statement, through pgbench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /v1/{p}/asset/thumbnails?asset_id=a{random}`.
    List,
    /// `GET /v1/{p}/asset/thumbnails?offset={deep}`: the whole project's
    /// list, ten items near the offset's maximum (see [`deep_offset`]): the
    /// read whose cost grows with the data, not with the page.
    ListDeep,
    /// `GET /v1/{p}/asset/thumbnail/details?task_id=t{random}`.
    Details,
    /// `POST /v1/{p}/asset/thumbnails` of a new task id with `images`
    /// snapshots on a random asset.
    Register,
    /// `DELETE ...?task_id=..` with ten ids of the `d{n}` pool, each once.
    DeleteTasks,
    /// `DELETE ...?asset_id=x{n}`, each asset of the `x{n}` pool once (ten
    /// task results each).
    DeleteAsset,
    /// `GET /healthz`, signed like the others though it needs no
    /// authentication: HTTP alone, no database, the floor under every
    /// other workload on the same machine. Not run unless asked for; no
    /// pgbench counterpart.
    Healthz,
    /// The soak's mix (`--soak`): of every 100 requests about 45 list, 25
    /// details, 15 registrations of new task ids and 15 deletes of up to
    /// ten task results the same client registered, so that the data set
    /// stays about the same size however long it runs. Not chosen by name:
    /// only `--soak` runs it; no pgbench counterpart.
    Mixed,
    /// The cleanup's drain of deleted objects against the store's raw bulk
    /// delete, on moto and a directory (`crate::cleanup`); a run of its
    /// own, not by default (it needs moto); no pgbench counterpart.
    Cleanup,
    /// `DeleteAssets` of a big asset against small ones, the purge's
    /// tombstone rate and the server's memory meanwhile, and the cleanup's
    /// drain after it (`crate::asset_purge`); a run of its own, not by
    /// default; no pgbench counterpart.
    AssetPurge,
    /// `vodsnap reconcile --all` on the file store against PostgreSQL, a
    /// million objects, its rate and peak memory (`crate::reconcile`); a
    /// run of its own, not by default; no pgbench counterpart.
    Reconcile,
}

/// What a delete workload consumes: each request does the full work once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Task results `d{n}` (ten per request).
    Tasks,
    /// Assets `x{n}` of ten task results `x{n}_{k}` (one per request).
    Assets,
}

impl Workload {
    /// The workloads a run measures unless told otherwise, in report order.
    pub const DEFAULT: [Self; 6] = [
        Self::List,
        Self::ListDeep,
        Self::Details,
        Self::Register,
        Self::DeleteTasks,
        Self::DeleteAsset,
    ];

    const EVERY: [Self; 10] = [
        Self::List,
        Self::ListDeep,
        Self::Details,
        Self::Register,
        Self::DeleteTasks,
        Self::DeleteAsset,
        Self::Healthz,
        Self::Cleanup,
        Self::AssetPurge,
        Self::Reconcile,
    ];

    /// The workload named `name` on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|w| w.name() == name.trim())
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::ListDeep => "list-deep",
            Self::Details => "details",
            Self::Register => "register",
            Self::DeleteTasks => "delete-tasks",
            Self::DeleteAsset => "delete-asset",
            Self::Healthz => "healthz",
            Self::Mixed => "mixed",
            Self::Cleanup => "cleanup",
            Self::AssetPurge => "asset-purge",
            Self::Reconcile => "reconcile",
        }
    }

    /// The name in the report.
    pub fn title(self) -> &'static str {
        match self {
            Self::List => "list by asset",
            Self::ListDeep => "list, deep offset",
            Self::Details => "details",
            Self::Register => "registration",
            Self::DeleteTasks => "delete by 10 task ids",
            Self::DeleteAsset => "asset-only delete",
            Self::Healthz => "healthz (HTTP only)",
            Self::Mixed => "mixed reads, registrations and deletes",
            Self::Cleanup => "cleanup drain",
            Self::AssetPurge => "asset purge (DeleteAssets)",
            Self::Reconcile => "reconcile, storage against database",
        }
    }

    /// The pgbench script running the same statements (`pgbench/`), with
    /// its text.
    pub fn script(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::List => ("list.sql", include_str!("../pgbench/list.sql")),
            Self::ListDeep => ("list_deep.sql", include_str!("../pgbench/list_deep.sql")),
            Self::Details => ("details.sql", include_str!("../pgbench/details.sql")),
            Self::Register => ("register.sql", include_str!("../pgbench/register.sql")),
            Self::DeleteTasks => (
                "delete_tasks.sql",
                include_str!("../pgbench/delete_tasks.sql"),
            ),
            Self::DeleteAsset => (
                "delete_asset.sql",
                include_str!("../pgbench/delete_asset.sql"),
            ),
            Self::Healthz | Self::Mixed | Self::Cleanup | Self::AssetPurge | Self::Reconcile => {
                return None;
            }
        })
    }

    /// Whether the floor server answers it (the reads).
    pub fn has_floor(self) -> bool {
        matches!(self, Self::List | Self::Details)
    }

    /// The pool a delete workload consumes.
    pub fn pool(self) -> Option<Pool> {
        match self {
            Self::DeleteTasks => Some(Pool::Tasks),
            Self::DeleteAsset => Some(Pool::Assets),
            Self::List
            | Self::ListDeep
            | Self::Details
            | Self::Register
            | Self::Healthz
            | Self::Mixed
            | Self::Cleanup
            | Self::AssetPurge
            | Self::Reconcile => None,
        }
    }
}

/// The offset of the deep list: ten items before the API's maximum, or
/// the last ten of a data set that is smaller.
pub fn deep_offset(tasks: u64) -> u64 {
    let max = u64::try_from(vodsnap_domain::ListPage::MAX_OFFSET).unwrap_or(0);
    max.saturating_sub(10).min(tasks.saturating_sub(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deep_offset_stays_inside_the_api_and_the_data() {
        assert_eq!(deep_offset(1_000_000), 19_990);
        assert_eq!(deep_offset(5_000), 4_990);
        assert_eq!(deep_offset(3), 0);
    }

    #[test]
    fn every_workload_is_found_by_its_name() {
        for w in Workload::EVERY {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_eq!(Workload::from_name("nope"), None);
    }

    #[test]
    fn every_default_workload_has_a_pgbench_script() {
        for w in Workload::DEFAULT {
            let (file, text) = w.script().unwrap_or_default();
            assert!(file.ends_with(".sql") && text.contains(":project"), "{w:?}");
        }
    }
}
