//! The Worker actor: runs each dispatch as its own task, so one worker serves many
//! dispatches at once and a nested call never waits on its own worker.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{mpsc, watch};
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

/// Messages a worker handles.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerMsg {
    /// Run a routine (or open a stream).
    Dispatch(Dispatch),
    /// Ask an open stream for its next item.
    Pull(Pull),
    /// Cancel a dispatch: its routine is dropped where it stands and its cleanup runs.
    Cancel(DispatchId),
    /// Fail the worker on purpose, as if it crashed (fault injection).
    Crash(String),
    /// A task finished (sent by the worker's own tasks).
    #[doc(hidden)]
    Finished(DispatchId),
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
}

impl std::fmt::Debug for WorkerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerArgs")
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

/// How the worker's life ended, as its tasks see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Running,
    Stopping,
}

struct Running {
    abort: AbortHandle,
    pulls: Option<mpsc::UnboundedSender<Pull>>,
}

/// The worker's state. Dropping it (the actor stopped, failed or was killed) ends
/// every task: each one answers its caller before it goes, so nothing hangs.
pub struct WorkerState {
    args: WorkerArgs,
    running: HashMap<DispatchId, Running>,
    queue: VecDeque<Dispatch>,
    /// Tasks watch this: `Stopping` on a graceful stop, closed when the state drops.
    life: watch::Sender<Life>,
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("running", &self.running.len())
            .field("queued", &self.queue.len())
            .finish()
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
            args,
            running: HashMap::new(),
            queue: VecDeque::new(),
            life: watch::channel(Life::Running).0,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkerMsg>,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        // A graceful stop: tell every task, and answer the queue, `Cancelled`.
        state.life.send_replace(Life::Stopping);
        for dispatch in state.queue.drain(..) {
            let _ = dispatch.reply.send(Reply::failed(Failure::Cancelled));
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
            WorkerMsg::Dispatch(dispatch) => state.admit(dispatch, &myself),
            WorkerMsg::Pull(pull) => {
                match state.running.get(&pull.id).and_then(|r| r.pulls.as_ref()) {
                    Some(pulls) => {
                        if let Err(mpsc::error::SendError(pull)) = pulls.send(pull) {
                            let _ = pull.reply.send(Reply::failed(Failure::NoSuchStream));
                        }
                    }
                    None => {
                        let _ = pull.reply.send(Reply::failed(Failure::NoSuchStream));
                    }
                }
            }
            WorkerMsg::Cancel(id) => {
                if let Some(running) = state.running.remove(&id) {
                    running.abort.abort();
                    state.admit_queued(&myself);
                }
            }
            WorkerMsg::Finished(id) => {
                if state.running.remove(&id).is_some() {
                    state.admit_queued(&myself);
                }
            }
            WorkerMsg::Crash(reason) => return Err(reason.into()),
        }
        Ok(())
    }
}

impl WorkerState {
    fn admit(&mut self, dispatch: Dispatch, myself: &ActorRef<WorkerMsg>) {
        let nested = dispatch.request.caller.is_some();
        if nested || self.running.len() < self.args.admission.max_concurrency {
            self.start(dispatch, myself);
        } else if self.queue.len() < self.args.admission.max_queue {
            self.queue.push_back(dispatch);
        } else {
            let _ = dispatch.reply.send(Reply::failed(Failure::Overloaded));
        }
    }

    fn admit_queued(&mut self, myself: &ActorRef<WorkerMsg>) {
        while self.running.len() < self.args.admission.max_concurrency {
            match self.queue.pop_front() {
                Some(dispatch) => self.start(dispatch, myself),
                None => break,
            }
        }
    }

    fn start(&mut self, dispatch: Dispatch, myself: &ActorRef<WorkerMsg>) {
        let Dispatch {
            request,
            kind,
            reply,
        } = dispatch;
        let id = request.id;
        let life = self.life.subscribe();
        let done = myself.clone();
        let (abort, pulls) = match kind {
            DispatchKind::Call => {
                let work = self.args.executor.call(request);
                let task = tokio::spawn(async move {
                    let outcome = watched(life, work).await;
                    // Free the slot before the caller hears back: mailbox order then
                    // guarantees the caller's next dispatch finds it free.
                    let _ = done.cast(WorkerMsg::Finished(id));
                    answer(reply, outcome);
                });
                (task.abort_handle(), None)
            }
            DispatchKind::Stream => match self.args.executor.open_stream(&request) {
                Err(refused) => {
                    let _ = reply.send(refused);
                    return;
                }
                Ok(session) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let task = tokio::spawn(serve_stream(
                        session,
                        request.manifest,
                        reply,
                        rx,
                        life,
                        done,
                        id,
                    ));
                    (task.abort_handle(), Some(tx))
                }
            },
        };
        self.running.insert(id, Running { abort, pulls });
    }
}

fn answer(port: RpcReplyPort<Reply>, reply: Reply) {
    // The caller may be gone (it cancelled or timed out): then nobody is waiting.
    let _ = port.send(reply);
}

/// Runs `work` unless the worker stops or dies first; either way there is a reply.
async fn watched(mut life: watch::Receiver<Life>, work: BoxFuture<'static, Reply>) -> Reply {
    tokio::select! {
        reply = work => reply,
        failure = ended(&mut life) => Reply::failed(failure),
    }
}

/// Resolves when the worker stops (`Cancelled`) or its state is dropped (`WorkerCrashed`).
async fn ended(life: &mut watch::Receiver<Life>) -> Failure {
    match life.wait_for(|life| *life == Life::Stopping).await {
        Ok(_) => Failure::Cancelled,
        Err(_) => Failure::WorkerCrashed,
    }
}

async fn serve_stream(
    mut session: Box<dyn StreamSession>,
    first: Manifest,
    first_reply: RpcReplyPort<Reply>,
    mut pulls: mpsc::UnboundedReceiver<Pull>,
    mut life: watch::Receiver<Life>,
    done: ActorRef<WorkerMsg>,
    id: DispatchId,
) {
    let mut step = Some((first, first_reply));
    while let Some((manifest, port)) = step.take() {
        let reply = tokio::select! {
            reply = session.next(manifest) => reply,
            failure = ended(&mut life) => Reply::failed(failure),
        };
        if !matches!(reply.outcome, Outcome::Value(_)) {
            // The last item: free the slot before the caller hears back.
            drop(session);
            let _ = done.cast(WorkerMsg::Finished(id));
            answer(port, reply);
            return;
        }
        answer(port, reply);
        step = tokio::select! {
            pull = pulls.recv() => pull.map(|pull| (pull.manifest, pull.reply)),
            _ = ended(&mut life) => None,
        };
    }
    let _ = done.cast(WorkerMsg::Finished(id));
}
