-- GET /v1/{p}/asset/thumbnails?offset=..: LIST_ALL (no filter), limit 10, offset :off (set by vodsnap-bench: 19,990 or the data set's end).
\set lim 10
SELECT m.total, r.task_id, r.asset_id, r.thumbnail_para, r.snapshot_count, r.created_at FROM (SELECT COALESCE(sum(live), 0)::bigint AS total FROM live_task_counts WHERE project_id = :project) m LEFT JOIN LATERAL ( SELECT task_id, asset_id, thumbnail_para, snapshot_count, created_at FROM task_results WHERE project_id = :project AND deleted_at IS NULL ORDER BY created_at, task_id LIMIT :lim OFFSET :off) r ON true;
