-- An asset's number of live task results (issue 24 part 6), so that a
-- list by asset answers its `total`, and DeleteAssets records a purge's
-- `tasks_total`, from one row rather than by counting the asset's live
-- rows (which grew with the asset: 16.5 ms for 100,000 tasks). Kept by
-- the write functions of migration 0013, in the transaction that changes
-- the live rows: a registration +1 for its asset, a delete (and each
-- batch of a purge) minus the tasks it tombstoned per asset, a restore
-- plus the tasks it revived per asset; the bulk loader adds its own. One
-- row per asset, never removed (an asset's count may rest at 0). The
-- writers of one asset queue on its row; see docs/SCHEMA.md.
CREATE TABLE live_asset_counts (
    project_id text COLLATE "C" NOT NULL,
    asset_id   text COLLATE "C" NOT NULL,
    live       bigint NOT NULL,
    PRIMARY KEY (project_id, asset_id)
);

INSERT INTO live_asset_counts (project_id, asset_id, live)
SELECT project_id, asset_id, count(*)
FROM task_results
WHERE deleted_at IS NULL
GROUP BY project_id, asset_id;
