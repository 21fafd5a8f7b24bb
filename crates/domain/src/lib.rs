//! vodsnap's domain: the rules of snapshot task results, free of I/O.
//!
//! Every type here is parsed, not validated: a value exists only if it obeys
//! its rule, so code that holds one never checks again. Nothing in this crate
//! knows about HTTP, JSON, databases or an async runtime.
//!
//! The rest of this page is the crate's README (which types another service
//! would use, and an example; the example runs as a doctest).
#![doc = include_str!("../README.md")]

pub mod address_policy;
pub mod asset_purge;
pub mod audit;
pub mod cleanup;
pub mod credential;
pub mod delete_plan;
pub mod delivery;
pub mod event;
pub mod id;
pub mod image;
pub mod outbox_pruning;
pub mod outcome;
pub mod paging;
pub mod queue;
pub mod reconcile;
pub mod recycle;
pub mod schema;
pub mod secret;
pub mod selection;
pub mod store_outage;
pub mod task_result;
pub mod thumbnail;
pub mod time;
pub mod trace_context;
pub mod webhook;
pub mod webhook_url;

pub use address_policy::AddressPolicy;
pub use asset_purge::{
    AssetSelectionError, DeleteAssetsRequest, MAX_ASSETS_PER_CALL, PURGE_BATCH, PurgeProgress,
    PurgeState, purge_has_more,
};
pub use audit::{Actor, AuditAction, AuditOutcome, AuditRecord, AuditStatus, AuditedWebhook};
pub use cleanup::{CleanupDecision, DrainEstimate, MAX_BATCH, ParkReason, RATE_WINDOW};
pub use credential::{CredentialState, SeedDecision};
pub use delete_plan::{DeletePlan, FoundTask, OutageAnswer};
pub use delivery::{DeliveryState, is_delivered};
pub use event::{Event, EventId, EventTask, EventType, EventTypes};
pub use id::{AssetId, IdError, ProjectId, TaskId};
pub use image::ImageFormat;
pub use outbox_pruning::{DEFAULT_EVENT_RETENTION, PRUNE_BATCH, is_prunable, prune_cutoff};
pub use outcome::{DeleteReport, DeleteStatus, ItemError, ItemOutcome};
pub use paging::{DetailsPage, ListPage, PageError};
pub use queue::{
    AfterFailure, ClaimShares, DUE_PROJECTS_TTL, DueProjects, Lease, RetryPolicy, RetryPolicyError,
    fair_claim,
};
pub use reconcile::{
    Finding, HeldKey, ListedObject, Merge, OrphanAction, OutOfOrder, RECONCILE_PAGE,
    ReconcileTally, SAMPLE_LIMIT, Step,
};
pub use recycle::{
    BinAction, BinOutcome, BinPlan, BinSelection, BinSelectionError, BinState, BinStatus,
    BinnedTask, DeletedTask, QueuedObject, QueuedObjects, Retention, RetentionError,
    UnchangeableTask,
};
pub use secret::Secret;
pub use selection::{DeleteRequest, DeleteSelection, MAX_TASKS_PER_CALL, SelectionError};
pub use store_outage::{
    Blame, FIRST_PAUSE, LONGEST_PAUSE, StoreChange, StoreFailure, StoreVerdict, StoreWatch,
};
pub use task_result::{
    Existing, ListFilter, NewTaskResult, ObjectKey, ObjectKeyError, RegistrationDecision,
    RegistrationError, Snapshot, TaskResult, TaskSummary,
};
pub use thumbnail::{ThumbnailKind, ThumbnailPara, ThumbnailParaError, ThumbnailParaInput};
pub use time::Timestamp;
pub use trace_context::TraceContext;
pub use webhook::{WebhookError, WebhookId};
pub use webhook_url::{UrlHost, WebhookUrl};
