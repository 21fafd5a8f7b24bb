-- POST /v1/{p}/asset/thumbnails: REGISTER, one statement in autocommit (no
-- BEGIN/COMMIT): the task result ON CONFLICT DO NOTHING, its snapshots from
-- UNNEST and its audit record, the last two only if it was inserted. New ids
-- {run}_{client}_{seq} on a random asset a{..}.
\set a random(0, :assets - 1)
\set seq :seq + 1
WITH created AS ( INSERT INTO task_results (project_id, task_id, asset_id, thumbnail_para, snapshot_count, created_at) VALUES (:project, :run::text || '_' || :client_id || '_' || :seq, 'a' || :a, :para::jsonb, :images, now()) ON CONFLICT (project_id, task_id) DO NOTHING RETURNING project_id, task_id), images AS ( INSERT INTO snapshots (project_id, task_id, offset_s, object_key) SELECT c.project_id, c.task_id, u.offset_s, u.object_key FROM created c, UNNEST(:offsets::integer[], ARRAY(SELECT :project::text || '/a' || :a || '/' || :run || '_' || :client_id || '_' || :seq || '/' || g || '.jpg' FROM generate_series(0, :images - 1) g)) AS u(offset_s, object_key)), audited AS ( INSERT INTO audit_log (project_id, at, principal, request_id, client, action, asset_id, requested, touched, outcomes) SELECT c.project_id, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'register', 'a' || :a, ARRAY[c.task_id], ARRAY[c.task_id], jsonb_build_array(jsonb_build_object('task_id', c.task_id, 'status', 'CREATED')) FROM created c) SELECT 1 FROM created;
