//! The workers of one pool as callers see them: which are alive, where the next
//! dispatch goes, and whether the pool has failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ractor::{ActorCell, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::broadcast;

use super::events::{ShutdownReport, SupervisionEvent};
use crate::dispatch::{Dispatch, Reply};
use crate::failure::Failure;
use crate::metrics;
use crate::worker::{WorkerHandle, WorkerMsg};

/// The workers of one pool, local and on other nodes, kept current by its supervisors
/// and read by its callers to route each dispatch. Cheap to clone; clones share one set.
#[derive(Clone, Debug)]
pub struct WorkerSet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    routes: RwLock<Routes>,
    next: AtomicUsize,
    /// Set by either supervisor when it gives up; never cleared.
    failed: AtomicBool,
    /// The pool's graceful shutdown, once it begins.
    shutdown: Shutdown,
    events: broadcast::Sender<SupervisionEvent>,
}

/// Every worker a dispatch may go to, behind one lock: routing reads it once.
#[derive(Debug, Default)]
struct Routes {
    /// The pool's own workers, by slot; `None` while a slot restarts.
    slots: Vec<Option<WorkerHandle>>,
    /// Workers of other nodes in the pool's process group.
    remote: Vec<ActorRef<WorkerMsg>>,
}

impl Routes {
    fn len(&self) -> usize {
        self.slots.len() + self.remote.len()
    }
}

/// How far a pool's graceful shutdown has come. Root dispatches are refused from the
/// moment it begins; when its grace runs out, the calls still waiting on workers of
/// other nodes are woken to end `Cancelled` (the pool's own workers cancel theirs).
#[derive(Debug, Default)]
struct Shutdown {
    begun: AtomicBool,
    over: AtomicBool,
    /// Woken when the grace runs out.
    over_now: tokio::sync::Notify,
    /// Calls this pool has in flight on workers elsewhere, and how those that ended
    /// after the shutdown began came out.
    remote_in_flight: AtomicUsize,
    remote_finished: AtomicUsize,
    remote_cancelled: AtomicUsize,
    /// Woken when the last remote call ends during a shutdown.
    remote_settled: tokio::sync::Notify,
}

/// A call in flight on a worker of another node, as its pool counts it for a
/// shutdown's report. End it with how it came out; dropped unended, it counts as
/// finished (its caller gave up on it).
#[derive(Debug)]
pub struct RemoteCall {
    set: Option<WorkerSet>,
}

impl RemoteCall {
    /// The call ended; `cancelled` if it ended `Cancelled`.
    pub fn end(mut self, cancelled: bool) {
        if let Some(set) = self.set.take() {
            set.remote_ended(cancelled);
        }
    }
}

impl Drop for RemoteCall {
    fn drop(&mut self) {
        if let Some(set) = self.set.take() {
            set.remote_ended(false);
        }
    }
}

/// Where a dispatch goes: a worker of this process, or one on another node.
enum Target {
    Local(WorkerHandle),
    Remote(ActorRef<WorkerMsg>),
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Every write is one assignment: a poisoned lock still guards a whole value.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Default for WorkerSet {
    fn default() -> Self {
        WorkerSet::new()
    }
}

impl WorkerSet {
    /// An empty set, whose supervisors are yet to start.
    pub fn new() -> WorkerSet {
        let (events, _) = broadcast::channel(1024);
        WorkerSet {
            inner: Arc::new(Inner {
                routes: RwLock::default(),
                next: AtomicUsize::new(0),
                failed: AtomicBool::new(false),
                shutdown: Shutdown::default(),
                events,
            }),
        }
    }

    /// Hands a dispatch to a live worker, round robin over local and remote ones, and
    /// returns the worker it went to. A local worker admits it at once, without a trip
    /// through its mailbox. A worker that died before the dispatch got in never saw
    /// it, so the next live one is tried.
    ///
    /// # Errors
    ///
    /// `PoolFailed` once the pool has given up; `NoWorkers` when no worker is alive.
    pub fn dispatch(
        &self,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
    ) -> Result<ActorRef<WorkerMsg>, Failure> {
        if self.has_failed() {
            return Err(Failure::PoolFailed);
        }
        // A routine still draining may call on: only root dispatches are refused.
        if dispatch.request.caller.is_none() && self.is_shutting_down() {
            return Err(Failure::ShuttingDown);
        }
        let mut pending = (dispatch, reply);
        // As many tries as there were workers at the first pick.
        let (mut target, n) = self.pick();
        for attempt in 0..n {
            if attempt > 0 {
                target = self.pick().0;
            }
            match target.take().ok_or(Failure::NoWorkers)? {
                Target::Local(worker) => match worker.admit(pending.0, pending.1) {
                    Ok(()) => return Ok(worker.actor().clone()),
                    Err(back) => pending = back,
                },
                Target::Remote(worker) => {
                    match worker.cast(WorkerMsg::Dispatch(pending.0, pending.1)) {
                        Ok(()) => return Ok(worker),
                        Err(MessagingErr::SendErr(WorkerMsg::Dispatch(dispatch, reply))) => {
                            pending = (dispatch, reply)
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        Err(Failure::NoWorkers)
    }

    /// The next live worker, local or remote, round robin, and how many workers there
    /// are.
    fn pick(&self) -> (Option<Target>, usize) {
        let routes = read(&self.inner.routes);
        let n = routes.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let target = (0..n).find_map(|i| match (start + i) % n {
            i if i < routes.slots.len() => routes.slots[i].clone().map(Target::Local),
            i => Some(Target::Remote(
                routes.remote[i - routes.slots.len()].clone(),
            )),
        });
        (target, n)
    }

    /// How many workers there are, local slots and remote workers together.
    pub fn len(&self) -> usize {
        read(&self.inner.routes).len()
    }

    /// Whether there are no workers at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pool's own workers, by slot (`None` while a slot restarts).
    pub fn live(&self) -> Vec<Option<ActorRef<WorkerMsg>>> {
        read(&self.inner.routes)
            .slots
            .iter()
            .map(|slot| slot.as_ref().map(|w| w.actor().clone()))
            .collect()
    }

    /// The workers of other nodes this pool routes to.
    pub fn remote(&self) -> Vec<ActorRef<WorkerMsg>> {
        read(&self.inner.routes).remote.clone()
    }

    /// Whether the pool's graceful shutdown has begun: root dispatches are refused
    /// with `ShuttingDown` from then on.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.begun.load(Ordering::Acquire)
    }

    /// Whether the pool's shutdown grace is over: what was still in flight then is
    /// being cancelled.
    pub fn is_grace_over(&self) -> bool {
        self.inner.shutdown.over.load(Ordering::Acquire)
    }

    /// Begins the pool's graceful shutdown (see [`Supervisor::shutdown`](super::Supervisor::shutdown)).
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutdown.begun.store(true, Ordering::Release);
    }

    /// The grace is over: every [`WorkerSet::grace_over`] wakes.
    pub(crate) fn end_grace(&self) {
        self.inner.shutdown.over.store(true, Ordering::Release);
        self.inner.shutdown.over_now.notify_waiters();
    }

    /// Resolves when the pool's shutdown grace is over: a caller waiting on a worker
    /// of another node gives up then, and ends `Cancelled`. Never resolves if the pool
    /// is not shut down.
    pub async fn grace_over(&self) {
        let shutdown = &self.inner.shutdown;
        let woken = shutdown.over_now.notified();
        tokio::pin!(woken);
        // Registered before the check, so an end between the two still wakes it.
        woken.as_mut().enable();
        if !shutdown.over.load(Ordering::Acquire) {
            woken.await;
        }
    }

    /// Whether the pool gave up: either supervisor exceeded its restart intensity.
    pub fn has_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Acquire)
    }

    /// The supervisors' events, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: SupervisionEvent) {
        tracing::debug!(?event, "pool supervision");
        let counted = match &event {
            SupervisionEvent::WorkerFailed { .. } => Some(metrics::WORKER_CRASHES),
            SupervisionEvent::WorkerRestarted { .. } => Some(metrics::WORKER_RESTARTS),
            SupervisionEvent::ProcessExited { .. } => Some(metrics::PROCESS_EXITS),
            SupervisionEvent::PoolFailed { .. } => Some(metrics::POOL_FAILURES),
            _ => None,
        };
        if let Some(name) = counted {
            metrics::supervision(name);
        }
        // No subscriber is fine: events are for whoever listens.
        let _ = self.inner.events.send(event);
    }

    /// The pool gives up: new dispatches are refused with `PoolFailed`.
    pub(crate) fn fail(&self, reason: String) {
        tracing::error!(%reason, "skein pool failed: restart intensity exceeded");
        self.inner.failed.store(true, Ordering::Release);
        self.emit(SupervisionEvent::PoolFailed { reason });
    }

    pub(crate) fn resize(&self, n: usize) {
        write(&self.inner.routes).slots = vec![None; n];
    }

    pub(crate) fn set(&self, slot: usize, worker: Option<WorkerHandle>) {
        write(&self.inner.routes).slots[slot] = worker;
    }

    pub(crate) fn is_empty_slot(&self, slot: usize) -> bool {
        read(&self.inner.routes).slots[slot].is_none()
    }

    pub(crate) fn slot_of(&self, cell: &ActorCell) -> Option<usize> {
        read(&self.inner.routes).slots.iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|w| w.actor().get_id() == cell.get_id())
        })
    }

    /// Counts a call this pool sends to a worker of another node, until it ends.
    pub fn remote_call(&self) -> RemoteCall {
        self.inner
            .shutdown
            .remote_in_flight
            .fetch_add(1, Ordering::AcqRel);
        RemoteCall {
            set: Some(self.clone()),
        }
    }

    fn remote_ended(&self, cancelled: bool) {
        let shutdown = &self.inner.shutdown;
        let begun = shutdown.begun.load(Ordering::Acquire);
        if begun {
            let outcome = if cancelled {
                &shutdown.remote_cancelled
            } else {
                &shutdown.remote_finished
            };
            outcome.fetch_add(1, Ordering::AcqRel);
        }
        if shutdown.remote_in_flight.fetch_sub(1, Ordering::AcqRel) == 1 && begun {
            shutdown.remote_settled.notify_waiters();
        }
    }

    /// Resolves once no call of this pool is in flight on a worker elsewhere.
    pub(crate) async fn remote_settled(&self) {
        let shutdown = &self.inner.shutdown;
        loop {
            let woken = shutdown.remote_settled.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if shutdown.remote_in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            woken.await;
        }
    }

    /// How the remote calls that ended during the shutdown came out.
    pub(crate) fn remote_report(&self) -> ShutdownReport {
        let shutdown = &self.inner.shutdown;
        ShutdownReport {
            finished: shutdown.remote_finished.load(Ordering::Acquire),
            cancelled: shutdown.remote_cancelled.load(Ordering::Acquire),
        }
    }

    /// The pool's own workers as they are now.
    pub(crate) fn local(&self) -> Vec<WorkerHandle> {
        read(&self.inner.routes)
            .slots
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Empties every slot and returns the workers that were in them.
    pub(crate) fn take_all(&self) -> Vec<WorkerHandle> {
        write(&self.inner.routes)
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect()
    }

    pub(crate) fn set_remote(&self, workers: Vec<ActorRef<WorkerMsg>>) {
        let count = workers.len();
        write(&self.inner.routes).remote = workers;
        self.emit(SupervisionEvent::RemoteWorkers { count });
    }
}
