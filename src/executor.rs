//! Running routines on a worker: the executor the workers call, the dispatch a
//! routine body runs in, and the nested [`call`] made from inside one.
//!
//! The executor is built with its pool's [`Caller`] (weakly held, so a routine never
//! keeps its pool alive): a nested call goes back through the pool, never runs the
//! inner routine in-process by accident.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Weak;
use std::task::{ready, Context as TaskContext, Poll};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use skein_actors::{
    DispatchError, DispatchId, DispatchKind, Executor, Failure, LedgerDelta, Load, Manifest,
    Outcome, Reply, Request, Route, StreamSession, TraceId,
};
use tracing::Instrument;

use crate::admission::{self, AdmissionHook, Gate};
use crate::context::payload;
use crate::context::{Context, InstallError, InstallMode};
use crate::deadline::{self, Expiry};
use crate::dispatch::{Caller, Parent};
use crate::routine::{panic_message, Routine, StreamRoutine};
use crate::state::{State, StateError};

tokio::task_local! {
    /// The dispatch a routine body runs in: set by the worker around every step.
    static DISPATCH: Frame;
}

/// Runs `R` on the pool the current routine runs on, recording the current dispatch
/// as its parent. This is how a routine fans out: the inner call goes to the pool,
/// never runs in-process by accident.
///
/// # Examples
///
/// A routine that fans out: each half of the work is a call of its own, run on the
/// pool at once, and each sees the context the outer routine runs in.
///
/// ```
/// use skein::{ContextVar, ErrorMessage, Pool, Routine};
///
/// static SCALE: ContextVar<u64> = ContextVar::new("doc.call", "scale");
///
/// /// Sums `lo..hi`, scaled by the caller's `SCALE`.
/// struct Sum;
/// impl Routine for Sum {
///     const NAME: &'static str = "doc.sum";
///     type Args = (u64, u64);
///     type Output = u64;
///     type Error = ErrorMessage;
///     async fn run((lo, hi): (u64, u64)) -> Result<u64, ErrorMessage> {
///         if hi - lo <= 4 {
///             return Ok((lo..hi).sum::<u64>() * SCALE.get().unwrap_or(1));
///         }
///         let mid = lo + (hi - lo) / 2;
///         let (left, right) =
///             futures::try_join!(skein::call::<Sum>((lo, mid)), skein::call::<Sum>((mid, hi)))?;
///         Ok(left + right)
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder().workers(2).routine::<Sum>().build().await?;
/// let total = skein::scope(async {
///     let _token = SCALE.set(10)?;
///     Ok::<_, skein::Error>(pool.call::<Sum>((0, 100)).await?)
/// })
/// .await?;
/// assert_eq!(total, 49_500);
/// // Outside a routine there is no pool to fan out to.
/// assert_eq!(skein::call::<Sum>((0, 1)).await, Err(skein::DispatchError::NotInRoutine));
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`Pool::call`](crate::Pool::call), and [`DispatchError::NotInRoutine`] outside a
/// routine body.
pub async fn call<R: Routine>(args: R::Args) -> Result<R::Output, DispatchError<R::Error>> {
    nested_call::<R>(None, args).await
}

/// [`call`] on the workers `route` matches (see [`Pool::on`](crate::Pool::on)): a
/// nested call from a routine body to a tag or a node of its pool.
///
/// # Errors
///
/// As [`call`], and [`DispatchError::NoMatchingWorker`] when no worker matches the
/// route (at once, or after its wait).
pub async fn call_on<R: Routine>(
    route: &Route,
    args: R::Args,
) -> Result<R::Output, DispatchError<R::Error>> {
    nested_call::<R>(Some(route), args).await
}

/// A call from the current routine's body, on its pool, as its child.
async fn nested_call<R: Routine>(
    route: Option<&Route>,
    args: R::Args,
) -> Result<R::Output, DispatchError<R::Error>> {
    let Ok(frame) = DISPATCH.try_with(Frame::clone) else {
        return Err(DispatchError::NotInRoutine);
    };
    let Some(caller) = frame.pool.upgrade() else {
        return Err(DispatchError::Cancelled);
    };
    let parent = Parent {
        id: frame.id,
        trace: frame.trace,
    };
    caller
        .call::<R>(args, caller.timeout, Some(parent), route)
        .await
}

// Written here rather than in `state.rs`, because the dispatch frame it reads is
// private to this file (and `state.rs` must not import what imports it).
impl<T: Send + Sync + 'static> State<T> {
    /// The state of type `T` of the pool whose worker runs the current routine, as it
    /// was built when the pool was (see [`PoolBuilder::state`](crate::PoolBuilder::state)).
    /// On a worker process that is the state that process built.
    ///
    /// # Errors
    ///
    /// [`StateError::Missing`] if the pool was given no state of type `T`,
    /// [`StateError::NotInRoutine`] outside a routine's body, and
    /// [`StateError::PoolDropped`] if the pool was dropped while the routine ran.
    pub fn get() -> Result<State<T>, StateError> {
        let pool = DISPATCH
            .try_with(|frame| frame.pool.upgrade())
            .map_err(|_| StateError::NotInRoutine)?;
        let caller = pool.ok_or(StateError::PoolDropped)?;
        caller.states.get::<T>().ok_or(StateError::Missing {
            type_name: std::any::type_name::<T>(),
        })
    }
}

/// Where the running routine body was dispatched from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchInfo {
    /// This dispatch's id.
    pub id: DispatchId,
    /// The dispatch whose routine made this one, for a nested call.
    pub caller: Option<DispatchId>,
    /// The trace the dispatch is part of: the same for every call of one tree, on
    /// every node, for logs to be correlated by.
    pub trace: TraceId,
}

/// The dispatch the current routine body runs in, or `None` outside a routine.
pub fn current_dispatch() -> Option<DispatchInfo> {
    DISPATCH
        .try_with(|frame| DispatchInfo {
            id: frame.id,
            caller: frame.caller,
            trace: frame.trace,
        })
        .ok()
}

/// What a routine body needs to know about where it runs.
#[derive(Clone)]
struct Link {
    pool: Weak<Caller>,
    mode: InstallMode,
}

type CallFn = fn(Request, Link, Option<Box<Gate>>) -> BoxFuture<'static, Reply>;
type OpenFn = fn(Request, Link, Option<Box<Gate>>) -> Result<Box<dyn StreamSession>, Reply>;

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

    /// The names of the routines registered as calls.
    pub(crate) fn call_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.calls.keys().copied()
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
    /// The pool a routine's nested calls go to.
    pool: Weak<Caller>,
    mode: InstallMode,
    /// Asked before each routine runs, when the pool has one.
    hook: Option<AdmissionHook>,
}

impl RoutineExecutor {
    pub(crate) fn new(
        routines: Routines,
        pool: Weak<Caller>,
        mode: InstallMode,
        hook: Option<AdmissionHook>,
    ) -> RoutineExecutor {
        RoutineExecutor {
            routines,
            pool,
            mode,
            hook,
        }
    }

    fn link(&self) -> Link {
        Link {
            pool: self.pool.clone(),
            mode: self.mode,
        }
    }
}

impl Executor for RoutineExecutor {
    fn call(&self, request: Request, load: Load) -> BoxFuture<'static, Reply> {
        match self.routines.calls.get_key_value(request.routine.as_str()) {
            Some((name, (_, run))) => {
                let gate =
                    admission::gate(self.hook.as_ref(), name, &request, DispatchKind::Call, load);
                run(request, self.link(), gate)
            }
            None => Box::pin(std::future::ready(Reply::failed(
                DispatchError::UnknownRoutine {
                    routine: request.routine,
                },
            ))),
        }
    }

    fn open_stream(&self, request: Request, load: Load) -> Result<Box<dyn StreamSession>, Reply> {
        match self
            .routines
            .streams
            .get_key_value(request.routine.as_str())
        {
            Some((name, (_, open))) => {
                let gate = admission::gate(
                    self.hook.as_ref(),
                    name,
                    &request,
                    DispatchKind::Stream,
                    load,
                );
                open(request, self.link(), gate)
            }
            None => Err(Reply::failed(DispatchError::UnknownRoutine {
                routine: request.routine,
            })),
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

/// Runs a step's body and encodes its result inside the routine's context (so tokens
/// in it are pinned there); a panic is `Err`.
async fn step<T: Serialize, E: Serialize>(
    body: impl Future<Output = Option<Result<T, E>>>,
) -> Result<Outcome, Failure> {
    outcome(AssertUnwindSafe(body).catch_unwind().await)
}

/// What a step's body came to, as the outcome its reply carries: the value or the
/// routine's error encoded (call it inside the routine's context), the end of a
/// stream, or a panic as `Err`.
fn outcome<T: Serialize, E: Serialize>(
    result: std::thread::Result<Option<Result<T, E>>>,
) -> Result<Outcome, Failure> {
    match result {
        Ok(Some(Ok(value))) => Ok(match payload::encode_blob(&value) {
            Ok(bytes) => Outcome::Value(bytes),
            Err(e) => Outcome::Failed(DispatchError::bad_frame(e)),
        }),
        Ok(Some(Err(error))) => Ok(Outcome::Failed(match payload::encode_blob(&error) {
            Ok(bytes) => DispatchError::Routine(bytes),
            Err(e) => DispatchError::bad_frame(e),
        })),
        Ok(None) => Ok(Outcome::End),
        Err(panic) => Err(DispatchError::Panicked {
            message: panic_message(panic),
        }),
    }
}

/// Builds the reply of a step from the manifest it leaves (`manifest`): a completed
/// step carries the context back; a panic or a timeout carries only the spends
/// (nothing merges, but what was spent stays spent).
fn reply(manifest: Manifest, result: Result<Outcome, Failure>) -> Reply {
    let delta = delta_of(&manifest);
    match result {
        Ok(outcome) => Reply::new(outcome, Some(manifest), delta),
        Err(failure) => Reply::new(Outcome::Failed(failure), None, delta),
    }
}

/// A routine panic is an ERROR event: the one thing a worker logs about a call above
/// DEBUG, since the caller may never look at the error it gets.
fn report_panic(routine: &str, frame: &Frame, result: &Result<Outcome, Failure>) {
    if let Err(DispatchError::Panicked { message }) = result {
        tracing::error!(routine, dispatch = %frame.id, panic = %message, "skein routine panicked");
    }
}

fn run_call<R: Routine>(
    request: Request,
    link: Link,
    gate: Option<Box<Gate>>,
) -> BoxFuture<'static, Reply> {
    let frame = Frame::of(&request, link.pool);
    let span = frame.span(R::NAME, &request);
    let mode = link.mode;
    // The routine's deadline, counted from now, is its scope deadline too (S115).
    let deadline = deadline::of_request(request.timeout);
    // Only what the task needs moves into it: a smaller future is a cheaper task.
    let Request { args, manifest, .. } = request;
    let work = async move {
        let incoming = match payload::decode::<R::Args>(&args) {
            Ok(incoming) => incoming,
            Err(e) => {
                return Reply::failed(DispatchError::BadArgs {
                    reason: e.to_string(),
                })
            }
        };
        let cx = Context::continuation();
        // The hook, if any, is asked in between the install and the anchoring (S121).
        let args = match admission::receive(&cx, gate, &manifest, incoming, mode) {
            Ok(args) => args,
            Err(refused) => return Reply::failed(refused),
        };
        let body = cx.scope(DISPATCH.scope(frame.clone(), step(R::run(args).map(Some))));
        let result = match deadline {
            Some(at) => deadline::run_until(at, body)
                .await
                .unwrap_or(Err(DispatchError::Timeout)),
            None => body.await,
        };
        report_panic(R::NAME, &frame, &result);
        reply(cx.take_snapshot(), result)
    };
    // A span nobody records is not entered on every poll.
    if span.is_disabled() {
        Box::pin(work)
    } else {
        Box::pin(work.instrument(span))
    }
}

/// Where a routine body runs: its pool (for nested calls) and its dispatch id (the
/// `caller` of the nested dispatches it makes).
#[derive(Clone)]
struct Frame {
    pool: Weak<Caller>,
    id: DispatchId,
    caller: Option<DispatchId>,
    /// The trace the dispatch is part of: its nested calls go on in it.
    trace: TraceId,
}

impl Frame {
    fn of(request: &Request, pool: Weak<Caller>) -> Frame {
        Frame {
            pool,
            id: request.id,
            caller: request.caller,
            trace: request
                .trace
                .trace_id()
                .unwrap_or_else(|| TraceId::starting_at(request.id)),
        }
    }

    /// The span of the routine on the worker, `skein.run` at DEBUG: a child of the
    /// caller's span when the caller is in this process. With `otel`, a caller in
    /// another process is its OpenTelemetry parent, as the request names it.
    fn span(&self, routine: &str, request: &Request) -> tracing::Span {
        let parent = request.trace.span().and_then(|span| span.id());
        #[cfg(feature = "otel")]
        let remote = parent.is_none();
        let span = tracing::debug_span!(
            parent: parent,
            "skein.run",
            routine,
            dispatch = %self.id,
            caller = self.caller.map(tracing::field::display),
            trace = %self.trace,
        );
        #[cfg(feature = "otel")]
        if remote {
            crate::otel::continue_remote(&span, &request.trace);
        }
        span
    }
}

struct Session<R: StreamRoutine> {
    cx: Context,
    frame: Frame,
    /// The stream's one span on the worker, entered around every poll of a step.
    span: tracing::Span,
    mode: InstallMode,
    /// The args until the first step starts the stream with them.
    args: Option<R::Args>,
    stream: Option<BoxStream<'static, Result<R::Item, R::Error>>>,
    /// A grant whose context was refused (strict mode): the next step answers it, and
    /// the stream ends.
    refused: Option<InstallError>,
    /// The stream's deadline, from when it opened: its steps' scope deadline (S117).
    expiry: Option<Expiry>,
}

#[allow(clippy::result_large_err)] // as `Executor::open_stream`, which it implements
fn open_stream<R: StreamRoutine>(
    request: Request,
    link: Link,
    gate: Option<Box<Gate>>,
) -> Result<Box<dyn StreamSession>, Reply> {
    let incoming = payload::decode::<R::Args>(&request.args).map_err(|e| {
        Reply::failed(DispatchError::BadArgs {
            reason: e.to_string(),
        })
    })?;
    // The caller's context, and the tokens in the args, arrive once, before any step.
    let cx = Context::continuation();
    let args = admission::receive(&cx, gate, &request.manifest, incoming, link.mode)
        .map_err(Reply::failed)?;
    cx.begin_steps();
    let expiry = deadline::of_request(request.timeout).map(Expiry::new);
    let frame = Frame::of(&request, link.pool);
    Ok(Box::new(Session::<R> {
        cx,
        span: frame.span(R::NAME, &request),
        frame,
        mode: link.mode,
        args: Some(args),
        stream: None,
        refused: None,
        expiry,
    }))
}

impl<R: StreamRoutine> StreamSession for Session<R> {
    fn grant(&mut self, manifest: Manifest) {
        if let Err(e) = self.cx.merge_between_steps(&manifest, self.mode) {
            self.refused.get_or_insert(e);
        }
    }

    fn poll_next(&mut self, task: &mut TaskContext<'_>) -> Poll<Reply> {
        // A refused grant came between steps: the step it granted answers it.
        if let Some(e) = self.refused.take() {
            self.stream = None;
            return Poll::Ready(Reply::failed(DispatchError::Context(e)));
        }
        // As a call's routine past its deadline (`deadline::run_until`, S116): given up
        // only on a poll that began past it, with its cleanup run at once.
        loop {
            let passed = self.expiry.as_ref().is_some_and(Expiry::passed);
            if let Poll::Ready(reply) = self.poll_step(task) {
                return Poll::Ready(reply);
            }
            if passed {
                self.stream = None;
                let result = Err(DispatchError::Timeout);
                return Poll::Ready(reply(self.cx.take_step_snapshot(), result));
            }
            if !self.expiry.as_mut().is_some_and(|e| e.poll_passed(task)) {
                return Poll::Pending;
            }
        }
    }
}

impl<R: StreamRoutine> Session<R> {
    /// Polls the stream for its next step.
    fn poll_step(&mut self, task: &mut TaskContext<'_>) -> Poll<Reply> {
        // Polled in place, with the context, the dispatch frame and the deadline set
        // around the poll: no future per step to build, box and move.
        let entered = (!self.span.is_disabled()).then(|| self.span.enter());
        let at = self.expiry.as_ref().map(Expiry::at);
        let polled = self.cx.sync_scope(|| {
            DISPATCH.sync_scope(self.frame.clone(), || {
                deadline::sync_scope(at, || {
                    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        poll_item::<R>(&mut self.args, &mut self.stream, task)
                    }));
                    match polled {
                        Ok(Poll::Pending) => Poll::Pending,
                        Ok(Poll::Ready(item)) => Poll::Ready(outcome(Ok(item))),
                        Err(panic) => Poll::Ready(outcome::<R::Item, R::Error>(Err(panic))),
                    }
                })
            })
        });
        drop(entered);
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        report_panic(R::NAME, &self.frame, &result);
        if !matches!(result, Ok(Outcome::Value(_))) {
            // Ended, failed or panicked: drop the stream now so its cleanup runs.
            self.stream = None;
        }
        Poll::Ready(reply(self.cx.take_step_snapshot(), result))
    }
}

/// Polls the routine's stream for its next item. The stream is built on the first
/// step, inside the context and under the panic guard, so a body that reads a var as
/// it starts sees the caller's.
fn poll_item<R: StreamRoutine>(
    args: &mut Option<R::Args>,
    slot: &mut Option<BoxStream<'static, Result<R::Item, R::Error>>>,
    task: &mut TaskContext<'_>,
) -> Poll<Option<Result<R::Item, R::Error>>> {
    if let Some(args) = args.take() {
        *slot = Some(R::run(args).boxed());
    }
    let Some(stream) = slot.as_mut() else {
        return Poll::Ready(None);
    };
    let item = ready!(stream.poll_next_unpin(task));
    if item.is_none() {
        *slot = None;
    }
    Poll::Ready(item)
}
