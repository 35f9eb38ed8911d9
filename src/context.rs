//! Contexts, context variables and tokens.
//!
//! A **context** is one scope instance: task-local, with a process-local id that
//! never travels. It holds a chain id (absent until the context is armed by a `set`
//! or by merging incoming state), the bound values, pending resets, and the token ids
//! minted or anchored in it. [`scope`] runs a future in a new context; a worker runs
//! each routine in a context that *continues* the caller's ([`Context::continuation`]);
//! [`fork`] and [`spawn`] start a new chain (S7).
//!
//! A bare `tokio::spawn` carries no context: the spawned task sees none, so `set`
//! and `reset` fail there with a clear error and `get` sees only the default. Use
//! [`spawn`] to carry a fork of the current context.
//!
//! One dispatch, in context terms (`tests/dispatch_matches_local_oracle.rs` runs it end
//! to end):
//!
//! ```
//! use skein::{payload, Context, ContextVar, InstallMode};
//! use skein::actors::{Limits, Manifest};
//!
//! static TENANT: ContextVar<String> = ContextVar::new("doc", "tenant");
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let caller = Context::new();
//! caller.scope(async { let _ = TENANT.set("acme".into()).unwrap(); }).await;
//!
//! // The caller's snapshot travels as bytes...
//! let bytes = caller.take_snapshot().encode().unwrap();
//! let manifest = Manifest::decode(&bytes, &Limits::default()).unwrap();
//! // ...and the worker continues it in a context of its own.
//! let worker = Context::continuation();
//! worker.merge(&manifest, InstallMode::Lenient).unwrap();
//! worker
//!     .scope(async {
//!         assert_eq!(TENANT.get().as_deref(), Some("acme"));
//!         let _ = TENANT.set("globex".into()).unwrap();
//!     })
//!     .await;
//!
//! // The worker's changes merge back into the caller.
//! let reply = worker.take_snapshot();
//! caller.merge(&reply, InstallMode::Lenient).unwrap();
//! caller.scope(async { assert_eq!(TENANT.get().as_deref(), Some("globex")); }).await;
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use skein_actors::{ChainId, Manifest};
use tokio::task::futures::TaskLocalFuture;

mod install;
pub mod payload;
mod registry;
mod state;
pub(crate) mod token;
mod var;

pub use install::{EntryWarning, InstallError, InstallMode};
pub use registry::{registration, CollisionError, Registration};
pub use token::{ResetError, ResetErrorKind, Token};
pub use var::{ContextVar, GetError, SetError};

use payload::Incoming;
use state::ContextState;

tokio::task_local! {
    static CURRENT: Context;
}

/// A handle on one context. Clones share the same context; use [`Context::fork`] for
/// a copy with a chain of its own.
#[derive(Clone)]
pub struct Context {
    state: Arc<Mutex<ContextState>>,
}

impl Context {
    fn from_state(state: ContextState) -> Context {
        Context {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A new, empty, unarmed context.
    pub fn new() -> Context {
        Context::from_state(ContextState::root())
    }

    /// The context of the running task, if it runs inside a scope.
    pub fn current() -> Option<Context> {
        CURRENT.try_with(Context::clone).ok()
    }

    /// A fresh context that will continue a sender: what a worker opens for each
    /// dispatch. Install the sender's frame with [`Context::receive`] (or
    /// [`Context::merge`] when no value comes with it); the context then takes the
    /// sender's chain id, values and token ids, and reports the spends made in it on
    /// every [`take_snapshot`](Context::take_snapshot).
    pub fn continuation() -> Context {
        Context::from_state(ContextState::continuation())
    }

    /// A fork of this context (S7): a fresh chain id, a copy of the values,
    /// no pending resets and no token ids. Tokens of this context are orphans in the
    /// fork, and tokens minted in the fork are orphans here.
    pub fn fork(&self) -> Context {
        Context::from_state(self.lock().fork())
    }

    /// Runs `future` with this context as the current one.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.scope_named(future)
    }

    /// [`Context::scope`] as a type that can be named: the HTTP integrations return it
    /// from `Service::call`, whose future is an associated type.
    pub(crate) fn scope_named<F: Future>(&self, future: F) -> TaskLocalFuture<Context, F> {
        CURRENT.scope(self.clone(), future)
    }

    /// Runs `f` synchronously with this context as the current one: for code that
    /// polls by hand (a stream's step on the worker), and what sets a request's
    /// variables, and calls the inner service, before its future is polled.
    pub(crate) fn sync_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        CURRENT.sync_scope(self.clone(), f)
    }

    /// The chain id, or `None` while the context is unarmed.
    pub fn chain(&self) -> Option<ChainId> {
        self.lock().chain()
    }

    /// The context as a manifest (S16). Taking it changes nothing.
    pub fn snapshot(&self) -> Manifest {
        self.lock().snapshot(false)
    }

    /// The context as a manifest for a frame about to be sent: like
    /// [`snapshot`](Context::snapshot), but the spends it reports are reported once,
    /// so frames carry ledger deltas and do not grow with the calls made (S27).
    pub fn take_snapshot(&self) -> Manifest {
        self.lock().snapshot(true)
    }

    /// Starts logging the steps of a stream: what changes in this context from now
    /// until [`take_step_snapshot`](Context::take_step_snapshot) is the first step's
    /// change.
    pub(crate) fn begin_steps(&self) {
        self.lock().begin_step();
    }

    /// What the step now ending changed, as a manifest for its item's frame: only the
    /// variables the step set, reset or merged in, its spends, and the ids it minted
    /// or learned. The next step is logged from here on.
    pub(crate) fn take_step_snapshot(&self) -> Manifest {
        let mut state = self.lock();
        let manifest = state.step_snapshot();
        state.begin_step();
        manifest
    }

    /// Merges a grant's manifest between two steps of a stream: the caller's own
    /// context, so none of it is the next step's change.
    pub(crate) fn merge_between_steps(
        &self,
        manifest: &Manifest,
        mode: InstallMode,
    ) -> Result<Vec<EntryWarning>, InstallError> {
        let mut state = self.lock();
        let merged = state.merge(manifest, mode);
        state.begin_step();
        merged
    }

    /// Merges a manifest that came back from a dispatch into this context
    /// (S19, S20): its values win for the keys it carries, token sets are
    /// merged, its spends are recorded, and an unarmed context adopts its chain id.
    ///
    /// # Errors
    ///
    /// In [`InstallMode::Strict`], an [`InstallError`] listing every value that does not
    /// decode as exactly one value of its declared type (bytes left over after it make
    /// it bad too); nothing is merged. In lenient mode those values are dropped (their
    /// token ids still apply) and listed in the returned warnings.
    pub fn merge(
        &self,
        manifest: &Manifest,
        mode: InstallMode,
    ) -> Result<Vec<EntryWarning>, InstallError> {
        self.lock().merge(manifest, mode)
    }

    /// Merges the manifest that carried `incoming`, then anchors the tokens inside
    /// `incoming` that the merged context lists as unspent (S35); the
    /// others stay orphans. This is the one way a token that arrived becomes
    /// resettable.
    ///
    /// # Errors
    ///
    /// As for [`Context::merge`]; on error nothing is merged and the value is dropped.
    pub fn receive<T>(
        &self,
        manifest: &Manifest,
        incoming: Incoming<T>,
        mode: InstallMode,
    ) -> Result<(T, Vec<EntryWarning>), InstallError> {
        if manifest.is_empty() && incoming.token_count() == 0 {
            // Nothing to merge and nothing to anchor: the common reply of a call or a
            // stream step that changed nothing.
            return Ok((incoming.into_orphans(), Vec::new()));
        }
        let mut state = self.lock();
        let warnings = state.merge(manifest, mode)?;
        Ok((anchor(&state, incoming), warnings))
    }

    /// The second half of [`Context::receive`], for a frame merged already: anchors
    /// the tokens inside `incoming` that this context lists as unspent. An admission
    /// hook runs between the two halves, so a call it rejects anchors nothing.
    pub(crate) fn anchor<T>(&self, incoming: Incoming<T>) -> T {
        if incoming.token_count() == 0 {
            return incoming.into_orphans();
        }
        anchor(&self.lock(), incoming)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ContextState> {
        // Every mutation of a context state completes without calling user code, so a
        // poisoned lock (a panic elsewhere while it was held) still guards a sound state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Anchors the tokens inside `incoming` that `state` lists as unspent (S35); the
/// others stay orphans.
fn anchor<T>(state: &ContextState, incoming: Incoming<T>) -> T {
    let (value, tokens) = incoming.into_parts();
    for cell in tokens {
        if state.lists_unspent(&cell.key, &cell.id) {
            cell.anchor(state.id());
        }
    }
    value
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Context")
            .field("id", &state.id())
            .field("chain", &state.chain())
            .finish_non_exhaustive()
    }
}

/// Runs `future` in a new, empty context.
///
/// A scope is where `set` works and where calls take their context from: what a
/// routine changes merges back into the scope it was called from, and nothing of a
/// scope is seen after it ends, nor by another scope (even one nested in it).
///
/// # Examples
///
/// ```
/// use skein::ContextVar;
///
/// static USER: ContextVar<String> = ContextVar::new("doc.scope", "user");
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let seen = skein::scope(async {
///     let _token = USER.set("ada".into()).unwrap();
///     let inner = skein::scope(async { USER.get() }).await;
///     (USER.get(), inner)
/// })
/// .await;
/// assert_eq!(seen, (Some("ada".to_string()), None), "a new scope starts empty");
/// assert_eq!(USER.get(), None, "nothing outlives its scope");
/// # }
/// ```
pub fn scope<F: Future>(future: F) -> impl Future<Output = F::Output> {
    Context::new().scope(future)
}

/// Runs `future` in a fork of the current context (a new, empty context outside any
/// scope).
pub fn fork<F: Future>(future: F) -> impl Future<Output = F::Output> {
    Context::current()
        .map(|cx| cx.fork())
        .unwrap_or_default()
        .scope(future)
}

/// Spawns `future` on the tokio runtime in a fork of the current context.
///
/// # Panics
///
/// As `tokio::spawn`: when called outside a tokio runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fork(future))
}

/// Runs the blocking or CPU-bound `f` on tokio's blocking threads, in the current
/// context: `f` reads and sets context variables as the code that called
/// `spawn_blocking` would, and what it sets is in that context when the handle is
/// awaited (S106). A routine body that must block (a CPU-heavy step, a synchronous
/// client) does so here instead of stalling the worker's thread and every routine
/// that shares it. Outside any scope `f` runs with no context.
///
/// Unlike [`spawn`], this is the same context, not a fork: `f` shares it with the
/// caller. Dropping the handle does not stop `f`; what it sets still lands in the
/// context when it returns.
///
/// Only the context goes with `f`, not the routine's dispatch: a
/// [`call`](crate::call) made inside `f` fails with `NotInRoutine`, so nested calls
/// belong before or after the blocking work.
///
/// # Examples
///
/// ```
/// use skein::ContextVar;
///
/// static INPUT: ContextVar<u64> = ContextVar::new("doc.blocking", "input");
/// static DIGEST: ContextVar<u64> = ContextVar::new("doc.blocking", "digest");
///
/// # #[tokio::main] async fn main() {
/// skein::scope(async {
///     let _input = INPUT.set(41).unwrap();
///     let work = skein::spawn_blocking(|| {
///         let input = INPUT.get().unwrap();
///         // Stands for work that would stall a runtime thread.
///         let digest = (0..1_000_000u64).fold(input, |acc, i| acc ^ i.rotate_left(7));
///         DIGEST.set(digest).unwrap()
///     });
///     let _token = work.await.unwrap();
///     assert!(DIGEST.get().is_some());
/// })
/// .await;
/// # }
/// ```
///
/// # Panics
///
/// As `tokio::task::spawn_blocking`: when called outside a tokio runtime. A panic in
/// `f` is the handle's `JoinError`.
pub fn spawn_blocking<F, T>(f: F) -> tokio::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cx = Context::current();
    tokio::task::spawn_blocking(move || match cx {
        Some(cx) => cx.sync_scope(f),
        None => f(),
    })
}
