//! The soak's webhook receiver: a small HTTP/1.1 server on a loopback port
//! that answers a pseudo-random tenth of the deliveries 500 and the rest
//! 200, and records, for every event id it accepted (`X-Vodsnap-Event-Id`
//! of a 200), when it accepted it each time. Keep-alive, one task per
//! connection, in the runtime it is started in; it stops when that runtime
//! does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// One in this many deliveries is answered 500.
const FAIL_ONE_IN: u64 = 10;

#[derive(Debug, Default)]
pub struct Receiver {
    /// Event id -> when each acceptance happened.
    accepted: Mutex<HashMap<String, Vec<Instant>>>,
    /// Deliveries received (answered either way).
    pub received: AtomicU64,
    /// Deliveries answered 500.
    pub refused: AtomicU64,
}

impl Receiver {
    /// Listens on a free loopback port; returns the receiver and its address.
    pub async fn start() -> Result<(Arc<Self>, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let receiver = Arc::new(Self::default());
        let shared = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move { shared.serve(conn).await });
            }
        });
        Ok((receiver, addr))
    }

    /// The accepted event ids with the times they were accepted.
    pub fn accepted(&self) -> HashMap<String, Vec<Instant>> {
        match self.accepted.lock() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn serve(&self, mut conn: TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_owned())
                })
            };
            let length: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let event = header("x-vodsnap-event-id");
            while buffer.len() < end + 4 + length {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            buffer.drain(..end + 4 + length);
            let n = self.received.fetch_add(1, Ordering::Relaxed);
            let refuse = splitmix(n).is_multiple_of(FAIL_ONE_IN);
            let answer: &[u8] = if refuse {
                self.refused.fetch_add(1, Ordering::Relaxed);
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
            } else {
                if let Some(id) = event {
                    let at = Instant::now();
                    match self.accepted.lock() {
                        Ok(mut a) => a.entry(id).or_default().push(at),
                        Err(poisoned) => poisoned.into_inner().entry(id).or_default().push(at),
                    }
                }
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            };
            if conn.write_all(answer).await.is_err() {
                return;
            }
        }
    }
}

/// SplitMix64: the `n`th answer's pseudo-random draw (reproducible, no
/// dependency).
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_a_tenth_is_refused() {
        let refused = (0..10_000)
            .filter(|&n| splitmix(n).is_multiple_of(FAIL_ONE_IN))
            .count();
        assert!((800..1200).contains(&refused), "{refused}");
    }
}
