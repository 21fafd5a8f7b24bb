-- Issue 24, the rest: a DeleteAssets call is audited with its caller, one
-- `asset.delete` record per asset, in the call that records the purges
-- (`vodsnap_record_purges`; the batches stay `delete` records of
-- `system:asset-purge`). The list keeps 0014's `reconcile.queue`.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'delete', 'restore', 'purge',
                      'webhook.create', 'webhook.delete', 'reconcile.queue',
                      'asset.delete'));
