//! The workers of one pool as callers see them: which are alive, where the next
//! dispatch goes, and whether the pool has failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::broadcast;

use super::events::{ShutdownReport, SupervisionEvent};
use super::routes::{RemoteWorker, Routes, Target};
use crate::balancer::{Balancer, Candidates};
use crate::dispatch::{Dispatch, Reply};
use crate::failure::{DispatchError, Failure};
use crate::metrics;
use crate::route::{Identity, Route, WorkerInfo};
use crate::stats::{WorkerReport, WorkerStatus};
use crate::worker::{WorkerHandle, WorkerMsg};

/// The workers of one pool, local and on other nodes, kept current by its supervisors
/// and read by its callers to route each dispatch. Cheap to clone; clones share one set.
#[derive(Clone)]
pub struct WorkerSet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WorkerSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSet")
            .field("routes", &self.inner.routes)
            .field("failed", &self.inner.failed)
            .field("balancer", &self.inner.balancer.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    routes: RwLock<Routes>,
    next: AtomicUsize,
    /// Set by either supervisor when it gives up; never cleared.
    failed: AtomicBool,
    /// The pool's graceful shutdown, once it begins.
    shutdown: Shutdown,
    events: broadcast::Sender<SupervisionEvent>,
    /// The pool's own balancer; `None` is the built-in round robin, the fast path.
    balancer: Option<Arc<dyn Balancer>>,
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

/// A dispatch handed to a worker.
#[derive(Debug)]
#[non_exhaustive]
pub struct Dispatched {
    /// The worker it went to.
    pub worker: ActorRef<WorkerMsg>,
    /// For a worker of another node, this dispatch's place in the count a balancer
    /// sees: hold it until the dispatch is answered (a local worker counts its own).
    pub in_flight: Option<InFlight>,
}

/// What became of one dispatch of a broadcast: handed to its worker, or why not.
pub type Sent = Result<Dispatched, Failure>;

/// One dispatch in flight to a worker of another node, as its caller counts it; the
/// count goes down when this is dropped.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
    /// An empty set, whose supervisors are yet to start, that routes round robin.
    pub fn new() -> WorkerSet {
        WorkerSet::build(None)
    }

    /// An empty set whose dispatches go where `balancer` picks.
    pub fn with_balancer(balancer: Arc<dyn Balancer>) -> WorkerSet {
        WorkerSet::build(Some(balancer))
    }

    fn build(balancer: Option<Arc<dyn Balancer>>) -> WorkerSet {
        let (events, _) = broadcast::channel(1024);
        WorkerSet {
            inner: Arc::new(Inner {
                routes: RwLock::default(),
                next: AtomicUsize::new(0),
                failed: AtomicBool::new(false),
                shutdown: Shutdown::default(),
                events,
                balancer,
            }),
        }
    }

    /// Hands a dispatch to a live worker that matches `route` (any worker for
    /// `None`), picked by the pool's balancer (round robin by default, over local and
    /// remote ones), and returns the worker it went to. A local worker admits it at
    /// once, without a trip through its mailbox. A worker that died before the
    /// dispatch got in never saw it, so another is picked.
    ///
    /// # Errors
    ///
    /// `PoolFailed` once the pool has given up; `NoMatchingWorker` when a route asks
    /// for tags or a node no live worker has (or the balancer refused every one);
    /// `NoWorkers` when no worker is alive; `ShuttingDown` for a dispatch from
    /// outside any routine once the pool's shutdown has begun.
    pub fn dispatch(
        &self,
        route: Option<&Route>,
        dispatch: Dispatch,
        reply: RpcReplyPort<Reply>,
    ) -> Result<Dispatched, Failure> {
        if self.has_failed() {
            return Err(Failure::PoolFailed);
        }
        // A routine still draining may call on: only root dispatches are refused.
        if dispatch.request.caller.is_none() && self.is_shutting_down() {
            return Err(Failure::ShuttingDown);
        }
        let route = route.filter(|route| !route.is_any());
        let mut pending = (dispatch, reply);
        // As many tries as there were workers at the first pick.
        let (mut target, n) = self.pick(route);
        for attempt in 0..n {
            if attempt > 0 {
                target = self.pick(route).0;
            }
            let Some(chosen) = target.take() else {
                break;
            };
            match chosen {
                Target::Local(worker) => match worker.admit(pending.0, pending.1) {
                    Ok(()) => {
                        return Ok(Dispatched {
                            worker: worker.actor().clone(),
                            in_flight: None,
                        })
                    }
                    Err(back) => pending = back,
                },
                Target::Remote(worker) => {
                    match worker.actor.cast(WorkerMsg::Dispatch(pending.0, pending.1)) {
                        Ok(()) => {
                            return Ok(Dispatched {
                                in_flight: Some(InFlight::new(&worker.in_flight)),
                                worker: worker.actor,
                            })
                        }
                        Err(MessagingErr::SendErr(WorkerMsg::Dispatch(dispatch, reply))) => {
                            pending = (dispatch, reply)
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        Err(self.none_for(route))
    }

    /// What a dispatch that found no worker fails with: a route (or a balancer that
    /// refused every live worker) names itself; a plain call found none alive.
    fn none_for(&self, route: Option<&Route>) -> Failure {
        match route {
            Some(route) => DispatchError::NoMatchingWorker {
                route: route.to_string(),
            },
            None if self.inner.balancer.is_some()
                && read(&self.inner.routes).matching(None).next().is_some() =>
            {
                DispatchError::NoMatchingWorker {
                    route: Route::any().to_string(),
                }
            }
            None => DispatchError::NoWorkers,
        }
    }

    /// The worker the next dispatch on `route` goes to, and how many tries it may
    /// take.
    fn pick(&self, route: Option<&Route>) -> (Option<Target>, usize) {
        let routes = read(&self.inner.routes);
        match (&self.inner.balancer, route) {
            (None, None) => self.round_robin(&routes),
            (balancer, route) => {
                let candidates = Candidates {
                    routes: &routes,
                    route,
                };
                let n = candidates.len();
                if n == 0 {
                    return (None, 0);
                }
                let index = match balancer {
                    Some(balancer) => balancer.pick(&candidates),
                    None => Some(self.inner.next.fetch_add(1, Ordering::Relaxed) % n),
                };
                let target = index
                    .and_then(|index| routes.matching(route).nth(index))
                    .map(|(_, target)| target.to_owned());
                (target, n)
            }
        }
    }

    /// The default path: the next live worker, local or remote, round robin over
    /// every slot, and how many workers there are. Nothing is built per candidate.
    fn round_robin(&self, routes: &Routes) -> (Option<Target>, usize) {
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

    /// Whether a live worker matches `route` now.
    pub fn has_match(&self, route: &Route) -> bool {
        read(&self.inner.routes)
            .matching(Some(route))
            .next()
            .is_some()
    }

    /// Waits until a live worker matches `route`, for at most `within`; true when
    /// one does. Every membership change is an event, so it wakes on each and looks.
    pub async fn wait_for_match(&self, route: &Route, within: Duration) -> bool {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now()
            .checked_add(within)
            .filter(|deadline| deadline.checked_add(Duration::from_millis(1)).is_some());
        loop {
            if self.has_match(route) {
                return true;
            }
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(next) => next,
                    Err(_) => return self.has_match(route),
                },
                None => events.recv().await,
            };
            match next {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return self.has_match(route),
            }
        }
    }

    /// Hands one dispatch to every live worker that matches `route`, each made by
    /// `make` for that worker, and returns what became of each, with who it is.
    ///
    /// # Errors
    ///
    /// `PoolFailed` once the pool has given up; `NoMatchingWorker` (or `NoWorkers`,
    /// for no route) when no live worker matches; `ShuttingDown` for a broadcast
    /// from outside any routine once the pool's shutdown has begun.
    pub fn broadcast(
        &self,
        route: Option<&Route>,
        mut make: impl FnMut(&WorkerInfo) -> (Dispatch, RpcReplyPort<Reply>),
    ) -> Result<Vec<(WorkerInfo, Sent)>, Failure> {
        if self.has_failed() {
            return Err(Failure::PoolFailed);
        }
        let route = route.filter(|route| !route.is_any());
        let targets: Vec<_> = self
            .targets(route)
            .into_iter()
            .map(|(info, target)| {
                let made = make(&info);
                (info, target, made)
            })
            .collect();
        let Some((_, _, (first, _))) = targets.first() else {
            return Err(match route {
                Some(route) => DispatchError::NoMatchingWorker {
                    route: route.to_string(),
                },
                None => DispatchError::NoWorkers,
            });
        };
        // As for one dispatch: a routine still draining may broadcast on.
        if first.request.caller.is_none() && self.is_shutting_down() {
            return Err(Failure::ShuttingDown);
        }
        Ok(targets
            .into_iter()
            .map(|(info, target, (dispatch, reply))| {
                let sent = match target {
                    Target::Local(worker) => match worker.admit(dispatch, reply) {
                        Ok(()) => Ok(Dispatched {
                            worker: worker.actor().clone(),
                            in_flight: None,
                        }),
                        Err(_) => Err(DispatchError::WorkerCrashed),
                    },
                    Target::Remote(worker) => {
                        match worker.actor.cast(WorkerMsg::Dispatch(dispatch, reply)) {
                            Ok(()) => Ok(Dispatched {
                                in_flight: Some(InFlight::new(&worker.in_flight)),
                                worker: worker.actor,
                            }),
                            Err(_) => Err(DispatchError::NodeDown),
                        }
                    }
                };
                (info, sent)
            })
            .collect())
    }

    /// The live workers that match `route`, with who they are, as they are now.
    fn targets(&self, route: Option<&Route>) -> Vec<(WorkerInfo, Target)> {
        let routes = read(&self.inner.routes);
        routes
            .matching(route)
            .map(|(_, target)| (target.info(&routes), target.to_owned()))
            .collect()
    }

    /// Every live worker that matches `route` (every one for `None`), with how busy
    /// it is: a local worker read from its table, a remote one asked, waiting at most
    /// `within` for its answer (one that does not answer is reported unreachable).
    pub async fn stats(&self, route: Option<&Route>, within: Duration) -> Vec<WorkerReport> {
        let asked = self
            .targets(route)
            .into_iter()
            .map(|(info, target)| async move {
                let status = match target {
                    Target::Local(worker) => WorkerStatus::Answered(worker.stats()),
                    Target::Remote(worker) => ask_stats(&worker.actor, within).await,
                };
                WorkerReport { info, status }
            });
        futures::future::join_all(asked).await
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
        read(&self.inner.routes)
            .remote
            .iter()
            .map(|worker| worker.actor.clone())
            .collect()
    }

    /// The pool's own workers and those of other nodes it routes to, with who each
    /// is.
    pub fn infos(&self) -> Vec<WorkerInfo> {
        self.targets(None)
            .into_iter()
            .map(|(info, _)| info)
            .collect()
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

    /// The node and tags of the pool's own workers.
    pub(crate) fn set_identity(&self, identity: Identity) {
        write(&self.inner.routes).identity = identity;
    }

    /// Replaces the remote workers with `workers` (each with its identity), keeping
    /// the in-flight count of each that was already there.
    pub(crate) fn set_remote(&self, workers: Vec<(ActorRef<WorkerMsg>, Arc<Identity>)>) {
        let count = workers.len();
        {
            let mut routes = write(&self.inner.routes);
            let remote = workers
                .into_iter()
                .map(|(actor, identity)| {
                    let in_flight = routes
                        .remote
                        .iter()
                        .find(|old| old.actor.get_id() == actor.get_id())
                        .map_or_else(Arc::default, |old| old.in_flight.clone());
                    RemoteWorker {
                        actor,
                        identity,
                        in_flight,
                    }
                })
                .collect();
            routes.remote = remote;
        }
        self.emit(SupervisionEvent::RemoteWorkers { count });
    }
}

/// Asks a worker of another node for its stats, within `within`.
async fn ask_stats(worker: &ActorRef<WorkerMsg>, within: Duration) -> WorkerStatus {
    match worker.call(WorkerMsg::Stats, Some(within)).await {
        Ok(CallResult::Success(answer)) => match answer.0 {
            Ok(stats) => WorkerStatus::Answered(stats),
            Err(reason) => WorkerStatus::Unreachable { reason },
        },
        Ok(CallResult::Timeout) => WorkerStatus::Unreachable {
            reason: format!("no answer within {within:?}"),
        },
        Ok(CallResult::SenderError) => WorkerStatus::Unreachable {
            reason: "the worker dropped the question".to_string(),
        },
        Err(e) => WorkerStatus::Unreachable {
            reason: e.to_string(),
        },
    }
}
