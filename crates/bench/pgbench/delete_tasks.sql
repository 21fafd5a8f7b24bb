-- DELETE /v1/{p}/asset/thumbnails?task_id=..x10: LOCK_SELECTED, then TOMBSTONE
-- (tombstones, snapshot rows moved to cleanup_items, the project's live count,
-- the audit record and the asset's live count, in one statement), in one transaction.
-- Client c deletes the ids d{lo + (c*stride + seq)*10 ..+9}, each once.
\set first :lo + (:client_id * :stride + :seq) * 10
\set seq :seq + 1
\set f0 :first + 0
\set f1 :first + 1
\set f2 :first + 2
\set f3 :first + 3
\set f4 :first + 4
\set f5 :first + 5
\set f6 :first + 6
\set f7 :first + 7
\set f8 :first + 8
\set f9 :first + 9
BEGIN;
SELECT task_id, asset_id, deleted_at IS NOT NULL AS deleted FROM task_results WHERE project_id = :project AND task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) ORDER BY task_id FOR UPDATE;
WITH marked AS ( UPDATE task_results SET deleted_at = now() WHERE project_id = :project AND task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) AND deleted_at IS NULL RETURNING 1), gone AS ( DELETE FROM snapshots WHERE project_id = :project AND task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) RETURNING project_id, object_key), queued AS ( INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at) SELECT project_id, object_key, now(), now() FROM gone RETURNING 1), counted AS ( INSERT INTO live_task_counts (project_id, slot, live) SELECT :project, hashtext('d' || :f0) & 15, -count(*) FROM marked HAVING count(*) > 0 ON CONFLICT (project_id, slot) DO UPDATE SET live = live_task_counts.live + EXCLUDED.live), audited AS ( INSERT INTO audit_log (project_id, at, principal, request_id, client, action, asset_id, requested, touched, outcomes) VALUES (:project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'delete', NULL, ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], (SELECT jsonb_agg(jsonb_build_object('task_id', t, 'status', 'DELETED')) FROM unnest(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) t))) SELECT (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM queued) AS queued, (SELECT count(*) FROM task_results WHERE project_id = :project AND asset_id = NULL AND deleted_at IS NULL) AS live_before;
COMMIT;
