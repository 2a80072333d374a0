//! `server.body_timeout_seconds`: a request's body must arrive complete within this time
//! of its head. A client trickling a body a byte at a time (slow POST) would otherwise
//! hold its connection, and a handler, until the request timeout; now reading the body
//! fails at the deadline and the request is answered 408 `timeout` with
//! `Connection: close`, whichever handler or extractor was reading it (the API's JSON,
//! the console's sign-in form).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::codes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::ApiError;

/// A body that fails once its deadline passes before its last frame.
struct Deadlined {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for Deadlined {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("request body timed out"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    // Kept, so a declared length over `server.max_body_bytes` is still refused before
    // any of the body is read.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Gives the request's body a deadline of `limit` and has `run` answer it; answers 408
/// instead if `run`'s read of the body ran past the deadline. Called by
/// [`super::observe::observe`], outside the routes and `auth`, so the body's clock starts
/// as the head arrives and every reader of a body (JSON, the console's forms) is covered.
pub(super) async fn with_body_deadline<F, Fut>(limit: Duration, req: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return run(Request::from_parts(parts, body)).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let body = Body::new(Deadlined {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limit)),
        expired: expired.clone(),
    });
    let res = run(Request::from_parts(parts, body)).await;
    if !expired.load(Ordering::Relaxed) {
        return res;
    }
    let mut res = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        codes::TIMEOUT,
        "the request body did not arrive in time",
    )
    .into_response();
    // The rest of the body may still be on its way: the connection cannot carry another
    // request.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}
