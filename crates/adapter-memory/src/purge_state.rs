//! The embedded store's asset purges as state: the purge kind's
//! [`JobQueue`], kept in the shared state ([`crate::state`]).

use vodsnap_domain::AssetId;

use crate::queue::JobQueue;

/// What a purge keeps besides the queue's columns.
#[derive(Debug)]
pub(crate) struct PurgePayload {
    pub asset: AssetId,
    pub tasks_total: u64,
    pub tasks_deleted: u64,
    pub objects_queued: u64,
}

/// Every project's purges.
#[derive(Debug, Default)]
pub(crate) struct PurgeState {
    pub queue: JobQueue<PurgePayload>,
}
