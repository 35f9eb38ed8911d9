//! The Dispatch message and its reply frames.

use std::time::Duration;

use ractor::RpcReplyPort;
use serde::{Deserialize, Serialize};

use crate::ids::DispatchId;
use crate::ledger::LedgerDelta;
use crate::manifest::{Blob, Manifest};

/// What a dispatch asks a worker to run. Everything in it is plain data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The dispatch's id.
    pub id: DispatchId,
    /// The routine's stable name.
    pub routine: String,
    /// The MessagePack-encoded args.
    pub args: Blob,
    /// The caller's context.
    pub manifest: Manifest,
    /// The dispatch this one was made from, if it was made inside a routine.
    pub caller: Option<DispatchId>,
    /// How long the routine may run, counted from when the worker receives it.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request for `routine` with the given encoded args and caller context, and a
    /// fresh id.
    pub fn new(routine: impl Into<String>, args: impl Into<Blob>, manifest: Manifest) -> Request {
        Request {
            id: DispatchId::new(),
            routine: routine.into(),
            args: args.into(),
            manifest,
            caller: None,
            timeout: None,
        }
    }
}

/// Whether a dispatch runs a routine once or opens a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DispatchKind {
    /// Run a routine once; one reply.
    Call,
    /// Open a streaming routine; the reply is its first item, and each [`Pull`] asks
    /// for one more.
    Stream,
}

/// The public message that runs a routine on a worker. A user may send it straight to
/// a worker's `ActorRef` (see `WorkerMsg::Dispatch`) and decode the [`Reply`].
#[derive(Debug)]
pub struct Dispatch {
    /// What to run.
    pub request: Request,
    /// Call or stream.
    pub kind: DispatchKind,
    /// Where the reply goes.
    pub reply: RpcReplyPort<Reply>,
}

/// Asks an open stream for its next item, carrying the caller's context as it is now
/// (reference R70).
#[derive(Debug)]
pub struct Pull {
    /// The stream's dispatch id.
    pub id: DispatchId,
    /// The caller's context.
    pub manifest: Manifest,
    /// Where the item goes.
    pub reply: RpcReplyPort<Reply>,
}

/// Why a dispatch failed, as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The routine returned its own error, MessagePack-encoded.
    #[error("the routine returned an error")]
    Routine(Blob),
    /// The routine panicked.
    #[error("the routine panicked: {0}")]
    Panicked(String),
    /// No routine of this name is registered on the worker.
    #[error("unknown routine {0:?}")]
    UnknownRoutine(String),
    /// The args do not decode as the routine's args type.
    #[error("bad args: {0}")]
    BadArgs(String),
    /// The worker's queue is full.
    #[error("worker overloaded")]
    Overloaded,
    /// The worker died with the dispatch in flight.
    #[error("worker crashed")]
    WorkerCrashed,
    /// The routine ran past its timeout.
    #[error("timed out")]
    Timeout,
    /// The dispatch was cancelled (the worker stopped, or the stream was closed).
    #[error("cancelled")]
    Cancelled,
    /// The caller's context was refused (strict install of a value that does not
    /// decode), or the output failed to encode.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// A pull named a stream the worker does not have open.
    #[error("no such stream")]
    NoSuchStream,
}

/// What one step produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The routine's output (or a stream's next item), MessagePack-encoded.
    Value(Blob),
    /// The stream has no more items.
    End,
    /// The step failed.
    Failed(Failure),
}

/// A reply frame: the outcome of one step, the worker's context after it, and the
/// spends made during it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// What the step produced.
    pub outcome: Outcome,
    /// The worker's context after the step, or `None` when nothing may merge back: a
    /// panic, a timeout, a crash or a cancellation (reference R74).
    pub manifest: Option<Manifest>,
    /// Token ids spent during the step. They travel apart from the manifest, so a
    /// refused manifest never hides a spend (B4).
    pub delta: LedgerDelta,
}

impl Reply {
    /// A failed reply that carries no context and no spends.
    pub fn failed(failure: Failure) -> Reply {
        Reply {
            outcome: Outcome::Failed(failure),
            manifest: None,
            delta: LedgerDelta::new(),
        }
    }
}
