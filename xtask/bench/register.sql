-- POST /v1/{p}/asset/thumbnails: try_insert(): INSERT task_results ON CONFLICT DO
-- NOTHING, then the snapshots from UNNEST, in one transaction. New ids
-- {run}_{client}_{seq} on a random asset a{..}.
\set a random(0, :assets - 1)
\set seq :seq + 1
BEGIN;
INSERT INTO task_results (project_id, task_id, asset_id, thumbnail_para, snapshot_count, created_at) VALUES (:project, :run::text || '_' || :client_id || '_' || :seq, 'a' || :a, :para::jsonb, :images, now()) ON CONFLICT (project_id, task_id) DO NOTHING;
INSERT INTO snapshots (project_id, task_id, offset_s, object_key) SELECT :project, :run::text || '_' || :client_id || '_' || :seq, u.offset_s, u.object_key FROM UNNEST(:offsets::integer[], ARRAY(SELECT :project::text || '/a' || :a || '/' || :run || '_' || :client_id || '_' || :seq || '/' || g || '.jpg' FROM generate_series(0, :images - 1) g)) AS u(offset_s, object_key);
COMMIT;
