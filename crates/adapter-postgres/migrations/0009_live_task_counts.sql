-- A project's number of live task results, so that the list of a whole
-- project answers its `total` without counting every live row (at a
-- million task results that count took ~350 ms; see docs/benchmarks.md).
-- A project's count is the sum of its slots. Each statement that changes
-- it adds to one slot (a registration: +1; a delete: minus the tasks it
-- tombstoned), chosen by a hash of a task id, so that concurrent writers
-- of one project seldom wait for the same row. A slot may go negative;
-- only the sum means anything. The statement that changes the live rows
-- changes the count, in the same transaction.
CREATE TABLE live_task_counts (
    project_id text COLLATE "C" NOT NULL,
    slot       smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    live       bigint NOT NULL,
    PRIMARY KEY (project_id, slot)
);

INSERT INTO live_task_counts (project_id, slot, live)
SELECT project_id, 0, count(*)
FROM task_results
WHERE deleted_at IS NULL
GROUP BY project_id;
