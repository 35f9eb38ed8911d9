//! [`Error`]: one error that every skein error converts into, for `?`.

use std::fmt;

use skein_actors::{DispatchError, InstallError};

use crate::context::{CollisionError, GetError, ResetError, ResetErrorKind, SetError};
use crate::dispatch::RequestError;
use crate::pool::builder::BuildError;
use crate::pool::WaitError;

/// A boxed error, as [`Error`] holds the errors whose types it erases.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every skein error, so that one `?` works on calls, streams, context variables,
/// tokens and pools in the same function.
///
/// A routine's own error (the `E` of a [`DispatchError<E>`]) is kept, boxed, inside
/// [`Error::Dispatch`]: [`Error::routine_error`] gives it back as its own type. Each
/// variant displays as what failed followed by the error it wraps, and returns that
/// error from `source()`.
///
/// # Examples
///
/// ```
/// use skein::{ContextVar, ErrorMessage, Pool};
///
/// static LIMIT: ContextVar<u64> = ContextVar::new("doc.error", "limit");
///
/// #[skein::routine]
/// async fn withdraw(amount: u64) -> Result<u64, ErrorMessage> {
///     let limit = LIMIT.get().unwrap_or(100);
///     if amount > limit {
///         return Err(format!("{amount} is over the limit of {limit}").into());
///     }
///     Ok(limit - amount)
/// }
///
/// # #[tokio::main] async fn main() {
/// let outcome: Result<u64, skein::Error> = skein::scope(async {
///     let pool = Pool::builder().workers(1).build().await?;
///     let token = LIMIT.set(50)?;
///     let left = pool.call::<Withdraw>(20).await?;
///     LIMIT.reset(token).await?;
///     pool.call::<Withdraw>(left * 10).await?; // 300 is over the default 100
///     Ok(left)
/// })
/// .await;
/// let error = outcome.unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "call failed: the routine returned an error: 300 is over the limit of 100"
/// );
/// assert_eq!(
///     error.routine_error::<ErrorMessage>(),
///     Some(&ErrorMessage::from("300 is over the limit of 100"))
/// );
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call or a stream failed: [`Pool::call`](crate::Pool::call),
    /// [`skein::call`](crate::call), an item of a [`RoutineStream`](crate::RoutineStream).
    #[error("call failed: {0}")]
    Dispatch(#[source] DispatchError<RoutineFailure>),
    /// A [`ContextVar::set`](crate::ContextVar::set) failed.
    #[error("set failed: {0}")]
    Set(#[source] SetError),
    /// A [`ContextVar::try_get`](crate::ContextVar::try_get) failed.
    #[error("get failed: {0}")]
    Get(#[source] GetError),
    /// A [`ContextVar::reset`](crate::ContextVar::reset) was refused. The token is kept
    /// inside `source` (a [`ResetError`]), and can be had back by downcasting it.
    #[error("reset failed: {source}")]
    Reset {
        /// Why it was refused.
        kind: ResetErrorKind,
        /// The [`ResetError`] itself.
        #[source]
        source: BoxError,
    },
    /// [`ContextVar::declare`](crate::ContextVar::declare) found the key taken.
    #[error("declare failed: {0}")]
    Collision(#[source] CollisionError),
    /// A [`Context::merge`](crate::Context::merge) or
    /// [`Context::receive`](crate::Context::receive) refused a manifest.
    #[error("install failed: {0}")]
    Install(#[source] InstallError),
    /// A pool could not be built.
    #[error("pool build failed: {0}")]
    Build(#[source] BuildError),
    /// [`Pool::wait_for_workers`](crate::Pool::wait_for_workers) gave up.
    #[error("wait for workers failed: {0}")]
    Wait(#[source] WaitError),
    /// A [`request`](crate::request) could not be built.
    #[error("request failed: {0}")]
    Request(#[source] RequestError),
    /// A node could not be built or started.
    #[cfg(feature = "cluster")]
    #[error("node failed: {0}")]
    Node(#[source] skein_actors::NodeError),
    /// A node could not connect to a peer.
    #[cfg(feature = "cluster")]
    #[error("connect failed: {0}")]
    Connect(#[source] skein_actors::ConnectError),
}

impl Error {
    /// The routine's own error, if this is a [`DispatchError::Routine`] whose error is
    /// an `E`.
    pub fn routine_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Dispatch(DispatchError::Routine(failure)) => failure.downcast_ref(),
            _ => None,
        }
    }
}

/// A routine's own error with its type erased: what [`Error::Dispatch`] holds in
/// [`DispatchError::Routine`]. It displays as the routine's error and has that error's
/// `source()`.
#[derive(Debug)]
pub struct RoutineFailure(BoxError);

impl RoutineFailure {
    /// The routine's error, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }

    /// The routine's error, boxed.
    pub fn into_inner(self) -> BoxError {
        self.0
    }
}

impl fmt::Display for RoutineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// Transparent: the routine's error is already displayed by this value, so its
// `source()` is the next link of the chain, not the routine's error again.
impl std::error::Error for RoutineFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A failed call, with the routine's own error boxed.
impl<E: std::error::Error + Send + Sync + 'static> From<DispatchError<E>> for Error {
    fn from(failure: DispatchError<E>) -> Error {
        Error::Dispatch(failure.map_routine(|e| RoutineFailure(Box::new(e))))
    }
}

/// A refused reset; the token stays inside the boxed [`ResetError`].
impl<T: 'static> From<ResetError<T>> for Error {
    fn from(e: ResetError<T>) -> Error {
        Error::Reset {
            kind: e.kind(),
            source: Box::new(e),
        }
    }
}

macro_rules! from {
    ($($variant:ident($error:ty),)*) => {$(
        impl From<$error> for Error {
            fn from(e: $error) -> Error {
                Error::$variant(e)
            }
        }
    )*};
}

from! {
    Set(SetError),
    Get(GetError),
    Collision(CollisionError),
    Install(InstallError),
    Build(BuildError),
    Wait(WaitError),
    Request(RequestError),
}

#[cfg(feature = "cluster")]
from! {
    Node(skein_actors::NodeError),
    Connect(skein_actors::ConnectError),
}
