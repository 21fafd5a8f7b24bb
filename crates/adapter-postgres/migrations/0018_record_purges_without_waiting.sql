-- Issue 24 part 7: a DeleteAssets call for an asset whose purge is running
-- answers without waiting on the purge's batches.
--
-- 0013's `vodsnap_record_purges` inserted each asset's purge with
-- `ON CONFLICT ... DO UPDATE ... WHERE parked_at IS NOT NULL`. PostgreSQL
-- locks the conflicting row before it evaluates that WHERE, so a call for an
-- asset whose purge was running waited for the batch holding the purge's row
-- (`FOR UPDATE` for the whole batch: 1,000 tasks, up to ~150 ms) only to
-- change nothing. Measured in `cargo xtask bench --workloads asset-purge`:
-- the big asset's p99 was 132 to 163 ms against 8 to 9 ms for a small one.
--
-- Now a plain read first: a purge of the asset that is unfinished and not
-- parked (running or due) is left alone, without a lock (an MVCC read never
-- waits on a row lock). Only a new purge, or a parked one to wake, goes
-- through the insert. The answer is the same: registrations of an asset
-- with an unfinished purge are refused (409), so the running purge covers
-- every live task the call could have meant; if that purge closes between
-- the read and the call's end, the asset is empty and a later call records
-- a purge of nothing, as before.
--
-- The signature is unchanged, so the function stays distributed (by
-- `p_project`, colocated with task_results) under Citus: CREATE OR REPLACE
-- of a distributed function is propagated to the workers.
CREATE OR REPLACE FUNCTION vodsnap_record_purges(
    p_project text, p_assets text[], p_at timestamptz, p_audit jsonb
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_asset text;
    v_live bigint;
BEGIN
    FOREACH v_asset IN ARRAY p_assets LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM asset_purges p
            WHERE p.project_id = p_project AND p.asset_id = ANY(ARRAY[v_asset])
              AND p.finished_at IS NULL AND p.parked_at IS NULL);
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
