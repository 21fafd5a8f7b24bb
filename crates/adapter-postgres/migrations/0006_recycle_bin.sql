-- The recycle bin (`serve --retention`): a deleted task result stays
-- restorable until purge_at = deleted_at + retention. Its snapshots wait in
-- the cleanup queue, due at purge_at, tagged with their task and offset, so
-- that a restore can put them back exactly as they were; the cleanup claims
-- only due items, so it cannot take them before.

-- NULL on live rows and on tombstones written before this migration (those
-- are past any window: their objects were queued due at once).
ALTER TABLE task_results ADD COLUMN purge_at timestamptz NULL;

-- The deleted list: a project's restorable tombstones, oldest deletion
-- first. Only tombstones that had a window are indexed (purge_at >
-- deleted_at: with no retention the two are equal).
CREATE INDEX task_results_recycle_bin
    ON task_results (project_id, deleted_at, task_id)
    WHERE purge_at > deleted_at;

-- NULL on items queued before this migration: they belong to no restorable
-- task.
ALTER TABLE cleanup_items ADD COLUMN task_id text COLLATE "C" NULL;
ALTER TABLE cleanup_items ADD COLUMN offset_s integer NULL;

-- A restore or purge finds a task's items; leads with project_id like
-- every other index.
CREATE INDEX cleanup_items_by_task
    ON cleanup_items (project_id, task_id) WHERE task_id IS NOT NULL;

-- Restores and purges are audited like registrations and deletes.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'delete', 'restore', 'purge'));
