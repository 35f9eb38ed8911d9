//! skein runs routines on supervised worker actors and carries the caller's context
//! with every call.
//!
//! This crate is what users write against. The context model lives in [`context`]:
//! a [`ContextVar`] is a `static` keyed by `(namespace, name)`; [`scope`] opens a
//! context; `set` returns a single-use [`Token`]; [`Context::snapshot`] turns a context
//! into a wire [`Manifest`](actors::Manifest) that another context continues and merges
//! back. The wire types and the ledger live in [`actors`] (the `skein-actors` crate).
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

pub mod context;
mod error;
pub mod payload;
mod pool;
pub mod process;
mod routine;

pub use skein_actors as actors;

pub use error::DispatchError;
pub use pool::{
    call, current_dispatch, decode_reply, request, BuildError, DispatchInfo, Events, Pool,
    PoolBuilder, RoutineStream, DEFAULT_GROUP,
};
pub use process::{serve_if_worker, serve_if_worker_with};
pub use routine::{Never, Routine, StreamRoutine};
pub use skein_actors::{Node, NodeBuilder, NodeError, NodeEvent, RestartPolicy, SupervisionEvent};

pub use context::{
    fork, scope, spawn, Context, ContextVar, GetError, InstallError, InstallMode, ResetError,
    ResetErrorKind, SetError, Token,
};
