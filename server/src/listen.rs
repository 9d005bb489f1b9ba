//! Accepting connections within bounds, so that no client can exhaust a node:
//! - at most `MAX_CONNECTIONS` open at once (HTTP and WebSocket alike, kept until the
//!   socket closes); by default the process's open-files limit less room for its own
//!   files and Redis connections. Past it a new connection is closed at once, not queued;
//! - at most `MAX_CONNECTIONS_PER_IP` from one client address, where the node is reached
//!   directly (not with `TRUST_FORWARDED_FOR`, where every connection comes from the
//!   balancer);
//! - a deadline for a request's head (`HEADER_TIMEOUT_SECS`), which also ends a kept-alive
//!   connection that sends no next request and a WebSocket handshake that never completes.
//!
//! Connections are served by hyper's HTTP/1 server with upgrades (WebSockets), as
//! `axum::serve` does, with its timer and header deadline set.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::metrics;

/// Open files kept for the process itself (Redis connections, logs, the listener).
const OWN_FILES: usize = 64;

/// Connections the kernel holds for the node before it accepts them (at most
/// `net.core.somaxconn`). When a node dies, its clients come back on the others within a
/// second or so: with the usual 1,024, the connections beyond it are dropped and their
/// clients wait a second or more to send their SYN again.
const ACCEPT_BACKLOG: u32 = 4096;

/// A listener on `addr` with a backlog of [`ACCEPT_BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// How many connections a node takes.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub max_connections: usize,
    /// `None`: no limit per client address (behind a balancer).
    pub per_ip: Option<usize>,
    pub header_timeout: Duration,
}

/// The soft limit of open files of this process (Linux), if it can be read.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The default `MAX_CONNECTIONS`: the open-files limit less [`OWN_FILES`].
pub fn default_max_connections() -> usize {
    open_files_limit()
        .unwrap_or(1024)
        .saturating_sub(OWN_FILES)
        .max(16)
}

/// Connections open per client address.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place in the bounds, given back when the connection closes.
struct Slot {
    _permit: OwnedSemaphorePermit,
    ip: Option<(IpAddr, PerIp)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((ip, per_ip)) = &self.ip {
            let mut open = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = open.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(ip);
                }
            }
        }
    }
}

/// A TCP connection holding its slot for as long as it is open, also after an upgrade
/// to a WebSocket.
struct Counted {
    tcp: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Who may connect: a slot for `ip`, or `None` when a bound is reached.
struct Gate {
    open: Arc<Semaphore>,
    per_ip: PerIp,
    bounds: Bounds,
}

impl Gate {
    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let Ok(permit) = self.open.clone().try_acquire_owned() else {
            metrics::connection_refused("node");
            return None;
        };
        let ip = match self.bounds.per_ip {
            None => None,
            Some(most) => {
                let mut open = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                let n = open.entry(ip).or_insert(0);
                if *n >= most {
                    metrics::connection_refused("address");
                    return None;
                }
                *n += 1;
                Some((ip, self.per_ip.clone()))
            }
        };
        Some(Slot {
            _permit: permit,
            ip,
        })
    }
}

/// Serves `app` on `listener` within `bounds` until `shutdown` resolves; then stops
/// accepting, lets requests in progress finish and waits (up to `drain`) for the HTTP
/// connections to close. (Upgraded sockets are the caller's to close.)
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let gate = Gate {
        open: Arc::new(Semaphore::new(bounds.max_connections)),
        per_ip: PerIp::default(),
        bounds,
    };
    let (closing, closed) = watch::channel(());
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of files or a connection reset before it was accepted: go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = gate.admit(peer.ip()) else {
            drop(tcp);
            continue;
        };
        // Frames are small and often several go out at once: without TCP_NODELAY the
        // second one waits for the client's delayed ACK (tens of milliseconds).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(Counted { tcp, _slot: slot });
        connections.spawn(serve_connection(
            io,
            peer,
            app.clone(),
            gate.bounds.header_timeout,
            closed.clone(),
        ));
    }
    let _ = closing.send(());
    connections.close();
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections did not close within the drain deadline");
    }
}

async fn serve_connection(
    io: TokioIo<Counted>,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut closing: watch::Receiver<()>,
) {
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = closing.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
