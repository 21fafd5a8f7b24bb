//! The live task counts (`live_task_counts`): per project, 16 slots that
//! the write statements add to and subtract from, so that a list's `total`
//! over a whole project is a sum of at most 16 rows, whatever its size.

/// The part of a write statement that moves its project's live count:
/// `counted AS (INSERT ... <select> ON CONFLICT ... add)`. `$select`
/// answers `(project_id, slot, change)` rows: the slot is the task id's
/// `hashtext(...) & 15` (spreading concurrent writers over 16 rows), the
/// change +1 or -n; `HAVING count(*) > 0` leaves the row alone when
/// nothing changed.
macro_rules! live_count_cte {
    ($select:literal) => {
        concat!(
            "counted AS ( \
                 INSERT INTO live_task_counts (project_id, slot, live) ",
            $select,
            " ON CONFLICT (project_id, slot) \
                 DO UPDATE SET live = live_task_counts.live + EXCLUDED.live)"
        )
    };
}
pub(crate) use live_count_cte;
