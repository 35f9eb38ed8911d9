//! `DispatchError`: every way a call can fail, each its own variant.

use skein_actors::Failure;

use crate::context::InstallError;

/// A call or stream item failed. `E` is the routine's own error type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError<E> {
    /// The routine returned its own error value.
    #[error("the routine returned an error")]
    Routine(E),
    /// The routine panicked; the message is the panic's.
    #[error("the routine panicked: {0}")]
    Panicked(String),
    /// No routine of this name is registered in the pool.
    #[error("unknown routine {0:?}")]
    UnknownRoutine(String),
    /// The args did not decode as the routine's args type on the worker.
    #[error("bad args: {0}")]
    BadArgs(String),
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
    /// No worker is alive right now (every slot is restarting).
    #[error("no live worker")]
    NoWorkers,
    /// The pool gave up after too many worker restarts.
    #[error("the pool failed")]
    PoolFailed,
    /// `skein::call` was used outside a routine, where there is no pool to call.
    #[error("skein::call used outside a routine; call through a Pool instead")]
    NotInRoutine,
    /// The args failed to encode on the caller.
    #[error("args failed to encode: {0}")]
    Encode(String),
    /// A frame could not be used: a reply that does not decode, or a context refused
    /// by a strict install.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// The reply's context was refused by a strict install; nothing merged.
    #[error(transparent)]
    Context(InstallError),
}

impl<E> DispatchError<E> {
    /// The error for a failure that is not the routine's own.
    pub(crate) fn from_failure(failure: Failure) -> DispatchError<E> {
        match failure {
            Failure::Panicked(message) => DispatchError::Panicked(message),
            Failure::UnknownRoutine(name) => DispatchError::UnknownRoutine(name),
            Failure::BadArgs(message) => DispatchError::BadArgs(message),
            Failure::Overloaded => DispatchError::Overloaded,
            Failure::WorkerCrashed => DispatchError::WorkerCrashed,
            Failure::NodeDown => DispatchError::NodeDown,
            Failure::Timeout => DispatchError::Timeout,
            Failure::Cancelled | Failure::NoSuchStream => DispatchError::Cancelled,
            Failure::BadFrame(message) => DispatchError::BadFrame(message),
            Failure::Routine(_) => {
                DispatchError::BadFrame("a routine error reached the wrong decoder".into())
            }
            other => DispatchError::BadFrame(other.to_string()),
        }
    }
}
