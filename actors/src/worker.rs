//! The Worker actor: runs each dispatch as its own task, so one worker serves many
//! dispatches at once and a nested call never waits on its own worker.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::dispatch::{Dispatch, DispatchKind, Failure, Outcome, Pull, Reply, Request};
use crate::ids::DispatchId;
use crate::manifest::Manifest;

/// Runs routines for a worker. `skein` installs one that knows the typed routines;
/// this crate only moves bytes and manifests.
pub trait Executor: Send + Sync + 'static {
    /// Runs one call to completion and builds its reply.
    fn call(&self, request: Request) -> BoxFuture<'static, Reply>;

    /// Opens a stream; each [`StreamSession::next`] runs it one item further.
    ///
    /// # Errors
    ///
    /// A failed [`Reply`] (unknown routine, bad args) when the stream cannot open.
    fn open_stream(&self, request: &Request) -> Result<Box<dyn StreamSession>, Reply>;
}

/// One open stream on a worker.
pub trait StreamSession: Send + 'static {
    /// Installs the caller's context as it is now and runs the stream to its next item.
    fn next(&mut self, manifest: Manifest) -> BoxFuture<'_, Reply>;
}

/// How much a worker takes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Messages a worker handles. The same messages reach a worker on another node:
/// ractor_cluster carries each as a MessagePack frame.
#[derive(Debug, ractor_cluster::RactorClusterMessage)]
pub enum WorkerMsg {
    /// Run a routine (or open a stream); the reply goes to the port.
    #[rpc]
    Dispatch(Dispatch, RpcReplyPort<Reply>),
    /// Ask an open stream for its next item.
    #[rpc]
    Pull(Pull, RpcReplyPort<Reply>),
    /// Cancel a dispatch: its routine is dropped where it stands and its cleanup runs.
    Cancel(DispatchId),
    /// Fail the worker on purpose, as if it crashed (fault injection).
    Crash(String),
    /// A slot freed up while dispatches wait in the queue (sent by the worker's own
    /// tasks).
    Admit,
}

/// The worker actor.
#[derive(Debug, Default)]
pub struct Worker;

/// What a worker starts with.
#[derive(Clone)]
pub struct WorkerArgs {
    /// Runs the routines.
    pub executor: Arc<dyn Executor>,
    /// Admission limits.
    pub admission: Admission,
    /// The table of running dispatches, shared with [`WorkerHandle`]s.
    tasks: Arc<Tasks>,
}

impl WorkerArgs {
    /// The arguments of a worker that runs routines through `executor`.
    pub fn new(executor: Arc<dyn Executor>, admission: Admission) -> WorkerArgs {
        WorkerArgs {
            executor,
            admission,
            tasks: Arc::default(),
        }
    }

    /// A handle on the worker these arguments start, once it runs as `actor`.
    pub fn handle(&self, actor: ActorRef<WorkerMsg>) -> WorkerHandle {
        WorkerHandle {
            actor,
            tasks: self.tasks.clone(),
            executor: self.executor.clone(),
            admission: self.admission,
        }
    }
}

/// A local worker as its pool holds it: its actor, and a way to start a call on it
/// without a trip through its mailbox.
///
/// The fast path starts the call in the worker's own table of running dispatches,
/// under the same admission limit and the same answer guard the actor uses, so a
/// worker that dies still answers `WorkerCrashed` for it at once. When the worker is
/// stopping or full, or dispatches wait in its queue, the call is handed back to go
/// through the mailbox, where the actor queues or refuses it.
#[derive(Clone)]
pub struct WorkerHandle {
    actor: ActorRef<WorkerMsg>,
    tasks: Arc<Tasks>,
    executor: Arc<dyn Executor>,
    admission: Admission,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("actor", &self.actor.get_id())
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// The worker's actor.
    pub fn actor(&self) -> &ActorRef<WorkerMsg> {
        &self.actor
    }

    /// Starts a call on the worker at once, or hands it back when it must go through
    /// the mailbox (the worker is stopping or full, or dispatches wait in its queue).
    ///
    /// # Errors
    ///
    /// The request and the reply port, untouched, when the call was not started.
    #[allow(clippy::result_large_err)] // the hand-back is the success of a fallback, not an error report
    pub fn try_call(
        &self,
        request: Request,
        reply: RpcReplyPort<Reply>,
    ) -> Result<(), (Request, RpcReplyPort<Reply>)> {
        let mut running = self.tasks.running();
        let full = request.caller.is_none() && running.len() >= self.admission.max_concurrency;
        if self.tasks.closed.load(Ordering::Acquire)
            || full
            || self.tasks.queued.load(Ordering::Acquire) > 0
        {
            return Err((request, reply));
        }
        spawn_call(
            &self.tasks,
            &self.executor,
            &self.actor,
            request,
            reply,
            &mut running,
        );
        Ok(())
    }
}

impl std::fmt::Debug for WorkerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerArgs")
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

struct Running {
    abort: AbortHandle,
    pulls: Option<mpsc::UnboundedSender<(Pull, RpcReplyPort<Reply>)>>,
}

/// What the worker and its tasks share.
#[derive(Default)]
struct Tasks {
    /// The dispatches running now. A task takes itself out before it replies, so a
    /// caller that sends its next dispatch on hearing back always finds the slot free.
    running: Mutex<HashMap<DispatchId, Running>>,
    /// Set on a graceful stop: a task dropped from then on answers `Cancelled`, one
    /// dropped any other way answers `WorkerCrashed`.
    stopping: AtomicBool,
    /// How many dispatches wait in the queue; a task that frees a slot while some do
    /// tells the worker to admit one.
    queued: AtomicUsize,
    /// Set when the worker stops or dies: nothing may start in the table any more.
    closed: AtomicBool,
}

impl Tasks {
    fn running(&self) -> MutexGuard<'_, HashMap<DispatchId, Running>> {
        // Every critical section is a single map operation: a poisoned lock still
        // guards a consistent map.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The worker's state. Dropping it (the actor stopped, failed or was killed) aborts
/// every task, and each aborted task answers its caller as it goes, so nothing hangs.
pub struct WorkerState {
    args: WorkerArgs,
    tasks: Arc<Tasks>,
    queue: VecDeque<(Dispatch, RpcReplyPort<Reply>)>,
}

impl Drop for WorkerState {
    fn drop(&mut self) {
        let mut running = self.tasks.running();
        self.tasks.closed.store(true, Ordering::Release);
        for (_, running) in running.drain() {
            running.abort.abort();
        }
    }
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("running", &self.tasks.running().len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

/// Answers a dispatch exactly once: with the task's reply, or, if the task is dropped
/// first (aborted by a cancel, a stop or a crash), with `Cancelled` or `WorkerCrashed`.
struct Answer {
    port: Option<RpcReplyPort<Reply>>,
    tasks: Arc<Tasks>,
}

impl Answer {
    fn new(port: RpcReplyPort<Reply>, tasks: &Arc<Tasks>) -> Answer {
        Answer {
            port: Some(port),
            tasks: tasks.clone(),
        }
    }

    fn send(mut self, reply: Reply) {
        if let Some(port) = self.port.take() {
            // The caller may be gone (it cancelled or timed out): nobody is waiting.
            let _ = port.send(reply);
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(port) = self.port.take() {
            let failure = if self.tasks.stopping.load(Ordering::Acquire) {
                Failure::Cancelled
            } else {
                Failure::WorkerCrashed
            };
            let _ = port.send(Reply::failed(failure));
        }
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
        Ok(WorkerState {
            tasks: args.tasks.clone(),
            args,
            queue: VecDeque::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkerMsg>,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        // A graceful stop: every dispatch, running or queued, is answered `Cancelled`.
        state.tasks.stopping.store(true, Ordering::Release);
        state.tasks.closed.store(true, Ordering::Release);
        for (_, reply) in state.queue.drain(..) {
            let _ = reply.send(Reply::failed(Failure::Cancelled));
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        message: WorkerMsg,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMsg::Dispatch(dispatch, reply) => match dispatch.refused() {
                Some(why) => {
                    let _ = reply.send(Reply::failed(Failure::BadFrame(why.to_string())));
                }
                None => state.admit(dispatch, reply, &myself),
            },
            WorkerMsg::Pull(pull, reply) => {
                if let Some(why) = pull.refused() {
                    let _ = reply.send(Reply::failed(Failure::BadFrame(why.to_string())));
                    return Ok(());
                }
                let pulls = state
                    .tasks
                    .running()
                    .get(&pull.id)
                    .and_then(|r| r.pulls.clone());
                match pulls {
                    Some(pulls) => {
                        if let Err(mpsc::error::SendError((_, reply))) = pulls.send((pull, reply)) {
                            let _ = reply.send(Reply::failed(Failure::NoSuchStream));
                        }
                    }
                    None => {
                        let _ = reply.send(Reply::failed(Failure::NoSuchStream));
                    }
                }
            }
            WorkerMsg::Cancel(id) => {
                let cancelled = state.tasks.running().remove(&id);
                if let Some(running) = cancelled {
                    running.abort.abort();
                    state.admit_queued(&myself);
                }
            }
            WorkerMsg::Admit => state.admit_queued(&myself),
            WorkerMsg::Crash(reason) => return Err(reason.into()),
        }
        Ok(())
    }
}

impl WorkerState {
    fn admit(
        &mut self,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
        myself: &ActorRef<WorkerMsg>,
    ) {
        let nested = dispatch.request.caller.is_some();
        if nested || self.tasks.running().len() < self.args.admission.max_concurrency {
            self.start(dispatch, reply, myself);
        } else if self.queue.len() < self.args.admission.max_queue {
            self.queue.push_back((dispatch, reply));
            self.tasks.queued.store(self.queue.len(), Ordering::Release);
        } else {
            let _ = reply.send(Reply::failed(Failure::Overloaded));
        }
    }

    fn admit_queued(&mut self, myself: &ActorRef<WorkerMsg>) {
        while self.tasks.running().len() < self.args.admission.max_concurrency {
            match self.queue.pop_front() {
                Some((dispatch, reply)) => self.start(dispatch, reply, myself),
                None => break,
            }
        }
        self.tasks.queued.store(self.queue.len(), Ordering::Release);
    }

    fn start(
        &mut self,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
        myself: &ActorRef<WorkerMsg>,
    ) {
        let Dispatch { request, kind, .. } = dispatch;
        let mut running = self.tasks.running();
        match kind {
            DispatchKind::Call => spawn_call(
                &self.tasks,
                &self.args.executor,
                myself,
                request,
                reply,
                &mut running,
            ),
            DispatchKind::Stream => {
                let id = request.id;
                let answer = Answer::new(reply, &self.tasks);
                match self.args.executor.open_stream(&request) {
                    Err(refused) => answer.send(refused),
                    Ok(session) => {
                        let done = Done {
                            id,
                            tasks: self.tasks.clone(),
                            worker: myself.clone(),
                        };
                        let (tx, rx) = mpsc::unbounded_channel();
                        let task =
                            tokio::spawn(serve_stream(session, request.manifest, answer, rx, done));
                        running.insert(
                            id,
                            Running {
                                abort: task.abort_handle(),
                                pulls: Some(tx),
                            },
                        );
                    }
                }
            }
        }
    }
}

/// Starts a call as its own task, entered in the table of running dispatches. The
/// table is locked (by the caller) across the spawn, so that a task finishing at once
/// cannot look for its entry before it is there.
fn spawn_call(
    tasks: &Arc<Tasks>,
    executor: &Arc<dyn Executor>,
    worker: &ActorRef<WorkerMsg>,
    request: Request,
    reply: RpcReplyPort<Reply>,
    running: &mut HashMap<DispatchId, Running>,
) {
    let id = request.id;
    let answer = Answer::new(reply, tasks);
    let done = Done {
        id,
        tasks: tasks.clone(),
        worker: worker.clone(),
    };
    let work = executor.call(request);
    let task = tokio::spawn(async move {
        let reply = work.await;
        done.free();
        answer.send(reply);
    });
    running.insert(
        id,
        Running {
            abort: task.abort_handle(),
            pulls: None,
        },
    );
}

/// A task's way out: it takes its entry out of the running map, and wakes the worker
/// if dispatches wait for the slot.
struct Done {
    id: DispatchId,
    tasks: Arc<Tasks>,
    worker: ActorRef<WorkerMsg>,
}

impl Done {
    fn free(self) {
        self.tasks.running().remove(&self.id);
        if self.tasks.queued.load(Ordering::Acquire) > 0 {
            let _ = self.worker.cast(WorkerMsg::Admit);
        }
    }
}

async fn serve_stream(
    mut session: Box<dyn StreamSession>,
    first: Manifest,
    first_answer: Answer,
    mut pulls: mpsc::UnboundedReceiver<(Pull, RpcReplyPort<Reply>)>,
    done: Done,
) {
    let mut step = Some((first, first_answer));
    while let Some((manifest, answer)) = step.take() {
        let reply = session.next(manifest).await;
        if !matches!(reply.outcome, Outcome::Value(_)) {
            // The last item: drop the stream (its cleanup runs) and free the slot
            // before the caller hears back.
            drop(session);
            done.free();
            answer.send(reply);
            return;
        }
        answer.send(reply);
        step = pulls
            .recv()
            .await
            .map(|(pull, reply)| (pull.manifest, Answer::new(reply, &done.tasks)));
    }
    done.free();
}
