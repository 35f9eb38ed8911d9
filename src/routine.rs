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
    /// The routine's own error; the caller gets it as `DispatchError::Routine`.
    type Error: Serialize + DeserializeOwned + Send + 'static;

    /// The body. It runs in a context that continues the caller's.
    fn run(args: Self::Args) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// A streaming routine: each item is pulled by the caller, one at a time, and each
/// pull carries the caller's context as it is then.
pub trait StreamRoutine: Send + Sync + 'static {
    /// The stable name the routine is dispatched by.
    const NAME: &'static str;
    /// The args.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// One item.
    type Item: Serialize + DeserializeOwned + Send + 'static;
    /// The routine's own error; an error item ends the stream.
    type Error: Serialize + DeserializeOwned + Send + 'static;

    /// The body. Dropping the returned stream is how it is cancelled, so cleanup
    /// belongs in `Drop` impls of what it holds.
    fn run(
        args: Self::Args,
    ) -> impl Stream<Item = Result<Self::Item, Self::Error>> + Send + 'static;
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
