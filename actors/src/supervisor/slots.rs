//! The workers of one pool as callers see them: which are alive, where the next
//! dispatch goes, and whether the pool has failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ractor::{ActorCell, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::broadcast;

use super::events::SupervisionEvent;
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
