//! A connection's two read deadlines, kept apart as Go's and Envoy's servers keep them:
//!
//! - **idle**: between requests, a keep-alive connection may wait up to
//!   `server.idle_timeout_seconds` for the first byte of its next request;
//! - **head**: once that byte has come (or from the moment a new connection is
//!   accepted), the whole head must arrive within `server.header_timeout_seconds`.
//!
//! hyper has one timer for both (its header timer starts as soon as the connection
//! waits for a head), so a short header timeout against slowloris would also close
//! every keep-alive connection idle that long, and a client reusing a pooled
//! connection at that moment gets no answer at all. Here the socket is wrapped in
//! [`Guarded`], which runs the deadlines on its reads, and the service in [`Tracked`],
//! which tells it when a request has arrived (its head is complete) and when its
//! response has been written (the connection is idle again). hyper's own header timer
//! is off.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;
use tower::util::Oneshot;

/// A connection's state as the service side sees it, shared with [`Guarded`]: the
/// number of responses written (or given up) so far, times two, plus one while a
/// request is being served. A count, not a flag: however hyper interleaves its reads, a
/// read after a response sees that one more has ended.
#[derive(Clone, Default)]
pub struct Signal(Arc<AtomicU64>);

impl Signal {
    /// A request's head has arrived.
    fn busy(&self) {
        self.0.fetch_or(1, Ordering::Relaxed);
    }

    /// Its response has been written (or will not be).
    fn done(&self) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store((v | 1) + 1, Ordering::Relaxed);
    }
}

/// Where a connection is, as its reads see it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head, which must be complete by the deadline.
    Head,
    /// Serving a request: no deadline here (the body's and the request's are middleware).
    Busy,
    /// Between requests, waiting for the next one's first byte until the deadline.
    Idle,
}

/// The limits a connection's reads run under.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub header: Duration,
    pub idle: Duration,
}

/// A socket whose reads fail with `TimedOut` once the deadline of its [`Phase`] passes.
///
/// The timer is not moved at every change of phase (each move takes the runtime's timer
/// lock, which every connection shares): it is armed no later than the deadline, at most
/// a header timeout ahead, and when it fires before the deadline it is armed again. So
/// a busy connection touches the timer once per header timeout, not per request.
pub struct Guarded {
    stream: TcpStream,
    signal: Signal,
    limits: ReadLimits,
    phase: Phase,
    /// Responses ended, as last seen in the [`Signal`].
    ended: u64,
    /// When the current phase's limit runs out (in `Head` and `Idle`).
    deadline: Instant,
    /// Armed no later than `deadline` while `armed`; once it has fired, until re-armed,
    /// not at all.
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl Guarded {
    /// A freshly accepted connection: its first head is due within the header timeout
    /// (or the idle timeout, if that is shorter) from now.
    pub fn new(stream: TcpStream, limits: ReadLimits, signal: Signal) -> Self {
        let deadline = Instant::now() + limits.header.min(limits.idle);
        Self {
            stream,
            signal,
            limits,
            phase: Phase::Head,
            ended: 0,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            armed: true,
        }
    }

    /// Takes in what the service side said since the last read.
    fn follow(&mut self) {
        let v = self.signal.0.load(Ordering::Relaxed);
        if v & 1 == 1 {
            self.phase = Phase::Busy;
        } else if v >> 1 != self.ended {
            // A response has ended since the last read: idle until the next request.
            self.ended = v >> 1;
            self.phase = Phase::Idle;
            // Later than any time the timer is armed for: it need not move.
            self.deadline = Instant::now() + self.limits.idle;
        }
    }

    /// Whether the current phase's deadline has passed; if not, the timer is armed to
    /// wake this task no later than it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if !self.armed {
                let at = self.deadline.min(Instant::now() + self.limits.header);
                self.sleep.as_mut().reset(at);
                self.armed = true;
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.armed = false;
            if Instant::now() >= self.deadline {
                return true;
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.follow();
        if this.phase == Phase::Busy {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        if this.expired(cx) {
            let what = if this.phase == Phase::Idle {
                "the connection was idle too long"
            } else {
                "the request head took too long"
            };
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
        }
        let before = buf.filled().len();
        let r = ready!(Pin::new(&mut this.stream).poll_read(cx, buf));
        if r.is_ok() && this.phase == Phase::Idle && buf.filled().len() > before {
            // The next request's first byte: its head is due within the header timeout.
            // Not before the timer: it was armed at most a header timeout after an
            // instant before this one.
            this.phase = Phase::Head;
            this.deadline = Instant::now() + this.limits.header;
        }
        Poll::Ready(r)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
}

/// The app as hyper calls it on one connection: each request marks the connection busy,
/// and its response body, once written (or dropped), marks it done.
pub struct Tracked {
    app: Router,
    signal: Signal,
}

impl Tracked {
    pub fn new(app: Router, signal: Signal) -> Self {
        Self { app, signal }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = hyper::Response<DoneOnEnd>;
    type Error = std::convert::Infallible;
    type Future = Respond;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.signal.busy();
        Respond {
            inner: self.app.clone().oneshot(req),
            signal: Some(self.signal.clone()),
        }
    }
}

/// The app's answer to one request, its body wrapped in [`DoneOnEnd`].
pub struct Respond {
    inner: Oneshot<Router, hyper::Request<Incoming>>,
    signal: Option<Signal>,
}

impl Future for Respond {
    type Output = Result<hyper::Response<DoneOnEnd>, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Oneshot` is `Unpin` (the router's futures are boxed), so this needs no pin
        // projection.
        let res = ready!(Pin::new(&mut self.inner).poll(cx))?;
        let signal = self.signal.take();
        Poll::Ready(Ok(res.map(|body| DoneOnEnd { body, signal })))
    }
}

impl Drop for Respond {
    fn drop(&mut self) {
        // Dropped before answering (the connection closed): nothing more to wait for.
        if let Some(signal) = self.signal.take() {
            signal.done();
        }
    }
}

/// A response body that marks its connection done when it ends or is dropped (once).
pub struct DoneOnEnd {
    body: Body,
    signal: Option<Signal>,
}

impl DoneOnEnd {
    fn end(&mut self) {
        if let Some(signal) = self.signal.take() {
            signal.done();
        }
    }
}

impl http_body::Body for DoneOnEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        if frame.is_none() {
            self.end();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for DoneOnEnd {
    fn drop(&mut self) {
        self.end();
    }
}
