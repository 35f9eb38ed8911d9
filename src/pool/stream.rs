//! The caller's side of a streaming routine: credits granted, batches taken in, and
//! each item's context merged as the caller takes it.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use std::future::Future;
use std::task::ready;

use futures::Stream;
use ractor::ActorRef;
use skein_actors::{
    home, Dispatch, DispatchError, DispatchId, DispatchKind, Failure, InFlight, Outcome, Pull,
    Reply, Route, WorkerMsg,
};
use tokio::sync::oneshot;

use crate::context::Context;
use crate::deadline::{self, Expiry};
use crate::dispatch::{finish, lost, prepare, retype, trace_of, Caller, CancelOnDrop, Parent};
use crate::routine::StreamRoutine;

/// The caller's side of a streaming routine. Dropping it cancels the routine on the
/// worker; its cleanup runs there, and items on their way are discarded.
///
/// By default the stream is *exact*: each item is asked for when the caller wants it,
/// with the caller's context as it is then, and the worker runs one step per item, so
/// every item sees what a local lazy stream would. [`ahead(n)`](RoutineStream::ahead)
/// lets the worker run up to `n` steps ahead, sending the items that are ready in one
/// frame.
///
/// Either way, the caller's context changes only as it takes items: after item k it
/// holds the worker's changes through step k, not those of steps run ahead.
///
/// # Examples
///
/// ```
/// use futures::{stream, Stream, StreamExt};
/// use skein::{Never, Pool, StreamRoutine};
///
/// struct Count;
/// impl StreamRoutine for Count {
///     const NAME: &'static str = "doc.stream.count";
///     type Args = u32;
///     type Item = u32;
///     type Error = Never;
///     fn run(n: u32) -> impl Stream<Item = Result<u32, Never>> + Send + 'static {
///         stream::iter((0..n).map(Ok))
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder().stream_routine::<Count>().build().await?;
/// let exact: Vec<_> = pool.stream::<Count>(3).collect().await;
/// assert_eq!(exact.len(), 3);
///
/// let mut sum = 0;
/// let mut items = pool.stream::<Count>(1_000).ahead(64);
/// while let Some(item) = items.next().await {
///     sum += item?;
/// }
/// assert_eq!(sum, 499_500);
/// # Ok(()) }
/// ```
pub struct RoutineStream<R: StreamRoutine> {
    state: State<R::Args>,
}

enum State<A> {
    /// Not asked for an item yet: what opens it, and how far it may run ahead.
    Unopened(Start<A>),
    /// Its route matched no worker, and it waits (up to the route's wait) for one.
    Waiting(Start<A>, Waiting),
    /// Boxed, so the stream stays small whatever it holds in flight.
    Open(Box<Open>),
    Done,
}

/// A stream's wait for a worker its route matches: `Sync` as the stream is.
type Waiting = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

// The args are only ever moved, never pinned: the stream is `Unpin` whatever they are.
impl<R: StreamRoutine> Unpin for RoutineStream<R> {}

type Item<R> = Result<<R as StreamRoutine>::Item, DispatchError<<R as StreamRoutine>::Error>>;

struct Start<A> {
    pool: Arc<Caller>,
    args: A,
    parent: Option<Parent>,
    /// The credits kept in flight; 0 is the exact stream.
    ahead: u32,
    /// The workers it may open on; `None` is any.
    route: Option<Arc<Route>>,
}

/// An open stream, as its caller holds it.
struct Open {
    pool: Arc<Caller>,
    worker: ActorRef<WorkerMsg>,
    id: DispatchId,
    guard: CancelOnDrop,
    /// The stream's one span on the caller, with an event per batch.
    span: tracing::Span,
    /// Steps that arrived and that the caller has not taken, oldest first.
    arrived: VecDeque<Reply>,
    /// The replies not come yet, to the dispatch and to the pulls since, oldest
    /// first: the worker answers them in that order, and they are taken in it.
    pending: VecDeque<oneshot::Receiver<Reply>>,
    /// Items taken since the last grant: the credits the next grant gives back.
    taken: u32,
    /// The credits kept in flight; 0 is the exact stream.
    ahead: u32,
    /// The stream's last step has arrived: nothing more to grant or fetch.
    ended: bool,
    /// The scope deadline of the latest poll, which bounds its waits.
    expiry: Option<Expiry>,
    /// Held while the stream is open on a worker of another node: it counts there.
    _in_flight: Option<InFlight>,
}

impl<R: StreamRoutine> RoutineStream<R> {
    pub(crate) fn open(
        pool: Arc<Caller>,
        args: R::Args,
        parent: Option<Parent>,
        route: Option<Arc<Route>>,
    ) -> RoutineStream<R> {
        RoutineStream {
            state: State::Unopened(Start {
                pool,
                args,
                parent,
                ahead: 0,
                route,
            }),
        }
    }

    /// Lets the worker run up to `n` steps ahead of the caller, and send the items
    /// that are ready together, in one frame per batch. `0` is the exact stream (the
    /// default), one step per item asked for.
    ///
    /// The caller grants credits back as it takes items, and each grant carries its
    /// context as it is then: a step run ahead sees the context of the latest grant
    /// that reached the worker before the step began, not changes the caller made
    /// since. The worker never runs more than `n` steps past the items taken, so a
    /// slow caller stalls the routine rather than filling a buffer.
    ///
    /// `n` past [`MAX_CREDITS`](skein_actors::MAX_CREDITS) (65,536) is taken as that.
    /// Only a stream that has not yet been asked for an item takes the setting; after
    /// that it changes nothing.
    pub fn ahead(mut self, n: u32) -> RoutineStream<R> {
        if let State::Unopened(start) = &mut self.state {
            start.ahead = n.min(skein_actors::MAX_CREDITS);
        }
        self
    }
}

/// Sends the dispatch that opens the stream.
fn open<R: StreamRoutine>(
    start: Start<R::Args>,
    cx: Option<&Context>,
) -> Result<Open, DispatchError<R::Error>> {
    let Start {
        pool,
        args,
        parent,
        ahead,
        route,
    } = start;
    // What is left of the scope deadline travels, as a call's does (S117).
    let budget = deadline::budget(None).map_err(|_| DispatchError::Timeout)?;
    let mut request = prepare(R::NAME, &args, cx, budget.map(|b| b.left), parent)?;
    // Tokens in the args moved to the worker.
    drop(args);
    let span = tracing::debug_span!(
        "skein.stream",
        routine = R::NAME,
        dispatch = %request.id,
        ahead,
        worker = tracing::field::Empty,
    );
    request.trace = trace_of(&request, parent, span.clone());
    let dispatch = Dispatch::new(request, DispatchKind::Stream).with_credits(ahead.max(1));
    let sent = pool.send_now(dispatch, route.as_deref()).map_err(retype)?;
    span.record("worker", tracing::field::display(sent.worker.get_id()));
    Ok(Open {
        guard: CancelOnDrop::new(&sent),
        pool,
        worker: sent.worker,
        id: sent.id,
        span,
        arrived: VecDeque::new(),
        pending: VecDeque::from([sent.reply]),
        taken: 0,
        ahead,
        ended: false,
        expiry: None,
        _in_flight: sent.in_flight,
    })
}

/// How many items a stream running `ahead` takes before it grants them back: half
/// its credits (at least one).
fn grant_size(ahead: u32) -> u32 {
    (ahead / 2).max(1)
}

impl Open {
    /// The next item: taken from those that arrived, or asked for and waited on. An
    /// end, an error or a refusal is the last (`Err` ends the stream).
    fn poll_item<R: StreamRoutine>(
        &mut self,
        task: &mut TaskContext<'_>,
        cx: Option<&Context>,
    ) -> Poll<Option<Item<R>>> {
        loop {
            // Past the deadline, nothing more is taken in, as for a call: not even
            // what has arrived (its spends have counted as it came).
            if self.expired(task) {
                return Poll::Ready(Some(Err(DispatchError::Timeout)));
            }
            if let Some(reply) = self.arrived.pop_front() {
                self.taken += 1;
                // The item's context merges now, as it is taken, not when it arrived.
                let item = finish::<R::Item, R::Error>(cx, reply, self.pool.mode).transpose();
                if matches!(item, Some(Ok(_))) {
                    self.grant_early(cx);
                }
                return Poll::Ready(item);
            }
            if self.pending.is_empty() {
                // Exact: one step, asked for now. Ahead: the credits taken back (maybe
                // none, when a batch was cut short), and whatever is ready.
                let credits = if self.ahead == 0 { 1 } else { self.taken };
                match self.grant(cx, credits) {
                    Ok(pending) => self.pending.push_back(pending),
                    Err(failure) => return Poll::Ready(Some(Err(retype(failure)))),
                }
            }
            let Some(oldest) = self.pending.front_mut() else {
                continue;
            };
            let Poll::Ready(reply) = Pin::new(oldest).poll(task) else {
                if self.expired(task) {
                    return Poll::Ready(Some(Err(DispatchError::Timeout)));
                }
                return Poll::Pending;
            };
            self.pending.pop_front();
            match reply {
                Ok(reply) => {
                    self.take_in(reply);
                    self.grant_early(cx);
                }
                Err(_) => return Poll::Ready(Some(Err(retype(lost(&self.worker))))),
            }
        }
    }

    /// Follows the scope deadline the stream is polled under, which may change from
    /// one poll to the next, as the context does.
    fn track(&mut self, at: Option<Instant>) {
        match (at, &mut self.expiry) {
            (None, _) => self.expiry = None,
            (Some(at), Some(expiry)) if expiry.at() != at => expiry.reset(at),
            (Some(_), Some(_)) => {}
            (Some(at), None) => self.expiry = Some(Expiry::new(at)),
        }
    }

    /// Whether the deadline of this poll has passed (arming its timer if not).
    fn expired(&mut self, task: &mut TaskContext<'_>) -> bool {
        self.expiry
            .as_mut()
            .is_some_and(|expiry| expiry.poll_passed(task))
    }

    /// Sends a pull granting `credits`, with the caller's context as it is now.
    fn grant(
        &mut self,
        cx: Option<&Context>,
        credits: u32,
    ) -> Result<oneshot::Receiver<Reply>, Failure> {
        let manifest = cx.map(Context::take_snapshot).unwrap_or_default();
        let (tx, reply) = oneshot::channel();
        let pull = Pull::new(self.id, manifest)
            .with_credits(credits)
            .with_limits(self.pool.limits);
        self.worker
            .cast(WorkerMsg::Pull(pull, tx.into()))
            .map_err(|_| lost(&self.worker))?;
        self.taken = self.taken.saturating_sub(credits);
        Ok(reply)
    }

    /// A stream that runs ahead gives its credits back half of them at a time, as
    /// soon as they are taken, and always keeps one pull waiting at the worker (with
    /// what it has taken so far, maybe nothing): so the worker sends the items it ran
    /// ahead the moment they are ready, and a round trip to a worker process is
    /// hidden behind the items already on their way.
    fn grant_early(&mut self, cx: Option<&Context>) {
        if self.ahead == 0
            || self.ended
            || (self.taken < grant_size(self.ahead) && !self.pending.is_empty())
        {
            return;
        }
        // A worker that is gone fails the pull made when the items in hand run out.
        if let Ok(pending) = self.grant(cx, self.taken) {
            self.pending.push_back(pending);
        }
    }

    /// A batch arrived: its spends count at once (they happened, whether or not the
    /// caller takes the items), its items wait to be taken.
    fn take_in(&mut self, reply: Reply) {
        let first = self.arrived.len();
        self.arrived.extend(reply.into_steps());
        for step in self.arrived.range(first..) {
            home().merge(&step.delta);
            self.ended |= !matches!(step.outcome, Outcome::Value(_));
        }
        let items = self.arrived.len() - first;
        self.span
            .in_scope(|| tracing::debug!(items, "skein.stream batch"));
    }
}

impl<R: StreamRoutine> Stream for RoutineStream<R> {
    type Item = Item<R>;

    fn poll_next(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let cx = Context::current();
        let this = &mut *self;
        if let State::Unopened(start) = &this.state {
            // A route that asks to wait, and matches no worker yet, waits first, no
            // later than the scope deadline (opening past it is then `Timeout`).
            let waits = start
                .route
                .as_ref()
                .filter(|route| route.max_wait().is_some() && !start.pool.workers.has_match(route));
            if let Some(route) = waits {
                let (pool, route, until) =
                    (start.pool.clone(), route.clone(), deadline::deadline());
                let waiting: Waiting = Box::pin(async move {
                    // Whether one came or not, opening says which, typed.
                    let _ = pool.wait_for_match(Some(&route), until).await;
                });
                let State::Unopened(start) = std::mem::replace(&mut this.state, State::Done) else {
                    return Poll::Ready(None);
                };
                this.state = State::Waiting(start, waiting);
            }
        }
        if let State::Waiting(_, waiting) = &mut this.state {
            ready!(waiting.as_mut().poll(task));
            if let State::Waiting(start, _) = std::mem::replace(&mut this.state, State::Done) {
                this.state = State::Unopened(start);
            }
        }
        if let State::Unopened(_) = this.state {
            let State::Unopened(start) = std::mem::replace(&mut this.state, State::Done) else {
                return Poll::Ready(None);
            };
            match open::<R>(start, cx.as_ref()) {
                Ok(open) => this.state = State::Open(Box::new(open)),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        let State::Open(open) = &mut this.state else {
            return Poll::Ready(None);
        };
        open.track(deadline::deadline());
        let item = ready!(open.poll_item::<R>(task, cx.as_ref()));
        if let Some(Ok(item)) = item {
            return Poll::Ready(Some(Ok(item)));
        }
        // The end, or an error: the worker is done with the stream, nothing to cancel;
        // except past the caller's deadline, where the worker may be mid-step (S117).
        if let State::Open(open) = std::mem::replace(&mut this.state, State::Done) {
            if !matches!(item, Some(Err(DispatchError::Timeout))) {
                open.guard.disarm();
            }
        }
        Poll::Ready(item)
    }
}

impl<R: StreamRoutine> futures::stream::FusedStream for RoutineStream<R> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

impl<R: StreamRoutine> fmt::Debug for RoutineStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutineStream")
            .field("routine", &R::NAME)
            .finish()
    }
}
