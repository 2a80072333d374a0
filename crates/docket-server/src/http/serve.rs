//! The listener: accepts TCP connections and serves each with HTTP/1.1.
//!
//! - At most `server.max_connections` connections are open at once; past that, new
//!   ones wait in the kernel's accept queue until one closes.
//! - At most `server.max_connections_per_peer` of them come from one IP address; one
//!   more is answered 503 and closed at once, so a single slow client (slowloris) cannot
//!   take every slot and starve the others.
//! - A request's head must arrive within `server.header_timeout_seconds` of its first
//!   byte (of the connection's opening, for the first request), so a client sending its
//!   headers a byte at a time is cut off; between requests a keep-alive connection may
//!   wait `server.idle_timeout_seconds` for the next one ([`super::keepalive`]). The
//!   body's limit is a middleware, `body_timeout` in `http/`.
//! - When `stop` flips, no connection is accepted any more; each open one finishes the
//!   request it is serving and closes. [`serve`] returns once every connection is
//!   closed (the caller bounds the wait).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::keepalive;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    /// The time a request's head gets from its first byte (or from the connection's
    /// opening, for the first request).
    pub header_timeout: Duration,
    /// The time a keep-alive connection may wait for its next request's first byte.
    pub idle_timeout: Duration,
}

/// Open connections per client address.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its peer; uncounted on drop.
struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// Counts a connection from `ip`, unless it already has `max` open.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The answer to a connection over its peer's limit, written without reading the
/// request: the peer already holds its share of slots, so it gets none for this.
fn peer_limit_response() -> Vec<u8> {
    let problem = docket_api::Problem {
        kind: format!("/docs/problems#{}", docket_api::codes::SERVICE_UNAVAILABLE),
        title: "Service Unavailable".into(),
        status: 503,
        detail: "too many connections from this address".into(),
        code: docket_api::codes::SERVICE_UNAVAILABLE.into(),
        errors: Vec::new(),
    };
    let body = serde_json::to_string(&problem).unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        docket_api::problem::PROBLEM_JSON,
        body.len()
    )
    .into_bytes()
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Serves `app` on `listener` until `stop` flips and every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let peers = Arc::new(Peers::default());
    let refusal = peer_limit_response();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then try again.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let Some(peer_slot) =
            peers.admit(peer.ip().to_canonical(), limits.max_connections_per_peer)
        else {
            // Best effort: a fresh socket's send buffer takes this at once; if not, the
            // close alone says it.
            let _ = stream.try_write(&refusal);
            tracing::debug!(peer = %peer.ip(), "connection refused: too many from this address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let signal = keepalive::Signal::default();
        let service = keepalive::Tracked::new(app.clone(), signal.clone());
        let read_limits = keepalive::ReadLimits {
            header: limits.header_timeout,
            idle: limits.idle_timeout,
        };
        let io = TokioIo::new(keepalive::Guarded::new(stream, read_limits, signal));
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _slot = (permit, peer_slot);
            let mut builder = hyper::server::conn::http1::Builder::new();
            // `Guarded` runs the idle and head deadlines; hyper's own header timer (which
            // starts as soon as the connection waits for a head, and moves the shared
            // timer at every request) is off.
            builder.timer(TokioTimer::new()).header_read_timeout(None);
            let conn = builder.serve_connection(io, service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    // Every slot back: every connection has closed.
    let _ = slots.acquire_many(max as u32).await;
}
