//! Issue 10 on the real binary and real sockets: what a hostile client can
//! do to the HTTP edge, and what it can no longer do.
//!
//! - an unauthenticated body flood costs no memory (peak RSS, from /proc);
//! - a client that sends its headers slowly, or idles, is cut off;
//! - connections beyond `--max-connections` wait while open ones are served;
//! - out of file descriptors, the accept loop logs once and recovers;
//! - invented methods and paths make no new metric series;
//! - with `--log-format json`, every line on both streams is JSON;
//! - a revoked seeded credential stays revoked across a restart.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use support::db::TestDb;
use support::http::{self, Response};
use support::server::{Secrets, Serve, Server, vodsnap};
use support::storage::FileStorage;
use support::{EVENTUALLY, PROJECT, eventually};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A server on its own database and directory, with `flags`.
async fn start(flags: &[(&str, &str)]) -> (TestDb, FileStorage, Secrets, Server) {
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let mut serve = Serve::new(&db, &secrets, &storage.url()).workers(0);
    for (flag, value) in flags {
        serve = serve.arg(flag, value);
    }
    let server = serve.start().await;
    (db, storage, secrets, server)
}

/// A keep-alive connection that sends requests one after another.
struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
}

impl Connection {
    async fn open(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            stream: TcpStream::connect(addr).await?,
            addr,
        })
    }

    async fn send(&mut self, method: &str, target: &str) -> io::Result<()> {
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        );
        self.stream.write_all(head.as_bytes()).await
    }

    async fn answer(&mut self) -> io::Result<Response> {
        let mut raw = Vec::new();
        let mut chunk = [0_u8; 16 * 1024];
        loop {
            if let Ok(response) = http::parse(&raw, false) {
                return Ok(response);
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a whole answer",
                ));
            }
            raw.extend_from_slice(&chunk[..n]);
        }
    }

    async fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send("GET", target).await?;
        tokio::time::timeout(Duration::from_secs(30), self.answer())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer"))?
    }

    /// Waits until the server closes the connection (read returns 0 or a
    /// reset), for at most `within`.
    async fn closed_by_server(&mut self, within: Duration) -> bool {
        let mut chunk = [0_u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// The value of one metric series in Prometheus text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Peak resident set size (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unauthenticated_body_flood_costs_no_memory() {
    // Arrange
    let (_db, _storage, _secrets, server) = start(&[]).await;
    let before = peak_rss_kib(server.pid());
    const CLIENTS: usize = 40;
    const BODY: usize = 12 * 1024 * 1024;

    // Act: each client declares a 12 MiB body and sends all of it but the
    // last byte, with no credentials (or a bogus token).
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let addr = server.addr;
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (mut reader, mut writer) = stream.into_split();
                let credential = if i % 2 == 0 {
                    ""
                } else {
                    "X-Auth-Token: vst1.not-a-token\r\n"
                };
                let head = format!(
                    "POST /v1/{PROJECT}/asset/thumbnails HTTP/1.1\r\nHost: {addr}\r\n\
                     Content-Type: application/json\r\nContent-Length: {BODY}\r\n{credential}\r\n"
                );
                writer.write_all(head.as_bytes()).await.expect("head");
                let sender = tokio::spawn(async move {
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut sent = 0;
                    while sent < BODY - 1 {
                        let n = chunk.len().min(BODY - 1 - sent);
                        // The server stops reading: the write fails or
                        // blocks, either is fine.
                        if writer.write_all(&chunk[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                    }
                    writer
                });
                let mut raw = Vec::new();
                let mut buf = [0_u8; 4096];
                let response = loop {
                    if let Ok(response) = http::parse(&raw, false) {
                        break response;
                    }
                    match reader.read(&mut buf).await {
                        Ok(0) | Err(_) => panic!(
                            "client {i}: no whole answer: {}",
                            String::from_utf8_lossy(&raw)
                        ),
                        Ok(n) => raw.extend_from_slice(&buf[..n]),
                    }
                };
                sender.abort();
                response
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for client in clients {
        let response = client.await.expect("client task");
        assert!(response.json()["request_id"].is_string());
        statuses.push(response.status);
    }

    // Assert: every one refused as unauthenticated, not "busy", and the
    // peak RSS barely moved (it grew by 478 MB before the change).
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    let after = peak_rss_kib(server.pid());
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "peak RSS grew by {grown_mib} MiB ({before} KiB -> {after} KiB)"
    );
    assert!(server.ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_keep_alive_connections_are_cut_off() {
    // Arrange
    let (_db, _storage, _secrets, server) = start(&[("--header-read-timeout", "1s")]).await;

    // Act / Assert: a client that trickles header lines is cut off, though
    // it never stops sending.
    let mut slow = Connection::open(server.addr).await.expect("connect");
    slow.stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("request line");
    let mut cut_off = false;
    for i in 0..300 {
        let line = format!("X-Slow-{i}: still sending\r\n");
        if slow.stream.write_all(line.as_bytes()).await.is_err()
            || slow.closed_by_server(Duration::from_millis(200)).await
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the slow client was never cut off");

    // An idle keep-alive connection is closed after its request.
    let mut idle = Connection::open(server.addr).await.expect("connect");
    assert_eq!(idle.get("/healthz").await.expect("healthz").status, 200);
    assert!(
        idle.closed_by_server(Duration::from_secs(30)).await,
        "the idle connection stayed open"
    );

    // A well-behaved client still gets its answers.
    assert!(server.ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_unread_closes_its_connection_and_says_so() {
    // Arrange
    let (_db, _storage, _secrets, server) = start(&[]).await;
    let header = |r: &Response, name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };

    // Act: an unauthenticated registration; its body is never read.
    let mut conn = Connection::open(server.addr).await.expect("connect");
    let body = "{\"asset_id\":\"a\"}";
    let head = format!(
        "POST /v1/p/asset/thumbnails HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    conn.stream
        .write_all(head.as_bytes())
        .await
        .expect("request");
    let refused = conn.answer().await.expect("answer");

    // Assert: 401, `Connection: close`, and the connection is closed, so a
    // keep-alive client never sends its next request into a closing one.
    assert_eq!(refused.status, 401);
    assert_eq!(header(&refused, "connection").as_deref(), Some("close"));
    assert!(conn.closed_by_server(Duration::from_secs(10)).await);

    // A refusal without a body keeps the connection for the next request.
    let mut kept = Connection::open(server.addr).await.expect("connect");
    let first = kept.get("/v1/p/asset/thumbnails").await.expect("first");
    assert_eq!(first.status, 401);
    assert_eq!(header(&first, "connection"), None);
    let second = kept.get("/healthz").await.expect("second");
    assert_eq!(second.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_while_open_ones_are_served() {
    // Arrange: the cap is 3, and 3 connections are open and served.
    let (_db, _storage, _secrets, server) = start(&[("--max-connections", "3")]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut connection = Connection::open(server.addr).await.expect("connect");
        assert_eq!(
            connection.get("/healthz").await.expect("healthz").status,
            200
        );
        open.push(connection);
    }

    // Act: a fourth connects (the kernel's backlog takes it) and asks.
    let mut waiting = Connection::open(server.addr).await.expect("connect");
    waiting.send("GET", "/healthz").await.expect("send");

    // Assert: the open connections are served, and see 3 connections open;
    // the fourth has no answer while they stay open.
    for connection in &mut open {
        assert_eq!(
            connection.get("/healthz").await.expect("healthz").status,
            200
        );
    }
    let metrics = open[0].get("/metrics").await.expect("metrics").text();
    assert_eq!(
        metric(&metrics, "vodsnap_http_connections_open "),
        Some(3.0)
    );
    let mut probe = [0_u8; 1];
    assert!(
        matches!(waiting.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "a connection beyond the cap was served"
    );
    // One closes: the waiting one is taken in and answered.
    drop(open.pop());
    let answer = tokio::time::timeout(Duration::from_secs(30), waiting.answer())
        .await
        .expect("the waiting connection is answered")
        .expect("an answer");
    assert_eq!(answer.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_accept_loop_logs_once_and_recovers() {
    // Arrange: few descriptors, a cap above them, and a connection opened
    // before they run out.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let server = Serve::new(&db, &secrets, &storage.url())
        .workers(0)
        .open_files(64)
        .arg("--max-connections", "1000")
        .start()
        .await;
    let mut kept = Connection::open(server.addr).await.expect("connect");
    assert_eq!(kept.get("/healthz").await.expect("healthz").status, 200);

    // Act: idle connections until the process has no descriptor left.
    let mut flood = Vec::new();
    for _ in 0..120 {
        flood.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // The accept loop has failed several times (seen on the connection
    // opened before).
    let deadline = std::time::Instant::now() + EVENTUALLY;
    loop {
        let text = kept.get("/metrics").await.expect("metrics").text();
        let failures = metric(&text, "vodsnap_http_accept_errors_total").unwrap_or(0.0);
        if failures >= 5.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "accept failed only {failures} times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept.get("/healthz").await.expect("healthz").status, 200);

    // Assert: one line for the whole episode, not one per failure.
    let out_of_files = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("Too many open files"))
            .count()
    };
    assert_eq!(out_of_files(&server.stderr_lines()), 1);

    // The clients go away: new connections are accepted again.
    drop(flood);
    eventually(
        "/healthz answers on a new connection",
        EVENTUALLY,
        || async {
            match http::request(server.addr, "GET", "/healthz", &[], &[]).await {
                Ok(r) if r.status == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(
        server
            .stderr_lines()
            .iter()
            .any(|l| l.contains("accepting connections again"))
    );
}

/// The series of `/metrics` (name and labels, without values).
async fn series(server: &Server) -> BTreeSet<String> {
    let text = http::request(server.addr, "GET", "/metrics", &[], &[])
        .await
        .expect("metrics")
        .text();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_paths_make_no_new_metric_series() {
    // Arrange
    let (_db, _storage, _secrets, server) = start(&[]).await;
    let invent = |round: usize| async move {
        for i in 0..100 {
            let method = format!("M{round}X{i}");
            let path = format!("/made/up/{round}/{i}");
            let _ = http::request(server.addr, &method, &path, &[], &[]).await;
            let project_path = format!("/v1/p{round}x{i}/asset/thumbnails");
            let _ = http::request(server.addr, &method, &project_path, &[], &[]).await;
            let _ = http::request(server.addr, "GET", &project_path, &[], &[]).await;
        }
    };

    // Act: a first round brings in whatever fixed labels such requests
    // have; a second round, all new methods and paths, must add none.
    series(&server).await;
    invent(1).await;
    let after_first = series(&server).await;
    invent(2).await;
    let after_second = series(&server).await;

    // Assert
    let added: Vec<_> = after_second.difference(&after_first).collect();
    assert!(added.is_empty(), "new series: {added:?}");
    assert!(
        after_second
            .iter()
            .all(|s| !s.contains("M1X") && !s.contains("p1x")),
        "a client's invention became a label"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_logs_every_line_on_both_streams_is_json() {
    // Arrange
    let (_db, _storage, secrets, mut server) = start(&[("--log-format", "json")]).await;

    // Act: some traffic, good and bad, then a clean stop.
    let api = server.api(&secrets);
    api.list("").await.expect("list");
    let _ = http::request(server.addr, "BREW", "/nowhere", &[], &[]).await;
    server.terminate().await;

    // Assert
    let stdout = server.stdout_lines();
    let stderr = server.stderr_lines();
    for line in stdout.iter().chain(&stderr) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }
    let banner = stderr
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("vodsnap is running on"))
        })
        .expect("the start-up banner as an event");
    assert_eq!(banner["store"], "postgresql");
    assert!(banner["address"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_seeded_credential_stays_revoked_after_a_restart() {
    // Arrange: a server seeded with a credential that works.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let storage = FileStorage::new();
    let (ak, sk) = ("AKSEEDED0001", "seeded-secret-never-logged");
    let serve = Serve::new(&db, &secrets, &storage.url())
        .workers(0)
        .arg("--seed-credential", &format!("{ak}:{sk}:{PROJECT}"));
    let signed_list = |server: &Server| {
        let addr = server.addr;
        async move {
            let path = format!("/v1/{PROJECT}/asset/thumbnails");
            let host = addr.to_string();
            let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let authorization = vodsnap_adapter_http::auth::signature::sign(
                "GET",
                &path,
                None,
                &[("Host", &host), ("X-Sdk-Date", &date)],
                b"",
                ak,
                sk,
            );
            http::request(
                addr,
                "GET",
                &path,
                &[("X-Sdk-Date", &date), ("Authorization", &authorization)],
                &[],
            )
            .await
            .expect("an answer")
            .status
        }
    };
    let mut server = serve.start().await;
    assert_eq!(signed_list(&server).await, 200);

    // Act: revoke it, restart with the same --seed-credential.
    server.terminate().await;
    vodsnap(
        &[
            "credentials",
            "revoke",
            "--database-url",
            db.url(),
            "--credential-keys",
            &secrets.credential_keys,
            ak,
        ],
        &[],
    )
    .await;
    let server = serve.start().await;

    // Assert
    assert_eq!(signed_list(&server).await, 401);
    let log = server.stderr_lines();
    assert!(
        log.iter().any(|l| l.contains("revoked") && l.contains(ak)),
        "no warning naming the AK"
    );
    assert!(log.iter().all(|l| !l.contains(sk)), "the SK was logged");
}
