//! The Worker actor and its admission: each dispatch runs as its own task, so one
//! worker serves many dispatches at once and a nested call never waits on its own
//! worker.
//!
//! What a worker runs, and what waits, is kept in a table shared by the actor, its
//! tasks and the pool's local fast path ([`WorkerHandle`]). Admission is decided there,
//! in one place, whichever way a dispatch arrived: run it, queue it, or answer
//! `Overloaded`; a task that finishes frees its slot and starts the next queued
//! dispatch itself.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures::future::BoxFuture;
use ractor::{
    Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent as RactorEvent,
};
use tokio::sync::{mpsc, Notify};

use tokio::task::AbortHandle;

use crate::dispatch::{Dispatch, DispatchKind, Outcome, Pull, Reply, Request, MAX_CREDITS};
use crate::failure::DispatchError;
use crate::frame::Limits;
use crate::ids::DispatchId;
use crate::manifest::Manifest;
use crate::metrics::WorkerGauges;
use crate::stats::{StatsAnswer, WorkerStats};

/// Runs routines for a worker. `skein` installs one that knows the typed routines;
/// this crate only moves bytes and manifests.
pub trait Executor: Send + Sync + 'static {
    /// Runs one call to completion and builds its reply. `load` is the worker's load
    /// as the call starts (itself not counted), for an admission hook to weigh.
    fn call(&self, request: Request, load: Load) -> BoxFuture<'static, Reply>;

    /// Opens a stream in the caller's context the request carries; each
    /// [`StreamSession::poll_next`] runs it one item further. `load` is the worker's
    /// load as the stream starts (itself not counted), as for [`Executor::call`].
    ///
    /// # Errors
    ///
    /// A failed [`Reply`] (unknown routine, bad args, a refused context) when the
    /// stream cannot open.
    #[allow(clippy::result_large_err)] // once per stream, and the refusal is the reply
    fn open_stream(&self, request: Request, load: Load) -> Result<Box<dyn StreamSession>, Reply>;
}

/// One open stream on a worker. The worker calls it from one task, one method at a
/// time: grants arrive between steps, never during one.
pub trait StreamSession: Send + 'static {
    /// Merges the caller's context as a credit grant carried it: the steps from now
    /// on see it.
    fn grant(&mut self, manifest: Manifest);

    /// Runs the stream toward its next item, as a future's `poll` would: `Pending`
    /// until the step's item is ready (the task is woken then), and the step's reply,
    /// whose manifest holds only what this step changed.
    fn poll_next(&mut self, task: &mut std::task::Context<'_>) -> Poll<Reply>;
}

/// How much a worker takes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admission {
    /// Dispatches that run at once; further root dispatches wait in the queue.
    /// Nested dispatches (made from inside a routine) are admitted at once, so a
    /// fan-out never deadlocks waiting for its own parents to finish.
    pub max_concurrency: usize,
    /// Dispatches that may wait; past this a dispatch is answered `Overloaded` at once.
    pub max_queue: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_concurrency: 1024,
            max_queue: 1024,
        }
    }
}

/// How busy a worker is: what it runs and what waits, against its [`Admission`]. An
/// admission hook sees it, and so do the pool's stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Load {
    /// Dispatches running now.
    pub in_flight: usize,
    /// Root dispatches waiting for a slot.
    pub queued: usize,
    /// The worker's admission limits.
    pub admission: Admission,
}

/// The messages a worker handles: what a user may send straight to a worker's
/// `ActorRef`, local or on another node (with the `cluster` feature each crosses a node
/// connection as one MessagePack frame).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use skein_actors::{Dispatch, DispatchKind, Manifest, Request, WorkerMsg};
///
/// let request = Request::new("demo.add", vec![0x92, 1, 2], Manifest::default());
/// let message = WorkerMsg::Dispatch(
///     Dispatch::new(request, DispatchKind::Call),
///     tokio::sync::oneshot::channel().0.into(),
/// );
/// assert!(matches!(message, WorkerMsg::Dispatch(..)));
/// # }
/// ```
#[derive(Debug)]
#[cfg_attr(feature = "cluster", derive(ractor_cluster::RactorClusterMessage))]
#[non_exhaustive]
// A dispatch is moved once into the worker's mailbox (or admitted without it); boxing
// it would cost an allocation per call to save a copy.
#[allow(clippy::large_enum_variant)]
pub enum WorkerMsg {
    /// Run a routine (or open a stream); the reply goes to the port.
    #[cfg_attr(feature = "cluster", rpc)]
    Dispatch(Dispatch, RpcReplyPort<Reply>),
    /// Grant an open stream more steps and ask for the items that are ready.
    #[cfg_attr(feature = "cluster", rpc)]
    Pull(Pull, RpcReplyPort<Reply>),
    /// Cancel a dispatch: its routine is dropped where it stands and its cleanup runs;
    /// one still waiting in the worker's queue is taken out, answered `Cancelled`,
    /// and never runs.
    Cancel(DispatchId),
    /// How busy the worker is: what it runs, what waits, its restarts, and how long
    /// it has been idle.
    #[cfg_attr(feature = "cluster", rpc)]
    Stats(RpcReplyPort<StatsAnswer>),
}

/// The worker actor.
#[derive(Debug, Default)]
pub(crate) struct Worker;

/// What a worker starts with: its table, which the pool's handle on it shares.
#[derive(Clone, Debug)]
pub(crate) struct WorkerArgs {
    table: Arc<Table>,
}

impl WorkerArgs {
    /// The arguments of the worker in `slot` (restarted `restarts` times before) that
    /// runs routines through `executor`, within `admission`, and answers within
    /// `limits`.
    pub(crate) fn new(
        slot: usize,
        restarts: usize,
        executor: Arc<dyn Executor>,
        admission: Admission,
        limits: Limits,
    ) -> WorkerArgs {
        WorkerArgs {
            table: Arc::new(Table {
                inner: Mutex::new(Inner {
                    running: HashMap::new(),
                    queue: VecDeque::new(),
                    idle_since: quanta::Instant::now(),
                }),
                in_flight: AtomicUsize::new(0),
                restarts,
                stopping: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                drain: Drain::default(),
                executor,
                admission,
                limits,
                gauges: WorkerGauges::new(slot),
            }),
        }
    }

    /// A handle on the worker these arguments start, once it runs as `actor`.
    pub(crate) fn handle(&self, actor: ActorRef<WorkerMsg>) -> WorkerHandle {
        WorkerHandle {
            actor,
            table: self.table.clone(),
        }
    }
}

/// A local worker as its pool holds it: its actor, and a way to admit a dispatch
/// without a trip through its mailbox. Admission is the same either way (it is decided
/// in the worker's table), so a worker that dies still answers `WorkerCrashed` for a
/// dispatch admitted here.
#[derive(Clone)]
pub(crate) struct WorkerHandle {
    actor: ActorRef<WorkerMsg>,
    table: Arc<Table>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("actor", &self.actor.get_id())
            .finish_non_exhaustive()
    }
}

/// A worker's graceful shutdown: from when it begins, the dispatches that end are
/// counted until the worker stops. The worker still admits what reaches it: its pool
/// refuses its own new calls, and its peers stop sending once it has left their
/// process group, but a dispatch already on its way from a peer is in flight, and is
/// run within the grace like the rest.
#[derive(Debug, Default)]
struct Drain {
    begun: AtomicBool,
    /// Dispatches that ended while draining, by themselves or by their caller's cancel.
    finished: AtomicUsize,
    /// Dispatches the stop cancelled: those running or queued when it came.
    cancelled: AtomicUsize,
    /// Dispatches out of the table whose answer is not sent yet.
    answering: AtomicUsize,
    /// Woken when the last dispatch ends while draining.
    idle: Notify,
}

impl WorkerHandle {
    /// Begins the worker's graceful shutdown: what ends from now on is counted.
    pub(crate) fn drain(&self) {
        // Under the lock, so `free` sees it for every dispatch that ends after it.
        let _inner = self.table.lock();
        self.table.drain.begun.store(true, Ordering::Release);
    }

    /// Waits until nothing runs or waits on the worker.
    pub(crate) async fn idle(&self) {
        loop {
            let woken = self.table.drain.idle.notified();
            tokio::pin!(woken);
            // Registered before the check, so an end between the two still wakes it.
            woken.as_mut().enable();
            if self.table.is_idle() {
                return;
            }
            woken.await;
        }
    }

    /// Cancels everything on the worker, as a graceful stop does, without stopping it:
    /// what runs is dropped (its cleanup runs) and answered `Cancelled`, what waits is
    /// answered `Cancelled`, and nothing starts any more.
    pub(crate) fn cancel_all(&self) {
        self.table.stopping.store(true, Ordering::Release);
        self.table.close(DispatchError::Cancelled);
    }

    /// How many dispatches ended while the worker drained, and how many its stop
    /// cancelled.
    pub(crate) fn drained(&self) -> (usize, usize) {
        let drain = &self.table.drain;
        (
            drain.finished.load(Ordering::Acquire),
            drain.cancelled.load(Ordering::Acquire),
        )
    }

    /// The worker's actor.
    pub(crate) fn actor(&self) -> &ActorRef<WorkerMsg> {
        &self.actor
    }

    /// Admits a dispatch on the worker at once: it runs, waits in the queue, or is
    /// answered `Overloaded`.
    ///
    /// # Errors
    ///
    /// The dispatch and its reply port, untouched, when the worker has stopped or died:
    /// the caller should try another.
    #[allow(clippy::result_large_err)] // the hand-back is the success of a fallback
    pub(crate) fn admit(
        &self,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
    ) -> Result<(), (Dispatch, RpcReplyPort<Reply>)> {
        self.table.admit(dispatch, reply)
    }

    /// Its dispatches not answered yet, running or queued, as a balancer reads it.
    pub(crate) fn in_flight(&self) -> &AtomicUsize {
        &self.table.in_flight
    }

    /// How busy it is, read from its table.
    pub(crate) fn stats(&self) -> WorkerStats {
        self.table.stats()
    }
}

struct Running {
    abort: AbortHandle,
    pulls: Option<mpsc::UnboundedSender<(Pull, RpcReplyPort<Reply>)>>,
}

struct Inner {
    /// The dispatches running now. A task takes itself out before it replies, so a
    /// caller that sends its next dispatch on hearing back always finds the slot free.
    running: HashMap<DispatchId, Running>,
    /// Root dispatches that wait for a slot.
    queue: VecDeque<Queued>,
    /// When the last dispatch ended (or the worker started), for the stats: written
    /// only when the worker falls idle, off the time-stamp counter (`quanta`, a few
    /// nanoseconds and no syscall), so the call path pays next to nothing for it.
    idle_since: quanta::Instant,
}

/// A root dispatch waiting for a slot, and since when: its time left counts from
/// when the worker received it, so the wait comes off it.
struct Queued {
    dispatch: Dispatch,
    reply: RpcReplyPort<Reply>,
    since: quanta::Instant,
}

/// What the worker, its tasks and its handles share.
struct Table {
    inner: Mutex<Inner>,
    /// `running.len() + queue.len()`, what the worker has taken and not answered yet,
    /// kept in step under the lock, for a balancer to read without it (a worker's
    /// queue is as much its load as what it runs).
    in_flight: AtomicUsize,
    /// How many times the slot was restarted before this worker started.
    restarts: usize,
    /// Set on a graceful stop: a task dropped from then on answers `Cancelled`, one
    /// dropped any other way answers `WorkerCrashed`.
    stopping: AtomicBool,
    /// Set when the worker stops or dies: nothing may start in the table any more.
    closed: AtomicBool,
    /// The graceful shutdown of the worker's pool, once it begins.
    drain: Drain,
    executor: Arc<dyn Executor>,
    admission: Admission,
    limits: Limits,
    /// Kept in step with `running` and `queue`, under the same lock.
    gauges: WorkerGauges,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Table")
            .field("running", &inner.running.len())
            .field("queued", &inner.queue.len())
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent between statements, so a
        // poisoned lock still guards a consistent table.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[allow(clippy::result_large_err)] // see WorkerHandle::admit
    fn admit(
        self: &Arc<Self>,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
    ) -> Result<(), (Dispatch, RpcReplyPort<Reply>)> {
        if let Some(why) = dispatch.refused() {
            let _ = reply.send(self.stamp(Reply::failed(DispatchError::bad_frame(why))));
            return Ok(());
        }
        let mut inner = self.lock();
        // Checked under the lock: the worker closes its table under it too, so nothing
        // can slip in after the close and never be answered.
        if self.closed.load(Ordering::Acquire) {
            return Err((dispatch, reply));
        }
        let nested = dispatch.request.caller.is_some();
        if nested || inner.running.len() < self.admission.max_concurrency {
            self.start(&mut inner, dispatch, reply);
        } else if inner.queue.len() < self.admission.max_queue {
            inner.queue.push_back(Queued {
                dispatch,
                reply,
                since: quanta::Instant::now(),
            });
            self.gauges.queued.increment(1);
            self.count_unanswered(&inner);
        } else {
            drop(inner);
            let _ = reply.send(self.stamp(Reply::failed(DispatchError::Overloaded)));
        }
        Ok(())
    }

    /// Keeps the balancer's count in step with `inner`.
    fn count_unanswered(&self, inner: &Inner) {
        self.in_flight
            .store(inner.running.len() + inner.queue.len(), Ordering::Relaxed);
    }

    /// How busy the worker is now.
    fn stats(&self) -> WorkerStats {
        let inner = self.lock();
        let load = self.load(&inner);
        WorkerStats {
            in_flight: load.in_flight,
            queued: load.queued,
            restarts: self.restarts,
            idle_for: if load.in_flight > 0 {
                std::time::Duration::ZERO
            } else {
                inner.idle_since.elapsed()
            },
        }
    }

    /// The worker's load as `inner` holds it.
    fn load(&self, inner: &Inner) -> Load {
        Load {
            in_flight: inner.running.len(),
            queued: inner.queue.len(),
            admission: self.admission,
        }
    }

    /// Takes a finished (or cancelled) dispatch out and starts queued ones in the
    /// slots that freed. A queued dispatch whose time ran out while it waited is
    /// answered `Timeout` instead, and never runs.
    fn free(self: &Arc<Self>, id: &DispatchId) -> Option<Running> {
        let mut expired = Vec::new();
        let running = self.free_and_start(id, &mut expired);
        for reply in expired {
            let _ = reply.send(self.stamp(Reply::failed(DispatchError::Timeout)));
        }
        running
    }

    /// [`free`](Table::free) under the lock: the replies of the queued dispatches
    /// that expired go into `expired`, to be answered once it is released.
    fn free_and_start(
        self: &Arc<Self>,
        id: &DispatchId,
        expired: &mut Vec<RpcReplyPort<Reply>>,
    ) -> Option<Running> {
        let mut inner = self.lock();
        let running = inner.running.remove(id);
        let draining = self.drain.begun.load(Ordering::Acquire);
        if running.is_some() {
            self.gauges.in_flight.decrement(1);
            if draining {
                self.drain.finished.fetch_add(1, Ordering::AcqRel);
            }
            if inner.running.is_empty() && inner.queue.is_empty() {
                inner.idle_since = quanta::Instant::now();
            }
        }
        while !self.closed.load(Ordering::Acquire)
            && inner.running.len() < self.admission.max_concurrency
        {
            let Some(Queued {
                mut dispatch,
                reply,
                since,
            }) = inner.queue.pop_front()
            else {
                break;
            };
            self.gauges.queued.decrement(1);
            if let Some(left) = dispatch.request.timeout {
                match left.checked_sub(since.elapsed()).filter(|l| !l.is_zero()) {
                    Some(left) => dispatch.request.timeout = Some(left),
                    None => {
                        if draining {
                            self.drain.finished.fetch_add(1, Ordering::AcqRel);
                        }
                        expired.push(reply);
                        continue;
                    }
                }
            }
            self.start(&mut inner, dispatch, reply);
        }
        self.count_unanswered(&inner);
        running
    }

    /// Takes a queued dispatch out before it ran (its caller cancelled it) and
    /// answers it `Cancelled`; a dispatch not queued here is left alone.
    fn unqueue(&self, id: &DispatchId) {
        let queued = {
            let mut inner = self.lock();
            let Some(at) = inner
                .queue
                .iter()
                .position(|q| q.dispatch.request.id == *id)
            else {
                return;
            };
            let queued = inner.queue.remove(at);
            self.gauges.queued.decrement(1);
            if self.drain.begun.load(Ordering::Acquire) {
                self.drain.finished.fetch_add(1, Ordering::AcqRel);
            }
            if inner.running.is_empty() && inner.queue.is_empty() {
                inner.idle_since = quanta::Instant::now();
            }
            self.count_unanswered(&inner);
            queued
        };
        if let Some(queued) = queued {
            let _ = queued
                .reply
                .send(self.stamp(Reply::failed(DispatchError::Cancelled)));
        }
    }

    /// [`free`](Table::free) for a dispatch whose answer is sent next: while the
    /// worker drains, the answer is counted as on its way until [`settle`](Table::settle),
    /// so the worker is idle only once every answer has gone (a node that stops next
    /// must not stop an answer on its way). True when it was counted.
    fn free_to_answer(self: &Arc<Self>, id: &DispatchId) -> bool {
        let counted = self.drain.begun.load(Ordering::Acquire);
        if counted {
            self.drain.answering.fetch_add(1, Ordering::AcqRel);
        }
        self.free(id);
        counted
    }

    /// Called once a dispatch's answer has gone (`counted` as [`free_to_answer`](Table::free_to_answer)
    /// says): wakes a drain waiting for the worker to be idle, if it now is. The hot
    /// path pays one load, never the lock.
    fn settle(&self, counted: bool) {
        if counted {
            self.drain.answering.fetch_sub(1, Ordering::AcqRel);
        }
        if self.drain.begun.load(Ordering::Acquire) && self.is_idle() {
            self.drain.idle.notify_waiters();
        }
    }

    /// Nothing runs, waits, or is being answered.
    fn is_idle(&self) -> bool {
        let inner = self.lock();
        inner.running.is_empty()
            && inner.queue.is_empty()
            && self.drain.answering.load(Ordering::Acquire) == 0
    }

    /// Starts a dispatch as its own task, entered in the table. The table is locked
    /// across the spawn, so a task finishing at once cannot look for its entry before
    /// it is there.
    fn start(self: &Arc<Self>, inner: &mut Inner, dispatch: Dispatch, reply: RpcReplyPort<Reply>) {
        let Dispatch {
            request,
            kind,
            credits,
            ..
        } = dispatch;
        let id = request.id;
        // Before this dispatch enters the table: the load it starts into.
        let load = self.load(inner);
        let answer = Answer::new(reply, self);
        let done = Done {
            id,
            table: self.clone(),
        };
        let running = match kind {
            DispatchKind::Call => {
                let work = self.executor.call(request, load);
                let task = tokio::spawn(async move {
                    let reply = work.await;
                    let table = done.table.clone();
                    let counted = done.free();
                    answer.send(reply);
                    table.settle(counted);
                });
                Running {
                    abort: task.abort_handle(),
                    pulls: None,
                }
            }
            DispatchKind::Stream => {
                let (tx, rx) = mpsc::unbounded_channel();
                // A frame may carry any number: the stream holds at most the cap.
                let credits = credits.clamp(1, MAX_CREDITS);
                let stream = OpenStream {
                    credits,
                    batch: (credits as usize / 2).clamp(1, MAX_BATCH),
                    waiting: VecDeque::from([answer]),
                    ready: VecDeque::new(),
                    done,
                };
                let task = tokio::spawn(stream.serve(request, load, rx));
                Running {
                    abort: task.abort_handle(),
                    pulls: Some(tx),
                }
            }
        };
        inner.running.insert(id, running);
        self.count_unanswered(inner);
        self.gauges.in_flight.increment(1);
    }

    fn pull(&self, pull: Pull, reply: RpcReplyPort<Reply>) {
        if let Some(why) = pull.refused() {
            let _ = reply.send(self.stamp(Reply::failed(DispatchError::bad_frame(why))));
            return;
        }
        let pulls = self
            .lock()
            .running
            .get(&pull.id)
            .and_then(|r| r.pulls.clone());
        let refused = match pulls {
            Some(pulls) => match pulls.send((pull, reply)) {
                Ok(()) => return,
                Err(mpsc::error::SendError((_, reply))) => reply,
            },
            None => reply,
        };
        let _ = refused.send(self.stamp(Reply::failed(DispatchError::NoSuchStream)));
    }

    /// Closes the table: nothing starts any more, every running task is aborted (each
    /// answers as it goes), and every queued dispatch is answered with `failure`.
    fn close(&self, failure: DispatchError) {
        let (running, queue) = {
            let mut inner = self.lock();
            self.closed.store(true, Ordering::Release);
            self.in_flight.store(0, Ordering::Relaxed);
            (
                inner.running.drain().collect::<Vec<_>>(),
                std::mem::take(&mut inner.queue),
            )
        };
        self.gauges.in_flight.decrement(running.len() as f64);
        self.gauges.queued.decrement(queue.len() as f64);
        if self.drain.begun.load(Ordering::Acquire) {
            self.drain
                .cancelled
                .fetch_add(running.len() + queue.len(), Ordering::AcqRel);
        }
        for (_, running) in running {
            running.abort.abort();
        }
        for queued in queue {
            let _ = queued
                .reply
                .send(self.stamp(Reply::failed(failure.clone())));
        }
    }

    /// A reply made to be sent within this worker's limits.
    fn stamp(&self, mut reply: Reply) -> Reply {
        reply.limits = self.limits;
        reply
    }
}

/// The worker's state. Dropping it (the actor stopped, failed or was killed) closes
/// the table, and each aborted task answers its caller as it goes, so nothing hangs.
pub(crate) struct WorkerState {
    table: Arc<Table>,
}

impl Drop for WorkerState {
    fn drop(&mut self) {
        // After a graceful stop this finds the table closed and empty already.
        self.table.close(DispatchError::WorkerCrashed);
    }
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("table", &self.table)
            .finish()
    }
}

/// Answers a dispatch exactly once: with the task's reply, or, if the task is dropped
/// first (aborted by a cancel, a stop or a crash), with `Cancelled` or `WorkerCrashed`.
struct Answer {
    port: Option<RpcReplyPort<Reply>>,
    table: Arc<Table>,
}

impl Answer {
    fn new(port: RpcReplyPort<Reply>, table: &Arc<Table>) -> Answer {
        Answer {
            port: Some(port),
            table: table.clone(),
        }
    }

    fn send(mut self, reply: Reply) {
        if let Some(port) = self.port.take() {
            // The caller may be gone (it cancelled or timed out): nobody is waiting.
            let _ = port.send(self.table.stamp(reply));
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(port) = self.port.take() {
            let failure = if self.table.stopping.load(Ordering::Acquire) {
                DispatchError::Cancelled
            } else {
                DispatchError::WorkerCrashed
            };
            let _ = port.send(self.table.stamp(Reply::failed(failure)));
        }
    }
}

/// A task's way out: it takes its entry out of the table, which starts a queued
/// dispatch in the slot it frees.
struct Done {
    id: DispatchId,
    table: Arc<Table>,
}

impl Done {
    /// Takes the dispatch out before its answer is sent; see [`Table::free_to_answer`].
    fn free(self) -> bool {
        self.table.free_to_answer(&self.id)
    }
}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<WorkerMsg>,
        args: WorkerArgs,
    ) -> Result<WorkerState, ActorProcessingErr> {
        Ok(WorkerState { table: args.table })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkerMsg>,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        // A graceful stop: every dispatch, running or queued, is answered `Cancelled`.
        state.table.stopping.store(true, Ordering::Release);
        state.table.close(DispatchError::Cancelled);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<WorkerMsg>,
        message: WorkerMsg,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMsg::Dispatch(dispatch, reply) => {
                if let Err((_, reply)) = state.table.admit(dispatch, reply) {
                    // Only a stopping worker handles messages with its table closed.
                    let _ = reply.send(state.table.stamp(Reply::failed(DispatchError::Cancelled)));
                }
            }
            WorkerMsg::Pull(pull, reply) => state.table.pull(pull, reply),
            WorkerMsg::Cancel(id) => {
                // Running: dropped where it stands. Still queued: taken out, never run.
                if let Some(running) = state.table.free(&id) {
                    running.abort.abort();
                } else {
                    state.table.unqueue(&id);
                }
                state.table.settle(false);
            }
            WorkerMsg::Stats(reply) => {
                // The asker may have given up waiting: nobody to tell.
                let _ = reply.send(StatsAnswer(Ok(state.table.stats())));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<WorkerMsg>,
        event: RactorEvent,
        _state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        // A worker starts no actors of its own: an actor linked to it that fails takes
        // it down, as a linked failure does in Erlang. This is how [`crash`] works.
        match event {
            RactorEvent::ActorFailed(_, reason) => Err(reason),
            _ => Ok(()),
        }
    }
}

/// Fails a local worker on purpose, as if it crashed: every dispatch in flight on it
/// is answered `WorkerCrashed` and its supervisor restarts it (or gives up, past its
/// restart intensity). For fault-injection tests; it is not a message, so nothing a
/// user sends to a worker can do it.
///
/// It links an actor to the worker that fails at once with `reason`; the worker treats
/// a linked failure as its own. `ActorRef::kill` is the other fault a test can cause:
/// the worker is stopped without a reason.
///
/// # Errors
///
/// The spawn error when the worker is not a live local actor.
pub async fn crash(
    worker: &ActorRef<WorkerMsg>,
    reason: impl Into<String>,
) -> Result<(), SpawnErr> {
    Actor::spawn_linked(None, Doomed, reason.into(), worker.get_cell()).await?;
    Ok(())
}

/// An actor that fails as soon as it starts.
struct Doomed;

impl Actor for Doomed {
    type Msg = ();
    type State = String;
    type Arguments = String;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        reason: String,
    ) -> Result<String, ActorProcessingErr> {
        Ok(reason)
    }

    async fn post_start(
        &self,
        _: ActorRef<()>,
        reason: &mut String,
    ) -> Result<(), ActorProcessingErr> {
        Err(std::mem::take(reason).into())
    }
}

/// An open stream on the worker: the steps it may still run, the callers waiting for
/// items, and the items run ahead that no caller has yet.
///
/// The stream never runs a step it holds no credit for, so a slow caller stalls it:
/// what it has run and not sent is bounded by the credits granted.
struct OpenStream {
    credits: u32,
    /// How many ready items make a batch worth sending while more could run: half
    /// the credits the stream opened with, as many as the caller grants back at a
    /// time (at most [`MAX_BATCH`]).
    batch: usize,
    /// Dispatch and pulls whose reply has not gone yet, oldest first.
    waiting: VecDeque<Answer>,
    /// Steps run and not sent, oldest first; the last may be the end.
    ready: VecDeque<Reply>,
    done: Done,
}

/// The most items a batch waits for while more could run: a stream granted a huge
/// number of credits still sends what it has run, rather than holding it all back.
const MAX_BATCH: usize = 1024;

/// The pulls an open stream receives.
type Pulls = mpsc::UnboundedReceiver<(Pull, RpcReplyPort<Reply>)>;

impl OpenStream {
    async fn serve(mut self, request: Request, load: Load, mut pulls: Pulls) {
        let mut session = match self.done.table.executor.open_stream(request, load) {
            Ok(session) => Some(session),
            Err(refused) => {
                self.finish(refused);
                return;
            }
        };
        loop {
            // Grants that arrived while a step ran reach the routine before the next.
            while let Ok((pull, reply)) = pulls.try_recv() {
                self.grant(session.as_deref_mut(), pull, reply);
            }
            let runnable = session.as_deref_mut().filter(|_| self.credits > 0);
            // A waiting caller gets a batch's worth, or what there is once nothing more
            // can run: one frame per batch, not one per item the caller finds ready.
            if !self.waiting.is_empty()
                && !self.ready.is_empty()
                && (runnable.is_none() || self.ready.len() >= self.batch)
            {
                if self.send_ready() {
                    return;
                }
                continue;
            }
            if let Some(open) = runnable {
                // Steps that are always ready would never give the thread back: the
                // worker's own messages (a cancel) and other tasks must get a turn.
                tokio::task::coop::consume_budget().await;
                self.credits -= 1;
                let reply = match poll_fn(|task| Poll::Ready(open.poll_next(task))).await {
                    Poll::Ready(reply) => reply,
                    Poll::Pending => {
                        // The step waits on something: what is ready goes now, not
                        // after it.
                        if !self.waiting.is_empty() && !self.ready.is_empty() && self.send_ready() {
                            return;
                        }
                        poll_fn(|task| open.poll_next(task)).await
                    }
                };
                if !matches!(reply.outcome, Outcome::Value(_)) {
                    // The last item: drop the stream now, so its cleanup runs before
                    // the caller hears of the end.
                    session = None;
                }
                self.ready.push_back(reply);
                continue;
            }
            // No credit, or nobody to send to: wait for the caller.
            match pulls.recv().await {
                Some((pull, reply)) => self.grant(session.as_deref_mut(), pull, reply),
                // The worker took the stream out of its table: nobody can pull any more.
                None => return,
            }
        }
    }

    fn grant(
        &mut self,
        session: Option<&mut dyn StreamSession>,
        pull: Pull,
        reply: RpcReplyPort<Reply>,
    ) {
        if let Some(session) = session {
            session.grant(pull.manifest);
        }
        self.credits = self.credits.saturating_add(pull.credits).min(MAX_CREDITS);
        self.waiting.push_back(Answer::new(reply, &self.done.table));
    }

    /// Sends the oldest waiting caller every ready item that fits in one frame; true
    /// when that was the last, and the stream is over.
    fn send_ready(&mut self) -> bool {
        let batch = self.take_batch();
        let last = !matches!(batch.outcome, Outcome::Value(_))
            || batch
                .more
                .last()
                .is_some_and(|step| !matches!(step.outcome, Outcome::Value(_)));
        if last {
            self.finish(batch);
            return true;
        }
        if let Some(answer) = self.waiting.pop_front() {
            answer.send(batch);
        }
        false
    }

    /// The oldest ready items, as one reply: as many as keep the values within half
    /// the frame limit (at least one), so the manifests have room and no batch grows
    /// past what one frame may carry.
    fn take_batch(&mut self) -> Reply {
        let budget = self.done.table.limits.max_frame_bytes / 2;
        let mut first = self
            .ready
            .pop_front()
            .expect("a batch is taken when items are ready");
        let mut bytes = value_bytes(&first);
        while let Some(next) = self.ready.front() {
            bytes = bytes.saturating_add(value_bytes(next));
            if bytes > budget {
                break;
            }
            first.more.extend(self.ready.pop_front());
        }
        first
    }

    /// Ends the stream with `last`: frees its slot first (so a caller that opens
    /// another on hearing back finds it free), then answers the oldest waiting caller,
    /// and tells any other that the stream is over.
    fn finish(&mut self, last: Reply) {
        let counted = self.done.table.free_to_answer(&self.done.id);
        let mut waiting = std::mem::take(&mut self.waiting).into_iter();
        if let Some(answer) = waiting.next() {
            answer.send(last);
        }
        for answer in waiting {
            answer.send(Reply::new(Outcome::End, None, Default::default()));
        }
        self.done.table.settle(counted);
    }
}

fn value_bytes(reply: &Reply) -> usize {
    match &reply.outcome {
        Outcome::Value(bytes) => bytes.len(),
        _ => 0,
    }
}
