//! Serving the router on a TCP listener, with the limits a server facing
//! hostile clients needs and `axum::serve` does not expose: a deadline on
//! request headers (which is also the idle keep-alive timeout), a cap on
//! open connections, and an accept loop that backs off, logging once,
//! when the process runs out of file descriptors.
//!
//! Built on hyper's HTTP/1.1 connection builder with hyper-util's Tokio
//! timer and graceful-shutdown watcher; nothing here touches a socket
//! beyond `accept`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits on connections.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long a client has to send a request's headers, counted from the
    /// moment the connection is ready for a request: when it opens, and
    /// after each response. So it is also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// Most connections open at once; beyond it, new connections wait in
    /// the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Longest pause of the accept loop after an error such as `EMFILE`.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their requests.
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve<F>(listener: TcpListener, router: Router, settings: ServerSettings, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let slots = Arc::new(Semaphore::new(
        settings.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    metrics::gauge!("vodsnap_http_connections_max").set(settings.max_connections as f64);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, connections wait in the kernel's
        // backlog rather than costing a descriptor here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff.recovered();
                    accepted
                }
                Err(e) => {
                    drop(slot);
                    tokio::select! {
                        () = backoff.failed(&e) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            metrics::gauge!("vodsnap_http_connections_open").increment(1.0);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            metrics::gauge!("vodsnap_http_connections_open").decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The accept loop's pause after an error: it doubles from 10 ms to 1 s
/// while accepting keeps failing, and the failure is logged once when it
/// starts and once when it ends, never once per attempt.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u64,
    delay: Duration,
}

impl AcceptBackoff {
    async fn failed(&mut self, error: &io::Error) {
        if is_peer_error(error) {
            // The peer gave up before we accepted: nothing to wait for.
            return;
        }
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(
                error = %error,
                "cannot accept connections; backing off until it works again (with too many open files, lower --max-connections or raise the descriptor limit)"
            );
            self.delay = FIRST_ACCEPT_BACKOFF;
        } else {
            self.delay = (self.delay * 2).min(MAX_ACCEPT_BACKOFF);
        }
        metrics::counter!("vodsnap_http_accept_errors_total").increment(1);
        tokio::time::sleep(self.delay).await;
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::warn!(
                failed_attempts = self.failures,
                "accepting connections again"
            );
            self.failures = 0;
        }
    }
}

/// Errors about one connection, not about the listener.
fn is_peer_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The address a peer connected from, as handlers see it.
pub type PeerAddr = ConnectInfo<SocketAddr>;
