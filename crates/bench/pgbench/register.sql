-- POST /v1/{p}/asset/thumbnails: REGISTER, one call of vodsnap_register
-- (migration 0013) in autocommit (no BEGIN/COMMIT): the task result ON
-- CONFLICT DO NOTHING, its snapshots from UNNEST, the project's live count,
-- its audit record and its `thumbnails.registered` event through
-- vodsnap_outbox (written only for a project with a subscription: none
-- here, so the lookup is what is paid), all but the first only if it was
-- inserted. New ids
-- {run}_{client}_{seq} on a random asset a{..}.
\set a random(0, :assets - 1)
\set seq :seq + 1
SELECT vodsnap_register(:project, (:run::text || '_' || :client_id || '_' || :seq), 'a' || :a, :para::jsonb, :images, now(), :offsets::integer[], ARRAY(SELECT :project::text || '/a' || :a || '/' || :run || '_' || :client_id || '_' || :seq || '/' || g || '.jpg' FROM generate_series(0, :images - 1) g), :project, now(), 'ak:' || :ak, 'pgbench-' || :client_id || '-' || :seq, NULL, 'register', 'a' || :a, ARRAY[(:run::text || '_' || :client_id || '_' || :seq)], ARRAY[(:run::text || '_' || :client_id || '_' || :seq)], jsonb_build_array(jsonb_build_object('task_id', (:run::text || '_' || :client_id || '_' || :seq), 'status', 'CREATED')), ARRAY['evt_' || md5(:run::text || '_' || :client_id || '_' || :seq)]::text[], ARRAY['thumbnails.registered']::text[], ARRAY[now()]::timestamptz[], ARRAY['{"asset_id":"a' || :a || '","tasks":[{"task_id":"' || :run::text || '_' || :client_id || '_' || :seq || '","asset_id":"a' || :a || '"}]}']::text[]);
