-- DELETE /v1/{p}/asset/thumbnails?task_id=..x10: LOCK_SELECTED, then TOMBSTONE
-- (one call of vodsnap_tombstone, migration 0013: tombstones with their
-- purge_at, snapshot rows moved to cleanup_items with their task and offset,
-- the project's live count, the audit record, the `thumbnails.deleted` event
-- through vodsnap_outbox, and the asset's live tasks left), in one
-- transaction. The server runs with
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
SELECT marked, queued, live_left FROM vodsnap_tombstone(:project, ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], now(), NULL, :project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'delete', NULL, ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9], (SELECT jsonb_agg(jsonb_build_object('task_id', t, 'status', 'DELETED')) FROM unnest(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9]) t), now(), ARRAY['evt_' || md5(:run::text || '_' || :client_id || '_' || :seq)]::text[], ARRAY['thumbnails.deleted']::text[], ARRAY[now()]::timestamptz[], ARRAY['{"asset_id":' || 'null' || ',"tasks":' || array_to_json(ARRAY['d' || :f0, 'd' || :f1, 'd' || :f2, 'd' || :f3, 'd' || :f4, 'd' || :f5, 'd' || :f6, 'd' || :f7, 'd' || :f8, 'd' || :f9])::text || '}']::text[]);
COMMIT;
