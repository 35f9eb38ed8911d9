//! Routines: typed async functions (and streams) that run on the pool's workers.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{OnceLock, Weak};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skein_actors::{
    DispatchId, Executor, Failure, LedgerDelta, Manifest, Outcome, Reply, Request, StreamSession,
};

use crate::context::{Context, InstallMode};
use crate::payload::{self, Incoming};
use crate::pool::{PoolShared, DISPATCH};

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
/// pull carries the caller's context as it is then (reference R13, R70).
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

/// What a routine body needs to know about where it runs.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) pool: Weak<PoolShared>,
    pub(crate) mode: InstallMode,
}

type CallFn = fn(Request, Link) -> BoxFuture<'static, Reply>;
type OpenFn = fn(&Request, Link) -> Result<Box<dyn StreamSession>, Reply>;

/// The routines of a pool, by name.
#[derive(Default)]
pub(crate) struct Routines {
    calls: HashMap<&'static str, (TypeId, CallFn)>,
    streams: HashMap<&'static str, (TypeId, OpenFn)>,
}

impl Routines {
    /// Registers `R`; false if another routine already holds its name.
    pub(crate) fn add_call<R: Routine>(&mut self) -> bool {
        if self.streams.contains_key(R::NAME) {
            return false;
        }
        let entry = self
            .calls
            .entry(R::NAME)
            .or_insert((TypeId::of::<R>(), run_call::<R>));
        entry.0 == TypeId::of::<R>()
    }

    pub(crate) fn add_stream<R: StreamRoutine>(&mut self) -> bool {
        if self.calls.contains_key(R::NAME) {
            return false;
        }
        let entry = self
            .streams
            .entry(R::NAME)
            .or_insert((TypeId::of::<R>(), open_stream::<R>));
        entry.0 == TypeId::of::<R>()
    }
}

/// The executor the workers run routines through.
pub(crate) struct RoutineExecutor {
    routines: Routines,
    pub(crate) pool: OnceLock<Weak<PoolShared>>,
    mode: InstallMode,
}

impl RoutineExecutor {
    pub(crate) fn new(routines: Routines, mode: InstallMode) -> RoutineExecutor {
        RoutineExecutor {
            routines,
            pool: OnceLock::new(),
            mode,
        }
    }

    fn link(&self) -> Link {
        Link {
            pool: self.pool.get().cloned().unwrap_or_default(),
            mode: self.mode,
        }
    }
}

impl Executor for RoutineExecutor {
    fn call(&self, request: Request) -> BoxFuture<'static, Reply> {
        match self.routines.calls.get(request.routine.as_str()) {
            Some((_, run)) => run(request, self.link()),
            None => Box::pin(std::future::ready(Reply::failed(Failure::UnknownRoutine(
                request.routine,
            )))),
        }
    }

    fn open_stream(&self, request: &Request) -> Result<Box<dyn StreamSession>, Reply> {
        match self.routines.streams.get(request.routine.as_str()) {
            Some((_, open)) => open(request, self.link()),
            None => Err(Reply::failed(Failure::UnknownRoutine(
                request.routine.clone(),
            ))),
        }
    }
}

/// The spends a manifest reports, gathered into one delta for the reply frame.
fn delta_of(manifest: &Manifest) -> LedgerDelta {
    manifest
        .entries()
        .iter()
        .flat_map(|e| e.spent.iter().copied())
        .collect()
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string())
}

/// Encodes a step's result inside the routine's context (so tokens in it are pinned
/// there) and turns a panic into `Err`.
async fn step<T: Serialize, E: Serialize>(
    body: impl Future<Output = Option<Result<T, E>>>,
) -> Result<Outcome, Failure> {
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(Some(Ok(value))) => Ok(match payload::encode(&value) {
            Ok(bytes) => Outcome::Value(bytes.into()),
            Err(e) => Outcome::Failed(Failure::BadFrame(e.to_string())),
        }),
        Ok(Some(Err(error))) => Ok(Outcome::Failed(match payload::encode(&error) {
            Ok(bytes) => Failure::Routine(bytes.into()),
            Err(e) => Failure::BadFrame(e.to_string()),
        })),
        Ok(None) => Ok(Outcome::End),
        Err(panic) => Err(Failure::Panicked(panic_message(panic))),
    }
}

/// Builds the reply of a step: a completed step carries the context back; a panic or
/// a timeout carries only the spends (nothing merges, reference R74; spends stay, B2).
fn reply(cx: &Context, result: Result<Outcome, Failure>) -> Reply {
    let manifest = cx.take_snapshot();
    let delta = delta_of(&manifest);
    match result {
        Ok(outcome) => Reply {
            outcome,
            manifest: Some(manifest),
            delta,
        },
        Err(failure) => Reply {
            outcome: Outcome::Failed(failure),
            manifest: None,
            delta,
        },
    }
}

fn run_call<R: Routine>(request: Request, link: Link) -> BoxFuture<'static, Reply> {
    Box::pin(async move {
        let incoming = match payload::decode::<R::Args>(&request.args) {
            Ok(incoming) => incoming,
            Err(e) => return Reply::failed(Failure::BadArgs(e.to_string())),
        };
        let cx = Context::continuation();
        let args = match cx.receive(&request.manifest, incoming, link.mode) {
            Ok((args, _warnings)) => args,
            Err(e) => return Reply::failed(Failure::BadFrame(e.to_string())),
        };
        let frame = Frame {
            pool: link.pool,
            id: request.id,
            caller: request.caller,
        };
        let body = cx.scope(DISPATCH.scope(frame, step(R::run(args).map(Some))));
        let result = match request.timeout {
            Some(limit) => tokio::time::timeout(limit, body)
                .await
                .unwrap_or(Err(Failure::Timeout)),
            None => body.await,
        };
        reply(&cx, result)
    })
}

/// Where a routine body runs: its pool (for nested calls) and its dispatch id (the
/// `caller` of the nested dispatches it makes).
#[derive(Clone)]
pub(crate) struct Frame {
    pub(crate) pool: Weak<PoolShared>,
    pub(crate) id: DispatchId,
    pub(crate) caller: Option<DispatchId>,
}

struct Session<R: StreamRoutine> {
    cx: Context,
    frame: Frame,
    mode: InstallMode,
    /// The args until the first step anchors their tokens and starts the stream.
    args: Option<Incoming<R::Args>>,
    stream: Option<BoxStream<'static, Result<R::Item, R::Error>>>,
}

fn open_stream<R: StreamRoutine>(
    request: &Request,
    link: Link,
) -> Result<Box<dyn StreamSession>, Reply> {
    let incoming = payload::decode::<R::Args>(&request.args)
        .map_err(|e| Reply::failed(Failure::BadArgs(e.to_string())))?;
    Ok(Box::new(Session::<R> {
        cx: Context::continuation(),
        frame: Frame {
            pool: link.pool,
            id: request.id,
            caller: request.caller,
        },
        mode: link.mode,
        args: Some(incoming),
        stream: None,
    }))
}

impl<R: StreamRoutine> StreamSession for Session<R> {
    fn next(&mut self, manifest: Manifest) -> BoxFuture<'_, Reply> {
        Box::pin(async move {
            let args = match self.args.take() {
                Some(incoming) => match self.cx.receive(&manifest, incoming, self.mode) {
                    Ok((args, _warnings)) => Some(args),
                    Err(e) => return Reply::failed(Failure::BadFrame(e.to_string())),
                },
                None => match self.cx.merge(&manifest, self.mode) {
                    Ok(_warnings) => None,
                    Err(e) => return Reply::failed(Failure::BadFrame(e.to_string())),
                },
            };
            let slot = &mut self.stream;
            let body = async move {
                // Built on the first step, inside the context and under the panic
                // guard, so a body that reads a var as it starts sees the caller's.
                if let Some(args) = args {
                    *slot = Some(R::run(args).boxed());
                }
                match slot.as_mut() {
                    Some(stream) => {
                        let item = stream.next().await;
                        if item.is_none() {
                            *slot = None;
                        }
                        item
                    }
                    None => None,
                }
            };
            let result = self
                .cx
                .scope(DISPATCH.scope(self.frame.clone(), step(body)))
                .await;
            if !matches!(result, Ok(Outcome::Value(_))) {
                // Ended, failed or panicked: drop the stream now so its cleanup runs.
                self.stream = None;
            }
            reply(&self.cx, result)
        })
    }
}
