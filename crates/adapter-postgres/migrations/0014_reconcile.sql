-- Issue 25, `vodsnap reconcile`: the database's keys of a project read in
-- ascending byte order, keyset-paginated, the order S3's ListObjectsV2 and
-- the file store's sorted walk list objects in.

-- Object keys compare as bytes, as the other identifier columns do, so that
-- `ORDER BY object_key` is the store's order whatever the database's locale.
-- Equality (the cleanup's reference check) is the same under either
-- collation; the index of the reference check is rebuilt in "C".
ALTER TABLE snapshots ALTER COLUMN object_key TYPE text COLLATE "C";
ALTER TABLE cleanup_items ALTER COLUMN object_key TYPE text COLLATE "C";

-- A project's queued keys in order (the reconciliation's keyset pages).
CREATE INDEX cleanup_items_by_object_key ON cleanup_items (project_id, object_key);

-- Orphans queued for the cleanup by `vodsnap reconcile --remove-orphans`
-- are audited: `objects` holds the keys one record queued (NULL on the
-- other records).
ALTER TABLE audit_log ADD COLUMN objects text[] NULL;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'delete', 'restore', 'purge',
                      'webhook.create', 'webhook.delete', 'reconcile.queue'));

-- `vodsnap reconcile --remove-orphans`: queues each of `p_keys` not
-- already queued in the project, due at `p_at` and tied to no task, and
-- writes the audit record naming them (`objects`); answers how many it
-- queued. A function, as the writes of migration 0013 are (one call, run
-- whole on the project's node under Citus, which refused this as one
-- statement: "correlated subqueries are not supported when the FROM
-- clause contains a set returning function").
CREATE FUNCTION vodsnap_queue_orphans(
    p_project text, a_at timestamptz, a_principal text, a_request text, a_client text,
    a_action text, a_asset text, a_requested text[], a_touched text[], a_outcomes jsonb,
    p_at timestamptz, p_keys text[]
) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_held text[];
    v_queued bigint;
BEGIN
    SELECT array_agg(object_key) INTO v_held FROM cleanup_items
    WHERE project_id = p_project AND object_key = ANY(p_keys);
    INSERT INTO cleanup_items (project_id, object_key, enqueued_at, due_at)
    SELECT DISTINCT p_project, u.k, p_at, p_at
    FROM UNNEST(p_keys) AS u(k)
    WHERE NOT (u.k = ANY(COALESCE(v_held, '{}'::text[])));
    GET DIAGNOSTICS v_queued = ROW_COUNT;
    INSERT INTO audit_log (project_id, at, principal, request_id, client, action,
                           asset_id, requested, touched, outcomes, objects)
    VALUES (p_project, a_at, a_principal, a_request, a_client, a_action,
            a_asset, a_requested, a_touched, a_outcomes, p_keys);
    RETURN v_queued;
END
$fn$;
