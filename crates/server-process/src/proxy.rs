//! A TCP proxy between vodsnap and its storage that a test or the soak
//! (`cargo xtask bench --soak`) switches, to play an outage: `Down` closes every connection at once, as an
//! unreachable storage would; `Stalled` takes connections and never answers,
//! as a hung one would; `Forbidding` answers every request 403, as a
//! storage refusing the keys would (the keys' own failure, not an outage).
//! Switching cuts the connections already open.
//!
//! Behind the `proxy` feature: it needs tokio, which xtask, the other user
//! of this crate, does without.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    Down,
    Stalled,
    Forbidding,
}

#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target`, up, on a free loopback port (in the current
    /// tokio runtime, until dropped).
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(Mode::Up);
        let state = mode.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut mode = state.subscribe();
                let now = *mode.borrow_and_update();
                match now {
                    Mode::Down => drop(inbound),
                    Mode::Stalled => {
                        tokio::spawn(async move {
                            // Held, unanswered, until the mode changes.
                            let _ = mode.changed().await;
                            drop(inbound);
                        });
                    }
                    Mode::Forbidding => {
                        tokio::spawn(async move {
                            tokio::select! {
                                () = forbid(inbound) => {}
                                // Switched (or the proxy dropped): cut it.
                                _ = mode.changed() => {}
                            }
                        });
                    }
                    Mode::Up => {
                        tokio::spawn(async move {
                            let Ok(mut outbound) = TcpStream::connect(target).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                // Switched (or the proxy dropped): cut the connection.
                                _ = mode.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Self {
            addr,
            mode,
            accepting,
        })
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Takes the storage away (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.set(if up { Mode::Up } else { Mode::Down });
    }
}

/// Reads each request (head and `Content-Length` body) and answers 403.
async fn forbid(mut inbound: TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match inbound.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < end + 4 + length {
            match inbound.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..end + 4 + length);
        let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let answer = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if inbound.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Down);
        self.accepting.abort();
    }
}
