//! A tiny TCP proxy on a loopback port, for fault tests: put it between a store and its
//! server, then break the link on purpose.
//!
//! - [`Proxy::cut`]`(`[`Cut::Refuse`]`)` closes every open connection and resets each new one
//!   as soon as it is accepted (a server that is down);
//! - [`Proxy::cut`]`(`[`Cut::Blackhole`]`)` closes every open connection and accepts new ones
//!   but never forwards a byte (a hung server or a dropped route: only timeouts end a call);
//! - [`Proxy::freeze`] stops forwarding on the open connections without closing them, and
//!   blackholes new ones (a server that stalls mid-conversation);
//! - [`Proxy::delay`] holds every chunk for a while before forwarding it (a slow link);
//! - [`Proxy::restore`] forwards again: frozen connections resume, blackholed sockets are
//!   closed without ever being forwarded.
//!
//! [`cut`](Proxy::cut) returns only once every forwarding task has stopped, so no byte a
//! client writes after it returns can reach the server through a connection made before it.
//! Every mode change bumps an epoch ([`Proxy::phase`]), so a test can tell which requests ran
//! entirely inside one mode. Loopback only, at most [`MAX_CONNECTIONS`] sockets at once, and
//! everything stops when the proxy is dropped.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The most sockets (forwarded or held) the proxy keeps at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 256;

/// How long the proxy waits for the upstream server to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the proxy does with traffic right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways (possibly after a [`Proxy::delay`]).
    Forward,
    /// Resets every new connection; nothing is open.
    Refuse,
    /// Holds every new connection without reading it; nothing is forwarded.
    Blackhole,
    /// Open connections are stalled (not closed); new ones are held as in `Blackhole`.
    Frozen,
    /// A [`Proxy::cut`] is closing the open connections: a byte may still slip through.
    Cutting,
}

impl Mode {
    /// True when no byte a request writes in this mode can reach the server (until a
    /// restore, for `Frozen`).
    pub fn is_down(self) -> bool {
        matches!(self, Mode::Refuse | Mode::Blackhole | Mode::Frozen)
    }
}

/// How [`Proxy::cut`] treats new connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Accept and reset at once.
    Refuse,
    /// Accept and never forward.
    Blackhole,
}

/// What the forwarding tasks watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Control {
    frozen: bool,
    delay: Duration,
}

struct State {
    /// What the accept loop does.
    mode: Mode,
    /// What [`Proxy::phase`] reports: `Cutting` until a cut has closed every link.
    reported: Mode,
    epoch: u64,
    /// Forwarding tasks, one per accepted connection.
    links: Vec<JoinHandle<()>>,
    /// Blackholed sockets, closed on restore.
    held: Vec<TcpStream>,
    accepted: u64,
}

struct Inner {
    upstream: SocketAddr,
    state: Mutex<State>,
    control: watch::Sender<Control>,
}

/// A loopback TCP proxy to one upstream address. Stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.inner.upstream)
            .field("phase", &self.phase())
            .finish()
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`, which must
    /// resolve to a loopback address).
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = tokio::net::lookup_host(upstream)
            .await
            .unwrap_or_else(|e| panic!("proxy upstream {upstream}: {e}"))
            .find(|a| a.ip().is_loopback())
            .unwrap_or_else(|| panic!("proxy upstream {upstream} is not a loopback address"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (control, _) = watch::channel(Control {
            frozen: false,
            delay: Duration::ZERO,
        });
        let inner = Arc::new(Inner {
            upstream,
            state: Mutex::new(State {
                mode: Mode::Forward,
                reported: Mode::Forward,
                epoch: 0,
                links: Vec::new(),
                held: Vec::new(),
                accepted: 0,
            }),
            control,
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Proxy {
            addr,
            inner,
            accept,
        }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its `host:port` replaced by the proxy's (the first one, for URLs naming
    /// several), e.g. `postgres://u@127.0.0.1:5432/db` → `postgres://u@127.0.0.1:40123/db`.
    pub fn url(&self, url: &str) -> String {
        let hostport = super::services::host_port(url);
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let at = rest.find(&hostport).expect("the URL names its host:port");
        format!(
            "{scheme}://{}{}{}",
            &rest[..at],
            self.addr,
            &rest[at + hostport.len()..]
        )
    }

    /// The current mode and its epoch (bumped by every change).
    pub fn phase(&self) -> (u64, Mode) {
        let st = self.inner.state.lock().unwrap();
        (st.epoch, st.reported)
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.inner.state.lock().unwrap().accepted
    }

    /// Closes every open connection and refuses or blackholes new ones. Returns once no
    /// forwarding task is left; only then does [`phase`](Self::phase) report the new mode
    /// (meanwhile it reports [`Mode::Cutting`]), so a request that saw the new mode when it
    /// started cannot have sent a byte through a link still being torn down.
    pub async fn cut(&self, how: Cut) {
        let mode = match how {
            Cut::Refuse => Mode::Refuse,
            Cut::Blackhole => Mode::Blackhole,
        };
        let links = {
            let mut st = self.inner.state.lock().unwrap();
            st.mode = mode;
            st.reported = Mode::Cutting;
            st.epoch += 1;
            if how == Cut::Refuse {
                st.held.clear();
            }
            std::mem::take(&mut st.links)
        };
        for link in &links {
            link.abort();
        }
        for link in links {
            let _ = link.await;
        }
        let mut st = self.inner.state.lock().unwrap();
        st.reported = mode;
        st.epoch += 1;
    }

    /// Stalls the open connections (not closed: a stalled server) and holds new ones.
    pub fn freeze(&self) {
        let mut st = self.inner.state.lock().unwrap();
        st.mode = Mode::Frozen;
        st.reported = Mode::Frozen;
        st.epoch += 1;
        self.inner.control.send_modify(|c| c.frozen = true);
    }

    /// Holds each chunk `ms` milliseconds before forwarding it, both ways (0: no delay).
    pub fn delay(&self, ms: u64) {
        let mut st = self.inner.state.lock().unwrap();
        st.epoch += 1;
        self.inner
            .control
            .send_modify(|c| c.delay = Duration::from_millis(ms));
    }

    /// Forwards again with no delay: frozen connections resume; held (blackholed) sockets
    /// are closed, never forwarded.
    pub fn restore(&self) {
        let mut st = self.inner.state.lock().unwrap();
        st.mode = Mode::Forward;
        st.reported = Mode::Forward;
        st.epoch += 1;
        st.held.clear();
        self.inner.control.send_modify(|c| {
            c.frozen = false;
            c.delay = Duration::ZERO;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        let mut st = self.inner.state.lock().unwrap();
        for link in st.links.drain(..) {
            link.abort();
        }
        st.held.clear();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut st = inner.state.lock().unwrap();
        st.accepted += 1;
        st.links.retain(|l| !l.is_finished());
        if st.links.len() + st.held.len() >= MAX_CONNECTIONS {
            let _ = socket.set_zero_linger();
            continue;
        }
        match st.mode {
            Mode::Refuse => {
                // A reset, as close to "connection refused" as an accepted socket gets.
                let _ = socket.set_zero_linger();
            }
            Mode::Blackhole | Mode::Frozen => st.held.push(socket),
            Mode::Cutting => unreachable!("only reported, never in force"),
            Mode::Forward => {
                // Spawned under the lock, so `cut` either sees this task or this task's
                // connection sees the new mode.
                let link = tokio::spawn(forward(socket, inner.upstream, inner.control.subscribe()));
                st.links.push(link);
            }
        }
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, control: watch::Receiver<Control>) {
    let server =
        match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
            Ok(Ok(s)) => s,
            _ => {
                let _ = client.set_zero_linger();
                return;
            }
        };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Either side closing ends the whole link (no half-open connections).
    tokio::select! {
        _ = pump(cr, sw, control.clone()) => {}
        _ = pump(sr, cw, control) => {}
    }
}

/// Waits until the link is not frozen; returns the delay in force.
async fn thawed(control: &mut watch::Receiver<Control>) -> Option<Duration> {
    control.wait_for(|c| !c.frozen).await.ok().map(|c| c.delay)
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut control: watch::Receiver<Control>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if thawed(&mut control).await.is_none() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = control.borrow().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // Frozen meanwhile: the chunk is in flight, and is delivered on restore.
        if thawed(&mut control).await.is_none() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
