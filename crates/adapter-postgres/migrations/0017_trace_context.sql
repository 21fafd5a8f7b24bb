-- The trace a queued piece of work belongs to (issue 26 part 2: OpenTelemetry
-- traces): the W3C `traceparent` of the delete that queued a cleanup item
-- or wrote a webhook event, stored as given (the store decides nothing
-- about it) and NULL when nothing was traced. The cleanup's job batches
-- link to it, a webhook delivery is its child.
--
-- Nullable columns without a default: adding them rewrites nothing. The
-- primary keys (project_id first) are untouched.
ALTER TABLE cleanup_items ADD COLUMN trace_context text;
ALTER TABLE webhook_events ADD COLUMN trace_context text;

-- vodsnap_tombstone (migration 0013) with the delete's trace as its last
-- argument: its cleanup items carry it, and its events (written by
-- vodsnap_outbox, whose other callers trace nothing) get it after. A new
-- overload, not a replacement: a binary of the previous release still
-- calls the 19-argument one during a rolling upgrade (that one is left as
-- it was, and can be dropped by a later migration). `vodsnap migrate
-- --citus` distributes this one like the others (by its first argument).
CREATE FUNCTION vodsnap_tombstone(
    p_project text, p_tasks text[], p_at timestamptz, p_asset text,
    a_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    p_purge_at timestamptz,
    e_ids text[], e_types text[], e_ats timestamptz[], e_data text[],
    p_trace text
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
    INSERT INTO cleanup_items (project_id, task_id, offset_s, object_key, enqueued_at, due_at,
                               trace_context)
    SELECT p_project, u.task_id, u.offset_s, u.object_key, p_at, p_purge_at, p_trace
    FROM UNNEST(v_tasks, v_offsets, v_keys) AS u(task_id, offset_s, object_key);
    GET DIAGNOSTICS v_queued = ROW_COUNT;
    PERFORM vodsnap_count_live(p_project, p_tasks[1], -v_marked);
    PERFORM vodsnap_count_assets(p_project, v_assets, -1);
    PERFORM vodsnap_audit(a_project, a_at, a_principal, a_request, a_client, a_action,
                          a_asset, a_requested, a_touched, a_outcomes, NULL);
    PERFORM vodsnap_outbox(p_project, e_ids, e_types, e_ats, e_data);
    IF p_trace IS NOT NULL AND cardinality(e_ids) > 0 THEN
        UPDATE webhook_events SET trace_context = p_trace
        WHERE project_id = p_project AND id = ANY(e_ids);
    END IF;
    RETURN QUERY SELECT v_marked, v_queued, vodsnap_asset_live(p_project, p_asset);
END
$fn$;
