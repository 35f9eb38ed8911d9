//! The Dispatch message and its reply frames.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::frame::Limits;
use crate::ids::DispatchId;
use crate::ledger::LedgerDelta;
use crate::manifest::{Blob, Manifest};
use crate::trace::TraceContext;

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
    /// The caller's trace context (absent from frames of older builds: none).
    #[serde(default)]
    pub trace: TraceContext,
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
            trace: TraceContext::default(),
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
    pub(crate) refused: Option<String>,
    /// The limits of the node that sends it: a frame past them is not sent, and the
    /// worker answers with `BadFrame` instead.
    #[serde(skip)]
    pub(crate) limits: Limits,
}

impl Dispatch {
    /// A dispatch of `request`, sent within the default [`Limits`].
    pub fn new(request: Request, kind: DispatchKind) -> Dispatch {
        Dispatch {
            request,
            kind,
            refused: None,
            limits: Limits::default(),
        }
    }

    /// The same dispatch, to be sent within `limits` (those of the sending node).
    pub fn with_limits(self, limits: Limits) -> Dispatch {
        Dispatch { limits, ..self }
    }

    /// Why the frame carrying this dispatch was refused, if it was.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }
}

/// Asks an open stream for its next item, carrying the caller's context as it is now
/// . Send it as `WorkerMsg::Pull(pull, reply_port)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    /// The stream's dispatch id.
    pub id: DispatchId,
    /// The caller's context.
    pub manifest: Manifest,
    /// Set when the carrying frame could not be read.
    pub(crate) refused: Option<String>,
    /// The limits of the node that sends it.
    #[serde(skip)]
    pub(crate) limits: Limits,
}

impl Pull {
    /// A pull of the stream `id` with the caller's context, sent within the default
    /// [`Limits`].
    pub fn new(id: DispatchId, manifest: Manifest) -> Pull {
        Pull {
            id,
            manifest,
            refused: None,
            limits: Limits::default(),
        }
    }

    /// The same pull, to be sent within `limits` (those of the sending node).
    pub fn with_limits(self, limits: Limits) -> Pull {
        Pull { limits, ..self }
    }

    /// Why the frame carrying this pull was refused, if it was.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }
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
    /// panic, a timeout, a crash or a cancellation.
    pub manifest: Option<Manifest>,
    /// Token ids spent during the step. They travel apart from the manifest, so a
    /// refused manifest never hides a spend.
    pub delta: LedgerDelta,
    /// The limits of the worker's node: a reply past them is not sent; a `BadFrame`
    /// that keeps the spends goes instead.
    #[serde(skip)]
    pub(crate) limits: Limits,
}

impl Reply {
    /// The reply of a step.
    pub fn new(outcome: Outcome, manifest: Option<Manifest>, delta: LedgerDelta) -> Reply {
        Reply {
            outcome,
            manifest,
            delta,
            limits: Limits::default(),
        }
    }

    /// A failed reply that carries no context and no spends.
    pub fn failed(failure: Failure) -> Reply {
        Reply::new(Outcome::Failed(failure), None, LedgerDelta::new())
    }
}
