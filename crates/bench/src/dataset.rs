//! The data set, loaded in bulk with the adapter's own SQL
//! (`vodsnap_adapter_postgres::bulk`) so that it is stored exactly as
//! registrations are; and the pools of ids the delete workloads consume.
//!
//! - task results `t{n}`, `n < tasks`, on assets `a{n % assets}`: list,
//!   details and registration read and write around them;
//! - `d{n}`: task results for the delete by ten task ids (on assets
//!   `y{n / 10}`), loaded just before each point;
//! - `x{n}`: assets of ten task results `x{n}_{k}` for the asset-only
//!   delete, loaded just before each point.
//!
//! Every task result has `images` snapshots and the `thumbnail_para` of a
//! registration of `{"type":"time","time":12}`.

use std::ops::Range;
use std::time::Instant;

use anyhow::{Context, Result};
use vodsnap_adapter_postgres::bulk::{BulkTaskResults, stored_thumbnail_para};
use vodsnap_domain::{ProjectId, ThumbnailPara, ThumbnailParaInput};

use crate::database::{output, psql};
use crate::loadgen::REGISTER_TIME;
use crate::workload::Pool;

/// The bench database's task results and pools.
#[derive(Debug)]
pub struct Dataset {
    url: String,
    project: ProjectId,
    para: ThumbnailPara,
    images: u32,
    /// Next unused number of the `d{n}` task pool.
    next_d: u64,
    /// Next unused number of the `x{n}` asset pool.
    next_x: u64,
}

impl Dataset {
    pub fn new(url: &str, project: &str, images: u32) -> Result<Self> {
        Ok(Self {
            url: url.to_owned(),
            project: ProjectId::parse(project).context("the bench project id")?,
            para: ThumbnailPara::parse(ThumbnailParaInput {
                kind: Some("time".to_owned()),
                time: Some(REGISTER_TIME),
                ..ThumbnailParaInput::default()
            })
            .context("the bench thumbnail_para")?,
            images,
            next_d: 0,
            next_x: 0,
        })
    }

    /// The `thumbnail_para` column of a registration, for pgbench's
    /// registration script.
    pub fn stored_para(&self) -> String {
        stored_thumbnail_para(&self.para)
    }

    pub fn exec(&self, sql: &str) -> Result<()> {
        output(&mut psql(&self.url, sql)).map(drop)
    }

    /// Task results `n` in `numbers`, ids and assets given as SQL
    /// expressions of `n`.
    pub fn insert(&self, task_id_sql: &str, asset_id_sql: &str, numbers: Range<u64>) -> Result<()> {
        let bulk = BulkTaskResults {
            project: self.project.clone(),
            task_id_sql: task_id_sql.to_owned(),
            asset_id_sql: asset_id_sql.to_owned(),
            para: self.para.clone(),
            images: self.images,
            numbers,
        };
        let sql = bulk.sql();
        if sql.is_empty() {
            return Ok(());
        }
        self.exec(&sql)
    }

    /// The task results `t{n}` every workload works around, then
    /// `VACUUM ANALYZE`.
    pub fn load(&self, tasks: u64, assets: u64) -> Result<()> {
        self.insert("'t' || n", &format!("'a' || (n % {assets})"), 0..tasks)?;
        self.exec("VACUUM ANALYZE")
    }

    /// Loads a fresh pool: `units` requests' worth (ten task ids, or one
    /// asset of ten task results, per request). Returns the pool's numbers
    /// in request units.
    pub fn load_pool(&mut self, pool: Pool, units: u64) -> Result<Range<u64>> {
        let t = Instant::now();
        let range = match pool {
            Pool::Tasks => {
                let (lo, hi) = (self.next_d, self.next_d + units * 10);
                self.next_d = hi;
                self.insert("'d' || n", "'y' || (n / 10)", lo..hi)?;
                lo / 10..hi / 10
            }
            Pool::Assets => {
                let (lo, hi) = (self.next_x, self.next_x + units);
                self.next_x = hi;
                self.insert(
                    "'x' || (n / 10) || '_' || (n % 10)",
                    "'x' || (n / 10)",
                    lo * 10..hi * 10,
                )?;
                lo..hi
            }
        };
        println!(
            "pool: {units} requests' worth of {pool:?} loaded in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        Ok(range)
    }

    /// Deleted task results so far.
    pub fn tombstones(&self) -> Result<u64> {
        output(&mut psql(
            &self.url,
            "SELECT count(*) FROM task_results WHERE deleted_at IS NOT NULL",
        ))?
        .trim()
        .parse()
        .context("counting tombstones")
    }
}
