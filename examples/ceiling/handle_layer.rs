//! The floor of a session layer that hands its handler a session: per request, one shared
//! handle, put into the request's extensions for the handler's extractor and looked at once the
//! handler has answered, to decide the response's headers. Nothing else: no cookie is read, no
//! state kept.
//!
//! A no-op layer measures what being a tower layer costs in axum. This one adds what every
//! extractor-based session layer (tessera's, tower-sessions') pays on top, whatever it stores:
//! the handle's allocation, the extension's box, and axum's map of extensions growing for a
//! fourth entry (`OriginalUri`, `MatchedPath` and `UrlParams` are already there).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::header::VARY;
use axum::http::{HeaderValue, Request, Response};
use axum::Router;
use tower_layer::Layer;
use tower_service::Service;

/// `app` wrapped in [`HandleLayer`] when `on`, applied as a session layer is
/// (`Router::layer`).
pub fn with_handle_layer(app: Router, on: bool) -> Router {
    if on {
        app.layer(HandleLayer)
    } else {
        app
    }
}

/// What a handler's extractor would find: a flag its session sets when used. No ceiling route
/// sets it (they answer with their own headers); what is measured is the handle's cost, on
/// `/plain`, where a session layer's handle goes unused too.
#[derive(Clone, Default)]
struct Handle(Arc<AtomicBool>);

/// The layer (see the module docs).
#[derive(Clone)]
struct HandleLayer;

impl<S> Layer<S> for HandleLayer {
    type Service = HandleService<S>;
    fn layer(&self, inner: S) -> HandleService<S> {
        HandleService { inner }
    }
}

#[derive(Clone)]
struct HandleService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for HandleService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = HandleFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let handle = Handle::default();
        request.extensions_mut().insert(handle.clone());
        HandleFuture {
            handler: self.inner.call(request),
            handle,
        }
    }
}

pin_project_lite::pin_project! {
    /// The handler's future, then a look at the handle.
    struct HandleFuture<F> {
        #[pin]
        handler: F,
        handle: Handle,
    }
}

impl<F, R, E> Future for HandleFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.handler.poll(cx))?;
        if this.handle.0.load(Ordering::Relaxed) {
            response
                .headers_mut()
                .append(VARY, HeaderValue::from_static("Cookie"));
        }
        Poll::Ready(Ok(response))
    }
}
