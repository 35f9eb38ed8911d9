//! Supervision: the actors that keep a pool's workers, and its worker processes,
//! alive.
//!
//! - `restart`: [`RestartPolicy`] and the one restart window both supervisors use.
//! - `events`: [`SupervisionEvent`], what they report.
//! - `slots`: [`WorkerSet`], the workers as callers see them, and routing.
//! - `routes`: every worker a dispatch may go to, read under one lock.
//! - `workers`: the supervisor of the in-process workers.
//! - `membership`: how workers join their pool's process group, with their node and
//!   tags, and how the workers of other nodes are read back from it.
//! - `processes` (feature `cluster`): the supervisor of the worker processes.
//!
//! Callers hold a [`Supervisor`] (which stops its actors when dropped) and the
//! [`WorkerSet`] it keeps current; the actors themselves are private.

pub(crate) mod events;
mod membership;
#[cfg(feature = "cluster")]
pub(crate) mod processes;
mod restart;
pub(crate) mod routes;
mod slots;
mod workers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorRef, SpawnErr};

pub use events::{ShutdownReport, SupervisionEvent};
pub use restart::RestartPolicy;
pub use slots::{Dispatched, InFlight, RemoteCall, Sent, WorkerSet};

use crate::frame::Limits;
use crate::route::{Identity, LOCAL_NODE};
use crate::worker::{Admission, Executor};
use workers::{WorkerSupervisor, WorkersArgs, WorkersMsg};

/// The supervisors could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A supervisor or a worker failed to start.
    #[error("an actor failed to start")]
    Spawn(#[from] SpawnErr),
    /// The current executable, which worker processes run, could not be found.
    #[error("the current executable cannot be found")]
    Executable(#[source] std::io::Error),
}

/// The running supervisors of one pool. Dropping it stops them, and with them every
/// worker and worker process.
#[derive(Debug)]
pub struct Supervisor {
    set: WorkerSet,
    workers: ActorRef<WorkersMsg>,
    #[cfg(feature = "cluster")]
    processes: Option<ActorRef<processes::ProcessMsg>>,
    /// The node the workers' process group spans: a shutdown syncs with its peers
    /// once the workers have left the group.
    #[cfg(feature = "cluster")]
    node: Option<crate::node::Node>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        #[cfg(feature = "cluster")]
        if let Some(processes) = &self.processes {
            // Its post_stop kills every child.
            processes.stop(Some("pool dropped".to_string()));
        }
        self.workers.stop(Some("pool dropped".to_string()));
    }
}

/// How long a shutdown waits, past its grace, for what it cancelled to be answered and
/// for worker processes to exit, before it kills them.
const AFTER_GRACE: Duration = Duration::from_secs(2);

impl Supervisor {
    /// Shuts the pool down gracefully:
    ///
    /// 1. the pool's own root calls are refused with `ShuttingDown` from now on, by
    ///    the [`WorkerSet`] (nested ones still go, so the work in flight can finish);
    ///    the workers run what reaches them within the grace;
    /// 2. the workers leave the process group, so peers route elsewhere at once;
    /// 3. worker processes are told to drain within the same grace, and exit;
    /// 4. what is in flight has until `grace` is over; then the workers stop (what still
    ///    runs is answered `Cancelled`), calls waiting on workers elsewhere end
    ///    `Cancelled`, and worker processes that have not exited are killed.
    ///
    /// It returns once all of that is done (at most about 2 s past the grace).
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let deadline = Instant::now().checked_add(grace);
        let set = &self.set;
        set.begin_shutdown();
        set.emit(SupervisionEvent::ShuttingDown { grace });
        let workers = set.local();
        for worker in &workers {
            worker.drain();
        }
        // A supervisor that is gone has no workers left in any group.
        let _ = self.workers.call(WorkersMsg::Leave, None).await;
        // Peers route elsewhere from here on: a dispatch that reaches a worker now was
        // already on its way, and runs within the grace.
        self.sync_with_peers().await;
        let drained = async {
            let local = futures::future::join_all(workers.iter().map(|w| w.idle()));
            futures::join!(local, self.drain_processes(grace), set.remote_settled());
        };
        match deadline {
            Some(deadline) => {
                let _ = tokio::time::timeout_at(deadline.into(), drained).await;
            }
            None => drained.await,
        }
        // The grace is over: what still runs is cancelled, and answered so; the calls
        // this pool waits on elsewhere end too.
        for worker in &workers {
            worker.cancel_all();
        }
        set.end_grace();
        // Answers go to other nodes through tasks of ractor_cluster's; a peer that
        // hears a worker has stopped drops what it still waits on from it, so the
        // workers stop only once the answers have had a round trip to get out.
        self.sync_with_peers().await;
        let _ = self
            .workers
            .stop_and_wait(Some("pool shut down".to_string()), Some(AFTER_GRACE))
            .await;
        let leftovers = async {
            futures::join!(self.drain_processes(Duration::ZERO), set.remote_settled());
        };
        let _ = tokio::time::timeout(AFTER_GRACE, leftovers).await;
        #[cfg(feature = "cluster")]
        if let Some(processes) = &self.processes {
            // Its post_stop kills any child still there.
            let _ = processes
                .stop_and_wait(Some("pool shut down".to_string()), Some(AFTER_GRACE))
                .await;
        }
        let local = workers
            .iter()
            .map(|worker| {
                let (finished, cancelled) = worker.drained();
                ShutdownReport {
                    finished,
                    cancelled,
                }
            })
            .fold(ShutdownReport::default(), |a, b| a + b);
        let report = local + set.remote_report();
        set.emit(SupervisionEvent::ShutDown { report });
        report
    }

    /// Waits until every peer of the pool's node has answered a ping (see
    /// `Node::sync_with_peers`); at once for a pool without a node.
    async fn sync_with_peers(&self) {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            node.sync_with_peers().await;
        }
    }

    /// Asks the worker processes to drain within `grace`, and waits until they have
    /// all exited.
    async fn drain_processes(&self, grace: Duration) {
        #[cfg(feature = "cluster")]
        if let Some(processes) = &self.processes {
            let _ = processes
                .call(|reply| processes::ProcessMsg::Drain(grace, reply), None)
                .await;
        }
        #[cfg(not(feature = "cluster"))]
        let _ = grace;
    }
}

/// Builds a [`Supervisor`]. Start with [`Supervisor::builder`].
pub struct SupervisorBuilder {
    set: WorkerSet,
    executor: Arc<dyn Executor>,
    workers: usize,
    admission: Admission,
    limits: Limits,
    policy: RestartPolicy,
    group: Option<String>,
    node_name: String,
    tags: Vec<String>,
    #[cfg(feature = "cluster")]
    processes: Option<Processes>,
    #[cfg(feature = "cluster")]
    node: Option<crate::node::Node>,
}

#[cfg(feature = "cluster")]
#[derive(Debug)]
struct Processes {
    count: usize,
    workers_each: usize,
    parent: String,
    cookie: String,
    tags: Option<processes::ProcessTags>,
}

impl std::fmt::Debug for SupervisorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field("workers", &self.workers)
            .field("admission", &self.admission)
            .field("policy", &self.policy)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A builder of the supervisors that keep `set` current, running routines through
    /// `executor`. Defaults: no workers, default admission, limits and restart policy,
    /// no process group.
    pub fn builder(set: &WorkerSet, executor: Arc<dyn Executor>) -> SupervisorBuilder {
        SupervisorBuilder {
            set: set.clone(),
            executor,
            workers: 0,
            admission: Admission::default(),
            limits: Limits::default(),
            policy: RestartPolicy::default(),
            group: None,
            node_name: LOCAL_NODE.to_string(),
            tags: Vec::new(),
            #[cfg(feature = "cluster")]
            processes: None,
            #[cfg(feature = "cluster")]
            node: None,
        }
    }
}

impl SupervisorBuilder {
    /// How many workers in this process.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Each worker's admission limits.
    pub fn admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// The limits of the frames the workers send (their node's).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How dead workers and worker processes are restarted.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The process group the workers join, and whose workers on other nodes the set
    /// routes to.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The node whose peers share the process group: a shutdown waits, once the
    /// workers have left the group, until every peer has applied that.
    #[cfg(feature = "cluster")]
    pub fn node(mut self, node: &crate::node::Node) -> Self {
        self.node = Some(node.clone());
        self
    }

    /// The name of the node the workers are on, as routes name it (default
    /// `"local"`).
    pub fn node_name(mut self, node: impl Into<String>) -> Self {
        self.node_name = node.into();
        self
    }

    /// The tags every worker carries, for routes to ask for (added to those given
    /// before).
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The tags of the node the workers are on: every worker carries them too.
    pub fn node_tags<T: Into<String>>(self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags(tags)
    }

    /// The tags each worker process's workers carry (beside those the process's own
    /// pool gives them), by the process's index; handed to the child in its
    /// environment ([`TAGS_ENV`](crate::process::TAGS_ENV)). Call after
    /// [`processes`](SupervisorBuilder::processes).
    #[cfg(feature = "cluster")]
    pub fn process_tags(mut self, tags: processes::ProcessTags) -> Self {
        if let Some(processes) = &mut self.processes {
            processes.tags = Some(tags);
        }
        self
    }

    /// Worker processes too: `count` children that re-run the current binary, each
    /// joining `parent` with `workers_each` workers of its own.
    #[cfg(feature = "cluster")]
    pub fn processes(
        mut self,
        count: usize,
        workers_each: usize,
        parent: &crate::node::Node,
    ) -> Self {
        self.processes = (count > 0).then(|| Processes {
            count,
            workers_each,
            parent: parent.addr().to_string(),
            cookie: parent.cookie().to_string(),
            tags: None,
        });
        self
    }

    /// Starts the supervisors and the workers.
    ///
    /// # Errors
    ///
    /// [`StartError`] when an actor fails to start, or the executable worker processes
    /// run cannot be found.
    pub async fn start(self) -> Result<Supervisor, StartError> {
        let args = WorkersArgs {
            set: self.set.clone(),
            workers: self.workers,
            executor: self.executor,
            admission: self.admission,
            limits: self.limits,
            policy: self.policy,
            group: self.group,
            identity: Identity::new(self.node_name, self.tags),
        };
        let (workers, _) = Actor::spawn(None, WorkerSupervisor, args).await?;
        // Held from here on, so that a later failure stops what has started.
        #[allow(unused_mut)] // only the cluster build adds processes
        let mut supervisor = Supervisor {
            set: self.set.clone(),
            workers,
            #[cfg(feature = "cluster")]
            processes: None,
            #[cfg(feature = "cluster")]
            node: self.node,
        };
        #[cfg(feature = "cluster")]
        if let Some(spec) = self.processes {
            let exe = std::env::current_exe().map_err(StartError::Executable)?;
            let args = processes::ProcessArgs {
                exe,
                count: spec.count,
                workers_each: spec.workers_each,
                parent: spec.parent,
                cookie: spec.cookie,
                tags: spec.tags,
                policy: self.policy,
                set: supervisor.set.clone(),
            };
            let (processes, _) = Actor::spawn(None, processes::ProcessSupervisor, args).await?;
            supervisor.processes = Some(processes);
        }
        Ok(supervisor)
    }
}
