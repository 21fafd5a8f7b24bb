-- DELETE /v1/{p}/asset/thumbnails?asset_id=..: PICK_OLDEST_OF_ASSET, tombstone(),
-- COUNT_LIVE_OF_ASSET, in one transaction. Client c deletes assets x{lo + c*stride + seq}.
\set x :lo + :client_id * :stride + :seq
\set seq :seq + 1
BEGIN;
SELECT coalesce(array_agg(task_id), '{}') AS doomed FROM (SELECT task_id FROM task_results WHERE project_id = :project AND asset_id = 'x' || :x AND deleted_at IS NULL ORDER BY created_at, task_id LIMIT 10 FOR UPDATE SKIP LOCKED) p \gset
UPDATE task_results SET deleted_at = now() WHERE project_id = :project AND task_id = ANY(:doomed::text[]) AND deleted_at IS NULL;
WITH gone AS ( DELETE FROM snapshots WHERE project_id = :project AND task_id = ANY(:doomed::text[]) RETURNING project_id, object_key) INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at) SELECT project_id, object_key, now(), now() FROM gone;
SELECT count(*) FROM task_results WHERE project_id = :project AND asset_id = 'x' || :x AND deleted_at IS NULL;
COMMIT;
