-- The writes that change several tables of one project at once, as
-- PL/pgSQL functions of plain single-table statements (issue 23).
--
-- Each was one statement of data-modifying CTEs. PostgreSQL runs that in
-- one round trip, but Citus runs every modifying CTE as a step of its own
-- whose rows pass through the coordinator (REGISTER took 8 such steps,
-- TOMBSTONE 13): registrations on a 3-node cluster reached 0.05x of plain
-- PostgreSQL. A function distributed by its first argument, the project
-- (`vodsnap migrate --citus`: create_distributed_function, colocated with
-- task_results, force_delegation), is sent whole to the node that holds
-- that project's shards, and each statement in it is a single-shard
-- statement run there, locally. On plain PostgreSQL a call is still one
-- round trip, and its statements' plans are cached per connection.
--
-- Every statement names the project (`project_id = p_project`): the
-- function runs only where that project's shards are. No statement
-- inserts from a SELECT of a distributed table: inside a transaction block
-- (a delete locks its rows first) Citus refuses that in a delegated
-- function ("cannot execute a distributed query from a query on a
-- shard"); rows move through arrays instead (SELECT ... INTO, then
-- INSERT ... SELECT FROM UNNEST). And every filter but the project's is
-- written `column = ANY(ARRAY[value])`, never `column = value`: Citus 13.2
-- refused a delegated function's query whose other equality compares a
-- text column with the project's own value (project "a", asset "a":
-- "queries must filter by the distribution argument ... forced function
-- pushdown"); the array form is planned the same (an index condition). The callers and
-- what each argument means are in crates/adapter-postgres/src (REGISTER,
-- TOMBSTONE, RESTORE, PURGE, COMPLETE, PURGED_OUTBOX, PURGE_RECORD, PURGE_CLOSE, WEBHOOK_CREATE,
-- WEBHOOK_REMOVE). A change to a function is a new migration with
-- CREATE OR REPLACE FUNCTION.

-- The outbox: the events of a change that some webhook of the project
-- asked for (by type), with one delivery per event and per such webhook.
-- An event no webhook asked for is not kept.
CREATE FUNCTION vodsnap_outbox(
    p_project text, e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_hooks text[];
    v_events text[];
    v_ats timestamptz[];
BEGIN
    IF cardinality(e_ids) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(w.id), array_agg(e.id), array_agg(e.occurred_at)
    INTO v_hooks, v_events, v_ats
    FROM webhooks w
    JOIN UNNEST(e_ids, e_types, e_ats) AS e(id, type, occurred_at) ON e.type = ANY(w.events)
    WHERE w.project_id = p_project;
    IF v_hooks IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO webhook_events (project_id, id, type, occurred_at, data)
    SELECT p_project, e.id, e.type, e.occurred_at, e.data::jsonb
    FROM UNNEST(e_ids, e_types, e_ats, e_data) AS e(id, type, occurred_at, data)
    WHERE e.id = ANY(v_events);
    INSERT INTO webhook_deliveries (project_id, webhook_id, event_id, due_at, updated_at)
    SELECT p_project, d.hook, d.event, d.at, d.at
    FROM UNNEST(v_hooks, v_events, v_ats) AS d(hook, event, at);
END
$fn$;

-- A project's live count moves by `change` in the slot of `slot_task`
-- (hashtext(task_id) & 15: concurrent writers spread over 16 rows).
CREATE FUNCTION vodsnap_count_live(p_project text, slot_task text, change bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    IF change = 0 THEN
        RETURN;
    END IF;
    INSERT INTO live_task_counts (project_id, slot, live)
    VALUES (p_project, hashtext(slot_task) & 15, change)
    ON CONFLICT (project_id, slot) DO UPDATE SET live = live_task_counts.live + EXCLUDED.live;
END
$fn$;

-- Assets' live counts (`live_asset_counts`, migration 0016: resolved
-- when called, so this file may name it) move by `sign` times the entries
-- of `p_assets` that name them (one entry per task: the caller's
-- RETURNING asset_id, no table read). Grouped first (an INSERT ... ON
-- CONFLICT may not touch a row twice), and written in asset order so that
-- two writers of the same assets queue rather than deadlock. One row per
-- asset, not slotted as live_task_counts is: see docs/SCHEMA.md.
CREATE FUNCTION vodsnap_count_assets(p_project text, p_assets text[], sign bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO live_asset_counts (project_id, asset_id, live)
    SELECT p_project, u.asset_id, count(*) * sign
    FROM UNNEST(p_assets) AS u(asset_id)
    GROUP BY u.asset_id
    ORDER BY u.asset_id
    ON CONFLICT (project_id, asset_id)
    DO UPDATE SET live = live_asset_counts.live + EXCLUDED.live;
END
$fn$;

-- An asset's live tasks, from its count (0 while it is being purged: its
-- tasks read as deleted; 0 for `p_asset` NULL).
CREATE FUNCTION vodsnap_asset_live(p_project text, p_asset text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_live bigint;
BEGIN
    IF p_asset IS NULL OR EXISTS (
        SELECT 1 FROM asset_purges p
        WHERE p.project_id = p_project AND p.asset_id = ANY(ARRAY[p_asset]) AND p.finished_at IS NULL
    ) THEN
        RETURN 0;
    END IF;
    SELECT c.live INTO v_live FROM live_asset_counts c
    WHERE c.project_id = p_project AND c.asset_id = ANY(ARRAY[p_asset]);
    RETURN COALESCE(v_live, 0);
END
$fn$;

-- An audit record (`a_webhook`: a webhook call's webhook as the audit
-- keeps it, never its secret; NULL for the others).
CREATE FUNCTION vodsnap_audit(
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    a_webhook jsonb
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO audit_log (project_id, at, principal, request_id, client, action,
                           asset_id, requested, touched, outcomes, webhook)
    VALUES (a_project, a_at, a_principal, a_request, a_client, a_action,
            a_asset, a_requested, a_touched, a_outcomes, a_webhook);
END
$fn$;

-- A registration: the task result unless its id is taken (live or
-- deleted) or its asset is being purged; then its snapshots, the live
-- count, the audit record and the events. ON CONFLICT DO NOTHING waits
-- for a concurrent insert of the same id to commit or roll back, so of
-- many concurrent registrations exactly one inserts. Answers whether it
-- inserted.
CREATE FUNCTION vodsnap_register(
    p_project text, p_task text, p_asset text, p_para jsonb, p_count integer,
    p_at timestamptz, p_offsets integer[], p_keys text[],
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    IF EXISTS (
        SELECT 1 FROM asset_purges p
        WHERE p.project_id = p_project AND p.asset_id = ANY(ARRAY[p_asset]) AND p.finished_at IS NULL
    ) THEN
        RETURN false;
    END IF;
    INSERT INTO task_results
        (project_id, task_id, asset_id, thumbnail_para, snapshot_count, created_at)
    VALUES (p_project, p_task, p_asset, p_para, p_count, p_at)
    ON CONFLICT (project_id, task_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO snapshots (project_id, task_id, offset_s, object_key)
    SELECT p_project, p_task, u.offset_s, u.object_key
    FROM UNNEST(p_offsets, p_keys) AS u(offset_s, object_key);
    PERFORM vodsnap_count_live(p_project, p_task, 1);
    PERFORM vodsnap_count_assets(p_project, ARRAY[p_asset], 1);
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, NULL);
    PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    RETURN true;
END
$fn$;

-- The rest of a delete, once the doomed tasks are known and locked by the
-- caller's transaction: their tombstones with their purge time, their
-- snapshot rows moved to the cleanup queue (due at the purge time, with
-- their task and offset for a restore), the live count, the audit record,
-- the events; and the asset's live tasks left (`p_asset` NULL: 0), from
-- its count. The tombstones' assets are counted down, each by its tasks
-- (a delete by task ids may span several assets).
CREATE FUNCTION vodsnap_tombstone(
    p_project text, p_tasks text[], p_at timestamptz, p_asset text,
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    p_purge_at timestamptz,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS TABLE (marked bigint, queued bigint, live_left bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_marked bigint;
    v_queued bigint;
    v_tasks text[];
    v_offsets integer[];
    v_keys text[];
    v_assets text[];
BEGIN
    WITH marked AS (
        UPDATE task_results SET deleted_at = p_at, purge_at = p_purge_at
        WHERE project_id = p_project AND task_id = ANY(p_tasks) AND deleted_at IS NULL
        RETURNING asset_id)
    SELECT array_agg(asset_id) INTO v_assets FROM marked;
    v_marked := COALESCE(cardinality(v_assets), 0);
    WITH gone AS (
        DELETE FROM snapshots WHERE project_id = p_project AND task_id = ANY(p_tasks)
        RETURNING task_id, offset_s, object_key)
    SELECT array_agg(task_id), array_agg(offset_s), array_agg(object_key)
    INTO v_tasks, v_offsets, v_keys FROM gone;
    INSERT INTO cleanup_items (project_id, task_id, offset_s, object_key, enqueued_at, due_at)
    SELECT p_project, u.task_id, u.offset_s, u.object_key, p_at, p_purge_at
    FROM UNNEST(v_tasks, v_offsets, v_keys) AS u(task_id, offset_s, object_key);
    GET DIAGNOSTICS v_queued = ROW_COUNT;
    PERFORM vodsnap_count_live(p_project, p_tasks[1], -v_marked);
    PERFORM vodsnap_count_assets(p_project, v_assets, -1);
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, NULL);
    PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    RETURN QUERY SELECT v_marked, v_queued, vodsnap_asset_live(p_project, p_asset);
END
$fn$;

-- A restore of tombstones the caller's transaction has locked, intact:
-- live again, their queued items taken back into `snapshots`, the live
-- count and its assets' counts, the audit record, the events. Answers how
-- many tasks and snapshots came back.
CREATE FUNCTION vodsnap_restore(
    p_project text, p_tasks text[],
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS TABLE (changed bigint, items bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_changed bigint;
    v_items bigint;
    v_tasks text[];
    v_offsets integer[];
    v_keys text[];
    v_assets text[];
BEGIN
    WITH revived AS (
        UPDATE task_results SET deleted_at = NULL, purge_at = NULL
        WHERE project_id = p_project AND task_id = ANY(p_tasks) AND deleted_at IS NOT NULL
        RETURNING asset_id)
    SELECT array_agg(asset_id) INTO v_assets FROM revived;
    v_changed := COALESCE(cardinality(v_assets), 0);
    WITH taken AS (
        DELETE FROM cleanup_items WHERE project_id = p_project AND task_id = ANY(p_tasks)
        RETURNING task_id, offset_s, object_key)
    SELECT array_agg(task_id), array_agg(offset_s), array_agg(object_key)
    INTO v_tasks, v_offsets, v_keys FROM taken;
    INSERT INTO snapshots (project_id, task_id, offset_s, object_key)
    SELECT p_project, u.task_id, u.offset_s, u.object_key
    FROM UNNEST(v_tasks, v_offsets, v_keys) AS u(task_id, offset_s, object_key);
    GET DIAGNOSTICS v_items = ROW_COUNT;
    PERFORM vodsnap_count_live(p_project, p_tasks[1], v_changed);
    PERFORM vodsnap_count_assets(p_project, v_assets, 1);
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, NULL);
    PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    RETURN QUERY SELECT v_changed, v_items;
END
$fn$;

-- An early purge of tombstones the caller's transaction has locked: their
-- window closes at `p_at`, their items not parked are due then (none
-- later), the audit record, the events.
CREATE FUNCTION vodsnap_purge(
    p_project text, p_tasks text[], p_at timestamptz,
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS TABLE (changed bigint, items bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_changed bigint;
    v_items bigint;
BEGIN
    UPDATE task_results SET purge_at = p_at
    WHERE project_id = p_project AND task_id = ANY(p_tasks) AND deleted_at IS NOT NULL;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    UPDATE cleanup_items SET due_at = p_at
    WHERE project_id = p_project AND task_id = ANY(p_tasks)
      AND parked_at IS NULL AND due_at > p_at;
    GET DIAGNOSTICS v_items = ROW_COUNT;
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, NULL);
    PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    RETURN QUERY SELECT v_changed, v_items;
END
$fn$;

-- The completion of a batch's items of one project, the caller's
-- transaction having locked their deleted tasks: removes the items
-- `p_worker` still holds, counts them as drained at `p_at` (one row,
-- none when nothing was completed), drops the project's drained rows
-- older than `p_window_start`, and answers how many it completed and the
-- deleted tasks it finished (no item of theirs left, parked included).
CREATE FUNCTION vodsnap_complete(
    p_project text, p_ids bigint[], p_worker text, p_at timestamptz,
    p_window_start timestamptz
) RETURNS TABLE (completed bigint, tasks text[], assets text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    v_completed bigint := 0;
    v_tasks text[] := '{}';
    v_task text;
BEGIN
    FOR v_task IN
        DELETE FROM cleanup_items
        WHERE project_id = p_project AND id = ANY(p_ids) AND lease_owner = ANY(ARRAY[p_worker])
        RETURNING task_id
    LOOP
        v_completed := v_completed + 1;
        IF v_task IS NOT NULL THEN
            v_tasks := v_tasks || v_task;
        END IF;
    END LOOP;
    DELETE FROM cleanup_drained WHERE project_id = p_project AND at < p_window_start;
    IF v_completed > 0 THEN
        INSERT INTO cleanup_drained (project_id, at, items)
        VALUES (p_project, p_at, v_completed::integer);
    END IF;
    RETURN QUERY
    SELECT v_completed,
           COALESCE(array_agg(t.task_id ORDER BY t.task_id), '{}'),
           COALESCE(array_agg(t.asset_id ORDER BY t.task_id), '{}')
    FROM task_results t
    WHERE t.project_id = p_project AND t.deleted_at IS NOT NULL
      AND t.task_id = ANY(v_tasks)
      AND NOT EXISTS (
          SELECT 1 FROM cleanup_items c
          WHERE c.project_id = p_project AND c.task_id = t.task_id);
END
$fn$;

-- A webhook's subscription with its audit record (`a_webhook`: the
-- webhook as the audit keeps it, never its secret).
CREATE FUNCTION vodsnap_webhook_create(
    p_project text, p_id text, p_url text, p_events text[], p_secret bytea, p_nonce bytea,
    p_key_id text, p_at timestamptz,
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    a_webhook jsonb
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO webhooks (project_id, id, url, events, secret_ciphertext, nonce, key_id, created_at)
    VALUES (p_project, p_id, p_url, p_events, p_secret, p_nonce, p_key_id, p_at);
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, a_webhook);
END
$fn$;

-- A webhook's removal, with its undelivered deliveries and the audit
-- record, if it existed; answers whether it did.
CREATE FUNCTION vodsnap_webhook_remove(
    p_project text, p_id text,
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    a_webhook jsonb
) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM webhooks WHERE project_id = p_project AND id = ANY(ARRAY[p_id]);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM webhook_deliveries
    WHERE project_id = p_project AND webhook_id = ANY(ARRAY[p_id]) AND delivered_at IS NULL;
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, a_webhook);
    RETURN true;
END
$fn$;

-- DeleteAssets' record: a purge of each asset (in the order given) that
-- has none unfinished, with its live tasks (read from its count, so the
-- call costs the same for an asset of any size); an unfinished purge
-- that was parked is due again, its attempts reset. A concurrent call
-- recording the same asset waits on the unique index, then records
-- nothing. Then the call's audit records (`p_audit`: a JSON array of
-- records, one `asset.delete` per asset, with the caller). At most 10
-- assets a call: one count row read and one insert each.
CREATE FUNCTION vodsnap_record_purges(
    p_project text, p_assets text[], p_at timestamptz, p_audit jsonb
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_asset text;
    v_live bigint;
BEGIN
    FOREACH v_asset IN ARRAY p_assets LOOP
        SELECT c.live INTO v_live FROM live_asset_counts c
        WHERE c.project_id = p_project AND c.asset_id = ANY(ARRAY[v_asset]);
        INSERT INTO asset_purges (project_id, asset_id, tasks_total, started_at, due_at)
        VALUES (p_project, v_asset, COALESCE(v_live, 0), p_at, p_at)
        ON CONFLICT (project_id, asset_id) WHERE finished_at IS NULL
        DO UPDATE SET parked_at = NULL, attempts = 0, due_at = p_at
        WHERE asset_purges.parked_at IS NOT NULL;
    END LOOP;
    INSERT INTO audit_log (project_id, at, principal, request_id, client, action,
                           asset_id, requested, touched, outcomes)
    SELECT p_project, r.at, r.principal, r.request_id, r.client, r.action, r.asset_id,
           ARRAY(SELECT jsonb_array_elements_text(r.requested)),
           ARRAY(SELECT jsonb_array_elements_text(r.touched)), r.outcomes
    FROM jsonb_to_recordset(p_audit) AS r(at timestamptz, principal text, request_id text,
                                          client text, action text, asset_id text,
                                          requested jsonb, touched jsonb, outcomes jsonb);
END
$fn$;

-- A purge closed by its last batch, in the batch's transaction (which
-- holds it locked), with its `asset.purged` event. Answers how many
-- purges it closed (1, or 0 if it was closed already).
CREATE FUNCTION vodsnap_close_purge(
    p_project text, p_id bigint, p_at timestamptz,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[]
) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_closed bigint;
BEGIN
    UPDATE asset_purges SET finished_at = p_at, attempts = attempts + 1,
        lease_owner = NULL, lease_until = NULL
    WHERE project_id = p_project AND id = ANY(ARRAY[p_id]) AND finished_at IS NULL;
    GET DIAGNOSTICS v_closed = ROW_COUNT;
    IF v_closed > 0 THEN
        PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    END IF;
    RETURN v_closed;
END
$fn$;
