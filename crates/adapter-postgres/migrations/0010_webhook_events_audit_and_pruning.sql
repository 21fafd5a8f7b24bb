-- Issue 13, the rest of the events: webhook subscriptions and removals are
-- audited, and finished events are pruned from the outbox.

-- `webhook.create` and `webhook.delete` records, in the transaction of the
-- change. `webhook` holds {"id", "url" (without query and fragment),
-- "events"} of a subscription, {"id"} of a removal; never its secret. NULL
-- on the task results' records.
ALTER TABLE audit_log ADD COLUMN webhook jsonb NULL;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'delete', 'restore', 'purge',
                      'webhook.create', 'webhook.delete'));

-- Pruning (`serve --webhook-event-retention`) reads a project's oldest
-- events first, then each one's deliveries; both lead with project_id.
CREATE INDEX webhook_events_by_time ON webhook_events (project_id, occurred_at, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (project_id, event_id);
