-- The cleanup's reference check looks only at the item's own project
-- (one tenant must not keep another's deleted images alive), so its index
-- leads with project_id, like every other index: with Citus the check
-- routes to one shard.
CREATE INDEX snapshots_by_project_object_key ON snapshots (project_id, object_key);
DROP INDEX snapshots_by_object_key;
