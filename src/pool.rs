//! The pool: a supervised set of in-process workers, and the caller side of a
//! dispatch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use ractor::{Actor, ActorRef, MessagingErr, RpcReplyPort};
use serde::de::DeserializeOwned;
use serde::Serialize;
use skein_actors::process::{ProcessArgs, ProcessMsg, ProcessSupervisor};
use skein_actors::{
    home, Admission, Dispatch, DispatchId, DispatchKind, Failure, Manifest, Node, Outcome,
    PoolArgs, PoolMsg, PoolSupervisor, Pull, Reply, Request, RestartPolicy, SupervisionEvent,
    Target, WorkerMsg, WorkerSlots,
};
use tokio::sync::{broadcast, oneshot};

use crate::context::{Context, InstallMode};
use crate::error::DispatchError;
use crate::payload;
use crate::routine::{Frame, Routine, RoutineExecutor, Routines, StreamRoutine};

tokio::task_local! {
    /// The dispatch a routine body runs in: set by the worker around every step.
    pub(crate) static DISPATCH: Frame;
}

/// A pool of supervised in-process workers that run routines.
///
/// Handles are cheap to clone and share one pool; the pool stops when the last handle
/// is dropped, and dispatches in flight then end with `Cancelled`.
///
/// ```
/// use skein::{Never, Pool, Routine};
///
/// struct Add;
/// impl Routine for Add {
///     const NAME: &'static str = "doc.add";
///     type Args = (i64, i64);
///     type Output = i64;
///     type Error = Never;
///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
///         Ok(x + y)
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder().workers(2).routine::<Add>().build().await?;
/// assert_eq!(pool.call::<Add>((1, 2)).await?, 3);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<PoolShared>,
}

pub(crate) struct PoolShared {
    slots: Arc<WorkerSlots>,
    /// The node whose cluster the pool reaches, kept alive as long as the pool.
    _node: Option<Node>,
    /// The supervisor of the pool's worker processes, if it has any.
    processes: Option<ActorRef<ProcessMsg>>,
    supervisor: ActorRef<PoolMsg>,
    events: broadcast::Sender<SupervisionEvent>,
    timeout: Option<Duration>,
    mode: InstallMode,
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        if let Some(processes) = &self.processes {
            // Its post_stop kills every child.
            processes.stop(Some("pool dropped".to_string()));
        }
        self.supervisor.stop(Some("pool dropped".to_string()));
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.shared.slots.live().len())
            .field("failed", &self.shared.slots.has_failed())
            .finish_non_exhaustive()
    }
}

/// The pool could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A pool needs at least one worker.
    #[error("a pool needs at least one worker")]
    NoWorkers,
    /// Two different routines were registered under one name.
    #[error("two routines are registered as {0:?}")]
    DuplicateRoutine(&'static str),
    /// The supervisor or a worker failed to start.
    #[error("the pool failed to start: {0}")]
    Start(String),
}

/// Builds a [`Pool`]. Start with [`Pool::builder`].
pub struct PoolBuilder {
    workers: usize,
    routines: Routines,
    duplicate: Option<&'static str>,
    admission: Admission,
    policy: RestartPolicy,
    timeout: Option<Duration>,
    mode: InstallMode,
    node: Option<Node>,
    group: String,
    /// Local workers were asked for explicitly (a pool of worker processes has none
    /// unless asked).
    workers_set: bool,
    processes: usize,
    workers_per_process: usize,
}

/// The process group pools join by default when they are given a node.
pub const DEFAULT_GROUP: &str = "skein.workers";

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            .field("admission", &self.admission)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// How many workers in this process (default: the number of CPUs; none when the
    /// pool has worker processes).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self.workers_set = true;
        self
    }

    /// Runs the routines in `n` worker processes too (B7): the pool re-runs the
    /// current binary `n` times, and each child joins this pool's node (one is made if
    /// none was given) and serves the same routines. The binary's `main` must call
    /// [`crate::serve_if_worker`] first. The pool restarts a child that exits, under
    /// its restart policy, and kills every child when it is dropped; a child also
    /// exits by itself when this process dies.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n;
        self
    }

    /// In-process workers in each worker process (default 1).
    pub fn workers_per_process(mut self, n: usize) -> Self {
        self.workers_per_process = n.max(1);
        self
    }

    /// Registers a routine.
    pub fn routine<R: Routine>(mut self) -> Self {
        if !self.routines.add_call::<R>() {
            self.duplicate.get_or_insert(R::NAME);
        }
        self
    }

    /// Registers a streaming routine.
    pub fn stream_routine<R: StreamRoutine>(mut self) -> Self {
        if !self.routines.add_stream::<R>() {
            self.duplicate.get_or_insert(R::NAME);
        }
        self
    }

    /// How many dispatches one worker runs at once (default 1,024). Nested dispatches
    /// are always admitted, so fan-out cannot deadlock on it.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.admission.max_concurrency = n;
        self
    }

    /// How many dispatches may wait at one worker (default 1,024); past it a dispatch
    /// is answered `Overloaded` at once.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.admission.max_queue = n;
        self
    }

    /// How dead workers are restarted.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The deadline of every call that does not give its own (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How workers and callers treat context values that fail to decode (default
    /// lenient).
    pub fn install_mode(mut self, mode: InstallMode) -> Self {
        self.mode = mode;
        self
    }

    /// Joins the pool to a node's cluster: its workers join the process group (see
    /// [`PoolBuilder::group`]) so pools on other nodes can use them, and it routes to
    /// the workers other nodes have in that group. A dispatch to a node that dies or
    /// stops answering fails with [`DispatchError::NodeDown`].
    pub fn node(mut self, node: &Node) -> Self {
        self.node = Some(node.clone());
        self
    }

    /// The process group of a pool with a node (default [`DEFAULT_GROUP`]). Pools in
    /// one group share their workers; the routines they register must agree.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Starts the supervisor and its workers.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for no workers, a routine name registered twice, or an actor
    /// that failed to start.
    pub async fn build(self) -> Result<Pool, BuildError> {
        let mut this = self;
        if this.processes > 0 {
            if !this.workers_set {
                this.workers = 0;
            }
            if this.node.is_none() {
                let node = Node::builder()
                    .listen("127.0.0.1:0")
                    .cookie(uuid::Uuid::new_v4().simple().to_string())
                    .build()
                    .await
                    .map_err(|e| BuildError::Start(e.to_string()))?;
                this.node = Some(node);
            }
        }
        // A pool with a node may have no workers of its own: it uses its cluster's.
        if this.workers == 0 && this.node.is_none() {
            return Err(BuildError::NoWorkers);
        }
        if let Some(name) = this.duplicate {
            return Err(BuildError::DuplicateRoutine(name));
        }
        let executor = Arc::new(RoutineExecutor::new(this.routines, this.mode));
        let slots = Arc::new(WorkerSlots::new(this.workers));
        let (events, _) = broadcast::channel(1024);
        let args = PoolArgs {
            executor: executor.clone(),
            admission: this.admission,
            policy: this.policy,
            slots: slots.clone(),
            events: events.clone(),
            group: this.node.as_ref().map(|_| this.group.clone()),
        };
        let (supervisor, _) = Actor::spawn(None, PoolSupervisor, args)
            .await
            .map_err(|e| BuildError::Start(e.to_string()))?;
        let processes = match (&this.node, this.processes) {
            (Some(node), n) if n > 0 => {
                let exe = std::env::current_exe().map_err(|e| BuildError::Start(e.to_string()))?;
                let args = ProcessArgs {
                    exe,
                    args: vec![crate::process::WORKER_ARG.to_string()],
                    count: n,
                    workers_each: this.workers_per_process,
                    parent: node.addr().to_string(),
                    cookie: node.cookie().to_string(),
                    policy: this.policy,
                    events: events.clone(),
                };
                let (processes, _) = Actor::spawn(None, ProcessSupervisor, args)
                    .await
                    .map_err(|e| BuildError::Start(e.to_string()))?;
                Some(processes)
            }
            _ => None,
        };
        let shared = Arc::new(PoolShared {
            slots,
            _node: this.node,
            processes,
            supervisor,
            events,
            timeout: this.timeout,
            mode: this.mode,
        });
        let _ = executor.pool.set(Arc::downgrade(&shared));
        Ok(Pool { shared })
    }
}

impl Pool {
    /// A builder with the defaults: one worker per CPU, no routines.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            routines: Routines::default(),
            duplicate: None,
            admission: Admission::default(),
            policy: RestartPolicy::default(),
            timeout: None,
            mode: InstallMode::Lenient,
            node: None,
            group: DEFAULT_GROUP.to_string(),
            workers_set: false,
            processes: 0,
            workers_per_process: 1,
        }
    }

    /// Runs `future` in a new context (see [`crate::scope`]); calls made inside it
    /// carry that context, and the workers' changes merge back into it.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        crate::scope(future)
    }

    /// Runs `R` on a worker with the current context, and merges the worker's changes
    /// back before returning (reference R66, R71–R72).
    ///
    /// # Errors
    ///
    /// A [`DispatchError`]: the routine's own error as `Routine(E)`, and every other
    /// failure as its own variant.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the routine on the worker; nothing merges back
    /// (R74), but spends it made stay spent (B2).
    pub async fn call<R: Routine>(
        &self,
        args: R::Args,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        self.shared.call::<R>(args, self.shared.timeout, None).await
    }

    /// [`Pool::call`] with a deadline; past it the routine is cancelled and the call
    /// fails with [`DispatchError::Timeout`].
    ///
    /// # Errors
    ///
    /// As [`Pool::call`].
    pub async fn call_timeout<R: Routine>(
        &self,
        args: R::Args,
        timeout: Duration,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        self.shared.call::<R>(args, Some(timeout), None).await
    }

    /// Opens a streaming routine. Nothing is sent until the first item is asked for;
    /// each item is pulled with the current context, and merges back before it is
    /// returned. Dropping the stream cancels the routine and runs its cleanup.
    pub fn stream<R: StreamRoutine>(&self, args: R::Args) -> RoutineStream<R> {
        RoutineStream::open(self.shared.clone(), args, None)
    }

    /// The supervisor's events, from now on.
    pub fn events(&self) -> Events {
        Events::new(self.shared.events.subscribe())
    }

    /// The workers, by slot (`None` while a slot restarts). A user may send a
    /// [`WorkerMsg::Dispatch`] straight to one; see `examples/direct_dispatch.rs`.
    pub fn workers(&self) -> Vec<Option<ActorRef<WorkerMsg>>> {
        self.shared.slots.live()
    }

    /// The workers of other nodes this pool routes to (see [`PoolBuilder::node`]).
    pub fn remote_workers(&self) -> Vec<ActorRef<WorkerMsg>> {
        self.shared.slots.remote()
    }

    /// Waits until the pool routes to at least `n` workers, local and remote together:
    /// for a pool whose workers are on other nodes, that connect after it starts.
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoWorkers`] if there are still fewer after `within`.
    pub async fn wait_for_workers(
        &self,
        n: usize,
        within: Duration,
    ) -> Result<(), DispatchError<crate::Never>> {
        let mut events = self.events();
        let deadline = tokio::time::Instant::now() + within;
        while self.shared.slots.len() < n {
            // Every change of membership is an event; wait for the next one.
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
        if self.shared.slots.len() >= n {
            Ok(())
        } else {
            Err(DispatchError::NoWorkers)
        }
    }

    /// Whether the pool gave up after too many restarts.
    pub fn has_failed(&self) -> bool {
        self.shared.slots.has_failed()
    }
}

/// Runs `R` on the pool the current routine runs on, recording the current dispatch
/// as its parent. This is how a routine fans out: the inner call goes to the pool,
/// never runs in-process by accident (reference R6–R10).
///
/// # Errors
///
/// As [`Pool::call`], and [`DispatchError::NotInRoutine`] outside a routine body.
pub async fn call<R: Routine>(args: R::Args) -> Result<R::Output, DispatchError<R::Error>> {
    let Ok(frame) = DISPATCH.try_with(Frame::clone) else {
        return Err(DispatchError::NotInRoutine);
    };
    let Some(shared) = frame.pool.upgrade() else {
        return Err(DispatchError::Cancelled);
    };
    shared.call::<R>(args, shared.timeout, Some(frame.id)).await
}

/// Builds the [`Request`] for a direct dispatch of `R`: the args encoded and the
/// current context snapshotted, exactly as [`Pool::call`] would. Send it inside a
/// [`WorkerMsg::Dispatch`] to any worker, and read the answer with [`decode_reply`].
///
/// # Errors
///
/// [`DispatchError::Encode`] if the args do not encode.
pub fn request<R: Routine>(args: R::Args) -> Result<Request, DispatchError<R::Error>> {
    prepare(R::NAME, &args, Context::current().as_ref(), None, None)
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
    let mode = InstallMode::default();
    finish_call::<R>(Context::current().as_ref(), reply, mode)
}

/// Why a dispatch could not be handed to a worker.
enum Refused {
    PoolFailed,
    NoWorkers,
}

impl<E> From<Refused> for DispatchError<E> {
    fn from(refused: Refused) -> DispatchError<E> {
        match refused {
            Refused::PoolFailed => DispatchError::PoolFailed,
            Refused::NoWorkers => DispatchError::NoWorkers,
        }
    }
}

/// A dispatch on its way: the worker it went to, and where its reply comes.
struct Sent {
    worker: ActorRef<WorkerMsg>,
    id: DispatchId,
    reply: oneshot::Receiver<Reply>,
}

impl Sent {
    /// What a reply port closed without a reply means: the worker died, or its node.
    fn lost(&self) -> Failure {
        lost(&self.worker)
    }
}

fn lost(worker: &ActorRef<WorkerMsg>) -> Failure {
    if worker.get_id().is_local() {
        Failure::WorkerCrashed
    } else {
        Failure::NodeDown
    }
}

/// Where the running routine body was dispatched from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchInfo {
    /// This dispatch's id.
    pub id: DispatchId,
    /// The dispatch whose routine made this one, for a nested call (reference R9).
    pub caller: Option<DispatchId>,
}

/// The dispatch the current routine body runs in, or `None` outside a routine.
pub fn current_dispatch() -> Option<DispatchInfo> {
    DISPATCH
        .try_with(|frame| DispatchInfo {
            id: frame.id,
            caller: frame.caller,
        })
        .ok()
}

impl PoolShared {
    async fn call<R: Routine>(
        self: &Arc<Self>,
        args: R::Args,
        timeout: Option<Duration>,
        caller: Option<DispatchId>,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        let cx = Context::current();
        let request = prepare(R::NAME, &args, cx.as_ref(), timeout, caller)?;
        drop(args); // tokens in the args moved to the worker
        let sent = self.send(request, DispatchKind::Call)?;
        // Dropped before the reply (the caller cancelled, or the deadline passed), the
        // guard cancels the routine on the worker.
        let guard = CancelOnDrop::new(&sent);
        let lost = sent.lost();
        let reply = wait(sent.reply, timeout, lost)
            .await
            .map_err(DispatchError::from_failure)?;
        guard.disarm();
        finish_call::<R>(cx.as_ref(), reply, self.mode)
    }

    /// Hands a dispatch to a live worker. A worker that died before the message got in
    /// never saw it, so the next live one is tried.
    fn send(&self, request: Request, kind: DispatchKind) -> Result<Sent, Refused> {
        if self.slots.has_failed() {
            return Err(Refused::PoolFailed);
        }
        let id = request.id;
        let (tx, reply) = oneshot::channel();
        let mut pending = (request, RpcReplyPort::from(tx));
        for _ in 0..self.slots.len() {
            let target = self.slots.pick().ok_or(Refused::NoWorkers)?;
            let worker = target.actor().clone();
            // A call to a local worker starts on it at once; anything else, or a
            // worker that must queue or refuse it, goes through the mailbox.
            if let (Target::Local(handle), DispatchKind::Call) = (&target, kind) {
                match handle.try_call(pending.0, pending.1) {
                    Ok(()) => return Ok(Sent { worker, id, reply }),
                    Err(back) => pending = back,
                }
            }
            let (request, port) = pending;
            match worker.cast(WorkerMsg::Dispatch(Dispatch::new(request, kind), port)) {
                Ok(()) => return Ok(Sent { worker, id, reply }),
                Err(MessagingErr::SendErr(WorkerMsg::Dispatch(dispatch, port))) => {
                    pending = (dispatch.request, port)
                }
                Err(_) => break,
            }
        }
        Err(Refused::NoWorkers)
    }
}

/// Encodes the args (which pins the tokens inside them in the caller's context) and
/// only then snapshots the context, so the snapshot lists those tokens.
fn prepare<E>(
    routine: &str,
    args: &impl Serialize,
    cx: Option<&Context>,
    timeout: Option<Duration>,
    caller: Option<DispatchId>,
) -> Result<Request, DispatchError<E>> {
    let args = payload::encode(args).map_err(|e| DispatchError::Encode(e.to_string()))?;
    let manifest = cx.map(Context::take_snapshot).unwrap_or_default();
    let mut request = Request::new(routine, args, manifest);
    request.timeout = timeout;
    request.caller = caller;
    Ok(request)
}

/// Waits for a reply; a reply port dropped without a reply means `lost`: the worker
/// died with it, or its node did.
async fn wait(
    reply: oneshot::Receiver<Reply>,
    timeout: Option<Duration>,
    lost: Failure,
) -> Result<Reply, Failure> {
    let reply = match timeout {
        Some(limit) => tokio::time::timeout(limit, reply)
            .await
            .map_err(|_| Failure::Timeout)?,
        None => reply.await,
    };
    reply.map_err(|_| lost)
}

/// Takes a reply in: records its spends, merges its context into the caller's
/// (before the caller sees the value, R66), anchors the tokens that came with it, and
/// decodes the value. `Ok(None)` is the end of a stream.
fn finish<T: DeserializeOwned, E: DeserializeOwned>(
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
        Outcome::Failed(Failure::Routine(bytes)) => {
            Err(DispatchError::Routine(receive(cx, manifest, &bytes, mode)?))
        }
        Outcome::Failed(failure) => {
            merge(cx, manifest, mode)?;
            Err(DispatchError::from_failure(failure))
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
        .ok_or_else(|| DispatchError::BadFrame("a call was answered as a finished stream".into()))
}

fn receive<T: DeserializeOwned, E>(
    cx: Option<&Context>,
    manifest: Option<&Manifest>,
    bytes: &[u8],
    mode: InstallMode,
) -> Result<T, DispatchError<E>> {
    let incoming =
        payload::decode::<T>(bytes).map_err(|e| DispatchError::BadFrame(e.to_string()))?;
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
struct CancelOnDrop(Option<(ActorRef<WorkerMsg>, DispatchId)>);

impl CancelOnDrop {
    fn new(sent: &Sent) -> CancelOnDrop {
        CancelOnDrop(Some((sent.worker.clone(), sent.id)))
    }

    fn disarm(mut self) {
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

/// The caller's side of a streaming routine. Each item is pulled with the caller's
/// context as it is at that moment, and the worker's changes merge before the item is
/// returned. Dropping it cancels the routine on the worker.
pub struct RoutineStream<R: StreamRoutine> {
    items: stream::Fuse<BoxStream<'static, Item<R>>>,
}

enum Step<A> {
    Start {
        shared: Arc<PoolShared>,
        args: A,
        caller: Option<DispatchId>,
    },
    Open {
        shared: Arc<PoolShared>,
        worker: ActorRef<WorkerMsg>,
        id: DispatchId,
        guard: CancelOnDrop,
    },
    Done,
}

impl<R: StreamRoutine> RoutineStream<R> {
    fn open(
        shared: Arc<PoolShared>,
        args: R::Args,
        caller: Option<DispatchId>,
    ) -> RoutineStream<R> {
        let items = stream::unfold(
            Step::Start {
                shared,
                args,
                caller,
            },
            |step| async move {
                let (item, next) = pull::<R>(step).await;
                item.map(|item| (item, next))
            },
        );
        // Fused: polling again after the end keeps answering `None`.
        RoutineStream {
            items: items.boxed().fuse(),
        }
    }
}

type Item<R> = Result<<R as StreamRoutine>::Item, DispatchError<<R as StreamRoutine>::Error>>;

/// One pull: the first sends the dispatch, later ones a `Pull`. An end, an error or a
/// refusal closes the stream.
async fn pull<R: StreamRoutine>(step: Step<R::Args>) -> (Option<Item<R>>, Step<R::Args>) {
    let cx = Context::current();
    let (shared, worker, id, guard, reply) = match step {
        Step::Done => return (None, Step::Done),
        Step::Start {
            shared,
            args,
            caller,
        } => {
            let request = match prepare(R::NAME, &args, cx.as_ref(), None, caller) {
                Ok(request) => request,
                Err(e) => return (Some(Err(e)), Step::Done),
            };
            drop(args);
            let sent = match shared.send(request, DispatchKind::Stream) {
                Ok(sent) => sent,
                Err(refused) => return (Some(Err(refused.into())), Step::Done),
            };
            let guard = CancelOnDrop::new(&sent);
            (shared, sent.worker, sent.id, guard, sent.reply)
        }
        Step::Open {
            shared,
            worker,
            id,
            guard,
        } => {
            let manifest = cx.as_ref().map(Context::take_snapshot).unwrap_or_default();
            let (tx, reply) = oneshot::channel();
            if worker
                .cast(WorkerMsg::Pull(Pull::new(id, manifest), tx.into()))
                .is_err()
            {
                guard.disarm();
                return (
                    Some(Err(DispatchError::from_failure(lost(&worker)))),
                    Step::Done,
                );
            }
            (shared, worker, id, guard, reply)
        }
    };
    let reply = match wait(reply, None, lost(&worker)).await {
        Ok(reply) => reply,
        Err(failure) => {
            guard.disarm();
            return (Some(Err(DispatchError::from_failure(failure))), Step::Done);
        }
    };
    match finish::<R::Item, R::Error>(cx.as_ref(), reply, shared.mode) {
        Ok(Some(item)) => (
            Some(Ok(item)),
            Step::Open {
                shared,
                worker,
                id,
                guard,
            },
        ),
        Ok(None) => {
            guard.disarm();
            (None, Step::Done)
        }
        Err(e) => {
            guard.disarm();
            (Some(Err(e)), Step::Done)
        }
    }
}

impl<R: StreamRoutine> Stream for RoutineStream<R> {
    type Item = Item<R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl<R: StreamRoutine> futures::stream::FusedStream for RoutineStream<R> {
    fn is_terminated(&self) -> bool {
        self.items.is_terminated()
    }
}

impl<R: StreamRoutine> fmt::Debug for RoutineStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutineStream")
            .field("routine", &R::NAME)
            .finish()
    }
}

/// The supervisor's events, as a stream. Events missed by a slow reader are skipped.
pub struct Events {
    events: BoxStream<'static, SupervisionEvent>,
}

impl Events {
    fn new(receiver: broadcast::Receiver<SupervisionEvent>) -> Events {
        let events = stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Events {
            events: events.boxed(),
        }
    }
}

impl Stream for Events {
    type Item = SupervisionEvent;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<SupervisionEvent>> {
        self.events.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}
