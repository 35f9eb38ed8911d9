//! The Dispatch message and its reply frames.

use std::time::Duration;

use ractor::BytesConvertable;
use serde::{Deserialize, Serialize};

use crate::frame::{self, wire_limits, Limits};

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

/// The public message that runs a routine on a worker: what to run, and whether it
/// is a call or a stream. Send it as `WorkerMsg::Dispatch(dispatch, reply_port)` to a
/// worker's `ActorRef`, local or on another node; across nodes it travels as one
/// MessagePack frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    /// What to run.
    pub request: Request,
    /// Call or stream.
    pub kind: DispatchKind,
    /// Set when the frame that carried this dispatch could not be read (over the size
    /// limit, or not a dispatch at all): the worker answers it with `BadFrame`.
    refused: Option<String>,
}

impl Dispatch {
    /// A dispatch of `request`.
    pub fn new(request: Request, kind: DispatchKind) -> Dispatch {
        Dispatch {
            request,
            kind,
            refused: None,
        }
    }

    /// Why the frame carrying this dispatch was refused, if it was.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    fn refusal(request: Request, kind: DispatchKind, why: String) -> Dispatch {
        Dispatch {
            request,
            kind,
            refused: Some(why),
        }
    }
}

/// Asks an open stream for its next item, carrying the caller's context as it is now
/// (reference R70). Send it as `WorkerMsg::Pull(pull, reply_port)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    /// The stream's dispatch id.
    pub id: DispatchId,
    /// The caller's context.
    pub manifest: Manifest,
    /// Set when the carrying frame could not be read.
    refused: Option<String>,
}

impl Pull {
    /// A pull of the stream `id` with the caller's context.
    pub fn new(id: DispatchId, manifest: Manifest) -> Pull {
        Pull {
            id,
            manifest,
            refused: None,
        }
    }

    /// Why the frame carrying this pull was refused, if it was.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }
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
    /// The node the dispatch went to stopped answering or went away.
    #[error("node down")]
    NodeDown,
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

// ---- how these types cross a node connection (ractor_cluster) ----
//
// Decoding never panics and never drops a message: a frame that cannot be read (or is
// over the size limit) becomes a refusal the receiver answers with a typed error.

/// The bytes of `value` as a frame within the wire limits, or why not.
fn to_wire<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    frame::encode(value, &wire_limits()).map_err(|e| e.to_string())
}

/// A small frame that always fits: the refusal put in place of an oversize one.
fn to_wire_unlimited<T: Serialize>(value: &T) -> Vec<u8> {
    frame::encode(value, &Limits::with_max_frame_bytes(usize::MAX)).unwrap_or_default()
}

impl BytesConvertable for Dispatch {
    fn into_bytes(self) -> Vec<u8> {
        match to_wire(&self) {
            Ok(bytes) => bytes,
            Err(why) => {
                let request = Request {
                    args: Blob::from(Vec::new()),
                    manifest: Manifest::default(),
                    ..self.request
                };
                to_wire_unlimited(&Dispatch::refusal(request, self.kind, why))
            }
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Dispatch {
        frame::decode(&bytes, &wire_limits()).unwrap_or_else(|e| {
            Dispatch::refusal(
                Request::new("", Vec::new(), Manifest::default()),
                DispatchKind::Call,
                e.to_string(),
            )
        })
    }
}

impl BytesConvertable for Pull {
    fn into_bytes(self) -> Vec<u8> {
        match to_wire(&self) {
            Ok(bytes) => bytes,
            Err(why) => to_wire_unlimited(&Pull {
                id: self.id,
                manifest: Manifest::default(),
                refused: Some(why),
            }),
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Pull {
        frame::decode(&bytes, &wire_limits()).unwrap_or_else(|e| Pull {
            id: DispatchId::nil(),
            manifest: Manifest::default(),
            refused: Some(e.to_string()),
        })
    }
}

impl BytesConvertable for Reply {
    fn into_bytes(self) -> Vec<u8> {
        match to_wire(&self) {
            Ok(bytes) => bytes,
            // The reply is lost, but its spends are not: they travel in the refusal.
            Err(why) => to_wire_unlimited(&Reply {
                outcome: Outcome::Failed(Failure::BadFrame(why)),
                manifest: None,
                delta: self.delta,
            }),
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Reply {
        frame::decode(&bytes, &wire_limits())
            .unwrap_or_else(|e| Reply::failed(Failure::BadFrame(e.to_string())))
    }
}

impl BytesConvertable for DispatchId {
    fn into_bytes(self) -> Vec<u8> {
        to_wire_unlimited(&self)
    }

    /// An unreadable id becomes the nil id, which names no dispatch.
    fn from_bytes(bytes: Vec<u8>) -> DispatchId {
        frame::decode(&bytes, &Limits::default()).unwrap_or_else(|_| DispatchId::nil())
    }
}
