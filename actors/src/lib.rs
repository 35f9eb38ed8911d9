//! The actors and the wire of skein.
//!
//! This crate holds what travels between a caller and a worker, as plain data:
//! [`Manifest`] (a chain's context variables and token ids), [`TokenId`],
//! [`ChainId`], the versioned frame codec with its size limit, and the
//! [`Ledger`] state machine that decides every token spend. It knows token *ids*,
//! never the typed `ContextVar` or `Token` of the `skein` crate, and it never
//! depends on `skein`: the compiler enforces that layering.
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

mod dispatch;
mod frame;
mod home;
mod ids;
mod ledger;
mod manifest;
mod node;
mod pool;
pub mod process;
mod worker;

pub use dispatch::{Dispatch, DispatchKind, Failure, Outcome, Pull, Reply, Request};
pub use frame::{set_wire_limits, wire_limits, DecodeError, EncodeError, Limits, WIRE_VERSION};
pub use home::{home, HomeLedger};
pub use ids::{ChainId, DispatchId, LedgerId, TokenId};
pub use ledger::{Ledger, LedgerActor, LedgerDelta, LedgerMsg, SpendOutcome};
pub use manifest::{Binding, Blob, Manifest, VarEntry, VarKey};
pub use node::{
    is_spent, spend, AgentMsg, LedgerUnavailable, Node, NodeBuilder, NodeError, NodeEvent, Tls,
};
pub use pool::{
    PoolArgs, PoolMsg, PoolState, PoolSupervisor, RestartPolicy, SupervisionEvent, Target,
    WorkerSlots,
};
pub use worker::{
    Admission, Executor, StreamSession, Worker, WorkerArgs, WorkerHandle, WorkerMsg, WorkerState,
};

/// The frame codec, for messages other crates put on the wire.
///
/// Every frame is a two-byte header (a magic byte and [`WIRE_VERSION`]) followed by a
/// MessagePack body. [`frame::decode`] checks the size limit before it reads anything.
pub mod codec {
    pub use crate::frame::{decode, decode_body, encode};
}
