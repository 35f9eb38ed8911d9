//! The Dispatch message and its reply frames.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::frame::Limits;
use crate::ids::{DispatchId, TokenId};
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
    /// How long the routine may run, counted from when the worker receives it: time
    /// it waits in the worker's queue comes off, and one that runs out there is
    /// answered `Timeout` without running.
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
    /// Open a streaming routine: the dispatch grants the stream its first credits
    /// ([`Dispatch::with_credits`], one unless told), the reply carries its first items,
    /// and each [`Pull`] grants more and fetches what is ready.
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
    /// How many steps a stream may run before the caller grants more (absent from
    /// frames of older builds: one, the exact stream).
    #[serde(default = "one_credit")]
    pub(crate) credits: u32,
}

fn one_credit() -> u32 {
    1
}

/// The most credits a stream holds at once: a worker runs at most this many steps
/// past the items its caller took, whatever it was granted.
pub const MAX_CREDITS: u32 = 65_536;

impl Dispatch {
    /// A dispatch of `request`, sent within the default [`Limits`]; a stream gets one
    /// credit, so it runs one step and waits for the next [`Pull`].
    pub fn new(request: Request, kind: DispatchKind) -> Dispatch {
        Dispatch {
            request,
            kind,
            refused: None,
            limits: Limits::default(),
            credits: one_credit(),
        }
    }

    /// The same dispatch, granting a stream `credits` steps before the caller grants
    /// more: the worker runs up to that many steps ahead and sends the items that are
    /// ready together. (Zero is taken as one: a stream that may not run a step would
    /// never answer; past [`MAX_CREDITS`] it is taken as that.) Ignored by a call.
    pub fn with_credits(self, credits: u32) -> Dispatch {
        Dispatch {
            credits: credits.clamp(1, MAX_CREDITS),
            ..self
        }
    }

    /// The steps this dispatch grants a stream.
    pub fn credits(&self) -> u32 {
        self.credits
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

/// Grants an open stream more steps, carrying the caller's context as it is now, and
/// asks for the items that are ready. The reply comes as soon as at least one item is
/// (or the stream ends), with every ready item in one frame. Send it as
/// `WorkerMsg::Pull(pull, reply_port)`.
///
/// The context reaches the worker before the steps it grants run: every step from then
/// on sees it, the ones already run do not.
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
    /// The steps granted (absent from frames of older builds: one). Zero grants none:
    /// it only fetches what is ready.
    #[serde(default = "one_credit")]
    pub(crate) credits: u32,
}

impl Pull {
    /// A pull of the stream `id` with the caller's context, granting one step (the
    /// exact stream's next item), sent within the default [`Limits`].
    pub fn new(id: DispatchId, manifest: Manifest) -> Pull {
        Pull {
            id,
            manifest,
            refused: None,
            limits: Limits::default(),
            credits: one_credit(),
        }
    }

    /// The same pull, granting `credits` steps (zero: none, only fetch what is ready;
    /// the stream never holds more than [`MAX_CREDITS`]). A pull is answered once an
    /// item is ready: one that grants nothing while the stream has no credit left
    /// waits for a later grant, or is answered `Cancelled` when the stream is.
    pub fn with_credits(self, credits: u32) -> Pull {
        Pull {
            credits: credits.min(MAX_CREDITS),
            ..self
        }
    }

    /// The steps this pull grants.
    pub fn credits(&self) -> u32 {
        self.credits
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
/// spends made during it; for a stream, also the steps that followed it (a batch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// What the step produced.
    pub outcome: Outcome,
    /// The worker's context after the step, or `None` when nothing may merge back: a
    /// panic, a timeout, a crash or a cancellation. For a stream's step it holds only
    /// what that step changed.
    pub manifest: Option<Manifest>,
    /// Token ids spent during the step. They travel apart from the manifest, so a
    /// refused manifest never hides a spend.
    pub delta: LedgerDelta,
    /// The limits of the worker's node: a reply past them is not sent; a `BadFrame`
    /// that keeps the spends goes instead.
    #[serde(skip)]
    pub(crate) limits: Limits,
    /// The stream's steps after this one that were ready when the frame left, in
    /// order, each with its own manifest and spends (absent from frames of older
    /// builds: none). Always empty for a call.
    #[serde(default)]
    pub more: Vec<Reply>,
}

impl Reply {
    /// The reply of a step.
    pub fn new(outcome: Outcome, manifest: Option<Manifest>, delta: LedgerDelta) -> Reply {
        Reply {
            outcome,
            manifest,
            delta,
            limits: Limits::default(),
            more: Vec::new(),
        }
    }

    /// The steps this reply carries, in order: itself, then the ones after it.
    pub fn into_steps(mut self) -> impl Iterator<Item = Reply> {
        let more = std::mem::take(&mut self.more);
        std::iter::once(self).chain(more)
    }

    /// Every spend the reply carries, its later steps' included.
    pub fn spends(&self) -> impl Iterator<Item = &TokenId> + '_ {
        self.delta
            .iter()
            .chain(self.more.iter().flat_map(|step| step.delta.iter()))
    }

    /// A failed reply that carries no context and no spends.
    pub fn failed(failure: Failure) -> Reply {
        Reply::new(Outcome::Failed(failure), None, LedgerDelta::new())
    }
}
