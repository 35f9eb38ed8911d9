//! The Pool supervisor: starts the workers, restarts a dead one with bounded
//! intensity and backoff, and reports every change as a [`SupervisionEvent`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent as RactorEvent};
use tokio::sync::broadcast;

use crate::ledger::{LedgerActor, LedgerMsg};
use crate::worker::{Admission, Executor, Worker, WorkerArgs, WorkerHandle, WorkerMsg};

/// How the supervisor restarts workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// More than this many restarts within [`within`](RestartPolicy::within) and the
    /// pool gives up: it reports [`SupervisionEvent::PoolFailed`] and stops.
    pub max_restarts: usize,
    /// The window of the restart count.
    pub within: Duration,
    /// The wait before the first restart of a slot; it doubles with each restart of
    /// that slot inside the window.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl RestartPolicy {
    /// A policy allowing `max_restarts` within `within`, with the default backoff.
    pub fn new(max_restarts: usize, within: Duration) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            within,
            ..RestartPolicy::default()
        }
    }

    /// The same policy with another backoff (first wait, and the longest).
    pub fn with_backoff(self, backoff: Duration, max_backoff: Duration) -> RestartPolicy {
        RestartPolicy {
            backoff,
            max_backoff,
            ..self
        }
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 10,
            within: Duration::from_secs(5),
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// What the supervisor reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisionEvent {
    /// A worker started in its slot (at pool start, or after a restart).
    WorkerStarted {
        /// The slot.
        worker: usize,
    },
    /// A worker died; its in-flight dispatches were answered `WorkerCrashed`.
    WorkerFailed {
        /// The slot.
        worker: usize,
        /// Why it died.
        reason: String,
    },
    /// A dead worker was replaced.
    WorkerRestarted {
        /// The slot.
        worker: usize,
        /// How many restarts of any slot fall inside the policy's window, this one
        /// included.
        restarts_in_window: usize,
    },
    /// A worker process started.
    ProcessStarted {
        /// Its index among the pool's worker processes.
        process: usize,
        /// Its pid.
        pid: u32,
    },
    /// A worker process exited; it is restarted under the restart policy. Dispatches
    /// in flight on it failed with `NodeDown`.
    ProcessExited {
        /// Its index.
        process: usize,
        /// How it exited.
        status: String,
    },
    /// The workers this pool reaches on other nodes changed (a node joined or left).
    RemoteWorkers {
        /// How many there are now.
        count: usize,
    },
    /// Restarts exceeded the policy: the pool stopped and refuses new dispatches.
    PoolFailed {
        /// What tipped it over.
        reason: String,
    },
}

/// Where a dispatch goes: a worker of this process, or one on another node.
#[derive(Clone, Debug)]
pub enum Target {
    /// A local worker, with its fast path.
    Local(WorkerHandle),
    /// A worker on another node.
    Remote(ActorRef<WorkerMsg>),
}

impl Target {
    /// The worker's actor.
    pub fn actor(&self) -> &ActorRef<WorkerMsg> {
        match self {
            Target::Local(handle) => handle.actor(),
            Target::Remote(actor) => actor,
        }
    }
}

/// The live workers, shared by the supervisor (which writes) and the pool handles
/// (which read, to route dispatches).
#[derive(Debug)]
pub struct WorkerSlots {
    slots: RwLock<Vec<Option<WorkerHandle>>>,
    /// Workers of other nodes in the pool's process group.
    remote: RwLock<Vec<ActorRef<WorkerMsg>>>,
    next: AtomicUsize,
    failed: AtomicBool,
}

impl WorkerSlots {
    /// `n` empty slots.
    pub fn new(n: usize) -> WorkerSlots {
        WorkerSlots {
            slots: RwLock::new(vec![None; n]),
            remote: RwLock::new(Vec::new()),
            next: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Option<WorkerHandle>>> {
        self.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<WorkerHandle>>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The next live worker, local or remote, round robin; `None` if there is none.
    pub fn pick(&self) -> Option<Target> {
        let slots = self.read();
        let remote = self.remote.read().unwrap_or_else(|p| p.into_inner());
        let n = slots.len() + remote.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| match (start + i) % n {
            i if i < slots.len() => slots[i].clone().map(Target::Local),
            i => Some(Target::Remote(remote[i - slots.len()].clone())),
        })
    }

    /// How many workers there are, local slots and remote workers together.
    pub fn len(&self) -> usize {
        self.read().len() + self.remote.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether there are no workers at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The workers of other nodes this pool routes to.
    pub fn remote(&self) -> Vec<ActorRef<WorkerMsg>> {
        self.remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_remote(&self, workers: Vec<ActorRef<WorkerMsg>>) {
        *self.remote.write().unwrap_or_else(|p| p.into_inner()) = workers;
    }

    /// The live workers, by slot.
    pub fn live(&self) -> Vec<Option<ActorRef<WorkerMsg>>> {
        self.read()
            .iter()
            .map(|slot| slot.as_ref().map(|h| h.actor().clone()))
            .collect()
    }

    /// Whether the pool gave up (restart intensity exceeded).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

/// Messages of the supervisor.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolMsg {
    /// Start a worker in an empty slot (sent to itself after a backoff).
    Restart(usize),
}

impl ractor::Message for PoolMsg {}

/// The Pool supervisor actor.
#[derive(Debug, Default)]
pub struct PoolSupervisor;

/// What the supervisor starts with.
pub struct PoolArgs {
    /// Runs the routines, shared by every worker.
    pub executor: Arc<dyn Executor>,
    /// Each worker's admission limits.
    pub admission: Admission,
    /// The restart policy.
    pub policy: RestartPolicy,
    /// The slots the supervisor keeps current.
    pub slots: Arc<WorkerSlots>,
    /// Where events go.
    pub events: broadcast::Sender<SupervisionEvent>,
    /// The process group the pool's workers join, and whose workers on other nodes it
    /// routes to; `None` keeps the pool to this process.
    pub group: Option<String>,
}

impl std::fmt::Debug for PoolArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolArgs")
            .field("admission", &self.admission)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The supervisor's state.
pub struct PoolState {
    args: PoolArgs,
    restarts: VecDeque<Instant>,
    slot_restarts: Vec<u32>,
    ledger: Option<ActorRef<LedgerMsg>>,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolState")
            .field("restarts", &self.restarts.len())
            .finish_non_exhaustive()
    }
}

impl PoolState {
    fn emit(&self, event: SupervisionEvent) {
        tracing::debug!(?event, "pool supervision");
        // No subscriber is fine: events are for whoever listens.
        let _ = self.args.events.send(event);
    }

    async fn start_worker(
        &mut self,
        slot: usize,
        myself: &ActorRef<PoolMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let args = WorkerArgs::new(self.args.executor.clone(), self.args.admission);
        let handle_of = args.clone();
        let (worker, _) = Actor::spawn_linked(None, Worker, args, myself.get_cell()).await?;
        if let Some(group) = &self.args.group {
            ractor::pg::join(group.clone(), vec![worker.get_cell()]);
        }
        self.args.slots.write()[slot] = Some(handle_of.handle(worker));
        self.emit(SupervisionEvent::WorkerStarted { worker: slot });
        Ok(())
    }

    fn slot_of(&self, cell: &ActorCell) -> Option<usize> {
        self.args.slots.read().iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|w| w.actor().get_id() == cell.get_id())
        })
    }

    /// Routes to the workers other nodes have in the group, as the group is now.
    fn refresh_remote(&self) {
        if let Some(group) = &self.args.group {
            let remote = ractor::pg::get_members(group)
                .into_iter()
                .filter(|cell| !cell.get_id().is_local())
                .map(ActorRef::<WorkerMsg>::from)
                .collect::<Vec<_>>();
            let count = remote.len();
            self.args.slots.set_remote(remote);
            self.emit(SupervisionEvent::RemoteWorkers { count });
        }
    }

    /// The ledger actor this pool started.
    pub fn ledger(&self) -> Option<&ActorRef<LedgerMsg>> {
        self.ledger.as_ref()
    }
}

impl Actor for PoolSupervisor {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = PoolArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PoolMsg>,
        args: PoolArgs,
    ) -> Result<PoolState, ActorProcessingErr> {
        let n = args.slots.read().len();
        let (ledger, _) = Actor::spawn_linked(None, LedgerActor, (), myself.get_cell()).await?;
        let mut state = PoolState {
            args,
            restarts: VecDeque::new(),
            slot_restarts: vec![0; n],
            ledger: Some(ledger),
        };
        for slot in 0..n {
            state.start_worker(slot, &myself).await?;
        }
        if let Some(group) = &state.args.group {
            // Membership changes arrive as supervision events.
            ractor::pg::monitor(group.clone(), myself.get_cell());
        }
        state.refresh_remote();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<PoolMsg>,
        message: PoolMsg,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PoolMsg::Restart(slot) => {
                if state.args.slots.read()[slot].is_none() {
                    state.start_worker(slot, &myself).await?;
                    state.emit(SupervisionEvent::WorkerRestarted {
                        worker: slot,
                        restarts_in_window: state.restarts.len(),
                    });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PoolMsg>,
        event: RactorEvent,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match event {
            RactorEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            RactorEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".to_string()))
            }
            RactorEvent::ProcessGroupChanged(_) => {
                state.refresh_remote();
                return Ok(());
            }
            _ => return Ok(()),
        };
        if state
            .ledger
            .as_ref()
            .is_some_and(|l| l.get_id() == cell.get_id())
        {
            // The ledger actor holds no state of its own; start another.
            let (ledger, _) = Actor::spawn_linked(None, LedgerActor, (), myself.get_cell()).await?;
            state.ledger = Some(ledger);
            return Ok(());
        }
        let Some(slot) = state.slot_of(&cell) else {
            return Ok(());
        };
        state.args.slots.write()[slot] = None;
        state.emit(SupervisionEvent::WorkerFailed {
            worker: slot,
            reason: reason.clone(),
        });

        let now = Instant::now();
        let window = state.args.policy.within;
        while state
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            state.restarts.pop_front();
        }
        if state.restarts.is_empty() {
            state.slot_restarts.iter_mut().for_each(|n| *n = 0);
        }
        if state.restarts.len() >= state.args.policy.max_restarts {
            let reason = format!(
                "worker {slot} died ({reason}) after {} restarts within {:?}",
                state.restarts.len(),
                window
            );
            tracing::error!(%reason, "skein pool failed: restart intensity exceeded");
            state.args.slots.failed.store(true, Ordering::Release);
            state.emit(SupervisionEvent::PoolFailed {
                reason: reason.clone(),
            });
            myself.stop(Some(reason));
            return Ok(());
        }
        state.restarts.push_back(now);
        let attempt = state.slot_restarts[slot];
        state.slot_restarts[slot] += 1;
        let policy = state.args.policy;
        let backoff = policy
            .backoff
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
            .min(policy.max_backoff);
        if backoff.is_zero() {
            myself.send_message(PoolMsg::Restart(slot))?;
        } else {
            myself.send_after(backoff, move || PoolMsg::Restart(slot));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let workers: Vec<_> = state
            .args
            .slots
            .write()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        // Stop the workers and wait for each: a child still running when this returns
        // is killed by ractor, and a killed worker skips its `post_stop`, so its
        // dispatches would read `WorkerCrashed` instead of `Cancelled`. (One at a time,
        // not ractor's `stop_children_and_wait`, whose join set panics if the runtime
        // shuts down meanwhile; this future is simply dropped then.)
        let reason = Some("pool stopped".to_string());
        for worker in workers {
            let _ = worker
                .actor()
                .stop_and_wait(reason.clone(), Some(Duration::from_secs(5)))
                .await;
        }
        if let Some(ledger) = state.ledger.take() {
            ledger.stop(reason);
        }
        Ok(())
    }
}
