//! Every way a dispatch can fail: one list, for the wire and for the caller.
//!
//! A worker reports a failure as [`Failure`], which is [`DispatchError`] with the
//! routine's own error still in bytes. The caller decodes those bytes as the routine's
//! error type and hands the same variant on ([`DispatchError::map_routine`]), so the
//! kinds that cross the wire and the variants users match on are one enum, never two
//! lists joined by a hand mapping.

use serde::{Deserialize, Serialize};

use crate::manifest::{Blob, InstallError};

/// A call or a stream item failed. `E` is the routine's own error type.
///
/// The first group of variants is what a worker reports; the second can only happen
/// on the caller's side, before anything was sent or after the reply arrived.
///
/// ```
/// use skein_actors::{DispatchError, Failure};
///
/// let on_the_wire: Failure = DispatchError::Panicked { message: "boom".into() };
/// let at_the_caller: DispatchError<String> = on_the_wire.map_routine(|_| unreachable!());
/// assert!(matches!(at_the_caller, DispatchError::Panicked { message } if message == "boom"));
/// ```
///
/// # Examples
///
/// A caller deciding what to do with a failed call: the routine's own error is the
/// answer, a few failures are worth another try, the rest are bugs or a pool that is
/// gone. The enum is `#[non_exhaustive]`, so a match needs a last arm.
///
/// ```
/// use skein_actors::DispatchError;
///
/// #[derive(Debug, PartialEq)]
/// enum Next {
///     Answer(String),
///     Retry,
///     GiveUp(String),
/// }
///
/// fn next(failure: DispatchError<String>) -> Next {
///     match failure {
///         DispatchError::Routine(said) => Next::Answer(said),
///         // Nothing ran, or it ran on a worker that is gone: another worker may take it.
///         DispatchError::Overloaded
///         | DispatchError::NoWorkers
///         | DispatchError::WorkerCrashed
///         | DispatchError::NodeDown
///         | DispatchError::Timeout => Next::Retry,
///         other => Next::GiveUp(other.to_string()),
///     }
/// }
///
/// assert_eq!(next(DispatchError::Routine("no funds".into())), Next::Answer("no funds".into()));
/// assert_eq!(next(DispatchError::Overloaded), Next::Retry);
/// assert_eq!(
///     next(DispatchError::UnknownRoutine { routine: "demo.add".into() }),
///     Next::GiveUp("unknown routine \"demo.add\"".into())
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError<E = Blob> {
    /// The routine returned its own error value. It displays as part of this error and
    /// is this error's `source()`, so it survives `?` into `Box<dyn Error>` or anyhow.
    #[error("the routine returned an error: {0}")]
    Routine(#[source] E),
    /// The routine panicked; nothing of its context merged back.
    #[error("the routine panicked: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// No routine of this name is registered on the worker.
    #[error("unknown routine {routine:?}")]
    UnknownRoutine {
        /// The name that was asked for.
        routine: String,
    },
    /// The args did not decode as the routine's args type on the worker.
    #[error("bad args: {reason}")]
    BadArgs {
        /// The decoder's message.
        reason: String,
    },
    /// The worker's queue is full; nothing was run.
    #[error("worker overloaded")]
    Overloaded,
    /// The worker died with the dispatch in flight.
    #[error("worker crashed")]
    WorkerCrashed,
    /// The node the dispatch went to died or stopped answering heartbeats.
    #[error("node down")]
    NodeDown,
    /// The call ran past its deadline; the routine was cancelled.
    #[error("timed out")]
    Timeout,
    /// The dispatch was cancelled: the pool or worker stopped, or the stream closed.
    #[error("cancelled")]
    Cancelled,
    /// A pull named a stream the worker does not have open (it ended, or was
    /// cancelled).
    #[error("no such stream")]
    NoSuchStream,
    /// A frame could not be used: over the size limit, not a frame, or a reply that
    /// does not decode as the routine's output or error.
    #[error("bad frame: {reason}")]
    BadFrame {
        /// What was wrong with it.
        reason: String,
    },
    /// A strict install refused a context, on the worker (the caller's) or on the
    /// caller (the worker's); nothing of it was installed.
    #[error(transparent)]
    Context(InstallError),

    /// No worker is alive right now (every slot is restarting, or the pool's cluster
    /// has none yet).
    #[error("no live worker")]
    NoWorkers,
    /// The pool gave up after too many restarts.
    #[error("the pool failed")]
    PoolFailed,
    /// `skein::call` was used outside a routine, where there is no pool to call.
    #[error("skein::call used outside a routine; call through a Pool instead")]
    NotInRoutine,
    /// The args failed to encode on the caller; nothing was sent.
    #[error("args failed to encode: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },

    /// The worker's admission hook refused the call: nothing ran, nothing was spent,
    /// and nothing merges back.
    #[error("rejected: {reason}")]
    Rejected {
        /// What the hook said.
        reason: String,
    },
    /// The pool is shutting down (the caller's, or the worker's): nothing ran.
    #[error("the pool is shutting down")]
    ShuttingDown,
    /// No worker matches the call's route (its tags or its node), now or within the
    /// wait the route asked for; nothing was sent.
    #[error("no worker matches {route}")]
    NoMatchingWorker {
        /// The route, as it displays.
        route: String,
    },
}

/// A failure as a worker reports it: the routine's own error is still MessagePack.
pub type Failure = DispatchError<Blob>;

impl<E> DispatchError<E> {
    /// The same failure with the routine's own error turned into another type, or
    /// the error `routine` returns for it; every other variant is kept as it is. (The
    /// caller decodes the bytes a worker sent this way.)
    ///
    /// # Errors
    ///
    /// What `routine` returns, when it fails.
    pub fn try_map_routine<F, X>(
        self,
        routine: impl FnOnce(E) -> Result<F, X>,
    ) -> Result<DispatchError<F>, X> {
        use DispatchError::*;
        Ok(match self {
            Routine(e) => Routine(routine(e)?),
            Panicked { message } => Panicked { message },
            UnknownRoutine { routine } => UnknownRoutine { routine },
            BadArgs { reason } => BadArgs { reason },
            Overloaded => Overloaded,
            WorkerCrashed => WorkerCrashed,
            NodeDown => NodeDown,
            Timeout => Timeout,
            Cancelled => Cancelled,
            NoSuchStream => NoSuchStream,
            BadFrame { reason } => BadFrame { reason },
            Context(e) => Context(e),
            NoWorkers => NoWorkers,
            PoolFailed => PoolFailed,
            NotInRoutine => NotInRoutine,
            Encode { reason } => Encode { reason },
            Rejected { reason } => Rejected { reason },
            ShuttingDown => ShuttingDown,
            NoMatchingWorker { route } => NoMatchingWorker { route },
        })
    }

    /// The same failure with the routine's own error turned into another type; every
    /// other variant is kept as it is.
    pub fn map_routine<F>(self, routine: impl FnOnce(E) -> F) -> DispatchError<F> {
        match self.try_map_routine(|e| Ok::<F, std::convert::Infallible>(routine(e))) {
            Ok(mapped) => mapped,
            Err(never) => match never {},
        }
    }

    /// The variant's name in snake case (`routine_error` for [`Routine`](Self::Routine)):
    /// a stable label for metrics and logs.
    ///
    /// ```
    /// use skein_actors::{DispatchError, Failure};
    ///
    /// assert_eq!(Failure::Timeout.kind(), "timeout");
    /// assert_eq!(DispatchError::Routine("no").kind(), "routine_error");
    /// ```
    pub fn kind(&self) -> &'static str {
        use DispatchError::*;
        match self {
            Routine(_) => "routine_error",
            Panicked { .. } => "panicked",
            UnknownRoutine { .. } => "unknown_routine",
            BadArgs { .. } => "bad_args",
            Overloaded => "overloaded",
            WorkerCrashed => "worker_crashed",
            NodeDown => "node_down",
            Timeout => "timeout",
            Cancelled => "cancelled",
            NoSuchStream => "no_such_stream",
            BadFrame { .. } => "bad_frame",
            Context(_) => "context",
            NoWorkers => "no_workers",
            PoolFailed => "pool_failed",
            NotInRoutine => "not_in_routine",
            Encode { .. } => "encode",
            Rejected { .. } => "rejected",
            ShuttingDown => "shutting_down",
            NoMatchingWorker { .. } => "no_matching_worker",
        }
    }

    /// A `BadFrame` with this reason.
    pub fn bad_frame(reason: impl std::fmt::Display) -> DispatchError<E> {
        DispatchError::BadFrame {
            reason: reason.to_string(),
        }
    }
}
