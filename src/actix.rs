//! A context scope per request for actix-web: the [`Scope`] middleware, and the
//! [`ScopeMiddleware`] service it wraps an app's service in.
//!
//! actix-web runs its handlers on single-threaded runtimes of its own; the current
//! context is a task-local, so a request's future carries its scope there as it does
//! on tokio's multi-thread runtime. What is set from which header is shared with the
//! tower layer ([`crate::http`]).

use std::fmt;
use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::{forward_ready, Service, ServiceRequest, Transform};

use crate::context::ContextVar;
use crate::http::{HeaderLookup, RequestHead, RequestVars, ScopeFuture};

/// An actix-web middleware that runs every request in a context scope of its own, with
/// context variables set from the request's headers before the handler runs.
///
/// Its name is the same as `actix_web::Scope`'s (a group of routes), so it reads best
/// qualified: `skein::actix::Scope`. The steps run in the order they were added, so a
/// [`with`](Scope::with) closure sees the variables that earlier
/// [`header`](Scope::header)s set.
///
/// # Examples
///
/// ```
/// use actix_web::{test, web, App};
/// use skein::ContextVar;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("app", "request_id");
///
/// async fn hello() -> String {
///     let id = REQUEST_ID.get().unwrap_or_default();
///     format!("hello, request {id}")
/// }
///
/// actix_rt::System::new().block_on(async {
///     let app = test::init_service(
///         App::new()
///             .wrap(skein::actix::Scope::new().header("x-request-id", &REQUEST_ID))
///             .route("/", web::get().to(hello)),
///     )
///     .await;
///     let request = test::TestRequest::get()
///         .uri("/")
///         .insert_header(("x-request-id", "r-7"))
///         .to_request();
///     let body = test::call_and_read_body(&app, request).await;
///     assert_eq!(&body[..], b"hello, request r-7");
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scope {
    vars: Arc<RequestVars>,
}

impl Scope {
    /// A middleware that opens an empty scope per request: add variables with
    /// [`header`](Scope::header) and [`with`](Scope::with).
    pub fn new() -> Scope {
        Scope::default()
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
    /// When `name` is not a valid header name, as the middleware is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::ContextVar;
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("app", "request_id");
    ///
    /// let scope = skein::actix::Scope::new().header("x-request-id", &REQUEST_ID);
    /// # let _ = scope;
    /// ```
    pub fn header(mut self, name: &str, var: &'static ContextVar<String>) -> Scope {
        Arc::make_mut(&mut self.vars).header(name, var);
        self
    }

    /// Runs `f` inside each request's new scope, after the header variables are set
    /// and before the handler, so it can `set` any variable from the request's head.
    /// The tokens it gets may be dropped: the scope ends with the request.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::ContextVar;
    ///
    /// static TENANT: ContextVar<u32> = ContextVar::new("app", "tenant");
    ///
    /// let scope = skein::actix::Scope::new().with(|head| {
    ///     if let Some(tenant) = head.header_str("x-tenant").and_then(|t| t.parse().ok()) {
    ///         let _ = TENANT.set(tenant);
    ///     }
    /// });
    /// # let _ = scope;
    /// ```
    pub fn with(mut self, f: impl Fn(&RequestHead<'_>) + Send + Sync + 'static) -> Scope {
        Arc::make_mut(&mut self.vars).with(f);
        self
    }
}

impl<S> Transform<S, ServiceRequest> for Scope
where
    S: Service<ServiceRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Transform = ScopeMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<ScopeMiddleware<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ScopeMiddleware {
            service,
            vars: Arc::clone(&self.vars),
        }))
    }
}

/// The service [`Scope`] wraps around an app's: each `call` opens a new context, sets
/// the request's variables in it, calls the inner service inside it, and returns the
/// inner future running in it ([`ScopeFuture`]). Readiness is the inner service's.
///
/// # Examples
///
/// actix-web builds it from [`Scope`] for each worker; here it is built and called by
/// hand around a plain service:
///
/// ```
/// use actix_web::dev::{fn_service, Service, ServiceRequest, Transform};
/// use actix_web::{test, HttpResponse};
///
/// actix_rt::System::new().block_on(async {
///     let inner = fn_service(|request: ServiceRequest| async move {
///         let in_scope = skein::Context::current().is_some();
///         let response = HttpResponse::Ok().body(in_scope.to_string());
///         Ok::<_, actix_web::Error>(request.into_response(response))
///     });
///     let middleware: skein::actix::ScopeMiddleware<_> =
///         skein::actix::Scope::new().new_transform(inner).await.unwrap();
///     let response = middleware
///         .call(test::TestRequest::default().to_srv_request())
///         .await
///         .unwrap();
///     let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
///     assert_eq!(&body[..], b"true");
/// });
/// ```
pub struct ScopeMiddleware<S> {
    service: S,
    vars: Arc<RequestVars>,
}

impl<S: fmt::Debug> fmt::Debug for ScopeMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeMiddleware")
            .field("service", &self.service)
            .field("vars", &self.vars)
            .finish()
    }
}

impl<S> Service<ServiceRequest> for ScopeMiddleware<S>
where
    S: Service<ServiceRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> ScopeFuture<S::Future> {
        let scope = self.vars.open(&RequestHead::new(
            request.method().as_str(),
            request.path(),
            request.headers(),
        ));
        scope.call(|| self.service.call(request))
    }
}

impl HeaderLookup for actix_web::http::header::HeaderMap {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.get(name)
            .map(actix_web::http::header::HeaderValue::as_bytes)
    }
}
