//! The behavioural suite of the store ports, run by every adapter.
//!
//! An adapter's tests call [`task_result_store_tests!`] and
//! [`credential_store_tests!`] with a factory that gives each test a fresh,
//! empty store; one `#[tokio::test]` per case is generated, so the memory
//! and PostgreSQL adapters answer to exactly the same cases and cannot drift
//! apart. The calling crate needs `tokio` (with `macros`, `rt-multi-thread`)
//! as a dev-dependency.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test suite: a failed expectation is a failed test"
)]

pub mod cases;
pub mod cleanup_cases;
pub mod credential_cases;
pub mod fixtures;
pub mod purge_cases;
pub mod reconcile_cases;
pub mod recycle_cases;
pub mod use_cases;
pub mod webhook_cases;

/// One test per case of [`cases`]. `$make` is a closure returning a future
/// of `Arc<SuiteStore>` (see [`use_cases`]), a fresh, empty store for
/// each call.
#[macro_export]
macro_rules! task_result_store_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            cases;
            register_creates_and_same_body_is_idempotent,
            register_different_body_conflicts,
            register_deleted_id_conflicts,
            list_is_oldest_first_with_total_and_filters,
            list_pages,
            projects_are_isolated,
            details_are_ordered_by_offset_and_paged,
            details_of_unknown_or_deleted_task_is_not_found,
            delete_by_tasks_answers_in_request_order,
            delete_is_idempotent,
            delete_with_asset_keeps_tasks_of_other_assets,
            delete_by_asset_takes_oldest_ten_with_remaining,
            delete_by_asset_without_tasks_is_empty,
            deleted_tasks_leave_every_read,
            concurrent_deletes_of_the_same_tasks_all_answer_deleted,
            concurrent_asset_deletes_never_skip_or_repeat_a_task,
            concurrent_identical_registrations_create_once,
            the_project_total_follows_every_change,
            registration_racing_a_delete_ends_consistent,
            a_dry_run_by_tasks_changes_nothing_and_answers_what_the_delete_then_does,
            a_dry_run_of_an_asset_changes_nothing_and_answers_what_the_delete_then_does
        );
    };
}

/// One test per case of [`credential_cases`].
#[macro_export]
macro_rules! credential_store_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            credential_cases;
            unknown_access_key_is_none,
            seeding_creates_then_replaces,
            a_revoked_credential_stays_revoked_through_seeding,
            created_credentials_sign_with_the_secret_shown_once,
            revocation_stops_find_and_is_reported_once,
            the_list_is_oldest_first_and_holds_no_secret,
            writes_refuse_a_changed_access_key
        );
    };
}

/// One test per case of [`cleanup_cases`]. `$make` returns a future of
/// [`cleanup_cases::Stores`]: both ports of one fresh, empty adapter.
#[macro_export]
macro_rules! cleanup_queue_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            cleanup_cases;
            a_delete_enqueues_each_object_once,
            a_live_task_enqueues_nothing,
            a_lease_excludes_other_workers_until_it_expires,
            complete_removes_the_item,
            failures_retry_later_then_park,
            a_given_back_item_is_claimed_again_with_no_attempt_spent,
            retry_parked_takes_only_the_named_items,
            another_workers_item_cannot_be_failed_or_completed,
            a_key_of_a_live_task_is_referenced,
            one_look_finds_the_referenced_keys_of_a_batch,
            a_batch_over_projects_completes_and_fails_in_one_call_each,
            the_drain_counts_the_items_completed_in_the_last_minute,
            the_oldest_enqueued_item_is_reported,
            concurrent_claims_never_share_an_item,
            a_busy_project_does_not_starve_the_others,
            a_project_due_after_a_claim_is_claimed_when_the_others_run_dry,
            concurrent_claims_over_many_projects_never_share_an_item,
            registrations_and_deletes_are_audited,
            the_audit_trail_filters_by_time_and_task,
            a_dry_run_enqueues_and_audits_nothing
        );
    };
}

/// One test per case of [`recycle_cases`]. `$make` returns a future of
/// [`cleanup_cases::Stores`], as for [`cleanup_queue_tests!`].
#[macro_export]
macro_rules! recycle_bin_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            recycle_cases;
            a_restore_in_the_window_brings_the_task_back_as_it_was,
            a_restore_is_idempotent_and_audited,
            the_window_expires_on_the_clock,
            without_retention_nothing_is_restorable,
            a_purge_closes_the_window_now,
            the_deleted_list_is_oldest_deletion_first_and_pages,
            a_restore_after_the_cleanup_took_an_object_fails,
            a_restore_racing_the_cleanup_never_revives_a_task_without_its_images
        );
    };
}

/// One test per case of [`webhook_cases`]. `$make` returns a future of
/// [`webhook_cases::WebhookStores`]: the ports of one fresh, empty adapter.
#[macro_export]
macro_rules! webhook_store_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            webhook_cases;
            changes_queue_one_delivery_per_subscribed_webhook,
            a_change_that_changes_nothing_queues_nothing,
            a_lease_excludes_other_workers_until_it_expires,
            concurrent_claims_never_share_a_delivery,
            a_delivery_is_sent_once_and_listed_delivered,
            failures_retry_later_then_park_and_redeliver_resets,
            webhooks_are_per_project_and_removal_drops_undelivered,
            a_restore_that_brought_tasks_back_sends_one_restored_event,
            the_cleanup_sends_purged_once_a_deleted_tasks_objects_are_gone,
            a_parked_object_holds_back_the_purged_event_until_its_retry_succeeds,
            concurrent_workers_purge_each_task_exactly_once,
            finished_events_are_pruned_after_the_retention_and_pending_ones_never,
            a_redelivered_event_is_not_pruned,
            delivery_workers_prune_on_their_clock_at_most_every_prune_interval,
            webhook_changes_are_audited_without_the_secret
        );
    };
}

#[macro_export]
macro_rules! asset_purge_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            purge_cases;
            delete_assets_hides_the_tasks_at_once_and_the_purge_tombstones_them,
            a_repeated_call_keeps_the_running_purge_and_a_dry_run_changes_nothing,
            deleting_an_asset_again_revives_its_parked_purge,
            a_purge_runs_in_batches_and_another_worker_resumes_it_after_the_lease,
            each_purge_ends_with_one_asset_purged_event,
            a_restore_right_after_the_last_batch_finds_the_purge_closed,
            an_image_of_a_live_task_of_another_asset_stays_referenced,
            with_retention_purged_tasks_go_to_the_recycle_bin,
            a_purge_racing_registrations_deletes_and_restores_loses_and_leaks_no_image,
            the_asset_total_stays_exact_through_every_change,
            concurrent_writes_of_one_asset_keep_its_total_exact
        );
    };
}

/// One test per case of [`reconcile_cases`]. `$make` returns a future of
/// [`reconcile_cases::ReconcileStores`]: the ports of one fresh, empty
/// adapter.
#[macro_export]
macro_rules! reconcile_store_tests {
    ($make:expr) => {
        $crate::__suite_tests!(
            $make,
            reconcile_cases;
            held_keys_are_live_binned_and_queued_keys_in_byte_order,
            pages_list_every_key_once_in_order,
            a_live_key_queued_is_held_once_and_stays_referenced,
            orphans_are_queued_once_due_now_and_audited,
            projects_are_those_with_task_results_or_queued_items
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    ($make:expr, $module:ident; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let make = $make;
                let store = make().await;
                $crate::$module::$case(store).await;
            }
        )+
    };
}
