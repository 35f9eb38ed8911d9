//! The supervisor of a pool's workers: starts them, restarts a dead one under the
//! restart window, and keeps the pool's [`WorkerSet`] current, remote workers included.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent as RactorEvent};

use super::events::SupervisionEvent;
use super::membership;
use super::restart::{RestartPolicy, RestartWindow, Verdict};
use super::slots::WorkerSet;
use crate::frame::Limits;
use crate::route::Identity;
use crate::worker::{Admission, Executor, Worker, WorkerArgs};

/// Messages of the worker supervisor.
#[derive(Debug)]
pub(crate) enum WorkersMsg {
    /// Start a worker in an empty slot (sent to itself after a backoff), the
    /// `in_window`-th restart inside the policy's window.
    Restart { slot: usize, in_window: usize },
    /// Take the workers out of the process group (and keep restarted ones out): the
    /// pool is shutting down, and peers must route elsewhere. Answered once they are.
    Leave(RpcReplyPort<()>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for WorkersMsg {}

/// What the worker supervisor starts with.
pub(crate) struct WorkersArgs {
    pub(crate) set: WorkerSet,
    pub(crate) workers: usize,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) admission: Admission,
    pub(crate) limits: Limits,
    pub(crate) policy: RestartPolicy,
    /// The process group the pool's workers join, and whose workers on other nodes it
    /// routes to; `None` keeps the pool to this process.
    pub(crate) group: Option<String>,
    /// The node and tags every worker of the pool carries.
    pub(crate) identity: Identity,
}

/// The worker supervisor actor.
pub(crate) struct WorkerSupervisor;

pub(crate) struct WorkersState {
    args: WorkersArgs,
    window: RestartWindow,
    /// How many times each slot was restarted.
    restarts: Vec<usize>,
}

impl WorkersState {
    async fn start_worker(
        &mut self,
        slot: usize,
        myself: &ActorRef<WorkersMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let args = WorkerArgs::new(
            slot,
            self.restarts[slot],
            self.args.executor.clone(),
            self.args.admission,
            self.args.limits,
        );
        let handle_of = args.clone();
        let (worker, _) = Actor::spawn_linked(None, Worker, args, myself.get_cell()).await?;
        if let Some(group) = &self.args.group {
            membership::join(group, &self.args.identity, worker.get_cell());
        }
        self.args.set.set(slot, Some(handle_of.handle(worker)));
        self.args
            .set
            .emit(SupervisionEvent::WorkerStarted { worker: slot });
        Ok(())
    }

    /// Routes to the workers other nodes have in the group, as the group is now,
    /// each with its node and tags.
    fn refresh_remote(&self) {
        if let Some(group) = &self.args.group {
            self.args.set.set_remote(membership::remote_workers(group));
        }
    }

    /// Every worker of the pool leaves every process group it joined: other nodes
    /// stop routing to them at once, where a worker that stops would leave only as
    /// it goes (what a pool that shuts down does first). They go on serving what
    /// this process sends them, and none rejoins: a pool shutting down restarts no
    /// worker.
    fn leave_groups(&self) {
        if let Some(group) = &self.args.group {
            for worker in self.args.set.live().into_iter().flatten() {
                membership::leave(group, &self.args.identity, worker.get_cell());
            }
        }
    }
}

impl Actor for WorkerSupervisor {
    type Msg = WorkersMsg;
    type State = WorkersState;
    type Arguments = WorkersArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkersMsg>,
        args: WorkersArgs,
    ) -> Result<WorkersState, ActorProcessingErr> {
        args.set.resize(args.workers);
        args.set.set_identity(args.identity.clone());
        let mut state = WorkersState {
            window: RestartWindow::new(args.policy),
            restarts: vec![0; args.workers],
            args,
        };
        for slot in 0..state.args.workers {
            state.start_worker(slot, &myself).await?;
        }
        if let Some(group) = &state.args.group {
            // Membership changes, joins and leaves on every node, arrive as
            // supervision events.
            membership::monitor(group, myself.get_cell());
        }
        state.refresh_remote();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkersMsg>,
        message: WorkersMsg,
        state: &mut WorkersState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkersMsg::Leave(reply) => {
                state.leave_groups();
                let _ = reply.send(());
            }
            WorkersMsg::Restart { slot, in_window } => {
                let set = &state.args.set;
                // A pool shutting down does not replace what dies.
                if set.is_empty_slot(slot) && !set.has_failed() && !set.is_shutting_down() {
                    state.restarts[slot] += 1;
                    state.start_worker(slot, &myself).await?;
                    tracing::warn!(
                        worker = slot,
                        restarts_in_window = in_window,
                        "skein worker restarted"
                    );
                    state.args.set.emit(SupervisionEvent::WorkerRestarted {
                        worker: slot,
                        restarts_in_window: in_window,
                    });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkersMsg>,
        event: RactorEvent,
        state: &mut WorkersState,
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
        let Some(slot) = state.args.set.slot_of(&cell) else {
            return Ok(());
        };
        let set = &state.args.set;
        set.set(slot, None);
        tracing::warn!(worker = slot, %reason, "skein worker died; its calls in flight failed");
        set.emit(SupervisionEvent::WorkerFailed {
            worker: slot,
            reason: reason.clone(),
        });
        match state.window.on_death(slot) {
            Verdict::GiveUp { in_window } => {
                let reason = format!(
                    "worker {slot} died ({reason}) after {in_window} restarts within {:?}",
                    state.window.within()
                );
                set.fail(reason.clone());
                myself.stop(Some(reason));
            }
            Verdict::Restart { after, in_window } => {
                let restart = move || WorkersMsg::Restart { slot, in_window };
                if after.is_zero() {
                    myself.send_message(restart())?;
                } else {
                    myself.send_after(after, restart);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkersMsg>,
        state: &mut WorkersState,
    ) -> Result<(), ActorProcessingErr> {
        // Stop the workers and wait for each: a child still running when this returns
        // is killed by ractor, and a killed worker skips its `post_stop`, so its
        // dispatches would read `WorkerCrashed` instead of `Cancelled`. (One at a time,
        // not ractor's `stop_children_and_wait`, whose join set panics if the runtime
        // shuts down meanwhile; this future is simply dropped then.)
        let reason = Some("pool stopped".to_string());
        for worker in state.args.set.take_all() {
            let _ = worker
                .actor()
                .stop_and_wait(reason.clone(), Some(Duration::from_secs(5)))
                .await;
        }
        Ok(())
    }
}
