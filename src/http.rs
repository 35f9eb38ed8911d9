//! What the HTTP integrations share: which request header feeds which context variable,
//! and running one request inside a context scope of its own.
//!
//! `skein::tower::ScopeLayer` (feature `tower`) and `skein::actix::Scope` (feature
//! `actix`) are two faces of the same thing. For each request they open a new, empty
//! context. Inside it they run the steps they were given, in order: each `header`
//! sets its variable from the request, each `with` closure is called with the
//! request's head. Then they call the inner service inside it too, and poll its future
//! in that same context until it completes. Nothing a request sets is seen by any
//! other request, and a request that sends no header sees no value.
//!
//! The tokens that those `set`s return are dropped at once. That is fine: the context
//! they could reset is the request's own, and it ends with the request, so nothing is
//! left for them to undo; dropping a token only tells its ledger that no handle of it
//! is left.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll};

use tokio::task::futures::TaskLocalFuture;

use crate::context::{Context, ContextVar};

/// A read-only view of one request's head, for the closures given to
/// `skein::tower::ScopeLayer::with` and `skein::actix::Scope::with`: the same type
/// for either integration, so one closure serves both.
///
/// The closure runs inside the request's new scope, before the handler, so it can
/// `set` any variable.
///
/// # Examples
///
/// ```
/// use skein::http::RequestHead;
/// use skein::ContextVar;
///
/// static TENANT: ContextVar<u32> = ContextVar::new("app", "tenant");
///
/// /// Reads `x-tenant: 42` as the tenant number; anything else leaves it unset.
/// fn tenant(head: &RequestHead<'_>) {
///     if let Some(tenant) = head.header_str("x-tenant").and_then(|v| v.parse().ok()) {
///         // The token is dropped: the scope, and the value, end with the request.
///         if let Err(error) = TENANT.set(tenant) {
///             eprintln!("tenant not set: {error}");
///         }
///     }
/// }
/// # let _ = tenant;
/// ```
pub struct RequestHead<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a dyn HeaderLookup,
}

/// How an integration's header map answers a lookup by name.
pub(crate) trait HeaderLookup {
    /// The first value of the header `name`, as raw bytes.
    fn first(&self, name: &str) -> Option<&[u8]>;
}

impl<'a> RequestHead<'a> {
    pub(crate) fn new(
        method: &'a str,
        path: &'a str,
        headers: &'a dyn HeaderLookup,
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            headers,
        }
    }

    /// The request's method, e.g. `"GET"`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request's path, without the query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The first value of the header `name` (any case), as raw bytes: a header value
    /// need not be text.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.first(name)
    }

    /// The first value of the header `name` (any case) as text, or `None` when the
    /// header is absent or its value is not valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
    }
}

impl fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One step that runs inside a request's new scope, in the order it was added.
#[derive(Clone)]
enum Step {
    /// The header's first value, if it is text, becomes the variable's value.
    Header {
        name: String,
        var: &'static ContextVar<String>,
    },
    /// The user's own closure.
    With(Arc<dyn Fn(&RequestHead<'_>) + Send + Sync>),
}

/// What a request's new scope is filled with before the inner service is called: the
/// configuration both integrations hold.
#[derive(Clone, Default)]
pub(crate) struct RequestVars {
    steps: Vec<Step>,
}

impl RequestVars {
    /// Adds a header-fed string variable.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name: a configuration error, found when the
    /// layer is built rather than on every request.
    pub(crate) fn header(&mut self, name: &str, var: &'static ContextVar<String>) {
        assert!(
            is_header_name(name),
            "skein: {name:?} is not a valid HTTP header name"
        );
        self.steps.push(Step::Header {
            name: name.to_ascii_lowercase(),
            var,
        });
    }

    /// Adds a closure run inside each request's new scope.
    pub(crate) fn with(&mut self, f: impl Fn(&RequestHead<'_>) + Send + Sync + 'static) {
        self.steps.push(Step::With(Arc::new(f)));
    }

    /// A new context, with this request's variables set in it.
    pub(crate) fn open(&self, head: &RequestHead<'_>) -> RequestScope {
        let context = Context::new();
        context.sync_scope(|| self.apply(head));
        RequestScope { context }
    }

    fn apply(&self, head: &RequestHead<'_>) {
        for step in &self.steps {
            match step {
                Step::Header { name, var } => {
                    let Some(bytes) = head.header(name) else {
                        continue; // absent: the variable stays unset
                    };
                    let Ok(value) = std::str::from_utf8(bytes) else {
                        // What the client sent, not a fault of the service: not logged
                        // above DEBUG, so a client cannot flood the log with it.
                        tracing::debug!(
                            header = %name,
                            "skein: header value is not UTF-8; its context variable stays unset"
                        );
                        continue;
                    };
                    // A failed set (a key collision, a value that does not encode) is
                    // the service's own bug: logged, and the request goes on.
                    if let Err(error) = var.set(value.to_owned()) {
                        tracing::warn!(
                            header = %name,
                            %error,
                            "skein: header not set as a context variable"
                        );
                    }
                }
                Step::With(f) => f(head),
            }
        }
    }
}

impl fmt::Debug for RequestVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for step in &self.steps {
            match step {
                Step::Header { name, var } => list.entry(&format_args!("{name} -> {}", var.key())),
                Step::With(_) => list.entry(&format_args!("closure")),
            };
        }
        list.finish()
    }
}

/// A request's context, with its variables already set.
pub(crate) struct RequestScope {
    context: Context,
}

impl RequestScope {
    /// Calls the inner service inside the request's context, so that work its `call`
    /// does before returning a future sees the variables too, and runs that future in
    /// the same context.
    pub(crate) fn call<F: Future>(self, call: impl FnOnce() -> F) -> ScopeFuture<F> {
        let future = self.context.sync_scope(call);
        ScopeFuture {
            inner: self.context.scope_named(future),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of one request, polled inside the request's own context scope: what
    /// `skein::tower::ScopeService` and `skein::actix::ScopeMiddleware` return from
    /// `call`.
    ///
    /// It is `Send` when the inner service's future is, so a server may move it
    /// between threads; the context moves with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    ///
    /// use skein::http::ScopeFuture;
    ///
    /// // A request's future can be spawned like the inner one.
    /// fn spawn<F>(request: ScopeFuture<F>) -> tokio::task::JoinHandle<F::Output>
    /// where
    ///     F: Future + Send + 'static,
    ///     F::Output: Send,
    /// {
    ///     tokio::spawn(request)
    /// }
    /// # let _ = spawn::<std::future::Ready<()>>;
    /// ```
    pub struct ScopeFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Context, F>,
    }
}

impl<F: Future> Future for ScopeFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

/// A header name as HTTP defines it: one or more token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_header_name;

    #[test]
    fn header_names_are_tokens() {
        assert!(is_header_name("x-request-id"));
        assert!(is_header_name("X-Request-Id"));
        assert!(!is_header_name(""));
        assert!(!is_header_name("x request id"));
        assert!(!is_header_name("x-id:"));
    }
}
