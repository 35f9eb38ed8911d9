//! The actors and the wire of skein.
//!
//! This crate holds what travels between a caller and a worker, as plain data, and the
//! actors that move it:
//!
//! - the wire: [`Manifest`] (a chain's context variables and token ids), the ids, the
//!   versioned [`codec`] with its size [`Limits`], the [`Dispatch`], [`Pull`] and
//!   [`Reply`] frames, and [`DispatchError`], every way a dispatch can fail;
//! - the ledger: [`Ledger`], this process's [`home`] ledger, and [`spend`], which
//!   decides every token spend at the token's home;
//! - the worker: [`WorkerMsg`], the message a user may send straight to a worker, and
//!   the [`Executor`] trait through which a worker runs routines;
//! - supervision: the [`Supervisor`] that keeps a pool's workers alive, and the
//!   [`WorkerSet`] through which callers reach them;
//! - routing: the [`Route`] a dispatch asks for and the [`Balancer`] that picks among
//!   the workers that match it; and [`PoolStats`], how busy each worker is;
//! - nodes (feature `cluster`): `Node`, a process's place in a cluster.
//!
//! It knows token *ids*, never the typed `ContextVar` or `Token` of the `skein` crate,
//! and it never depends on `skein`: the compiler enforces that layering.
//!
//! ```
//! use skein_actors::{Binding, ChainId, Limits, Manifest, VarEntry, VarKey};
//!
//! let entry = VarEntry::new(VarKey::new("demo", "tenant"), Binding::value(vec![0xa4, b'a', b'c', b'm', b'e']));
//! let manifest = Manifest::new(Some(ChainId::new()), vec![entry]);
//! let bytes = manifest.encode().unwrap();
//! assert_eq!(Manifest::decode(&bytes, &Limits::default()).unwrap(), manifest);
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(clippy::mod_module_files)]
#![forbid(unsafe_code)]

mod balancer;
mod dispatch;
mod event_stream;
mod failure;
mod frame;
mod ids;
mod ledger;
mod manifest;
pub mod metrics;
#[cfg(feature = "cluster")]
mod node;
mod route;
mod stats;
mod supervisor;
mod trace;
mod worker;

pub use balancer::{Balancer, Candidates, LeastInFlight, RoundRobin};
pub use dispatch::{Dispatch, DispatchKind, Outcome, Pull, Reply, Request, MAX_CREDITS};
pub use event_stream::EventStream;
pub use failure::{DispatchError, Failure};
pub use frame::{DecodeError, EncodeError, Limits, WIRE_VERSION};
pub use ids::{ChainId, DispatchId, LedgerId, TokenId};
pub use ledger::{
    home, is_spent, release, spend, HomeLedger, Ledger, LedgerDelta, LedgerUnavailable,
    SpendOutcome, TOKEN_WEIGHT,
};
pub use manifest::{Binding, Blob, EntryWarning, InstallError, Manifest, VarEntry, VarKey};
#[cfg(feature = "cluster")]
pub use node::{
    ConnectError, Drain, Node, NodeBuilder, NodeError, NodeEvent, NodeEvents, RefusalReason, Tls,
};
pub use route::{tag_problem, Candidate, Route, WorkerInfo, LOCAL_NODE};
pub use stats::{NodeStats, PoolStats, StatsAnswer, WorkerReport, WorkerStats, WorkerStatus};
pub use supervisor::{
    Dispatched, InFlight, RemoteCall, RestartPolicy, Sent, ShutdownReport, StartError,
    SupervisionEvent, Supervisor, SupervisorBuilder, WorkerSet,
};
pub use trace::{TraceContext, TraceId};
pub use worker::{crash, Admission, Executor, Load, StreamSession, WorkerMsg};

/// The derive that makes a message type of your own cross nodes. With the `cluster`
/// feature, ractor asks every actor's message type to say whether it can: derive this
/// on an enum whose fields implement `ractor::BytesConvertable`.
#[cfg(feature = "cluster")]
pub use ractor_cluster::RactorClusterMessage;
/// The TLS crates whose types [`Tls`] holds.
#[cfg(feature = "cluster")]
pub use {rustls_pki_types, tokio_rustls};

/// The frame codec, for messages other crates put on the wire.
///
/// Every frame is a two-byte header (a magic byte and [`WIRE_VERSION`]) followed by a
/// MessagePack body. [`codec::decode`] checks the size limit before it reads anything.
pub mod codec {
    pub use crate::frame::{decode, decode_body, encode};
}

/// What a worker process and the pool that started it agree on (feature `cluster`):
/// the environment a child is started with, and the argument that marks it.
#[cfg(feature = "cluster")]
pub mod process {
    pub use crate::supervisor::processes::{
        tags_from_env, ProcessTags, DRAIN_LINE, INDEX_ENV, PARENT_ENV, TAGS_ENV, WORKERS_ENV,
        WORKER_ARG,
    };
}
