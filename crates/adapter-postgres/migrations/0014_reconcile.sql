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
