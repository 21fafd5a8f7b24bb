//! The per-project claim that the cleanup queue and the webhook deliveries
//! share: the projects with due rows (a lock-free read), then each
//! project's share of the batch in the rounds the domain's [`ClaimShares`]
//! gives, one locking statement per project and round, each in autocommit
//! and naming one project (docs/SCHEMA.md, "The cleanup's claim").

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use vodsnap_domain::{ClaimShares, ProjectId};

use crate::db_error::{DbError, DbResultExt as _};
use crate::task_results::parse_stored;

/// One kind of claim: its two statements and what their failures say.
pub(crate) struct Claim {
    /// `$1` now, `$2` at most this many: the projects with due rows, in
    /// the order they are served.
    pub due_projects: &'static str,
    pub listing_failed: &'static str,
    /// `$1` project, `$2` now, `$3` at most this many rows, `$4` worker,
    /// `$5` the lease's end: leases the project's due rows and returns
    /// them.
    pub in_project: &'static str,
    pub claim_failed: &'static str,
}

/// When and by whom a claim leases.
pub(crate) struct Lease<'a> {
    pub worker: &'a str,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Claim {
    /// The projects with due rows, at most `max` of them.
    pub(crate) async fn due_projects(
        &self,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
        max: u32,
    ) -> Result<Vec<ProjectId>, DbError> {
        let projects: Vec<String> = sqlx::query_scalar(self.due_projects)
            .bind(now)
            .bind(i64::from(max))
            .fetch_all(conn)
            .await
            .db(self.listing_failed)?;
        projects
            .iter()
            .map(|p| parse_stored(ProjectId::parse, p))
            .collect()
    }

    /// Leases up to `room` rows from `projects` (in serving order), in
    /// rounds, handing each row to `take` with its project; returns the
    /// room left.
    pub(crate) async fn in_rounds<R>(
        &self,
        conn: &mut PgConnection,
        projects: Vec<ProjectId>,
        room: u32,
        lease: &Lease<'_>,
        mut take: impl FnMut(&ProjectId, R) -> Result<(), DbError>,
    ) -> Result<u32, DbError>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut shares = ClaimShares::new(room, projects);
        loop {
            let round = shares.round();
            if round.is_empty() {
                return Ok(shares.room());
            }
            for (project, asked) in round {
                let rows: Vec<R> = sqlx::query_as(self.in_project)
                    .bind(project.as_str())
                    .bind(lease.now)
                    .bind(i64::from(asked))
                    .bind(lease.worker)
                    .bind(lease.until)
                    .fetch_all(&mut *conn)
                    .await
                    .db(self.claim_failed)?;
                shares.took(&project, asked, u32::try_from(rows.len()).unwrap_or(asked));
                for row in rows {
                    take(&project, row)?;
                }
            }
        }
    }
}
