-- DELETE /v1/{p}/asset/thumbnails?task_id=..x10: LOCK_SELECTED, then TOMBSTONE
-- (tombstones with their purge_at, snapshot rows moved to cleanup_items with
-- their task and offset, the project's live count, the audit record, the
-- `thumbnails.deleted` event through the outbox CTEs, and the asset's live
-- tasks left, in one statement), in one transaction. The server runs with
-- the default `--retention 0s`: purge_at and due_at are the delete's time.
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
WITH marked AS ( UPDATE task_results SET deleted_at = now(), purge_at = now() WHERE project_id = :project AND task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) AND deleted_at IS NULL RETURNING 1), gone AS ( DELETE FROM snapshots WHERE project_id = :project AND task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) RETURNING project_id, task_id, offset_s, object_key), queued AS ( INSERT INTO cleanup_items (project_id, task_id, offset_s, object_key, enqueued_at, due_at) SELECT project_id, task_id, offset_s, object_key, now(), now() FROM gone RETURNING 1), counted AS ( INSERT INTO live_task_counts (project_id, slot, live) SELECT :project, hashtext('d' || :f0) & 15, -count(*) FROM marked HAVING count(*) > 0 ON CONFLICT (project_id, slot) DO UPDATE SET live = live_task_counts.live + EXCLUDED.live), audited AS ( INSERT INTO audit_log (project_id, at, principal, request_id, client, action, asset_id, requested, touched, outcomes) VALUES (:project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'delete', NULL, ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], (SELECT jsonb_agg(jsonb_build_object('task_id', t, 'status', 'DELETED')) FROM unnest(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) t))), outbox_events AS ( SELECT e.id, e.type, e.occurred_at, e.data FROM UNNEST(ARRAY['evt_' || md5(:run::text || '_' || :client_id || '_' || :seq)]::text[], ARRAY['thumbnails.deleted']::text[], ARRAY[now()]::timestamptz[], ARRAY['{"asset_id":' || 'null' || ',"tasks":' || array_to_json(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9])::text || '}']::text[]) AS e(id, type, occurred_at, data) ), subscribed AS ( SELECT w.id AS webhook_id, e.id AS event_id, e.occurred_at FROM webhooks w JOIN outbox_events e ON e.type = ANY(w.events) WHERE w.project_id = :project), outboxed AS ( INSERT INTO webhook_events (project_id, id, type, occurred_at, data) SELECT :project, e.id, e.type, e.occurred_at, e.data::jsonb FROM outbox_events e WHERE e.id IN (SELECT s.event_id FROM subscribed s)), delivering AS ( INSERT INTO webhook_deliveries (project_id, webhook_id, event_id, due_at, updated_at) SELECT :project, s.webhook_id, s.event_id, s.occurred_at, s.occurred_at FROM subscribed s) SELECT (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM queued) AS queued, (SELECT count(*) FROM task_results WHERE project_id = :project AND asset_id = NULL AND deleted_at IS NULL AND NOT (task_id = ANY(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]))) AS live_left;
COMMIT;
