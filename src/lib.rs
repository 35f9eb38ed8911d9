//! skein runs routines on supervised worker actors and carries the caller's context
//! with every call.
//!
//! This crate is what users write against. The context model lives in [`context`]:
//! a [`ContextVar`] is a `static` keyed by `(namespace, name)`; [`scope`] opens a
//! context; `set` returns a single-use [`Token`]; [`Context::snapshot`] turns a context
//! into a wire [`Manifest`](actors::Manifest) that another context continues and merges
//! back. A [`Pool`] runs [`Routine`]s on its workers with that context, and
//! [`with_deadline`] bounds every call made inside it, end to end, on every hop and
//! node it reaches. [`Pool::on`] sends calls only to the workers a [`Route`] matches
//! (their tags, their node), picked by the pool's [`Balancer`]; [`Pool::broadcast`]
//! runs a routine on every such worker, and [`Pool::stats`] says how busy each is. The
//! wire types, the ledger and the actors live in [`actors`] (the `skein-actors` crate).
//!
//! Nodes and worker processes are behind the `cluster` feature. A scope per HTTP
//! request is `skein::tower::ScopeLayer` (feature `tower`, for axum and other tower
//! services) or `skein::actix::Scope` (feature `actix`, an actix-web middleware); what
//! they share is in `skein::http`.
//!
//! `use skein::prelude::*;` imports what nearly every program names ([`prelude`]).
//!
//! ```
//! use skein::ContextVar;
//!
//! static TENANT: ContextVar<String> = ContextVar::new("demo", "tenant");
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! skein::scope(async {
//!     let token = TENANT.set("acme".to_string()).unwrap();
//!     assert_eq!(TENANT.get().as_deref(), Some("acme"));
//!     TENANT.reset(token).await.unwrap();
//!     assert_eq!(TENANT.get(), None);
//! })
//! .await;
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(clippy::mod_module_files)]
#![forbid(unsafe_code)]

#[cfg(feature = "actix")]
pub mod actix;
mod admission;
pub mod context;
mod deadline;
mod dispatch;
mod error;
mod executor;
#[cfg(any(feature = "tower", feature = "actix"))]
pub mod http;
#[cfg(feature = "otel")]
mod otel;
mod pool;
pub mod prelude;
#[cfg(feature = "macros")]
mod registration;
mod routine;
mod signal;
mod state;
#[cfg(feature = "tower")]
pub mod tower;

pub use skein_actors as actors;

pub use admission::{AdmissionRequest, Verdict};
pub use context::payload;
pub use context::{
    fork, scope, spawn, spawn_blocking, Context, ContextVar, GetError, InstallError, InstallMode,
    ResetError, ResetErrorKind, SetError, Token,
};
pub use deadline::{deadline, time_left, with_deadline, with_deadline_at};
pub use dispatch::{decode_reply, request, Broadcast, RequestError};
pub use error::{BoxError, Error, RoutineFailure};
pub use executor::{call, call_on, current_dispatch, DispatchInfo};
pub use pool::builder::{BuildError, PoolBuilder, DEFAULT_GROUP};
pub use pool::stream::RoutineStream;
pub use pool::{Events, Pool, WaitError};
pub use routine::{ErrorMessage, Never, Routine, RoutineError, StreamRoutine};
pub use signal::shutdown_signal;
pub use skein_actors::{
    Balancer, Candidate, Candidates, DispatchError, LeastInFlight, NodeStats, PoolStats,
    RestartPolicy, RoundRobin, Route, ShutdownReport, SupervisionEvent, WorkerInfo, WorkerReport,
    WorkerStats, WorkerStatus,
};

pub use state::{State, StateError};

/// A routine written as a function: `#[skein::routine]` on an `async fn` writes the
/// type a pool calls, and every pool registers it.
///
/// # Examples
///
/// ```
/// use futures::{Stream, StreamExt};
/// use skein::{DispatchError, ErrorMessage, Pool, Routine};
///
/// /// Called `pool.call::<Add>((x, y))`, by the name `"<this module's path>::add"`.
/// #[skein::routine]
/// async fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
///
/// /// One argument is the type itself; the `Result`'s error is the routine's.
/// #[skein::routine(name = "demo.withdraw")]
/// async fn withdraw(amount: u64) -> Result<u64, ErrorMessage> {
///     if amount > 100 {
///         return Err(format!("{amount} is over the limit").into());
///     }
///     Ok(100 - amount)
/// }
///
/// #[skein::routine(stream)]
/// fn squares(n: u64) -> impl Stream<Item = Result<u64, skein::Never>> + Send + 'static {
///     futures::stream::iter((1..=n).map(|i| Ok(i * i)))
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // No `.routine::<Add>()`: marked routines register themselves.
/// let pool = Pool::builder().workers(2).build().await?;
/// assert_eq!(pool.call::<Add>((2, 3)).await?, 5);
/// assert_eq!(add(2, 3).await, 5); // the fn is still a fn
/// assert_eq!(Add::NAME, concat!(module_path!(), "::add"));
/// assert_eq!(Withdraw::NAME, "demo.withdraw");
/// assert_eq!(
///     pool.call::<Withdraw>(500).await,
///     Err(DispatchError::Routine("500 is over the limit".into()))
/// );
/// let squares: Vec<_> = pool.stream::<Squares>(3).collect().await;
/// assert_eq!(squares, [Ok(1), Ok(4), Ok(9)]);
/// # Ok(()) }
/// ```
#[cfg(feature = "macros")]
pub use skein_macros::routine;

/// What the code `#[skein::routine]` writes refers to; not public API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::registration::{
        infallible, Arg, FromPool, IsArg, IsError, IsOutput, Output, Registration,
    };
    pub use futures::Stream;
    pub use inventory;
}

#[cfg(feature = "cluster")]
pub use pool::process::{serve_if_worker, serve_if_worker_with};
#[cfg(feature = "cluster")]
pub use skein_actors::{
    ConnectError, Node, NodeBuilder, NodeError, NodeEvent, NodeEvents, RefusalReason,
};
