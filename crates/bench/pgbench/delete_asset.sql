-- DELETE /v1/{p}/asset/thumbnails?asset_id=..: PICK_OLDEST_OF_ASSET, then
-- TOMBSTONE (one call of vodsnap_tombstone, migration 0013: tombstones with
-- their purge_at, snapshot rows moved to cleanup_items with their task and
-- offset, the project's live count, the audit record, the
-- `thumbnails.deleted` event through vodsnap_outbox, and the asset's live
-- tasks left), in one transaction. The server runs with
-- the default `--retention 0s`: purge_at and due_at are the delete's time.
-- Client c deletes assets x{lo + c*stride + seq}.
\set x :lo + :client_id * :stride + :seq
\set seq :seq + 1
BEGIN;
SELECT coalesce(array_agg(task_id), '{}') AS doomed FROM (SELECT task_id FROM task_results WHERE project_id = :project AND asset_id = 'x' || :x AND deleted_at IS NULL ORDER BY created_at, task_id LIMIT 10 FOR UPDATE SKIP LOCKED) p \gset
SELECT marked, queued, live_left FROM vodsnap_tombstone(:project, :doomed::text[], now(), ('x' || :x), :project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'delete', ('x' || :x), '{}'::text[], :doomed::text[], (SELECT jsonb_agg(jsonb_build_object('task_id', t, 'status', 'DELETED')) FROM unnest(:doomed::text[]) t), now(), ARRAY['evt_' || md5(:run::text || '_' || :client_id || '_' || :seq)]::text[], ARRAY['thumbnails.deleted']::text[], ARRAY[now()]::timestamptz[], ARRAY['{"asset_id":' || to_json('x' || :x)::text || ',"tasks":' || array_to_json(:doomed::text[])::text || '}']::text[]);
COMMIT;
