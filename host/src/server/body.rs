//! Body types and the two size limits: request bodies past the app's limit
//! end with an error (and flag the request for a 413), response bodies past
//! the cap are cut off.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use wasmtime_wasi_http::Error;

/// What the host sends: a guest's streamed body or the host's own.
pub type HostBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What a guest reads.
pub type GuestRequestBody = LimitedBody<hyper::body::Incoming>;

/// A complete response the host writes itself (probes, admin API, errors):
/// never cached by clients or proxies.
pub fn host_response(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> http::Response<HostBody> {
    use http_body_util::{BodyExt, Full};
    let mut response = http::Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// Passes a body through until it exceeds `limit` bytes, then fails the
/// stream and raises `exceeded`. Counting the bytes actually received
/// covers chunked bodies and lying `content-length` headers alike.
pub struct LimitedBody<B> {
    inner: B,
    remaining: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        Self { inner, remaining: limit, limit, exceeded }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.exceeded.store(true, Ordering::Release);
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(this.limit)))));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Cuts a response body off once it passes `limit` bytes. The head has
/// already gone out, so the only honest signal left is an aborted stream.
pub struct CappedBody {
    inner: HostBody,
    sent: u64,
    limit: u64,
    request_id: Arc<str>,
}

impl CappedBody {
    pub fn new(inner: HostBody, limit: u64, request_id: Arc<str>) -> Self {
        Self { inner, sent: 0, limit, request_id }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                    if this.sent > this.limit {
                        tracing::warn!(
                            request_id = %this.request_id, limit = this.limit,
                            "response body exceeded the app's limit; connection aborted"
                        );
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.limit)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn limited_body_flags_excess() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = LimitedBody::new(Full::new(Bytes::from_static(b"0123456789")), 4, exceeded.clone());
        assert!(body.collect().await.is_err());
        assert!(exceeded.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn limited_body_passes_within_limit() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = LimitedBody::new(Full::new(Bytes::from_static(b"0123")), 4, exceeded.clone());
        let bytes = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(bytes.as_deref(), Some(&b"0123"[..]));
        assert!(!exceeded.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn capped_body_aborts_past_limit() {
        let body: HostBody = Full::new(Bytes::from_static(b"0123456789")).map_err(|n| match n {}).boxed_unsync();
        assert!(CappedBody::new(body, 4, Arc::from("r")).collect().await.is_err());
        let body: HostBody = Full::new(Bytes::from_static(b"0123")).map_err(|n| match n {}).boxed_unsync();
        assert!(CappedBody::new(body, 4, Arc::from("r")).collect().await.is_ok());
    }
}
