//! The accept loop: HTTP/1.1 connections with nginx-like timeouts and a cap below
//! the open-file limit, so idle or slow clients cannot lock everyone else out.
//!
//! - a connection that has sent part of a request's head is closed after
//!   `header_read_timeout` (slowloris); one that sends nothing, after the same time
//!   for its first request and after `keepalive_timeout` between requests;
//! - a request body that sends nothing for `body_read_timeout` while the server
//!   waits for it fails its request, which closes the connection;
//! - at `max_connections` the connection idle for longest is shed to admit a new
//!   one; when every connection is busy, the new one is closed at once;
//! - accept errors (the file limit reached anyway) shed an idle connection and
//!   pause briefly instead of spinning.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;
use tracing::Instrument;

use super::hot::HotAnswers;
use crate::config::HttpConfig;

/// Connection limits in force.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

impl ConnLimits {
    /// The limits of `[http]`; a `max_connections` of 0 is the open-file limit minus `reserved_files`.
    pub fn from_config(c: &HttpConfig) -> ConnLimits {
        let max_connections = if c.max_connections > 0 {
            c.max_connections
        } else {
            let files = open_file_limit();
            (files.saturating_sub(c.reserved_files) as usize).max(16)
        };
        ConnLimits {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_seconds.max(1)),
            keepalive_timeout: Duration::from_secs(c.keepalive_timeout_seconds.max(1)),
            body_read_timeout: Duration::from_secs(c.body_read_timeout_seconds.max(1)),
            max_connections,
        }
    }
}

/// Raises the soft open-file limit to the hard one (as nginx's `worker_rlimit_nofile`
/// would) and answers the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if let Some(hard) = l.maximum
        && l.current.is_some_and(|c| c < hard)
    {
        l.current = Some(hard);
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
    open_file_limit()
}

fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
}

/// What the accept loop and the watchdog know about one connection.
struct Conn {
    in_flight: AtomicUsize,
    /// Milliseconds since the loop started when the connection last became idle.
    idle_since: AtomicU64,
    /// Bytes arrived since it became idle (a request head is under way).
    got_bytes: AtomicBool,
    /// It has answered a request (later waits are keep-alive waits).
    answered: AtomicBool,
    changed: Notify,
    kill: Notify,
}

struct Registry {
    started: Instant,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// The most connections open at once since memory was last given back.
    peak: AtomicUsize,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Closes the connection idle for longest; false when every one is busy.
    fn shed_oldest_idle(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = conns
            .iter()
            .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| c.idle_since.load(Ordering::Acquire))
            .map(|(id, _)| *id);
        match oldest.and_then(|id| conns.remove(&id)) {
            Some(c) => {
                c.kill.notify_one();
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What answers requests: the router, and the door that answers kept responses
/// before it (`hot.rs`; none where nothing is kept).
#[derive(Clone)]
pub struct App {
    pub router: Router,
    pub hot: Option<Arc<HotAnswers>>,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in
/// flight finish (idle connections close at once).
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let reg = Arc::new(Registry {
        started: Instant::now(),
        conns: Mutex::new(HashMap::new()),
        peak: AtomicUsize::new(0),
    });
    let trimmer = tokio::spawn(give_back_memory_after_floods(reg.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id = 0u64;
    let mut refused_logged: Option<Instant> = None;
    let mut accept_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors (or a transient error): make room, pause.
                    if due(&mut accept_logged) {
                        tracing::warn!(error = %e, "accept failed (logged at most every 10 s)");
                    }
                    reg.shed_oldest_idle();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if reg.len() >= limits.max_connections && !reg.shed_oldest_idle() {
            if due(&mut refused_logged) {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection refused: every connection is busy (logged at most every 10 s)"
                );
            }
            drop(stream);
            continue;
        }
        next_id += 1;
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(reg.now_ms()),
            got_bytes: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            changed: Notify::new(),
            kill: Notify::new(),
        });
        let open = {
            let mut conns = reg.conns.lock().unwrap_or_else(|e| e.into_inner());
            conns.insert(next_id, conn.clone());
            conns.len()
        };
        reg.peak.fetch_max(open, Ordering::Relaxed);
        let (reg, app, stop) = (reg.clone(), app.clone(), stop_rx.clone());
        let id = next_id;
        tokio::spawn(async move {
            serve_connection(stream, remote, app, conn, &reg, limits, stop).await;
            reg.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }
    drop(listener);
    trimmer.abort();
    let _ = stop_tx.send(true);
    // Requests in flight get a while to finish.
    let deadline = Instant::now() + Duration::from_secs(30);
    while reg.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// How many connections must have closed since the peak before memory is given back.
const TRIM_AFTER_CLOSED: usize = 256;

/// Gives the memory of closed connections back to the system after a flood (the
/// ~20 KiB each idle connection used would otherwise stay resident after it is gone).
async fn give_back_memory_after_floods(reg: Arc<Registry>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let open = reg.len();
        let peak = reg.peak.load(Ordering::Relaxed);
        if peak >= open + TRIM_AFTER_CLOSED {
            reg.peak.store(open, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(crate::heap::release).await;
        }
    }
}

/// Whether a repeated warning is due (at most one every 10 s).
fn due(last: &mut Option<Instant>) -> bool {
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: App,
    conn: Arc<Conn>,
    reg: &Registry,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
    });
    let c = conn.clone();
    let started = reg.started;
    let body_timeout = limits.body_read_timeout;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        c.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = RequestGuard {
            conn: c.clone(),
            started,
        };
        req.extensions_mut().insert(ConnectInfo(remote));
        let App { router: app, hot } = app.clone();
        // Every log line of the request names the client's address (a WARN span, so
        // that it is there when only warnings are logged: a locked account's, say).
        let span = tracing::warn_span!("client", remote = %remote);
        async move {
            // A body that stalls (slowloris on the body) fails its request.
            let req = req.map(|b| Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, b)));
            let ticket = hot.as_ref().and_then(|h| h.ticket(&req));
            let kept = match (&hot, &ticket) {
                (Some(h), Some(t)) => {
                    h.answer(t, req.method(), req.uri(), req.headers())
                        .instrument(span.clone())
                        .await
                }
                _ => None,
            };
            let resp = match kept {
                Some(r) => r,
                None => {
                    let mut r = match app.oneshot(req).instrument(span).await {
                        Ok(r) => r,
                        Err(e) => match e {},
                    };
                    if let (Some(h), Some(t)) = (&hot, ticket) {
                        h.keep(t, &mut r);
                    }
                    r
                }
            };
            // The request ends when its answer's body is done (dropped by hyper).
            Ok::<_, Infallible>(resp.map(|b| {
                Body::new(b.map_frame(move |f| {
                    let _ = &guard;
                    f
                }))
            }))
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .with_upgrades();
    tokio::pin!(http);
    let mut stopping = false;
    loop {
        let wait = idle_wait(&conn, reg, limits);
        tokio::select! {
            _ = &mut http => return,
            _ = conn.kill.notified() => return,
            _ = conn.changed.notified() => {}
            _ = stop.changed(), if !stopping => {
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))) => {
                if idle_wait(&conn, reg, limits).is_some_and(|w| w.is_zero()) {
                    tracing::debug!(%remote, "connection closed: timeout");
                    return;
                }
            }
        }
    }
}

/// How long an idle connection may still wait (zero: close it); `None` while busy.
fn idle_wait(conn: &Conn, reg: &Registry, limits: ConnLimits) -> Option<Duration> {
    if conn.in_flight.load(Ordering::Acquire) > 0 {
        return None;
    }
    let since = conn.idle_since.load(Ordering::Acquire);
    let limit = if conn.got_bytes.load(Ordering::Acquire) || !conn.answered.load(Ordering::Acquire) {
        limits.header_read_timeout
    } else {
        limits.keepalive_timeout
    };
    let elapsed = Duration::from_millis(reg.now_ms().saturating_sub(since));
    // Bytes arriving during a keep-alive wait notify the loop, which then applies
    // the header deadline instead.
    Some(limit.saturating_sub(elapsed))
}

/// Marks a connection idle again when its request's answer is done.
struct RequestGuard {
    conn: Arc<Conn>,
    started: Instant,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let c = &self.conn;
        c.idle_since
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
        c.got_bytes.store(false, Ordering::Release);
        c.answered.store(true, Ordering::Release);
        c.in_flight.fetch_sub(1, Ordering::AcqRel);
        c.changed.notify_one();
    }
}

/// The socket, noting when request bytes arrive.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && !self.conn.got_bytes.swap(true, Ordering::AcqRel) {
            self.conn.changed.notify_one();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(sent) = super::zero_copy::poll_write_vectored(&self.inner, cx, bufs) {
            return sent;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
