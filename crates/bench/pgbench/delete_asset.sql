-- DELETE /v1/{p}/asset/thumbnails?asset_id=..: PICK_OLDEST_OF_ASSET, then
-- TOMBSTONE (tombstones, snapshot rows moved to cleanup_items, the project's
-- live count, the audit record and the asset's live count, in one statement), in one transaction.
-- Client c deletes assets x{lo + c*stride + seq}.
\set x :lo + :client_id * :stride + :seq
\set seq :seq + 1
BEGIN;
SELECT coalesce(array_agg(task_id), '{}') AS doomed FROM (SELECT task_id FROM task_results WHERE project_id = :project AND asset_id = 'x' || :x AND deleted_at IS NULL ORDER BY created_at, task_id LIMIT 10 FOR UPDATE SKIP LOCKED) p \gset
WITH marked AS ( UPDATE task_results SET deleted_at = now() WHERE project_id = :project AND task_id = ANY(:doomed::text[]) AND deleted_at IS NULL RETURNING 1), gone AS ( DELETE FROM snapshots WHERE project_id = :project AND task_id = ANY(:doomed::text[]) RETURNING project_id, object_key), queued AS ( INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at) SELECT project_id, object_key, now(), now() FROM gone RETURNING 1), counted AS ( INSERT INTO live_task_counts (project_id, slot, live) SELECT :project, hashtext((:doomed::text[])[1]) & 15, -count(*) FROM marked HAVING count(*) > 0 ON CONFLICT (project_id, slot) DO UPDATE SET live = live_task_counts.live + EXCLUDED.live), audited AS ( INSERT INTO audit_log (project_id, at, principal, request_id, client, action, asset_id, requested, touched, outcomes) VALUES (:project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'delete', 'x' || :x, '{}', :doomed::text[], (SELECT jsonb_agg(jsonb_build_object('task_id', t, 'status', 'DELETED')) FROM unnest(:doomed::text[]) t))) SELECT (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM queued) AS queued, (SELECT count(*) FROM task_results WHERE project_id = :project AND asset_id = 'x' || :x AND deleted_at IS NULL) AS live_before;
COMMIT;
