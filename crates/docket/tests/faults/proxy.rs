//! A TCP proxy owned by the test, between one node and PostgreSQL, to make the network
//! faults a node can meet: a cut (every connection closed, new ones refused), refused
//! reconnects only, and a silent partition (connections stay open, no byte gets through).
//!
//! A node reaches PostgreSQL through it when its database URL names the proxy's address
//! instead of PostgreSQL's ([`Proxy::url`]). Everything listens and connects on loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Forward,
    /// Open connections forward; new ones are accepted and dropped at once.
    Refuse,
    /// Every open connection is closed; new ones are accepted and dropped at once.
    Cut,
    /// Connections (open and new) stay open, but no byte is forwarded either way.
    Blackhole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    mode: watch::Sender<Mode>,
    /// Connection number -> local port of its connection to PostgreSQL.
    ports: Arc<Mutex<HashMap<u64, u16>>>,
    accept: tokio::task::JoinHandle<()>,
}

/// `host:port` of a `postgres://user@host:port/db?...` URL.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, hp)| hp)
}

impl Proxy {
    /// A proxy on 127.0.0.1 (a free port) to the PostgreSQL server `db_url` names.
    pub async fn start(db_url: &str) -> Self {
        let upstream = authority(db_url).to_owned();
        assert!(
            upstream.starts_with("127.0.0.1:"),
            "the test database must be on 127.0.0.1 (host:port), not {upstream}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Forward);
        let ports = Arc::new(Mutex::new(HashMap::new()));
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream.clone(),
            mode.clone(),
            ports.clone(),
        ));
        Self {
            addr,
            upstream,
            mode,
            ports,
            accept,
        }
    }

    /// `db_url` with PostgreSQL's address replaced by the proxy's.
    pub fn url(&self, db_url: &str) -> String {
        db_url.replacen(&self.upstream, &self.addr.to_string(), 1)
    }

    /// Closes every open connection (both directions) and refuses new ones.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Keeps open connections forwarding but refuses new ones.
    pub fn refuse(&self) {
        self.mode.send_replace(Mode::Refuse);
    }

    /// A silent partition: connections stay open, nothing is forwarded.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Forwards again (bytes held by a blackhole go through).
    pub fn heal(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// Local ports of the proxy's open connections to PostgreSQL: what
    /// `pg_stat_activity.client_port` shows for the node's backends.
    pub fn upstream_ports(&self) -> Vec<u16> {
        self.ports.lock().unwrap().values().copied().collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    mode: watch::Sender<Mode>,
    ports: Arc<Mutex<HashMap<u64, u16>>>,
) {
    let next = AtomicU64::new(0);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let now = *mode.borrow();
        if matches!(now, Mode::Cut | Mode::Refuse) {
            drop(client);
            continue;
        }
        let n = next.fetch_add(1, Ordering::Relaxed);
        let (rx, upstream, ports) = (mode.subscribe(), upstream.clone(), ports.clone());
        tokio::spawn(async move {
            connection(n, client, &upstream, rx, &ports).await;
            ports.lock().unwrap().remove(&n);
        });
    }
}

/// Waits while the mode holds bytes back; `false` when the connection must close.
async fn may_forward(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Cut => return false,
            Mode::Forward | Mode::Refuse => return true,
            Mode::Blackhole => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

async fn connection(
    n: u64,
    client: TcpStream,
    upstream: &str,
    mut mode: watch::Receiver<Mode>,
    ports: &Mutex<HashMap<u64, u16>>,
) {
    // A connection made during a blackhole hangs before it reaches PostgreSQL.
    if !may_forward(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    ports
        .lock()
        .unwrap()
        .insert(n, server.local_addr().unwrap().port());
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // The first direction to end ends both: dropping the halves closes both sockets.
    tokio::select! {
        () = pump(cr, sw, mode.clone()) => {}
        () = pump(sr, cw, mode) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !may_forward(&mut mode).await {
            return;
        }
        tokio::select! {
            r = from.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if !may_forward(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
