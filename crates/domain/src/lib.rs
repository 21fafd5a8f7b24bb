//! vodsnap's domain: the rules of snapshot task results, free of I/O.
//!
//! Every type here is parsed, not validated: a value exists only if it obeys
//! its rule, so code that holds one never checks again. Nothing in this crate
//! knows about HTTP, JSON, databases or an async runtime.

pub mod audit;
pub mod cleanup;
pub mod credential;
pub mod delete_plan;
pub mod id;
pub mod image;
pub mod outcome;
pub mod paging;
pub mod queue;
pub mod recycle;
pub mod secret;
pub mod selection;
pub mod task_result;
pub mod thumbnail;
pub mod time;
pub mod webhook;

pub use audit::AuditStatus;
pub use cleanup::{CleanupDecision, DrainEstimate, MAX_BATCH, ParkReason, RATE_WINDOW};
pub use credential::{CredentialState, SeedDecision};
pub use delete_plan::{DeletePlan, FoundTask, OutageAnswer};
pub use id::{AssetId, IdError, ProjectId, TaskId};
pub use image::ImageFormat;
pub use outcome::{DeleteReport, DeleteStatus, ItemError, ItemOutcome};
pub use paging::{DetailsPage, ListPage, PageError};
pub use queue::{
    AfterFailure, ClaimShares, DUE_PROJECTS_TTL, DueProjects, Lease, RetryPolicy, RetryPolicyError,
    fair_claim,
};
pub use recycle::{
    BinOutcome, BinPlan, BinSelection, BinSelectionError, BinState, BinnedTask, DeletedTask,
    Retention, RetentionError,
};
pub use secret::Secret;
pub use selection::{DeleteRequest, DeleteSelection, MAX_TASKS_PER_CALL, SelectionError};
pub use task_result::{
    Existing, ListFilter, NewTaskResult, ObjectKey, ObjectKeyError, RegistrationDecision,
    RegistrationError, Snapshot, TaskResult, TaskSummary,
};
pub use thumbnail::{ThumbnailKind, ThumbnailPara, ThumbnailParaError, ThumbnailParaInput};
pub use time::Timestamp;
pub use webhook::{
    AddressPolicy, DEFAULT_EVENT_RETENTION, DeliveryState, Event, EventId, EventTask, EventType,
    EventTypes, PRUNE_BATCH, UrlHost, WebhookError, WebhookId, WebhookUrl, is_delivered,
    is_prunable, prune_cutoff,
};
