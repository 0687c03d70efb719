//! The admin API's accept loop: hyper's HTTP/1 server under bounds, so that a flood
//! of connections cannot exhaust the daemon's file descriptors or hold its API.
//!
//! - At most [`connection_cap`] connections are open at once (512 under the common
//!   open-file limit of 1,024: half the limit, so the store, the components, the
//!   watcher and the connectors' upstream sockets always have descriptors left).
//! - A request's head (request line and headers) must arrive within
//!   [`HEADER_TIMEOUT`] of the connection opening, or of the previous response on a
//!   kept-alive connection; otherwise hyper closes the connection. Heads are at most
//!   [`MAX_HEAD_BYTES`].
//! - A request's body (the API takes none) must arrive within [`BODY_TIMEOUT`] and
//!   be at most [`MAX_BODY_BYTES`]: 408 or 413 otherwise, and the connection closes.
//! - When the cap is reached, a new connection closes the **oldest connection that
//!   has no request being answered** (one still sending its head or body, or idle
//!   between requests) and takes its place. This is what nginx does when it runs out
//!   of connections (it closes the least recently used idle keep-alive connections
//!   first), extended to half-sent requests, which is what a slow-loris flood is made
//!   of: a real client sends its head in one packet, so the connections a new one
//!   pushes out are the stalled ones, and `GET /health` keeps answering. Stopping
//!   accepting at the cap (Go's `LimitListener`, HAProxy's `maxconn`) would leave the
//!   health check queued in the kernel behind the flood; a quick 503 to every new
//!   connection would fail it. Only if every open connection has a request being
//!   answered does a new one wait (in the kernel's backlog) for one to finish.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The most admin connections open at once, whatever the open-file limit.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a client may take to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send a request's body, once its head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// The largest request body (no route takes one).
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// The connection cap under an open-file limit of `nofile`: [`MAX_CONNECTIONS`], or
/// half the limit when that is lower.
pub fn connection_cap(nofile: u64) -> usize {
    (nofile / 2).clamp(1, MAX_CONNECTIONS as u64) as usize
}

/// Serves `app` on `listener` until the task is dropped, with at most `cap`
/// connections open.
pub async fn serve(listener: TcpListener, app: Router, cap: usize) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .max_header_size(MAX_HEAD_BYTES);
    let permits = Arc::new(Semaphore::new(cap));
    let open = Arc::new(Connections::default());
    let mut warned: Option<Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (or another transient failure): never spin.
                if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!("the admin API cannot accept a connection: {e}");
                    warned = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = admit(&permits, &open, cap, &mut warned).await;
        let conn = open.add();
        let service = ConnService { router: app.clone(), conn: conn.clone() };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!("admin connection ended: {e}");
                    }
                }
                _ = conn.evict.notified() => {
                    tracing::debug!("admin connection closed to make room for a new one");
                }
            }
            open.remove(conn.id);
            drop(permit);
        });
    }
}

/// A permit for one more connection: at once if there is one; otherwise the oldest
/// connection with no request being answered is closed for it.
async fn admit(
    permits: &Arc<Semaphore>,
    open: &Connections,
    cap: usize,
    warned: &mut Option<Instant>,
) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return permit;
        }
        let evicted = open.evict_oldest_idle();
        if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            if evicted {
                tracing::warn!(
                    "the admin API has {cap} connections open, the most it keeps; closing the oldest one that has not sent a whole request"
                );
            } else {
                tracing::warn!(
                    "the admin API has {cap} connections open, each with a request being answered; new ones wait"
                );
            }
            *warned = Some(Instant::now());
        }
        // An evicted connection gives its permit back as soon as its task runs; if no
        // connection could be evicted, look again in a while (one may have gone idle).
        let wait = if evicted { Duration::from_millis(100) } else { Duration::from_millis(500) };
        if let Ok(Ok(permit)) = tokio::time::timeout(wait, permits.clone().acquire_owned()).await {
            return permit;
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

struct Conn {
    id: u64,
    /// Requests whose head and body are in and whose answer is not yet written.
    busy: AtomicUsize,
    evict: Notify,
}

impl Connections {
    fn add(&self) -> Arc<Conn> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn { id, busy: AtomicUsize::new(0), evict: Notify::new() });
        self.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Tells the oldest connection with no request being answered to close; false
    /// if every one has a request being answered.
    fn evict_oldest_idle(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let Some(id) = open.iter().find(|(_, c)| c.busy.load(Ordering::Acquire) == 0).map(|(id, _)| *id) else {
            return false;
        };
        if let Some(conn) = open.remove(&id) {
            // `notify_one` keeps the wake-up if the task is not waiting right now.
            conn.evict.notify_one();
        }
        true
    }
}

/// Marks a connection as answering a request while it lives.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: &Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection's service: reads the (bounded) body in time, then hands the
/// request to the router; the connection counts as busy until the answer's body is
/// written.
#[derive(Clone)]
struct ConnService {
    router: Router,
    conn: Arc<Conn>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut router = self.router.clone();
        let conn = self.conn.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match tokio::time::timeout(BODY_TIMEOUT, read_body(body, MAX_BODY_BYTES)).await {
                Ok(Ok(body)) => body,
                Ok(Err(BodyError::TooLarge)) => {
                    return Ok(refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the request body is larger than {MAX_BODY_BYTES} bytes, the most the admin API reads"),
                    ));
                }
                Ok(Err(BodyError::Read(e))) => {
                    return Ok(refuse(StatusCode::BAD_REQUEST, format!("the request body could not be read: {e}")));
                }
                Err(_) => {
                    return Ok(refuse(
                        StatusCode::REQUEST_TIMEOUT,
                        format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
                    ));
                }
            };
            let busy = Busy::new(&conn);
            // The router is never unready and never fails (its error type is `Infallible`).
            let Ok(()) =
                std::future::poll_fn(|cx| tower_service::Service::<Request<Body>>::poll_ready(&mut router, cx)).await;
            let Ok(response) =
                tower_service::Service::call(&mut router, Request::from_parts(parts, Body::from(body))).await;
            Ok(response.map(|inner| Tracked { inner, _busy: Some(busy) }))
        })
    }
}

/// A JSON error that also closes the connection (its request was not read whole).
fn refuse(status: StatusCode, message: String) -> Response<Tracked> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Tracked { inner: Body::from(body), _busy: None });
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// The whole body, refused past `max` bytes (checked against `content-length` first).
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    use hyper::body::Body as _;
    if body.size_hint().lower() > max as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.map_err(BodyError::Read)?.into_data() {
            if buf.len() + data.len() > max {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// A response body that keeps its connection marked busy until it is written whole
/// (hyper drops a body once it has sent its last frame).
struct Tracked {
    inner: Body,
    _busy: Option<Busy>,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The open-file limit (`RLIMIT_NOFILE`) at start.
#[derive(Debug)]
pub struct OpenFileLimit {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
    /// Why the soft limit could not be raised to the hard one, if it could not.
    pub error: Option<std::io::Error>,
}

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit, where
/// the system allows it: a daemon holding many connections and files should not stop
/// at the common default of 1,024. `None` if the limit cannot even be read.
pub fn raise_open_file_limit() -> Option<OpenFileLimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the `rlimit` we pass, which lives on this stack.
    #[allow(unsafe_code)]
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let (before, hard) = (limit.rlim_cur, limit.rlim_max);
    let mut result = OpenFileLimit { before, now: before, hard, error: None };
    // Linux refuses an unlimited RLIMIT_NOFILE (it caps it at fs.nr_open).
    let target = if hard == libc::RLIM_INFINITY { 1 << 20 } else { hard };
    if before >= target {
        return Some(result);
    }
    let raised = libc::rlimit { rlim_cur: target, rlim_max: hard };
    // SAFETY: setrlimit only reads the `rlimit` we pass; raising the soft limit up to
    // the hard one touches no memory of this process.
    #[allow(unsafe_code)]
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        result.now = target;
    } else {
        result.error = Some(std::io::Error::last_os_error());
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_half_the_file_limit_up_to_512() {
        assert_eq!(connection_cap(1024), 512);
        assert_eq!(connection_cap(1 << 20), MAX_CONNECTIONS);
        assert_eq!(connection_cap(256), 128);
        assert_eq!(connection_cap(0), 1);
    }

    #[test]
    fn eviction_takes_the_oldest_connection_without_a_request() {
        let open = Connections::default();
        let (a, b, c) = (open.add(), open.add(), open.add());
        let _busy = Busy::new(&a);
        assert!(open.evict_oldest_idle());
        let still: Vec<u64> = open.open.lock().unwrap().keys().copied().collect();
        assert_eq!(still, [a.id, c.id], "b, the oldest idle one, goes; a is answering a request");
        drop(b);
        let _busy_c = Busy::new(&c);
        assert!(!open.evict_oldest_idle(), "every connection left is answering a request");
    }
}
