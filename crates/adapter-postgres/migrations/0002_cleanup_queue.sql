-- The cleanup queue: image objects of deleted task results, to be removed
-- from object storage. A delete inserts its rows in the same transaction
-- that writes the tombstones, so an acknowledged DELETED always comes with
-- its cleanup work, through any crash.
CREATE TABLE cleanup_items (
    project_id  text COLLATE "C" NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    object_key  text NOT NULL,
    enqueued_at timestamptz NOT NULL,
    -- When the item may be tried (again): retries back off.
    due_at      timestamptz NOT NULL,
    -- Failed attempts so far.
    attempts    integer NOT NULL DEFAULT 0,
    -- The worker holding the item and until when; a lease that ran out is
    -- free for another worker (a crashed one never blocks an item).
    lease_owner text NULL,
    lease_until timestamptz NULL,
    -- Set when the retries ran out: waits for `vodsnap cleanup retry`.
    parked_at   timestamptz NULL,
    last_error  text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, id)
);

-- Workers claim due items in order; parked ones are out of the way.
CREATE INDEX cleanup_items_due ON cleanup_items (due_at, id) WHERE parked_at IS NULL;

-- Before removing an object, a worker checks that no live task result (of
-- any project: keys are global to the bucket) still references it.
CREATE INDEX snapshots_by_object_key ON snapshots (object_key);
