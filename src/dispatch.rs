//! The caller's side of one call: prepare the request, hand it to a worker, wait for
//! the reply, and take the reply in (spends, merge-back, tokens, the value).
//!
//! Both [`Pool::call`](crate::Pool::call) and a routine's nested
//! [`call`](crate::call) come through [`Caller`]; a direct dispatch uses the same
//! steps through [`request`] and [`decode_reply`]. This file never looks at how a
//! routine runs on the worker: data flows one way, from here to the executor and back
//! in the reply.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ractor::ActorRef;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skein_actors::metrics::CallHandles;
use skein_actors::{
    home, Dispatch, DispatchError, DispatchId, DispatchKind, Failure, InFlight, Limits, Manifest,
    Outcome, Reply, Request, Route, TraceContext, TraceId, WorkerInfo, WorkerMsg, WorkerSet,
};
use tokio::sync::oneshot;

use crate::context::payload;
use crate::context::{Context, InstallMode};
use crate::deadline;
use crate::routine::{Never, Routine};
use crate::state::States;

/// How a pool's callers reach its workers: the workers, and the settings every call
/// made through the pool shares. A routine's nested calls come through the same one.
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) workers: WorkerSet,
    /// The deadline of a call that does not give its own.
    pub(crate) timeout: Option<Duration>,
    pub(crate) mode: InstallMode,
    /// The limits of the frames the pool sends: its node's.
    pub(crate) limits: Limits,
    pub(crate) metrics: CallMetrics,
    /// The pool's states: here because the executor already holds the `Caller`, so a
    /// routine on this pool's workers finds them through its dispatch frame.
    pub(crate) states: States,
}

/// The metric handles of the routines a pool registered, taken when it was built, so
/// a call finds its own without asking the recorder. (A routine the pool did not
/// register, reached on another node, asks the recorder on each call.)
#[derive(Debug, Default)]
pub(crate) struct CallMetrics {
    /// The registered names, as the pool was given them: a call's `R::NAME` is nearly
    /// always the same string in memory, so it is found by its address, without
    /// hashing it.
    registered: Vec<(&'static str, CallHandles)>,
    by_name: HashMap<&'static str, CallHandles>,
}

impl CallMetrics {
    pub(crate) fn new(routines: impl IntoIterator<Item = &'static str>) -> CallMetrics {
        let registered: Vec<_> = routines
            .into_iter()
            .map(|name| (name, CallHandles::new(name)))
            .collect();
        CallMetrics {
            by_name: registered.iter().cloned().collect(),
            registered,
        }
    }

    /// Records one call of `routine` that started at `started` and ended `result`.
    fn record<T, E>(
        &self,
        routine: &'static str,
        started: quanta::Instant,
        result: &Result<T, DispatchError<E>>,
    ) {
        let seconds = started.elapsed().as_secs_f64();
        let failure = result.as_ref().err();
        let found = self
            .registered
            .iter()
            .find(|(name, _)| std::ptr::eq(*name, routine))
            .map(|(_, handles)| handles)
            .or_else(|| self.by_name.get(routine));
        match found {
            Some(handles) => handles.record(seconds, failure),
            None => CallHandles::new(routine).record(seconds, failure),
        }
    }
}

/// The dispatch a call is made from, when a routine makes it: the nested dispatch
/// records it as its caller, and goes on in its trace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parent {
    pub(crate) id: DispatchId,
    pub(crate) trace: TraceId,
}

/// A dispatch on its way: the worker it went to, and where its reply comes.
pub(crate) struct Sent {
    pub(crate) worker: ActorRef<WorkerMsg>,
    pub(crate) id: DispatchId,
    pub(crate) reply: oneshot::Receiver<Reply>,
    /// For a worker of another node: held until the reply, so a balancer sees the
    /// dispatch in flight.
    pub(crate) in_flight: Option<InFlight>,
}

/// What [`Pool::broadcast`](crate::Pool::broadcast) returns: each worker's result, with
/// who the worker is.
pub type Broadcast<T, E> = Vec<(WorkerInfo, Result<T, DispatchError<E>>)>;

impl Caller {
    /// Runs `R` on a worker and takes its reply in, and counts the call (a call whose
    /// future is dropped before it ends is not counted).
    pub(crate) async fn call<R: Routine>(
        &self,
        args: R::Args,
        timeout: Option<Duration>,
        parent: Option<Parent>,
        route: Option<&Route>,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        // The latency is read off the CPU's time-stamp counter where it can be
        // (`quanta`): a few nanoseconds, where the OS clock costs a call ~25 ns twice.
        let started = quanta::Instant::now();
        let result = self.run::<R>(args, timeout, parent, route).await;
        self.metrics.record(R::NAME, started, &result);
        result
    }

    async fn run<R: Routine>(
        &self,
        args: R::Args,
        timeout: Option<Duration>,
        parent: Option<Parent>,
        route: Option<&Route>,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        // The earlier of the call's own timeout and the scope's deadline; with nothing
        // left the call fails here, sending nothing (S114).
        let budget = deadline::budget(timeout).map_err(|_| DispatchError::Timeout)?;
        let cx = Context::current();
        let left = budget.map(|b| b.left);
        let mut request = prepare(R::NAME, &args, cx.as_ref(), left, parent)?;
        // Tokens in the args moved to the worker.
        drop(args);
        // The call's span lives as long as the call; it is not entered (the caller's
        // side logs nothing of its own), only handed to the worker as the parent of the
        // routine's span. Entering it on every poll would cost the hot path.
        let span = call_span(R::NAME, &request);
        request.trace = trace_of(&request, parent, span.clone());
        let until = budget.map(|b| b.at);
        let sent = self
            .send(Dispatch::new(request, DispatchKind::Call), route, until)
            .await
            .map_err(retype)?;
        let _in_flight = sent.in_flight;
        span.record("worker", tracing::field::display(sent.worker.get_id()));
        let lost = lost(&sent.worker);
        let remote = !sent.worker.get_id().is_local();
        // Dropped before the reply (the caller cancelled, or the deadline passed), the
        // guard cancels the routine on the worker.
        let guard = CancelOnDrop(Some((sent.worker, sent.id)));
        let reply = if remote {
            self.wait_remote(sent.reply, until, lost).await
        } else {
            wait(sent.reply, until, lost).await
        }
        .map_err(retype)?;
        guard.disarm();
        finish_call::<R>(cx.as_ref(), reply, self.mode)
    }

    /// [`wait`] for a worker of another node, counted for a shutdown's report. When
    /// the pool's shutdown grace is over the call ends `Cancelled` (the guard cancels
    /// it on its worker), as a call on the pool's own workers does; and once the
    /// grace is over, a worker process lost as it exits counts as that too.
    async fn wait_remote(
        &self,
        reply: oneshot::Receiver<Reply>,
        deadline: Option<Instant>,
        lost: Failure,
    ) -> Result<Reply, Failure> {
        let counted = self.workers.remote_call();
        let result = tokio::select! {
            biased;
            result = wait(reply, deadline, lost) => result,
            () = self.workers.grace_over() => Err(DispatchError::Cancelled),
        };
        let result = match result {
            Err(DispatchError::NodeDown) if self.workers.is_grace_over() => {
                Err(DispatchError::Cancelled)
            }
            other => other,
        };
        let cancelled = matches!(
            &result,
            Err(DispatchError::Cancelled)
                | Ok(Reply {
                    outcome: Outcome::Failed(DispatchError::Cancelled),
                    ..
                })
        );
        counted.end(cancelled);
        result
    }

    /// Hands a dispatch to a live worker that matches `route`, within the pool's
    /// limits; a route with a wait and no matching worker waits for one first, no
    /// later than the call's deadline `until`.
    pub(crate) async fn send(
        &self,
        mut dispatch: Dispatch,
        route: Option<&Route>,
        until: Option<Instant>,
    ) -> Result<Sent, Failure> {
        if self.wait_for_match(route, until).await? {
            // The wait took some of the time left: the worker gets what is left now.
            dispatch.request.timeout =
                deadline::left_until(until).map_err(|_| DispatchError::Timeout)?;
        }
        self.send_now(dispatch, route)
    }

    /// For a route that asks to wait and matches no worker now: waits for one to
    /// join, up to the route's wait and no later than `until`; true when it waited.
    /// Only such a route ever subscribes to anything, and its wait is boxed, so a
    /// plain call's future does not grow by it.
    ///
    /// # Errors
    ///
    /// `Timeout` when `until` passed while it waited.
    pub(crate) async fn wait_for_match(
        &self,
        route: Option<&Route>,
        until: Option<Instant>,
    ) -> Result<bool, Failure> {
        let Some((route, wait)) = route.and_then(|r| Some((r, r.max_wait()?))) else {
            return Ok(false);
        };
        if self.workers.has_match(route) {
            return Ok(false);
        }
        let wait = match until {
            Some(at) => wait.min(at.saturating_duration_since(Instant::now())),
            None => wait,
        };
        if !Box::pin(self.workers.wait_for_match(route, wait)).await {
            deadline::left_until(until).map_err(|_| DispatchError::Timeout)?;
        }
        Ok(true)
    }

    /// [`send`](Caller::send) without waiting: no matching worker fails at once.
    pub(crate) fn send_now(
        &self,
        dispatch: Dispatch,
        route: Option<&Route>,
    ) -> Result<Sent, Failure> {
        let id = dispatch.request.id;
        let (tx, reply) = oneshot::channel();
        let sent = self
            .workers
            .dispatch(route, dispatch.with_limits(self.limits), tx.into())?;
        Ok(Sent {
            worker: sent.worker,
            id,
            reply,
            in_flight: sent.in_flight,
        })
    }

    /// Runs `R` once on every live worker that matches `route`: the args are
    /// encoded and the context snapshotted once, and each worker's reply merges into
    /// the caller's context in turn, in the order of the workers.
    pub(crate) async fn broadcast<R: Routine>(
        &self,
        args: R::Args,
        route: Option<&Route>,
        parent: Option<Parent>,
    ) -> Result<Broadcast<R::Output, R::Error>, DispatchError<R::Error>> {
        // Each worker's run has what is left of the pool's timeout and the scope's
        // deadline, as a call does (S114).
        let budget = deadline::budget(self.timeout).map_err(|_| DispatchError::Timeout)?;
        let until = budget.map(|b| b.at);
        let cx = Context::current();
        let mut request = prepare(R::NAME, &args, cx.as_ref(), budget.map(|b| b.left), parent)?;
        drop(args);
        if self.wait_for_match(route, until).await.map_err(retype)? {
            request.timeout = deadline::left_until(until).map_err(|_| DispatchError::Timeout)?;
        }
        let started = quanta::Instant::now();
        let span = tracing::debug_span!("skein.broadcast", routine = R::NAME);
        let mut replies = Vec::new();
        let sent = self
            .workers
            .broadcast(route, |_| {
                let mut request = request.clone();
                request.id = DispatchId::new();
                request.trace = trace_of(&request, parent, span.clone());
                let (tx, reply) = oneshot::channel();
                replies.push((request.id, reply));
                let dispatch = Dispatch::new(request, DispatchKind::Call).with_limits(self.limits);
                (dispatch, tx.into())
            })
            .map_err(retype)?;
        let (infos, waits): (Vec<_>, Vec<_>) = sent
            .into_iter()
            .zip(replies)
            .map(|((info, sent), (id, reply))| {
                let answer = async move {
                    let sent = sent?;
                    // Dropped before the reply (the caller cancelled, or the deadline
                    // passed), the guard cancels the routine on that worker.
                    let guard = CancelOnDrop(Some((sent.worker.clone(), id)));
                    let lost = lost(&sent.worker);
                    let reply = if sent.worker.get_id().is_local() {
                        wait(reply, until, lost).await
                    } else {
                        self.wait_remote(reply, until, lost).await
                    }?;
                    guard.disarm();
                    drop(sent.in_flight);
                    Ok::<_, Failure>(reply)
                };
                (info, answer)
            })
            .unzip();
        let answers = futures::future::join_all(waits).await;
        Ok(infos
            .into_iter()
            .zip(answers)
            .map(|(info, answer)| {
                let result = answer
                    .map_err(retype)
                    .and_then(|reply| finish_call::<R>(cx.as_ref(), reply, self.mode));
                // Each worker's run counts as one call of the routine.
                self.metrics.record(R::NAME, started, &result);
                (info, result)
            })
            .collect())
    }
}

/// The span of one call on the caller: `skein.call`, at DEBUG.
pub(crate) fn call_span(routine: &str, request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "skein.call",
        routine,
        dispatch = %request.id,
        worker = tracing::field::Empty,
    )
}

/// The trace a request carries: its parent's, or a new one that starts at it; and
/// the caller's span, for a worker in this process. With `otel`, a span that an
/// OpenTelemetry layer records names the trace and the parent span instead, so a
/// worker in another process can join the caller's OpenTelemetry tree.
pub(crate) fn trace_of(
    request: &Request,
    parent: Option<Parent>,
    span: tracing::Span,
) -> TraceContext {
    #[cfg(feature = "otel")]
    if let Some((trace, span_id)) = crate::otel::ids_of(&span) {
        return TraceContext::new(trace, span_id, span);
    }
    let trace = parent.map_or_else(|| TraceId::starting_at(request.id), |p| p.trace);
    TraceContext::new(trace, request.id.span_id(), span)
}

/// What a reply port closed without a reply means: the worker died, or its node.
pub(crate) fn lost(worker: &ActorRef<WorkerMsg>) -> Failure {
    if worker.get_id().is_local() {
        DispatchError::WorkerCrashed
    } else {
        DispatchError::NodeDown
    }
}

/// A failure that is not the routine's own, as the caller's error type. (A routine
/// error never comes this way: it is decoded in [`finish`].)
pub(crate) fn retype<E>(failure: Failure) -> DispatchError<E> {
    failure
        .try_map_routine(|_| Err(()))
        .unwrap_or_else(|()| DispatchError::bad_frame("a routine error reached the wrong decoder"))
}

/// Builds the [`Request`] for a direct dispatch of `R`: the args encoded and the
/// current context snapshotted, exactly as [`Pool::call`](crate::Pool::call) would.
/// Send it inside a [`WorkerMsg::Dispatch`] to any worker, and read the answer with
/// [`decode_reply`].
///
/// # Examples
///
/// ```
/// use skein::{Never, Routine};
///
/// struct Add;
/// impl Routine for Add {
///     const NAME: &'static str = "doc.request.add";
///     type Args = (i64, i64);
///     type Output = i64;
///     type Error = Never;
///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> { Ok(x + y) }
/// }
///
/// let request = skein::request::<Add>((1, 2)).unwrap();
/// assert_eq!(request.routine, "doc.request.add");
/// assert!(request.caller.is_none());
/// ```
///
/// # Errors
///
/// [`RequestError`] if the args do not encode.
pub fn request<R: Routine>(args: R::Args) -> Result<Request, RequestError> {
    let mut request = prepare::<Never>(R::NAME, &args, Context::current().as_ref(), None, None)
        .map_err(|e| RequestError {
            reason: e.to_string(),
        })?;
    request.trace = trace_of(&request, None, tracing::Span::current());
    Ok(request)
}

/// The args of a direct dispatch failed to encode; nothing was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("args failed to encode: {reason}")]
pub struct RequestError {
    /// The encoder's message.
    pub reason: String,
}

/// A direct dispatch whose args did not encode fails as a call would.
impl<E> From<RequestError> for DispatchError<E> {
    fn from(e: RequestError) -> DispatchError<E> {
        DispatchError::Encode { reason: e.reason }
    }
}

/// Reads the [`Reply`] of a direct dispatch of `R`: records its spends, merges its
/// context into the current one (when there is one), and decodes the output or the
/// routine's own error.
///
/// # Errors
///
/// The [`DispatchError`] the reply carries, or [`DispatchError::BadFrame`] if it does
/// not decode as `R`'s output or error.
pub fn decode_reply<R: Routine>(reply: Reply) -> Result<R::Output, DispatchError<R::Error>> {
    finish_call::<R>(Context::current().as_ref(), reply, InstallMode::default())
}

/// Encodes the args (which pins the tokens inside them in the caller's context) and
/// only then snapshots the context, so the snapshot lists those tokens.
pub(crate) fn prepare<E>(
    routine: &str,
    args: &impl Serialize,
    cx: Option<&Context>,
    timeout: Option<Duration>,
    parent: Option<Parent>,
) -> Result<Request, DispatchError<E>> {
    let args = payload::encode_blob(args).map_err(|e| DispatchError::Encode {
        reason: e.to_string(),
    })?;
    let manifest = cx.map(Context::take_snapshot).unwrap_or_default();
    let mut request = Request::new(routine, args, manifest);
    request.timeout = timeout;
    request.caller = parent.map(|p| p.id);
    Ok(request)
}

/// Waits for a reply until `deadline`; a reply port dropped without a reply means
/// `lost`: the worker died with it, or its node did.
///
/// Past the deadline by the clock it is `Timeout`, whatever has come (S114): a reply
/// that arrives once the deadline has passed is not taken (the spends it reports still
/// count, as they do for a reply that comes after the caller stopped waiting). The
/// clock is read after the reply was looked at, so a routine waiting on this call
/// when its own deadline (never earlier) passes sees the `Timeout` before its worker
/// gives it up (`deadline::run_until`).
pub(crate) async fn wait(
    mut reply: oneshot::Receiver<Reply>,
    deadline: Option<Instant>,
    lost: Failure,
) -> Result<Reply, Failure> {
    let reply = match deadline {
        Some(at) => {
            let mut sleep = std::pin::pin!(tokio::time::sleep_until(at.into()));
            std::future::poll_fn(|task| {
                let polled = Pin::new(&mut reply).poll(task);
                if deadline::poll_passed(at, sleep.as_mut(), task) {
                    if let Poll::Ready(Ok(late)) = polled {
                        home().merge(&late.delta);
                    }
                    return Poll::Ready(Err(DispatchError::Timeout));
                }
                polled.map(Ok)
            })
            .await?
        }
        None => reply.await,
    };
    reply.map_err(|_| lost)
}

/// Takes a reply in: records its spends, merges its context into the caller's
/// (before the caller sees the value), anchors the tokens that came with it, and
/// decodes the value. `Ok(None)` is the end of a stream.
pub(crate) fn finish<T: DeserializeOwned, E: DeserializeOwned>(
    cx: Option<&Context>,
    reply: Reply,
    mode: InstallMode,
) -> Result<Option<T>, DispatchError<E>> {
    home().merge(&reply.delta);
    let manifest = reply.manifest.as_ref();
    match reply.outcome {
        Outcome::Value(bytes) => receive(cx, manifest, &bytes, mode).map(Some),
        Outcome::End => {
            merge(cx, manifest, mode)?;
            Ok(None)
        }
        Outcome::Failed(DispatchError::Routine(bytes)) => {
            Err(DispatchError::Routine(receive(cx, manifest, &bytes, mode)?))
        }
        Outcome::Failed(failure) => {
            merge(cx, manifest, mode)?;
            Err(retype(failure))
        }
    }
}

/// [`finish`] for a call, whose reply is never the end of a stream.
fn finish_call<R: Routine>(
    cx: Option<&Context>,
    reply: Reply,
    mode: InstallMode,
) -> Result<R::Output, DispatchError<R::Error>> {
    finish::<R::Output, R::Error>(cx, reply, mode)?
        .ok_or_else(|| DispatchError::bad_frame("a call was answered as a finished stream"))
}

fn receive<T: DeserializeOwned, E>(
    cx: Option<&Context>,
    manifest: Option<&Manifest>,
    bytes: &[u8],
    mode: InstallMode,
) -> Result<T, DispatchError<E>> {
    let incoming = payload::decode::<T>(bytes).map_err(DispatchError::bad_frame)?;
    match (cx, manifest) {
        (Some(cx), Some(manifest)) => cx
            .receive(manifest, incoming, mode)
            .map(|(value, _)| value)
            .map_err(DispatchError::Context),
        // A caller outside any scope has nowhere to merge or anchor: tokens stay orphans.
        _ => Ok(incoming.into_orphans()),
    }
}

fn merge<E>(
    cx: Option<&Context>,
    manifest: Option<&Manifest>,
    mode: InstallMode,
) -> Result<(), DispatchError<E>> {
    if let (Some(cx), Some(manifest)) = (cx, manifest) {
        cx.merge(manifest, mode).map_err(DispatchError::Context)?;
    }
    Ok(())
}

/// Cancels a dispatch on its worker when dropped, unless disarmed.
pub(crate) struct CancelOnDrop(Option<(ActorRef<WorkerMsg>, DispatchId)>);

impl CancelOnDrop {
    pub(crate) fn new(sent: &Sent) -> CancelOnDrop {
        CancelOnDrop(Some((sent.worker.clone(), sent.id)))
    }

    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some((worker, id)) = self.0.take() {
            // A dead worker has nothing left to cancel.
            let _ = worker.cast(WorkerMsg::Cancel(id));
        }
    }
}
