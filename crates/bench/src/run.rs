//! One run, from the empty database to the report: the server, the data
//! set, a vodsnap point and a pgbench point per workload and concurrency.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vodsnap_server_process::ServerProcess;

use crate::cpu;
use crate::database::{ScratchDatabase, admin_url, output};
use crate::dataset::Dataset;
use crate::loadgen::{self, Auth, Drive, Target};
use crate::params::{Args, Params, Paths};
use crate::report::{self, FloorPoints, Point, Row};
use crate::server::{ACCESS_KEY, PROJECT, SECRET_KEY, issue_token, start_server};
use crate::workload::{Pool, Workload};

/// Requests per second assumed for a delete pool before anything was measured.
pub const FIRST_GUESS_RPS: f64 = 1000.0;

/// What the points of a run share.
#[derive(Debug)]
pub struct Runner {
    pub params: Params,
    pub target: Target,
    pub dataset: Dataset,
    pub database_url: String,
    /// Where pgbench's scripts and logs go.
    pub work: std::path::PathBuf,
    /// A CPU clock tick, µs.
    pub tick_us: f64,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    if let Some(soak) = args.soak {
        return if args.soak_plain {
            crate::soak::run(args, soak)
        } else {
            crate::fire::run(args, soak)
        };
    }
    let params = Params::from(args)?;
    let paths = Paths::from(args)?;
    if params.workloads.contains(&Workload::Cleanup) {
        return crate::cleanup::run(&params, &paths);
    }
    if params.workloads.contains(&Workload::AssetPurge) {
        return crate::asset_purge::run(&params, &paths);
    }
    if params.workloads.contains(&Workload::Reconcile) {
        return crate::reconcile::run(&params, &paths);
    }
    let started = Instant::now();

    if params.pgbench && !available("pgbench") {
        bail!(
            "`pgbench` is needed for the reference figures (Debian: postgresql-contrib or \
             postgresql-client); or run with --no-pgbench"
        );
    }
    if !available("psql") {
        bail!("`psql` is needed to create and load the database (install postgresql-client)");
    }
    if !paths.vodsnap.exists() {
        bail!(
            "{} is missing: build it (cargo build --release -p vodsnap-app)",
            paths.vodsnap.display()
        );
    }
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;

    let admin = admin_url();
    println!("\n==> bench: database on {admin}");
    let scratch = if params.citus {
        citus_database(&paths.vodsnap, &admin)?
    } else {
        ScratchDatabase::create(&admin, "vodsnap_bench")?
    };

    let mut server = start_server(&paths.vodsnap, &scratch.url, &params, &paths.work)?;
    println!(
        "server: pid {} on {} (log: {})",
        server.pid(),
        server.addr(),
        server.log().display()
    );

    let mut floor = if params.floor {
        let server = start_floor(&paths.floor, &scratch.url, &params, &paths.work)?;
        println!("floor server: pid {} on {}", server.pid(), server.addr());
        Some(server)
    } else {
        None
    };
    let token = if params.floor {
        issue_token(&paths.vodsnap)?
    } else {
        String::new()
    };

    let dataset = Dataset::new(&scratch.url, PROJECT, params.images)?;
    println!(
        "\n==> bench: loading {} task results x {} images over {} assets",
        params.tasks, params.images, params.assets
    );
    let load_started = Instant::now();
    dataset.load(params.tasks, params.assets)?;
    println!("loaded in {:.1}s", load_started.elapsed().as_secs_f64());

    let mut runner = Runner {
        params: params.clone(),
        target: Target {
            addr: server.addr().to_owned(),
            project: PROJECT.to_owned(),
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            auth: Auth::AkSk,
        },
        dataset,
        database_url: scratch.url.clone(),
        work: paths.work.clone(),
        tick_us: cpu::tick_us(),
    };
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &workload in &params.workloads {
        let mut last_rate: Option<f64> = None;
        for &clients in &params.concurrency {
            println!("\n==> bench: {} with {clients} client(s)", workload.name());
            server.check_alive()?;
            let aksk = runner.target.clone();
            let vodsnap =
                runner.vodsnap_point(&aksk, server.pid(), workload, clients, last_rate)?;
            server.check_alive()?;
            let peak_rss_kib = server.peak_rss_kib();
            let floor_points = match &mut floor {
                Some(floor) if workload.has_floor() => {
                    let with_token = Target {
                        auth: Auth::Token(token.clone()),
                        ..aksk.clone()
                    };
                    let token_point =
                        runner.vodsnap_point(&with_token, server.pid(), workload, clients, None)?;
                    server.check_alive()?;
                    let bare = Target {
                        addr: floor.addr().to_owned(),
                        auth: Auth::None,
                        ..aksk
                    };
                    let floor_point =
                        runner.vodsnap_point(&bare, floor.pid(), workload, clients, None)?;
                    floor.check_alive()?;
                    for (who, p) in [("token", &token_point), ("floor", &floor_point)] {
                        if p.errors > 0 {
                            failures.push(format!(
                                "{who} {} c={clients}: {} errors",
                                workload.name(),
                                p.errors
                            ));
                        }
                    }
                    Some(FloorPoints {
                        token: token_point,
                        floor: floor_point,
                    })
                }
                _ => None,
            };
            last_rate = Some(vodsnap.rps);
            if vodsnap.errors > 0 {
                failures.push(format!(
                    "vodsnap {} c={clients}: {} errors",
                    workload.name(),
                    vodsnap.errors
                ));
            }
            let pgbench = if params.pgbench && workload.script().is_some() {
                let point = runner.pgbench_point(workload, clients, vodsnap.rps)?;
                if point.errors > 0 {
                    failures.push(format!(
                        "pgbench {} c={clients}: {} failed transactions",
                        workload.name(),
                        point.errors
                    ));
                }
                Some(point)
            } else {
                None
            };
            vodsnap.print("vodsnap");
            if let Some(f) = &floor_points {
                f.token.print("token");
                f.floor.print("floor");
            }
            if let Some(p) = &pgbench {
                p.print("pgbench");
            }
            rows.push(Row {
                workload,
                clients,
                vodsnap,
                pgbench,
                peak_rss_kib,
                floor: floor_points,
            });
        }
    }
    server.check_alive()?;

    let report = report::render(&params, &rows, &admin, started.elapsed());
    println!("\n{report}");
    let target = if params.quick {
        paths.work.join("quick.md")
    } else {
        paths.workspace.join("docs").join("benchmarks.md")
    };
    report::write_report(&target, &report)?;
    println!("written to {}", target.display());
    println!("bench: {:.0}s in all", started.elapsed().as_secs_f64());

    if args.keep {
        let url = scratch.url.clone();
        scratch.keep();
        let addr = server.addr().to_owned();
        let pid = server.detach();
        println!(
            "--keep: server pid {pid} at http://{addr} (AK {ACCESS_KEY}, SK {SECRET_KEY}), \
             database {url}; stop the server with `kill {pid}` and drop the database yourself"
        );
    }

    if failures.is_empty() {
        println!("bench: no errors");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("bench: ERROR: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The floor server on the scratch database, with vodsnap's pool size.
fn start_floor(
    program: &Path,
    database_url: &str,
    params: &Params,
    work: &Path,
) -> Result<ServerProcess> {
    if !program.exists() {
        bail!(
            "{} is missing: build it (cargo build --release -p vodsnap-bench), or run with --no-floor",
            program.display()
        );
    }
    let mut cmd = Command::new(program);
    cmd.args(["--database-url", database_url]);
    if let Some(n) = params.max_connections {
        cmd.args(["--database-max-connections", &n.to_string()]);
    }
    ServerProcess::start(cmd, &work.join("floor.log"), Duration::from_secs(60))
}

/// Whether `program` can be started at all.
fn available(program: &str) -> bool {
    match Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(err) => err.kind() != std::io::ErrorKind::NotFound,
    }
}

impl Runner {
    /// Requests (or transactions) a pool must serve for `rps` over the point.
    pub fn pool_size(&self, rps: f64) -> u64 {
        (rps * self.params.secs as f64).ceil().max(50.0) as u64
    }

    /// The load generator for the run's time, in this process.
    fn vodsnap_point(
        &mut self,
        target: &Target,
        server_pid: u32,
        workload: Workload,
        clients: u32,
        last_rate: Option<f64>,
    ) -> Result<Point> {
        let p = &self.params;
        let mut drive = Drive {
            workload,
            clients,
            secs: p.secs as f64,
            tasks: p.tasks,
            assets: p.assets,
            images: p.images,
            prefix: String::new(),
            pool: 0..0,
        };
        match workload.pool() {
            Some(pool) => {
                // Generous: a point that runs out stops early and says so.
                let guess = last_rate.map_or(FIRST_GUESS_RPS, |r| (r * 2.0).max(FIRST_GUESS_RPS));
                let range = self.dataset.load_pool(pool, self.pool_size(guess))?;
                // The load generator counts the task pool in task numbers.
                let (prefix, unit) = match pool {
                    Pool::Tasks => ("d", 10),
                    Pool::Assets => ("x", 1),
                };
                drive.prefix = prefix.to_owned();
                drive.pool = range.start * unit..range.end * unit;
            }
            None if workload == Workload::Register => drive.prefix = format!("g{clients}"),
            None => {}
        }
        println!(
            "load: {} with {clients} client(s) for {}s on {} ({})",
            workload.name(),
            p.secs,
            target.addr,
            target.auth.name()
        );
        let cpu_before = cpu::sample(Some(server_pid));
        let measured = loadgen::drive(target, &drive)?;
        let cpu_after = cpu::sample(Some(server_pid));
        Ok(Point {
            ok: measured.ok,
            errors: measured.errors,
            secs: measured.secs,
            rps: measured.rps,
            p50_us: measured.p50_us as f64,
            p99_us: measured.p99_us as f64,
            p999_us: measured.p999_us as f64,
            note: if measured.exhausted {
                format!("pool ran out after {:.1}s", measured.secs)
            } else {
                String::new()
            },
            cpu: cpu_before.per_request(&cpu_after, measured.ok, self.tick_us),
        })
    }
}

/// A database distributed on the Citus cluster whose coordinator `admin`
/// names: a template made on every node and distributed by `vodsnap
/// migrate --citus` (the binary under test), then copied.
fn citus_database(vodsnap: &Path, admin: &str) -> Result<ScratchDatabase> {
    use vodsnap_server_process::scratch::CitusTemplate;
    const TEMPLATE: &str = "vodsnap_bench_citus_template";
    let template = CitusTemplate::create(admin, TEMPLATE)?;
    output(Command::new(vodsnap).args(["migrate", "--citus", "--database-url", &template.url]))
        .context("`vodsnap migrate --citus` on the bench's template")?;
    template.seal()?;
    println!("database: Citus, distributed by `vodsnap migrate --citus`");
    ScratchDatabase::create_citus(admin, "vodsnap_bench", TEMPLATE)
}
