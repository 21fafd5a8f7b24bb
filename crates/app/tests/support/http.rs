//! A bare HTTP/1.1 client (one connection per request, `Connection:
//! close`), enough to drive vodsnap and moto; and `Api`, vodsnap's calls
//! with a token.
//!
//! A connection that breaks (the server was killed) is an `Err`: the caller
//! did not get an answer, so nothing was acknowledged.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::PROJECT;

/// Longest a request may take before it counts as failed.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    tokio::time::timeout(REQUEST_LIMIT, exchange(addr, method, target, headers, body))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut conn = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    conn.flush().await?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await?;
    parse(&raw, method == "HEAD")
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

/// Parses one whole answer; `Err` while `raw` holds only part of one.
pub fn parse(raw: &[u8], head_only: bool) -> io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| broken("the answer ended inside its head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only || status == 204 || status == 304 {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| broken("bad content-length"))?;
        if rest.len() < length {
            return Err(broken("the answer ended inside its body"));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| broken("the answer ended inside a chunk size"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| broken("bad chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(broken("the answer ended inside a chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// vodsnap's API on one server, as project [`PROJECT`] with a token.
#[derive(Debug, Clone)]
pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

impl Api {
    fn path(&self, rest: &str) -> String {
        format!("/v1/{PROJECT}/asset/{rest}")
    }

    async fn call(&self, method: &str, target: &str, body: Option<&Value>) -> io::Result<Response> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers = vec![("X-Auth-Token", self.token.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        request(self.addr, method, target, &headers, &bytes).await
    }

    /// `POST /v1/{p}/asset/thumbnails`.
    pub async fn register(&self, body: &Value) -> io::Result<Response> {
        self.call("POST", &self.path("thumbnails"), Some(body))
            .await
    }

    /// `DELETE /v1/{p}/asset/thumbnails?task_id=...`.
    pub async fn delete_tasks(&self, tasks: &[&str]) -> io::Result<Response> {
        let query: Vec<String> = tasks.iter().map(|t| format!("task_id={t}")).collect();
        self.call(
            "DELETE",
            &format!("{}?{}", self.path("thumbnails"), query.join("&")),
            None,
        )
        .await
    }

    /// `DELETE /v1/{p}/asset/thumbnails?asset_id=...`.
    pub async fn delete_asset(&self, asset: &str) -> io::Result<Response> {
        self.call(
            "DELETE",
            &format!("{}?asset_id={asset}", self.path("thumbnails")),
            None,
        )
        .await
    }

    /// `GET /v1/{p}/asset/thumbnail/details?task_id=...`.
    pub async fn details(&self, task: &str) -> io::Result<Response> {
        self.call(
            "GET",
            &format!("{}?task_id={task}", self.path("thumbnail/details")),
            None,
        )
        .await
    }

    /// `GET /v1/{p}/asset/thumbnails?{query}`.
    pub async fn list(&self, query: &str) -> io::Result<Response> {
        self.call("GET", &format!("{}?{query}", self.path("thumbnails")), None)
            .await
    }

    /// `POST /v1/{p}/asset/thumbnails/restore?{query}`.
    pub async fn restore(&self, query: &str) -> io::Result<Response> {
        self.call(
            "POST",
            &format!("{}?{query}", self.path("thumbnails/restore")),
            None,
        )
        .await
    }

    /// `GET /v1/{p}/asset/thumbnails/deleted?{query}`.
    pub async fn deleted(&self, query: &str) -> io::Result<Response> {
        self.call(
            "GET",
            &format!("{}?{query}", self.path("thumbnails/deleted")),
            None,
        )
        .await
    }

    /// `DELETE /v1/{p}/asset/thumbnails/deleted?{query}`.
    pub async fn purge(&self, query: &str) -> io::Result<Response> {
        self.call(
            "DELETE",
            &format!("{}?{query}", self.path("thumbnails/deleted")),
            None,
        )
        .await
    }

    /// Every live task id of `asset`, page by page.
    pub async fn live_tasks_of(&self, asset: &str) -> Vec<String> {
        let mut tasks = Vec::new();
        loop {
            let page = self
                .list(&format!(
                    "asset_id={asset}&limit=100&offset={}",
                    tasks.len()
                ))
                .await
                .expect("list the asset's task results");
            assert_eq!(page.status, 200, "list: {}", page.text());
            let page = page.json();
            let items = page["thumbnails"].as_array().expect("a thumbnails array");
            if items.is_empty() {
                return tasks;
            }
            tasks.extend(
                items
                    .iter()
                    .map(|i| i["task_id"].as_str().expect("a task_id").to_owned()),
            );
        }
    }
}

/// The `(task_id, status)` pairs of a delete answer, which must be a 200.
pub fn delete_items(answer: &Response) -> Vec<(String, String)> {
    assert_eq!(answer.status, 200, "delete: {}", answer.text());
    answer.json()["delete_result_array"]
        .as_array()
        .expect("a delete_result_array")
        .iter()
        .map(|item| {
            (
                item["task_id"].as_str().expect("a task_id").to_owned(),
                item["status"].as_str().expect("a status").to_owned(),
            )
        })
        .collect()
}
