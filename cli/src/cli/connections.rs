//! The accept loop of `tessera serve`: limits that keep the server answering real requests
//! while clients misbehave.
//!
//! - **Header-read timeout**: a connection must send a whole request head within it, from the
//!   moment it opens and again after every response (hyper's `header_read_timeout`, which
//!   also bounds a keep-alive connection's idle time). A silent socket, a half-sent head or
//!   one dripped a byte at a time is closed.
//! - **Request timeout**: a request (its body read, the handler, the session saved) that takes
//!   longer is answered 408 and its connection closed, so a body dripped slowly cannot hold a
//!   connection either.
//! - **Connection cap**: at most `max_connections` are open; the default leaves room below the
//!   process's file-descriptor limit (raised to its hard limit at start) for the store's own
//!   sockets and files, so `accept` never fails for want of a descriptor.
//! - **Shedding**: a connection arriving at the cap closes the connection that has been idle
//!   the longest (no request in flight: nothing is lost, a client just reconnects). When every
//!   connection is busy, the newcomer gets a 503 with `Retry-After` at once, without a read.
//!
//! Only HTTP/1.1 is served: the demo runs without TLS, where browsers do not speak HTTP/2.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

/// How long open connections may take to finish once a stop is asked for.
const GRACE: Duration = Duration::from_secs(5);
/// File descriptors kept free for the store's connections, the database files and the logs.
const RESERVED_DESCRIPTORS: u64 = 256;
/// What a connection shed while every other one is busy reads before the server closes it.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 20\r\n\r\nServer overloaded.\r\n";

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; `None` derives it from the file-descriptor limit.
    pub max_connections: Option<usize>,
    /// Time to send a whole request head, from connect or from the last response.
    pub header_timeout: Duration,
    /// Time for a whole request: body, handler and response head.
    pub request_timeout: Duration,
}

/// One open connection, as the accept loop sees it.
#[derive(Debug)]
struct Connection {
    /// Requests being answered; 0 means the connection is idle.
    in_flight: AtomicUsize,
    /// When it last became idle, as nanoseconds since the server started.
    idle_since: AtomicU64,
    /// Notified to close it.
    evict: Notify,
}

/// Every open connection, by id.
#[derive(Debug)]
struct Registry {
    started: Instant,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Connections whose socket is still open: an evicted one leaves `open` at once but holds
    /// its descriptor until its task ends.
    live: AtomicUsize,
    /// Notified whenever a connection ends (for the stop's wait).
    ended: Notify,
}

impl Registry {
    fn nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Waits (at most `limit`) until fewer than `cap` sockets are open.
    async fn below(&self, cap: usize, limit: Duration) {
        let wait = async {
            loop {
                let ended = self.ended.notified();
                if self.live() < cap {
                    return;
                }
                ended.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    fn add(&self, id: u64) -> Arc<Connection> {
        let conn = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.nanos()),
            evict: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, conn.clone());
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        conn
    }

    /// A connection's task ended: its socket is closed.
    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.ended.notify_waiters();
    }

    /// Closes the connection idle the longest; false when every connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let oldest = open
            .iter()
            .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| c.idle_since.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match oldest.and_then(|id| open.remove(&id)) {
            Some(conn) => {
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The connection cap `limits` asks for, or the default: the file-descriptor limit, raised to
/// its hard limit, less [`RESERVED_DESCRIPTORS`].
pub fn connection_cap(limits: &Limits) -> usize {
    if let Some(max) = limits.max_connections {
        return max.max(1);
    }
    let descriptors = raise_descriptor_limit();
    usize::try_from(descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(16)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one (as Go's runtime does) and returns it.
fn raise_descriptor_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024)
}

/// Serves `app` on `listener` within `limits` until `stop` completes, then lets open
/// connections finish for up to five seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let cap = connection_cap(&limits);
    tracing::info!(
        "at most {cap} connections; {:?} to send a request head, {:?} per request",
        limits.header_timeout,
        limits.request_timeout
    );
    let registry = Arc::new(Registry {
        started: Instant::now(),
        open: Mutex::new(HashMap::new()),
        live: AtomicUsize::new(0),
        ended: Notify::new(),
    });
    let (stopping, stopped) = watch::channel(false);
    let mut next_id = 0u64;
    let mut last_accept_warning: Option<Instant> = None;
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or memory: make room, and do not spin.
                    if last_accept_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!("accept failed: {e}; closing the longest-idle connection");
                        last_accept_warning = Some(Instant::now());
                    }
                    registry.evict_oldest_idle();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if registry.live() >= cap {
            if !registry.evict_oldest_idle() {
                // A best-effort answer, without waiting: the socket buffer takes it or not.
                let _ = stream.try_write(BUSY);
                continue;
            }
            // The evicted socket closes when its task runs: wait for it (briefly), so the
            // descriptors in use stay at the cap however fast connections arrive.
            registry.below(cap, Duration::from_millis(100)).await;
        }
        next_id += 1;
        let conn = registry.add(next_id);
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            limits,
            Connected {
                id: next_id,
                conn,
                registry: registry.clone(),
            },
            stopped.clone(),
        ));
    }
    drop(listener);
    tracing::info!("stopping: finishing open requests");
    let _ = stopping.send(true);
    registry.below(1, GRACE).await;
    if registry.live() > 0 {
        tracing::warn!("connections still open after {GRACE:?}: closing them");
    }
}

/// A connection's place in the registry, released when it ends.
struct Connected {
    id: u64,
    conn: Arc<Connection>,
    registry: Arc<Registry>,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// Serves one connection until it closes, is evicted, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    connected: Connected,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tracked = connected.conn.clone();
    let registry = connected.registry.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let app = app.clone();
        let tracked = tracked.clone();
        let registry = registry.clone();
        tracked.in_flight.fetch_add(1, Ordering::AcqRel);
        async move {
            let answer =
                tokio::time::timeout(limits.request_timeout, app.oneshot(req.map(Body::new))).await;
            tracked
                .idle_since
                .store(registry.nanos(), Ordering::Relaxed);
            tracked.in_flight.fetch_sub(1, Ordering::AcqRel);
            Ok::<_, std::convert::Infallible>(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => timed_out(limits.request_timeout),
            })
        }
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = connected.conn.evict.notified() => {}
        () = async { let _ = stopped.wait_for(|s| *s).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The answer to a request that ran past the request timeout; the connection closes after it.
fn timed_out(after: Duration) -> Response {
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        format!("Request Timeout: the request took longer than {after:?}\n"),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}
