//! skein runs routines on supervised worker actors and carries the caller's context
//! with every call.
//!
//! This crate is what users write against. The context model lives in [`context`]:
//! a [`ContextVar`] is a `static` keyed by `(namespace, name)`; [`scope`] opens a
//! context; `set` returns a single-use [`Token`]; [`Context::snapshot`] turns a context
//! into a wire [`Manifest`](actors::Manifest) that another context continues and merges
//! back. A [`Pool`] runs [`Routine`]s on its workers with that context. The wire types,
//! the ledger and the actors live in [`actors`] (the `skein-actors` crate).
//!
//! Nodes and worker processes are behind the `cluster` feature. A scope per HTTP
//! request is `skein::tower::ScopeLayer` (feature `tower`, for axum and other tower
//! services) or `skein::actix::Scope` (feature `actix`, an actix-web middleware); what
//! they share is in `skein::http`.
//!
//! ```
//! use skein::ContextVar;
//!
//! static TENANT: ContextVar<String> = ContextVar::new("demo", "tenant");
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! skein::scope(async {
//!     let token = TENANT.set("acme".to_string()).unwrap();
//!     assert_eq!(TENANT.get().unwrap().as_deref(), Some("acme"));
//!     TENANT.reset(token).await.unwrap();
//!     assert_eq!(TENANT.get().unwrap(), None);
//! })
//! .await;
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(clippy::mod_module_files)]
#![forbid(unsafe_code)]

#[cfg(feature = "actix")]
pub mod actix;
pub mod context;
mod dispatch;
mod executor;
#[cfg(any(feature = "tower", feature = "actix"))]
pub mod http;
#[cfg(feature = "otel")]
mod otel;
mod pool;
mod routine;
#[cfg(feature = "tower")]
pub mod tower;

pub use skein_actors as actors;

pub use context::payload;
pub use context::{
    fork, scope, spawn, Context, ContextVar, GetError, InstallError, InstallMode, ResetError,
    ResetErrorKind, SetError, Token,
};
pub use dispatch::{decode_reply, request, RequestError};
pub use executor::{call, current_dispatch, DispatchInfo};
pub use pool::builder::{BuildError, PoolBuilder, DEFAULT_GROUP};
pub use pool::stream::RoutineStream;
pub use pool::{Events, Pool, WaitError};
pub use routine::{ErrorMessage, Never, Routine, RoutineError, StreamRoutine};
pub use skein_actors::{DispatchError, RestartPolicy, SupervisionEvent};

#[cfg(feature = "cluster")]
pub use pool::process::{serve_if_worker, serve_if_worker_with};
#[cfg(feature = "cluster")]
pub use skein_actors::{ConnectError, Node, NodeBuilder, NodeError, NodeEvent, RefusalReason};
