-- The cleanup claims project by project, so that each locking statement
-- names one project (with Citus: one shard). A claim first lists the
-- projects with due items, through cleanup_items_due (due_at, id), which
-- stays; then leases each project's oldest due items through this index,
-- which leads with project_id like every other.
CREATE INDEX cleanup_items_due_by_project
    ON cleanup_items (project_id, due_at, id) WHERE parked_at IS NULL;
