//! Routines: typed async functions (and streams) that run on the pool's workers.

use std::future::Future;

use futures::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A routine: a typed async function with a stable name that runs on a worker.
///
/// ```
/// use skein::{Never, Routine};
///
/// struct Add;
/// impl Routine for Add {
///     const NAME: &'static str = "demo.add";
///     type Args = (i64, i64);
///     type Output = i64;
///     type Error = Never;
///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
///         Ok(x + y)
///     }
/// }
/// ```
pub trait Routine: Send + Sync + 'static {
    /// The stable name the routine is dispatched by. It must be unique in a pool.
    const NAME: &'static str;
    /// The args, encoded as MessagePack on the way to the worker. Tokens may ride here.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The output, encoded on the way back. Tokens may ride here.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The routine's own error; the caller gets it as `DispatchError::Routine`, which
    /// displays it and returns it from `source()`.
    // rustc reports a `type Error = ...` that is not a routine error by the serde or
    // `Error` bound it misses, quoting this line: the comment on it is the hint.
    type Error: RoutineError; // not Infallible or String: skein::Never or skein::ErrorMessage

    /// The body. It runs in a context that continues the caller's.
    fn run(args: Self::Args) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// A streaming routine: by default each item is pulled by the caller, one at a time,
/// and each pull carries the caller's context as it is then;
/// [`RoutineStream::ahead`](crate::RoutineStream::ahead) lets the worker run steps
/// ahead of the caller on credits.
///
/// # Examples
///
/// ```
/// use futures::{Stream, StreamExt};
/// use skein::{ContextVar, ErrorMessage, Pool, StreamRoutine};
///
/// static STEP: ContextVar<u32> = ContextVar::new("doc.stream", "step");
///
/// /// Counts down from `n`, recording each step in the context; zero is refused.
/// struct Countdown;
/// impl StreamRoutine for Countdown {
///     const NAME: &'static str = "doc.countdown";
///     type Args = u32;
///     type Item = u32;
///     type Error = ErrorMessage;
///     fn run(n: u32) -> impl Stream<Item = Result<u32, ErrorMessage>> + Send + 'static {
///         let steps: Vec<Result<u32, ErrorMessage>> = match n {
///             0 => vec![Err("nothing to count".into())],
///             n => (1..=n).rev().map(Ok).collect(),
///         };
///         // Each step runs on the worker in the context of the pull that asked for it.
///         futures::stream::iter(steps).map(|step| {
///             let i = step?;
///             let _ = STEP.set(i)?; // the token goes: the value is the step's record
///             Ok(i)
///         })
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder().workers(1).stream_routine::<Countdown>().build().await?;
/// skein::scope(async {
///     let mut items = pool.stream::<Countdown>(3);
///     assert_eq!(items.next().await, Some(Ok(3)));
///     assert_eq!(STEP.get(), Some(3), "each item merges its step's changes");
///     assert_eq!(items.next().await, Some(Ok(2)));
///     assert_eq!(items.next().await, Some(Ok(1)));
///     assert_eq!(items.next().await, None);
///     assert_eq!(STEP.get(), Some(1));
/// })
/// .await;
/// let refused: Vec<_> = pool.stream::<Countdown>(0).collect().await;
/// assert_eq!(refused, [Err(skein::DispatchError::Routine("nothing to count".into()))]);
/// # Ok(()) }
/// ```
pub trait StreamRoutine: Send + Sync + 'static {
    /// The stable name the routine is dispatched by.
    const NAME: &'static str;
    /// The args.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// One item.
    type Item: Serialize + DeserializeOwned + Send + 'static;
    /// The routine's own error; an error item ends the stream.
    // As in `Routine`: rustc quotes this line when the type is not a routine error.
    type Error: RoutineError; // not Infallible or String: skein::Never or skein::ErrorMessage

    /// The body. Dropping the returned stream is how it is cancelled, so cleanup
    /// belongs in `Drop` impls of what it holds.
    fn run(
        args: Self::Args,
    ) -> impl Stream<Item = Result<Self::Item, Self::Error>> + Send + 'static;
}

/// What a routine's error must be: an [`Error`](std::error::Error), so the caller's
/// `DispatchError::Routine(e)` can display it and hand it on as its `source()`, and
/// serializable, because it travels back from the worker. Every type with those
/// traits is one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a routine's error",
    label = "not a routine error",
    note = "a routine's error travels back to the caller: it must implement `std::error::Error`, `Serialize`, `Deserialize`, `Send` and `Sync`",
    note = "a routine that cannot fail uses `skein::Never`; one whose error is just a message uses `skein::ErrorMessage`"
)]
pub trait RoutineError:
    std::error::Error + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

// Not recommended, so where a bound asks for `RoutineError` directly (the code
// `#[skein::routine]` writes), a type that is not one is reported with the notes above
// rather than the one bound it misses. A `type Error = ...` in a `Routine` impl written
// by hand is still reported by the missing bound (rustc checks an associated type's
// bounds through the impl), with a note quoting `Routine::Error`'s line, which carries
// the hint (`tests/ui/infallible_error.rs`).
#[diagnostic::do_not_recommend]
impl<E> RoutineError for E where
    E: std::error::Error + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

/// A routine error that is just a message, for a routine that needs no error type of
/// its own. It displays as the message, and a failed nested call and a context variable
/// that cannot be read, set or reset convert into it, so `?` works on all of them.
///
/// ```
/// use skein::{ErrorMessage, Routine};
///
/// struct Withdraw;
/// impl Routine for Withdraw {
///     const NAME: &'static str = "demo.withdraw";
///     type Args = u64;
///     type Output = u64;
///     type Error = ErrorMessage;
///     async fn run(amount: u64) -> Result<u64, ErrorMessage> {
///         if amount > 100 {
///             return Err(format!("{amount} is over the limit").into());
///         }
///         Ok(100 - amount)
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{0}")]
pub struct ErrorMessage(pub String);

impl From<String> for ErrorMessage {
    fn from(message: String) -> ErrorMessage {
        ErrorMessage(message)
    }
}

impl From<&str> for ErrorMessage {
    fn from(message: &str) -> ErrorMessage {
        ErrorMessage(message.to_owned())
    }
}

/// A nested call's failure, as the calling routine's own message.
impl<E: std::fmt::Display> From<skein_actors::DispatchError<E>> for ErrorMessage {
    fn from(failure: skein_actors::DispatchError<E>) -> ErrorMessage {
        ErrorMessage(failure.to_string())
    }
}

/// A context variable that could not be read, as the routine's own message.
impl From<crate::context::GetError> for ErrorMessage {
    fn from(e: crate::context::GetError) -> ErrorMessage {
        ErrorMessage(e.to_string())
    }
}

/// A context variable that could not be set, as the routine's own message.
impl From<crate::context::SetError> for ErrorMessage {
    fn from(e: crate::context::SetError) -> ErrorMessage {
        ErrorMessage(e.to_string())
    }
}

/// A pool's state that could not be read, as the routine's own message.
impl From<crate::state::StateError> for ErrorMessage {
    fn from(e: crate::state::StateError) -> ErrorMessage {
        ErrorMessage(e.to_string())
    }
}

/// A token that could not be reset, as the routine's own message.
impl<T> From<crate::context::ResetError<T>> for ErrorMessage {
    fn from(e: crate::context::ResetError<T>) -> ErrorMessage {
        ErrorMessage(e.to_string())
    }
}

/// An error type with no values, for routines that cannot fail. (`std`'s
/// `Infallible` has no serde impls.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

/// What a panic said, from its payload: a routine's, or an admission hook's.
pub(crate) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string())
}
