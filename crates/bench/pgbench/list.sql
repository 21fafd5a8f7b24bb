-- GET /v1/{p}/asset/thumbnails?asset_id=..: LIST_BY_ASSET, limit 10, offset 0
-- (its total from live_asset_counts, migration 0016).
\set lim 10
\set off 0
\set a random(0, :assets - 1)
SELECT m.total, r.task_id, r.asset_id, r.thumbnail_para, r.snapshot_count, r.created_at FROM (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM asset_purges p WHERE p.project_id = :project AND p.asset_id = 'a' || :a AND p.finished_at IS NULL) THEN COALESCE((SELECT live FROM live_asset_counts WHERE project_id = :project AND asset_id = 'a' || :a), 0) ELSE 0 END::bigint AS total) m LEFT JOIN LATERAL ( SELECT task_id, asset_id, thumbnail_para, snapshot_count, created_at FROM task_results WHERE project_id = :project AND deleted_at IS NULL AND asset_id = 'a' || :a ORDER BY created_at, task_id LIMIT :lim OFFSET :off) r ON true;
