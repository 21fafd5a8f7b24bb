-- GET /v1/{p}/asset/thumbnail/details?task_id=..: DETAILS, limit 20, offset 0.
\set lim 20
\set off 0
\set t random(0, :tasks - 1)
SELECT t.total, s.offset_s, s.object_key FROM (SELECT snapshot_count AS total FROM task_results WHERE project_id = :project AND task_id = 't' || :t AND deleted_at IS NULL) t LEFT JOIN LATERAL ( SELECT offset_s, object_key FROM snapshots WHERE project_id = :project AND task_id = 't' || :t ORDER BY offset_s LIMIT :lim OFFSET :off) s ON true;
