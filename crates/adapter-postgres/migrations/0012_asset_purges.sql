-- Asset purges (Huawei's DeleteAssets): one row per purge of one asset,
-- a job of the work queue's purge kind. While a purge is unfinished, the
-- asset's live task results read as deleted (every read of task_results
-- checks asset_purges_running in the same statement), and a worker
-- tombstones them in batches, adding each batch to the row's progress.
-- Finished rows stay: they answer the progress call.
CREATE TABLE asset_purges (
    project_id     text COLLATE "C" NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    asset_id       text COLLATE "C" NOT NULL,
    -- The asset's live tasks when the purge was recorded (raised if a
    -- restore brought more back while it ran).
    tasks_total    bigint NOT NULL,
    tasks_deleted  bigint NOT NULL DEFAULT 0,
    objects_queued bigint NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NULL,
    -- The work queue's columns (crates/adapter-postgres/src/queue.rs).
    attempts       integer NOT NULL DEFAULT 0,
    due_at         timestamptz NOT NULL,
    lease_owner    text NULL,
    lease_until    timestamptz NULL,
    parked_at      timestamptz NULL,
    last_error     text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, id)
);

-- At most one unfinished purge per asset: a second DeleteAssets of the
-- same asset while it runs records nothing (ON CONFLICT DO NOTHING). Also
-- the index of the reads' "is this asset being purged" check.
CREATE UNIQUE INDEX asset_purges_running
    ON asset_purges (project_id, asset_id) WHERE finished_at IS NULL;

-- The work queue's claim: a project's due purges.
CREATE INDEX asset_purges_due
    ON asset_purges (project_id, due_at, id)
    WHERE finished_at IS NULL AND parked_at IS NULL;

-- The progress call: an asset's latest purge.
CREATE INDEX asset_purges_by_asset ON asset_purges (project_id, asset_id, id);
