//! The load generator: simulated SDK clients driving one workload against
//! the running server, in this process, for a fixed time.
//!
//! Every request is AK/SK-signed as the Huawei SDK signs
//! (`vodsnap_sdk_signature::sign`: `Host`, `X-Sdk-Date`, `X-Project-Id`
//! and, for bodies, `Content-Type` are signed), so authentication is on the
//! measured path; or carries a token (`X-Auth-Token`), or, for the floor
//! server, nothing.
//!
//! Why raw HTTP/1.1 over tokio sockets rather than a hyper client: the
//! client shares the machine's two cores with the server and PostgreSQL, so
//! it should cost as little as possible and add no pooling or scheduling of
//! its own to the latency it measures. Each simulated client owns exactly
//! one keep-alive connection and sends one request at a time (no
//! pipelining), which is what a pool of SDK clients does; vodsnap answers
//! with `Content-Length` (chunked bodies are decoded too, for safety). The
//! whole client is about the size of the glue a hyper client would need.
//! It runs on a current-thread runtime, the cheapest for a client that
//! shares the machine with the server.
//!
//! The delete workloads stop early, and say so (`exhausted`), when their
//! pool runs out; the rate is then over the time actually run.
//!
//! A registration that failed is sent again (the same task, the same
//! asset) before the client's next request, as an SDK retries a 503, and
//! then a 200 (a repeated registration) counts as well as a 201; the mixed
//! workload deletes only registrations that succeeded. So a failure leaves
//! no unregistered id behind to fail a later delete.
//!
//! The soak (`drive_with`, [`Extras`]) adds a producer, who uploads each
//! registration's images to the object store before registering them, and
//! a [`Tally`] of successes and failures (each with its time and class),
//! read while the point runs.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vodsnap_sdk_signature::sign;

use crate::report::percentile;
use crate::workload::{Workload, deep_offset};

/// The `thumbnail_para` of every registration: `{"type":"time","time":12}`
/// (the data set is loaded with the same, see `dataset`).
pub const REGISTER_TIME: i64 = 12;

/// How long after the deadline a failed registration is still retried.
const RETRY_AFTER_DEADLINE: Duration = Duration::from_secs(30);

/// The server and the credential to call it with.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    pub project: String,
    pub access_key: String,
    pub secret_key: String,
    /// How each request authenticates.
    pub auth: Auth,
}

/// How the load generator's requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// AK/SK-signed as the SDK signs, with the target's credential.
    AkSk,
    /// `X-Auth-Token` with this token.
    Token(String),
    /// Nothing: the floor server checks no credential.
    None,
}

impl Auth {
    /// The name in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AkSk => "AK/SK",
            Self::Token(_) => "token",
            Self::None => "none",
        }
    }
}

/// One point: a workload at a concurrency for a time.
#[derive(Debug, Clone)]
pub struct Drive {
    pub workload: Workload,
    /// Simultaneous clients, one keep-alive connection each.
    pub clients: u32,
    pub secs: f64,
    /// Task results `t0..t{tasks-1}` (details).
    pub tasks: u64,
    /// Assets `a0..a{assets-1}` (list, register).
    pub assets: u64,
    /// Snapshots per registered task result.
    pub images: u32,
    /// Id prefix: new task ids (register), pool ids (deletes).
    pub prefix: String,
    /// The pool's numbers (deletes): task numbers for delete-tasks, asset
    /// numbers for delete-asset.
    pub pool: Range<u64>,
}

/// What a point measured through vodsnap.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    /// The pool ran out before the time did.
    pub exhausted: bool,
}

/// What the soak adds to a point.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Upload each registration's images here first, as a producer does.
    pub producer: Option<Producer>,
    /// Successes and failures as they happen.
    pub tally: Option<Arc<Tally>>,
}

/// An S3 endpoint that takes unsigned requests (moto), and its bucket.
#[derive(Debug, Clone)]
pub struct Producer {
    /// `host:port`.
    pub addr: String,
    pub bucket: String,
}

/// Live counts of a point: requests that succeeded, and every failure.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: AtomicU64,
    failures: Mutex<Vec<Failure>>,
}

/// A failed request: when, and its class (`HTTP 503 VOD.10052`,
/// `200 with UNKNOW items`, `connection`, `upload`...).
#[derive(Debug, Clone)]
pub struct Failure {
    pub at: Instant,
    pub class: String,
}

impl Tally {
    /// The failures so far, in the order they were counted.
    pub fn failures(&self) -> Vec<Failure> {
        self.failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn fail(&self, class: String) {
        let failure = Failure {
            at: Instant::now(),
            class,
        };
        match self.failures.lock() {
            Ok(mut f) => f.push(failure),
            Err(poisoned) => poisoned.into_inner().push(failure),
        }
    }
}

/// Runs one point to its end on a current-thread runtime.
pub fn drive(target: &Target, drive: &Drive) -> Result<Measured> {
    drive_with(target, drive, &Extras::default())
}

/// [`drive`], with a soak's extras.
pub fn drive_with(target: &Target, drive: &Drive, extras: &Extras) -> Result<Measured> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the load generator's runtime")?
        .block_on(run(Arc::new(Shared {
            target: target.clone(),
            drive: drive.clone(),
            extras: extras.clone(),
            next: AtomicU64::new(0),
            samples: AtomicU64::new(0),
        })))
}

/// What one client measured.
#[derive(Debug, Default)]
struct Stats {
    /// Latency of each successful request, in microseconds.
    latencies: Vec<u64>,
    errors: u64,
    exhausted: bool,
    /// When this client stopped, since the start.
    finished: Duration,
}

/// State shared by the clients of one point.
#[derive(Debug)]
struct Shared {
    target: Target,
    drive: Drive,
    extras: Extras,
    /// Next pool slot (deletes).
    next: AtomicU64,
    /// Error samples printed so far (a few are enough to diagnose).
    samples: AtomicU64,
}

async fn run(shared: Arc<Shared>) -> Result<Measured> {
    let drive = &shared.drive;
    if drive.clients == 0 {
        bail!("a point needs at least one client");
    }
    if drive.workload.pool().is_some() && drive.pool.is_empty() {
        bail!("the delete workloads need a pool of ids");
    }
    // Connect every client before the clock starts.
    let mut conns = Vec::new();
    for _ in 0..drive.clients {
        conns.push(Conn::connect(&shared.target.addr).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(drive.secs);
    let mut handles = Vec::new();
    for (client, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        handles.push(tokio::spawn(client_loop(
            shared, client, conn, started, deadline,
        )));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut exhausted = false;
    let mut elapsed = Duration::ZERO;
    for handle in handles {
        let stats = handle.await.context("a client task failed")?;
        all.extend_from_slice(&stats.latencies);
        errors += stats.errors;
        exhausted |= stats.exhausted;
        elapsed = elapsed.max(stats.finished);
    }
    all.sort_unstable();
    let ok = all.len() as u64;
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(Measured {
        ok,
        errors,
        secs,
        rps: ok as f64 / secs,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        p999_us: percentile(&all, 0.999),
        exhausted,
    })
}

async fn client_loop(
    shared: Arc<Shared>,
    client: usize,
    conn: Conn,
    started: Instant,
    deadline: Instant,
) -> Stats {
    let target = &shared.target;
    let mut stats = Stats::default();
    let mut conn = Some(conn);
    // xorshift64*, seeded per client: no dependency, and reproducible.
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut own = Own::default();
    let mut producer: Option<Conn> = None;
    let tally = shared.extras.tally.as_deref();
    // A registration still failing at the deadline is retried a little
    // longer: its image is uploaded already.
    let retries_until = deadline + RETRY_AFTER_DEADLINE;
    while Instant::now() < deadline || (own.retry.is_some() && Instant::now() < retries_until) {
        let Some(request) = next_request(&shared, client, &mut rng, &mut own) else {
            stats.exhausted = true;
            break;
        };
        if let Some(store) = &shared.extras.producer
            && let Err(err) = upload(store, &mut producer, &request.uploads).await
        {
            stats.errors += 1;
            producer = None;
            sample(&shared, &format!("upload to {}: {err:#}", store.addr));
            if let Some(t) = tally {
                let why = format!("{err:#}");
                t.fail(format!(
                    "upload (producer): {}",
                    why.chars().take(100).collect::<String>()
                ));
            }
            if let Some((n, asset)) = request.registers {
                own.retry = Some((n, asset, false));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let wire = request.to_wire(target);
        let begin = Instant::now();
        let outcome = match conn.as_mut() {
            Some(c) => c.roundtrip(&wire).await,
            None => match Conn::connect(&target.addr).await {
                Ok(c) => conn.insert(c).roundtrip(&wire).await,
                Err(e) => Err(e),
            },
        };
        let took = begin.elapsed();
        let succeeded = match outcome {
            Ok(response) => match request.expect.check(&response) {
                Ok(()) => {
                    stats
                        .latencies
                        .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                    true
                }
                Err(why) => {
                    stats.errors += 1;
                    sample(
                        &shared,
                        &format!("{} {}: {why}", request.method, request.query),
                    );
                    if let Some(t) = tally {
                        t.fail(class_of(&response));
                    }
                    false
                }
            },
            Err(err) => {
                stats.errors += 1;
                conn = None;
                sample(
                    &shared,
                    &format!("{} {}: {err:#}", request.method, request.query),
                );
                if let Some(t) = tally {
                    t.fail("connection".to_owned());
                }
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
                false
            }
        };
        if succeeded && let Some(t) = tally {
            t.ok.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((n, asset)) = request.registers {
            if succeeded {
                own.live.push_back(n);
            } else {
                // Its images are uploaded: moto refuses to overwrite an
                // object with an unsigned PUT (403).
                own.retry = Some((n, asset, true));
            }
        }
        if response_closes(&conn) {
            conn = None;
        }
    }
    stats.finished = started.elapsed();
    stats
}

/// Puts each key (a few bytes of JPEG markers) with unsigned requests, on
/// the producer's connection (made again when lost).
async fn upload(store: &Producer, conn: &mut Option<Conn>, keys: &[String]) -> Result<()> {
    const IMAGE: &[u8] = b"\xff\xd8 vodsnap soak \xff\xd9";
    for key in keys {
        let mut wire = format!(
            "PUT /{}/{key} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            store.bucket,
            store.addr,
            IMAGE.len()
        )
        .into_bytes();
        wire.extend_from_slice(IMAGE);
        let c = match conn {
            Some(c) => c,
            None => conn.insert(Conn::connect(&store.addr).await?),
        };
        let response = c.roundtrip(&wire).await?;
        if c.closed {
            *conn = None;
        }
        if response.status != 200 {
            bail!("PUT {key}: HTTP {}", response.status);
        }
    }
    Ok(())
}

/// A failed answer's class: its status and error code, or what was wrong
/// with a 200 delete answer.
fn class_of(response: &Response) -> String {
    let body = String::from_utf8_lossy(&response.body);
    let code = body
        .split_once("\"error_code\"")
        .and_then(|(_, rest)| rest.split('"').nth(1))
        .unwrap_or("");
    if response.status == 200 {
        for item in ["UNKNOW", "FAILED"] {
            if body.contains(&format!("\"{item}\"")) {
                return format!("200 with {item} items {code}")
                    .trim_end()
                    .to_owned();
            }
        }
        return "200 unexpected".to_owned();
    }
    format!("HTTP {} {code}", response.status)
        .trim_end()
        .to_owned()
}

fn response_closes(conn: &Option<Conn>) -> bool {
    conn.as_ref().is_some_and(|c| c.closed)
}

fn sample(shared: &Shared, line: &str) {
    if shared.samples.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("vodsnap-bench: request error: {line}");
    }
}

#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// What a response must be to count as a success.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(u16),
    /// A registration sent again: 201, or 200 if the first one was stored.
    Registered,
    /// A 200 delete answer with exactly this many `DELETED` items and no
    /// `FAILED`/`UNKNOW` one; `0` means "at least one".
    Deleted(usize),
}

impl Expect {
    fn check(self, response: &Response) -> Result<(), String> {
        let want = match self {
            Self::Status(s) => s,
            Self::Registered if response.status == 200 => 200,
            Self::Registered => 201,
            Self::Deleted(_) => 200,
        };
        if response.status != want {
            return Err(format!(
                "HTTP {} (expected {want}): {}",
                response.status,
                String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
            ));
        }
        if let Self::Deleted(n) = self {
            let body = String::from_utf8_lossy(&response.body);
            let deleted = body.matches("\"DELETED\"").count();
            let bad = body.contains("\"FAILED\"") || body.contains("\"UNKNOW\"");
            let enough = if n == 0 { deleted >= 1 } else { deleted == n };
            if bad || !enough {
                return Err(format!("unexpected delete answer: {body}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Request {
    method: &'static str,
    path: String,
    query: String,
    body: Vec<u8>,
    expect: Expect,
    /// A registration's task number and asset.
    registers: Option<(u64, String)>,
    /// The keys the producer uploads first (a registration's images).
    uploads: Vec<String>,
}

/// What one client registered: task ids `{prefix}_{client}_{n}`, `n`
/// counting from 1.
#[derive(Debug, Default)]
struct Own {
    /// The last number given out.
    issued: u64,
    /// Registered and not deleted yet, oldest first.
    live: VecDeque<u64>,
    /// A registration that failed, sent again next: its number, its
    /// asset, and whether its images were uploaded.
    retry: Option<(u64, String, bool)>,
}

fn next_request(shared: &Shared, client: usize, rng: &mut Rng, own: &mut Own) -> Option<Request> {
    let args = &shared.drive;
    let project = &shared.target.project;
    let thumbnails = format!("/v1/{project}/asset/thumbnails");
    if let Some((n, asset, uploaded)) = own.retry.take() {
        let mut again = registration(shared, client, n, asset, Expect::Registered);
        if uploaded {
            again.uploads.clear();
        }
        return Some(again);
    }
    let workload = match args.workload {
        Workload::Mixed => match rng.below(100) {
            0..45 => Workload::List,
            45..70 => Workload::Details,
            70..85 => Workload::Register,
            _ if !own.live.is_empty() => {
                let take = own.live.len().min(10);
                let query = own
                    .live
                    .drain(..take)
                    .map(|n| format!("task_id={}_{client}_{n}", args.prefix))
                    .collect::<Vec<_>>()
                    .join("&");
                return Some(Request {
                    method: "DELETE",
                    path: thumbnails,
                    query,
                    body: Vec::new(),
                    expect: Expect::Deleted(take),
                    registers: None,
                    uploads: Vec::new(),
                });
            }
            _ => Workload::List,
        },
        other => other,
    };
    Some(match workload {
        Workload::List => Request {
            method: "GET",
            path: thumbnails,
            query: format!("asset_id=a{}", rng.below(args.assets)),
            body: Vec::new(),
            expect: Expect::Status(200),
            registers: None,
            uploads: Vec::new(),
        },
        Workload::ListDeep => Request {
            method: "GET",
            path: thumbnails,
            query: format!("offset={}&limit=10", deep_offset(args.tasks)),
            body: Vec::new(),
            expect: Expect::Status(200),
            registers: None,
            uploads: Vec::new(),
        },
        Workload::Healthz => Request {
            method: "GET",
            path: "/healthz".to_owned(),
            query: String::new(),
            body: Vec::new(),
            expect: Expect::Status(200),
            registers: None,
            uploads: Vec::new(),
        },
        Workload::Details => Request {
            method: "GET",
            path: format!("/v1/{project}/asset/thumbnail/details"),
            query: format!("task_id=t{}", rng.below(args.tasks)),
            body: Vec::new(),
            expect: Expect::Status(200),
            registers: None,
            uploads: Vec::new(),
        },
        Workload::Register => {
            own.issued += 1;
            let asset = format!("a{}", rng.below(args.assets));
            registration(shared, client, own.issued, asset, Expect::Status(201))
        }
        Workload::DeleteTasks => {
            let batch = shared.next.fetch_add(1, Ordering::Relaxed);
            let first = args.pool.start + batch * 10;
            if first + 10 > args.pool.end {
                return None;
            }
            let query = (first..first + 10)
                .map(|n| format!("task_id={}{n}", args.prefix))
                .collect::<Vec<_>>()
                .join("&");
            Request {
                method: "DELETE",
                path: thumbnails,
                query,
                body: Vec::new(),
                expect: Expect::Deleted(10),
                registers: None,
                uploads: Vec::new(),
            }
        }
        Workload::DeleteAsset => {
            let n = args.pool.start + shared.next.fetch_add(1, Ordering::Relaxed);
            if n >= args.pool.end {
                return None;
            }
            Request {
                method: "DELETE",
                path: thumbnails,
                query: format!("asset_id={}{n}", args.prefix),
                body: Vec::new(),
                expect: Expect::Deleted(0),
                registers: None,
                uploads: Vec::new(),
            }
        }
        Workload::Mixed => return None,
        // Not an HTTP workload: `crate::cleanup` runs it on its own.
        Workload::Cleanup | Workload::AssetPurge | Workload::Reconcile => return None,
    })
}

/// The registration of task `{prefix}_{client}_{n}` on `asset`, its images
/// `{project}/{asset}/{task}/{k}.jpg`.
fn registration(shared: &Shared, client: usize, n: u64, asset: String, expect: Expect) -> Request {
    let args = &shared.drive;
    let project = &shared.target.project;
    let task = format!("{}_{client}_{n}", args.prefix);
    let keys: Vec<String> = (0..args.images)
        .map(|k| format!("{project}/{asset}/{task}/{k}.jpg"))
        .collect();
    let snapshots: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(k, key)| format!(r#"{{"offset":{},"object_key":"{key}"}}"#, k * 10))
        .collect();
    let body = format!(
        r#"{{"asset_id":"{asset}","task_id":"{task}","thumbnail_para":{{"type":"time","time":{REGISTER_TIME}}},"thumbnails":[{}]}}"#,
        snapshots.join(",")
    );
    Request {
        method: "POST",
        path: format!("/v1/{project}/asset/thumbnails"),
        query: String::new(),
        body: body.into_bytes(),
        expect,
        uploads: if shared.extras.producer.is_some() {
            keys
        } else {
            Vec::new()
        },
        registers: Some((n, asset)),
    }
}

impl Request {
    /// The request as sent: signed now, as the SDK signs (or with the
    /// target's token, or bare).
    fn to_wire(&self, target: &Target) -> Vec<u8> {
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut headers: Vec<(&str, &str)> = vec![("Host", target.addr.as_str())];
        if target.auth == Auth::AkSk {
            headers.push(("X-Sdk-Date", date.as_str()));
            headers.push(("X-Project-Id", target.project.as_str()));
        }
        if !self.body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        let query = (!self.query.is_empty()).then_some(self.query.as_str());
        let authorization = match &target.auth {
            Auth::AkSk => Some(sign(
                self.method,
                &self.path,
                query,
                &headers,
                &self.body,
                &target.access_key,
                &target.secret_key,
            )),
            Auth::Token(token) => {
                headers.push(("X-Auth-Token", token.as_str()));
                None
            }
            Auth::None => None,
        };
        let mut head = format!("{} {}", self.method, self.path);
        if let Some(q) = query {
            head.push('?');
            head.push_str(q);
        }
        head.push_str(" HTTP/1.1\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(authorization) = authorization {
            head.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut wire = head.into_bytes();
        wire.extend_from_slice(&self.body);
        wire
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server said `Connection: close`.
    closed: bool,
}

impl Conn {
    async fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("failed to connect to {addr}"))?;
        stream
            .set_nodelay(true)
            .context("failed to set TCP_NODELAY")?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            closed: false,
        })
    }

    /// Reads more bytes into the buffer; fails on end of stream.
    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .context("failed to read the response")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Bytes up to the next CRLF (removed from the buffer, CRLF dropped).
    async fn line(&mut self) -> Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    async fn take(&mut self, n: usize) -> Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn roundtrip(&mut self, request: &[u8]) -> Result<Response> {
        self.stream
            .write_all(request)
            .await
            .context("failed to send the request")?;
        let status_line = self.line().await?;
        let status_line = String::from_utf8_lossy(&status_line);
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(&line);
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                self.closed = value.eq_ignore_ascii_case("close");
            }
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let size = self.line().await?;
                let size = String::from_utf8_lossy(&size);
                let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .context("bad chunk size")?;
                if size == 0 {
                    // Trailers, if any, end with an empty line.
                    while !self.line().await?.is_empty() {}
                    break;
                }
                body.extend(self.take(size).await?);
                self.line().await?;
            }
            body
        } else {
            self.take(length.unwrap_or(0)).await?
        };
        Ok(Response { status, body })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_answers_are_checked_item_by_item() {
        let ok = Response {
            status: 200,
            body: br#"{"delete_result_array":[{"status":"DELETED"}],"remaining":0}"#.to_vec(),
        };
        assert!(Expect::Deleted(1).check(&ok).is_ok());
        assert!(Expect::Deleted(0).check(&ok).is_ok());
        assert!(Expect::Deleted(10).check(&ok).is_err());
        let failed = Response {
            status: 200,
            body: br#"{"delete_result_array":[{"status":"DELETED"},{"status":"FAILED"}]}"#.to_vec(),
        };
        assert!(Expect::Deleted(0).check(&failed).is_err());
        assert!(Expect::Status(201).check(&ok).is_err());
    }

    #[test]
    fn a_registration_sent_again_may_find_it_stored() {
        for status in [200, 201] {
            let answer = Response {
                status,
                body: Vec::new(),
            };
            assert!(Expect::Registered.check(&answer).is_ok(), "{status}");
        }
        let unavailable = Response {
            status: 503,
            body: Vec::new(),
        };
        assert!(Expect::Registered.check(&unavailable).is_err());
    }

    #[test]
    fn failures_are_classed_by_status_and_code() {
        let class = |status, body: &str| {
            class_of(&Response {
                status,
                body: body.as_bytes().to_vec(),
            })
        };
        assert_eq!(
            class(
                503,
                r#"{"error_code":"VOD.10052","error_msg":"the database is unavailable"}"#
            ),
            "HTTP 503 VOD.10052"
        );
        assert_eq!(
            class(
                200,
                r#"{"delete_result_array":[{"task_id":"t","status":"UNKNOW","error_code":"VOD.10052"}]}"#
            ),
            "200 with UNKNOW items VOD.10052"
        );
        assert_eq!(class(502, ""), "HTTP 502");
    }
}
