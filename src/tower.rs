//! A context scope per request for tower services over `http` 1 (axum, tonic, hyper
//! with tower): [`ScopeLayer`], and the [`ScopeService`] it wraps a service in.
//!
//! Each request runs in a new, empty context, with the variables its headers feed
//! already set when the inner service is called (see [`crate::http`] for what is
//! shared with the actix-web middleware).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::context::ContextVar;
use crate::http::{HeaderLookup, RequestHead, RequestVars, ScopeFuture};

/// A tower [`Layer`] that runs every request in a context scope of its own, with
/// context variables set from the request's headers before the inner service is called.
///
/// The steps run in the order they were added, so a [`with`](ScopeLayer::with)
/// closure sees the variables that earlier [`header`](ScopeLayer::header)s set.
///
/// # Examples
///
/// With axum: the handler, and every routine it calls, see the request's id.
///
/// ```
/// use axum::{routing::get, Router};
/// use skein::ContextVar;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("app", "request_id");
/// static TENANT: ContextVar<u32> = ContextVar::new("app", "tenant");
///
/// async fn hello() -> String {
///     let id = REQUEST_ID.get().unwrap_or_default();
///     format!("hello, request {id}")
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app: Router = Router::new().route("/", get(hello)).layer(
///     skein::tower::ScopeLayer::new()
///         .header("x-request-id", &REQUEST_ID)
///         .with(|head| {
///             if let Some(tenant) = head.header_str("x-tenant").and_then(|t| t.parse().ok()) {
///                 let _ = TENANT.set(tenant); // the scope ends with the request
///             }
///         }),
/// );
///
/// // Served by `axum::serve` as usual; here it is called directly.
/// use tower_service::Service;
/// let mut service = app;
/// std::future::poll_fn(|cx| Service::<axum::extract::Request>::poll_ready(&mut service, cx))
///     .await
///     .unwrap();
/// let request = axum::extract::Request::builder()
///     .uri("/")
///     .header("x-request-id", "r-7")
///     .body(axum::body::Body::empty())
///     .unwrap();
/// let response = service.call(request).await.unwrap();
/// let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
/// assert_eq!(&body[..], b"hello, request r-7");
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ScopeLayer {
    vars: Arc<RequestVars>,
}

impl ScopeLayer {
    /// A layer that opens an empty scope per request: add variables with
    /// [`header`](ScopeLayer::header) and [`with`](ScopeLayer::with).
    pub fn new() -> ScopeLayer {
        ScopeLayer::default()
    }

    /// Sets `var` from the first value of the header `name` (any case) in each request.
    ///
    /// A request without the header leaves `var` unset. A value that is not valid
    /// UTF-8 leaves it unset too, with a `tracing` DEBUG event: it is the client's
    /// error, so it neither fails the request nor logs louder. A `set` that fails (the
    /// variable's key collides with another's) is a WARN event, and the request goes
    /// on without the value.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name, as the layer is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::ContextVar;
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("app", "request_id");
    ///
    /// let layer = skein::tower::ScopeLayer::new().header("x-request-id", &REQUEST_ID);
    /// # let _ = layer;
    /// ```
    pub fn header(mut self, name: &str, var: &'static ContextVar<String>) -> ScopeLayer {
        Arc::make_mut(&mut self.vars).header(name, var);
        self
    }

    /// Runs `f` inside each request's new scope, after the header variables are set
    /// and before the inner service is called, so it can `set` any variable from the
    /// request's head. The tokens it gets may be dropped: the scope ends with the
    /// request.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::ContextVar;
    ///
    /// static METHOD: ContextVar<String> = ContextVar::new("app", "method");
    ///
    /// let layer = skein::tower::ScopeLayer::new().with(|head| {
    ///     let _ = METHOD.set(head.method().to_owned());
    /// });
    /// # let _ = layer;
    /// ```
    pub fn with(mut self, f: impl Fn(&RequestHead<'_>) + Send + Sync + 'static) -> ScopeLayer {
        Arc::make_mut(&mut self.vars).with(f);
        self
    }
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;

    fn layer(&self, inner: S) -> ScopeService<S> {
        ScopeService {
            inner,
            vars: Arc::clone(&self.vars),
        }
    }
}

/// The service [`ScopeLayer`] wraps around another: each `call` opens a new context,
/// sets the request's variables in it, calls the inner service inside it, and returns
/// the inner future running in it ([`ScopeFuture`]). Readiness is the inner service's:
/// `poll_ready` is passed straight through.
///
/// # Examples
///
/// ```
/// use tower_layer::Layer;
///
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
/// // Around a whole router: a service to hand to hyper, or to other layers.
/// let service: skein::tower::ScopeService<axum::Router> =
///     skein::tower::ScopeLayer::new().layer(app);
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct ScopeService<S> {
    inner: S,
    vars: Arc<RequestVars>,
}

impl<S> ScopeService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ScopeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeService")
            .field("inner", &self.inner)
            .field("vars", &self.vars)
            .finish()
    }
}

impl<S, B> Service<::http::Request<B>> for ScopeService<S>
where
    S: Service<::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: ::http::Request<B>) -> ScopeFuture<S::Future> {
        let scope = self.vars.open(&RequestHead::new(
            request.method().as_str(),
            request.uri().path(),
            request.headers(),
        ));
        scope.call(|| self.inner.call(request))
    }
}

impl HeaderLookup for ::http::HeaderMap {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(::http::HeaderValue::as_bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use tower_layer::Layer;
    use tower_service::Service;

    use super::{ScopeLayer, ScopeService};

    /// Ready only after `ready_after` polls, and says whether it was called in a scope.
    struct Slow {
        polls: usize,
        ready_after: usize,
    }

    impl Service<http::Request<()>> for Slow {
        type Response = bool;
        type Error = Infallible;
        type Future = std::future::Ready<Result<bool, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            self.polls += 1;
            if self.polls > self.ready_after {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::ready(Ok(crate::Context::current().is_some()))
        }
    }

    #[test]
    fn poll_ready_is_the_inner_services() {
        let mut service = ScopeLayer::new().layer(Slow {
            polls: 0,
            ready_after: 2,
        });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(service.poll_ready(&mut cx).is_pending());
        assert!(service.poll_ready(&mut cx).is_pending());
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(
            service.get_ref().polls,
            3,
            "every poll reached the inner service"
        );
        let future = pin!(service.call(http::Request::new(())));
        let answer = future.poll(&mut cx);
        assert!(
            matches!(answer, Poll::Ready(Ok(true))),
            "the inner call ran in a scope"
        );
    }

    #[test]
    fn the_future_is_send_when_the_inner_one_is() {
        fn send<T: Send>(_: &T) {}
        let mut service: ScopeService<Slow> = ScopeLayer::new().layer(Slow {
            polls: 1,
            ready_after: 0,
        });
        send(&service.call(http::Request::new(())));
    }
}
