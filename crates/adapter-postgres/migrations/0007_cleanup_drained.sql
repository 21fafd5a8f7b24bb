-- The cleanup's drain rate (`vodsnap cleanup status`, the metrics): each
-- completion writes one row per batch and project with the number of items
-- it completed, in the same statement that deletes them from the queue;
-- the same statement drops the project's rows older than the rate window,
-- so the table holds about a minute of batches. Keyed by project like every
-- table (with Citus: colocated with task_results).
CREATE TABLE cleanup_drained (
    project_id text COLLATE "C" NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL,
    items      integer NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX cleanup_drained_at ON cleanup_drained (project_id, at);
