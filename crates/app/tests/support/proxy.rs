//! A TCP proxy between vodsnap and its storage that the test switches, to
//! play an outage: `Down` closes every connection at once, as an
//! unreachable storage would; `Stalled` takes connections and never answers,
//! as a hung one would. Switching cuts the connections already open.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    Down,
    Stalled,
}

#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target`, up, on a free loopback port.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
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
        Self {
            addr,
            mode,
            accepting,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Takes the storage away (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.set(if up { Mode::Up } else { Mode::Down });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Down);
        self.accepting.abort();
    }
}
