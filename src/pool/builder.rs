//! Building a pool: its routines, its workers, their limits and supervision, and (with
//! the `cluster` feature) its node and worker processes.

use std::any::TypeId;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "cluster")]
use skein_actors::SupervisorBuilder;
use skein_actors::{Admission, Balancer, Limits, RestartPolicy, StartError, Supervisor, WorkerSet};

use super::{Pool, PoolShared};
use crate::admission::{AdmissionHook, AdmissionRequest, Verdict};
use crate::context::InstallMode;
use crate::dispatch::{CallMetrics, Caller};
use crate::executor::{RoutineExecutor, Routines};
use crate::routine::{Routine, StreamRoutine};
use crate::state::States;

/// The process group pools join by default when they are given a node.
pub const DEFAULT_GROUP: &str = "skein.workers";

/// The pool could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A pool needs at least one worker (of its own, or on its cluster).
    #[error("a pool needs at least one worker")]
    NoWorkers,
    /// A setting has a value no pool can work with; nothing was started.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The builder method whose value was refused, such as `"max_concurrency"`.
        field: &'static str,
        /// Why no pool can work with it.
        reason: &'static str,
    },
    /// Two different routines were registered under one name.
    #[error("two routines are registered as {routine:?}")]
    DuplicateRoutine {
        /// The name.
        routine: &'static str,
    },
    /// A state's factory (given to [`PoolBuilder::try_state`]) failed; nothing was
    /// started.
    #[error("the pool's state of type `{type_name}` could not be made")]
    State {
        /// The state's type, as [`std::any::type_name`] spells it.
        type_name: &'static str,
        /// The factory's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The supervisor or a worker failed to start.
    #[error("the pool failed to start")]
    Start(#[from] StartError),
    /// The node a pool of worker processes makes for itself failed to start.
    #[cfg(feature = "cluster")]
    #[error("the pool's node failed to start")]
    Node(#[from] skein_actors::NodeError),
}

/// Builds a [`Pool`]. Start with [`Pool::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use skein::{Never, Pool, RestartPolicy, Routine};
///
/// struct Add;
/// impl Routine for Add {
///     const NAME: &'static str = "doc.builder.add";
///     type Args = (i64, i64);
///     type Output = i64;
///     type Error = Never;
///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> { Ok(x + y) }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder()
///     .workers(4)
///     .max_concurrency(64)
///     .timeout(Duration::from_secs(5))
///     .restart_policy(RestartPolicy::new(3, Duration::from_secs(10)))
///     .routine::<Add>()
///     .build()
///     .await?;
/// assert_eq!(pool.workers().len(), 4);
/// # Ok(()) }
/// ```
pub struct PoolBuilder {
    workers: usize,
    routines: Routines,
    duplicate: Option<&'static str>,
    admission: Admission,
    policy: RestartPolicy,
    timeout: Option<Duration>,
    mode: InstallMode,
    /// The state factories, in the order given, at most one per type.
    states: Vec<StateFactory>,
    hook: Option<AdmissionHook>,
    /// The tags every worker of the pool carries.
    tags: Vec<String>,
    /// Picks among the workers a dispatch may go to; `None` is round robin.
    balancer: Option<Arc<dyn Balancer>>,
    #[cfg(feature = "cluster")]
    cluster: Cluster,
}

/// A state's factory, erased to what `build()` does with it: make the value and add
/// it to the pool's states.
type MakeState = Box<dyn FnOnce(&mut States) -> Result<(), BuildError> + Send>;

/// A state's factory, kept until `build()` runs it.
struct StateFactory {
    ty: TypeId,
    type_name: &'static str,
    /// In a `Mutex` only so that the builder stays `Sync` without asking the factory
    /// to be: it is taken out once, by value, and never locked while shared.
    make: Mutex<MakeState>,
}

/// What a pool with a node adds.
#[cfg(feature = "cluster")]
#[derive(Debug)]
struct Cluster {
    node: Option<skein_actors::Node>,
    group: String,
    /// Local workers were asked for explicitly (a pool of worker processes has none
    /// unless asked).
    workers_set: bool,
    processes: usize,
    workers_per_process: usize,
    /// The node was made by `build()`, for the worker processes.
    made_node: bool,
    /// The tags of each worker process's workers, by index.
    process_tags: Option<fn(usize) -> Vec<String>>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            .field("admission", &self.admission)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("tags", &self.tags)
            .field("balancer", &self.balancer.is_some())
            .field(
                "states",
                &self.states.iter().map(|s| s.type_name).collect::<Vec<_>>(),
            )
            .field("admission_hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A builder with the defaults: one worker per CPU, and no routines but the ones
    /// marked `#[skein::routine]`.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            routines: Routines::default(),
            duplicate: None,
            admission: Admission::default(),
            policy: RestartPolicy::default(),
            timeout: None,
            mode: InstallMode::Lenient,
            states: Vec::new(),
            hook: None,
            tags: Vec::new(),
            balancer: None,
            #[cfg(feature = "cluster")]
            cluster: Cluster {
                node: None,
                group: DEFAULT_GROUP.to_string(),
                workers_set: false,
                processes: 0,
                workers_per_process: 1,
                made_node: false,
                process_tags: None,
            },
        }
    }
}

impl PoolBuilder {
    /// How many workers in this process (default: the number of CPUs; none when the
    /// pool has worker processes).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        #[cfg(feature = "cluster")]
        {
            self.cluster.workers_set = true;
        }
        self
    }

    /// Registers a routine. (One marked `#[skein::routine]` needs no registering:
    /// [`build`](PoolBuilder::build) adds it; registering it here too is harmless.)
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

    /// Gives the pool a state of type `T`, which every routine run on its workers reads
    /// through [`State<T>`](crate::State): a database pool, a config, an HTTP client.
    /// `factory` runs once, when [`build`](PoolBuilder::build) is called, after the
    /// settings are checked and before any worker starts; the value it makes lives as
    /// long as the pool and is shared by every call (`T` is `Send + Sync`, and read
    /// through `&T`: interior mutability is the state's own business).
    ///
    /// A worker process builds its pool from the same builder function the parent
    /// does (see `skein::serve_if_worker`, feature `cluster`), so
    /// each worker process runs the factory once and its routines see its own value:
    /// a state need not be serializable, and never travels.
    ///
    /// A pool has one state per type: a second `state` of the same type replaces the
    /// first, whose factory then never runs (as every other setting, the last one
    /// given wins). Two states of one type are told apart by a newtype each.
    ///
    /// A factory that panics panics `build`; one that can fail is given to
    /// [`try_state`](PoolBuilder::try_state).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use skein::{Pool, State};
    ///
    /// struct Config {
    ///     greeting: String,
    /// }
    ///
    /// #[skein::routine(name = "doc.builder_state.greet")]
    /// async fn greet(name: String, config: State<Config>, served: State<AtomicU64>) -> String {
    ///     served.fetch_add(1, Ordering::Relaxed);
    ///     format!("{} {name}", config.greeting)
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .state(|| Config { greeting: "hello".into() })
    ///     .state(|| AtomicU64::new(0))
    ///     .build()
    ///     .await?;
    /// assert_eq!(pool.call::<Greet>("ada".into()).await?, "hello ada");
    /// assert_eq!(pool.call::<Greet>("bo".into()).await?, "hello bo");
    /// // Both calls, on whichever worker, counted in the one shared value.
    /// assert_eq!(pool.state::<AtomicU64>().unwrap().load(Ordering::Relaxed), 2);
    /// # Ok(()) }
    /// ```
    pub fn state<T, F>(self, factory: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.add_state::<T>(Box::new(move |states: &mut States| {
            states.insert(factory());
            Ok(())
        }))
    }

    /// [`state`](PoolBuilder::state) with a factory that can fail, as opening a
    /// database can: its error fails [`build`](PoolBuilder::build) with
    /// [`BuildError::State`], naming the type, and nothing is started (the states
    /// already made are dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::{BuildError, Pool};
    ///
    /// struct Config(String);
    ///
    /// # #[tokio::main] async fn main() {
    /// let built = Pool::builder()
    ///     .try_state(|| std::fs::read_to_string("/no/such/config").map(Config))
    ///     .build()
    ///     .await;
    /// let Err(BuildError::State { type_name, .. }) = built else {
    ///     panic!("a factory that fails fails the build");
    /// };
    /// assert!(type_name.ends_with("Config"));
    /// # }
    /// ```
    pub fn try_state<T, E, F>(self, factory: F) -> Self
    where
        T: Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        self.add_state::<T>(Box::new(move |states: &mut States| {
            states.insert(factory().map_err(|e| BuildError::State {
                type_name: std::any::type_name::<T>(),
                source: e.into(),
            })?);
            Ok(())
        }))
    }

    fn add_state<T: 'static>(mut self, make: MakeState) -> Self {
        let ty = TypeId::of::<T>();
        self.states.retain(|s| s.ty != ty);
        self.states.push(StateFactory {
            ty,
            type_name: std::any::type_name::<T>(),
            make: Mutex::new(make),
        });
        self
    }

    /// How many dispatches one worker runs at once (default 1,024). Nested dispatches
    /// are always admitted, so fan-out cannot deadlock on it.
    ///
    /// `0` makes [`build`](PoolBuilder::build) fail with [`BuildError::Invalid`]: no
    /// root dispatch would ever start, and every call would wait forever.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.admission.max_concurrency = n;
        self
    }

    /// How many dispatches may wait at one worker (default 1,024); past it a dispatch
    /// is answered `Overloaded` at once. `0` is allowed: no queue, a dispatch that
    /// finds every slot taken is answered `Overloaded` at once.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.admission.max_queue = n;
        self
    }

    /// Installs an admission hook: every dispatch this pool's workers start (a call, a
    /// nested call, a stream at open, from this process or another node) is first
    /// shown to `hook`, which admits it or rejects it. A second hook replaces the first.
    ///
    /// The hook runs on the worker, before the routine, inside the caller's context as
    /// the worker installed it: it reads the caller's values with
    /// [`ContextVar::get`](crate::ContextVar::get), and sees the routine's name, the
    /// dispatch's caller (for a nested call) and the worker's [`Load`](crate::actors::Load)
    /// ([`AdmissionRequest`]). A rejected dispatch ends at its caller with
    /// [`DispatchError::Rejected`](crate::DispatchError::Rejected): nothing of the routine
    /// ran, nothing was spent, nothing merges back, and the tokens of its args are not
    /// anchored (S120, S121). A hook that panics rejects, with a reason that says so,
    /// and the worker serves on (S123). Without a hook the call path is what it was: one
    /// `Option` check per dispatch.
    ///
    /// The hook runs on the worker's thread, once per dispatch: keep it quick and
    /// non-blocking. It is meant to read; a value it sets lands in the routine's context
    /// (and merges back only if the dispatch is admitted). Worker processes build their
    /// pool from the same builder function, so they install the same hook and it runs
    /// there (S124).
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::{ContextVar, DispatchError, Never, Pool, Routine, Verdict};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::new("doc.admission", "tenant");
    ///
    /// struct Add;
    /// impl Routine for Add {
    ///     const NAME: &'static str = "doc.admission.add";
    ///     type Args = (i64, i64);
    ///     type Output = i64;
    ///     type Error = Never;
    ///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> { Ok(x + y) }
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder()
    ///     .routine::<Add>()
    ///     .admission_hook(|request| match TENANT.get().as_deref() {
    ///         Some("blocked") => Verdict::reject(format!("{} is closed to you", request.routine())),
    ///         _ => Verdict::Admit,
    ///     })
    ///     .build()
    ///     .await?;
    /// skein::scope(async {
    ///     assert_eq!(pool.call::<Add>((1, 2)).await?, 3);
    ///     let _token = TENANT.set("blocked".to_string())?;
    ///     assert_eq!(
    ///         pool.call::<Add>((1, 2)).await,
    ///         Err(DispatchError::Rejected { reason: "doc.admission.add is closed to you".into() })
    ///     );
    ///     Ok(())
    /// })
    /// .await
    /// # }
    /// ```
    pub fn admission_hook(
        mut self,
        hook: impl Fn(&AdmissionRequest<'_>) -> Verdict + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(AdmissionHook::new(hook));
        self
    }

    /// How dead workers (and worker processes) are restarted.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The deadline of every call that does not give its own (default: none).
    ///
    /// [`Duration::ZERO`] makes [`build`](PoolBuilder::build) fail with
    /// [`BuildError::Invalid`]: every call would time out before it ran.
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

    /// Tags every worker of this pool carries (beside its node's, see
    /// `NodeBuilder::tags`), added to those already given: a [`Route`](crate::Route)
    /// asks for them, through [`Pool::on`]. A tag must not be empty nor hold a line
    /// break; [`build`](PoolBuilder::build) refuses one that does.
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// One tag, as [`tags`](PoolBuilder::tags).
    pub fn tag(self, tag: impl Into<String>) -> Self {
        self.tags([tag.into()])
    }

    /// How the pool picks among the workers a dispatch may go to (default
    /// [`RoundRobin`](crate::RoundRobin)); [`LeastInFlight`](crate::LeastInFlight) is
    /// provided, or bring your own [`Balancer`].
    pub fn balancer(mut self, balancer: impl Balancer) -> Self {
        self.balancer = Some(Arc::new(balancer));
        self
    }

    /// Starts the supervisor and its workers. With feature `macros` (on by default),
    /// every routine marked [`#[skein::routine]`](macro@crate::routine) that the program links
    /// is added first, beside the ones registered explicitly. Then each state's factory
    /// runs (see [`state`](PoolBuilder::state)), in the order given, before any worker
    /// starts.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Invalid`] for a setting no pool can work with, naming it:
    ///   `max_concurrency(0)`, `timeout(Duration::ZERO)`, and (feature `cluster`)
    ///   `workers_per_process(0)`. These are checked first, so nothing is started.
    /// - [`BuildError::NoWorkers`] for no workers.
    /// - [`BuildError::DuplicateRoutine`] for two different routines under one name,
    ///   marked or registered explicitly.
    /// - [`BuildError::Start`] (and, feature `cluster`, `BuildError::Node`) for an
    ///   actor, or the node of a pool of worker processes, that failed to start.
    /// - [`BuildError::State`] for a factory given to
    ///   [`try_state`](PoolBuilder::try_state) that failed.
    pub async fn build(mut self) -> Result<Pool, BuildError> {
        // Before anything starts: a pool of worker processes makes a node when settled.
        self.validate()?;
        #[cfg(feature = "cluster")]
        self.settle_cluster().await?;
        // A pool with a node may have no workers of its own: it uses its cluster's.
        if self.workers == 0 && !self.has_node() {
            return Err(BuildError::NoWorkers);
        }
        #[cfg(feature = "macros")]
        if let Err(routine) = crate::registration::add_marked(&mut self.routines) {
            self.duplicate.get_or_insert(routine);
        }
        if let Some(routine) = self.duplicate {
            return Err(BuildError::DuplicateRoutine { routine });
        }
        let limits = self.limits();
        let workers = match self.balancer.take() {
            Some(balancer) => WorkerSet::with_balancer(balancer),
            None => WorkerSet::new(),
        };
        // Once the settings are known good, and before any worker could run a routine
        // that reads a state.
        let mut states = States::default();
        for state in self.states.drain(..) {
            let make = state.make.into_inner().unwrap_or_else(|p| p.into_inner());
            make(&mut states)?;
        }
        let caller = Arc::new(Caller {
            workers: workers.clone(),
            timeout: self.timeout,
            mode: self.mode,
            limits,
            metrics: CallMetrics::new(self.routines.call_names()),
            states,
        });
        // The executor holds its pool weakly, from the start: a routine's nested calls
        // go through it, and a routine never keeps its pool alive.
        let executor = Arc::new(RoutineExecutor::new(
            self.routines,
            Arc::downgrade(&caller),
            self.mode,
            self.hook,
        ));
        let supervisor = Supervisor::builder(&workers, executor)
            .workers(self.workers)
            .admission(self.admission)
            .limits(limits)
            .restart_policy(self.policy)
            .tags(self.tags.iter().cloned());
        #[cfg(feature = "cluster")]
        let supervisor = self.cluster.supervise(supervisor);
        let pool = Pool::from_shared(PoolShared {
            caller,
            supervisor: supervisor.start().await?,
            shutdown: tokio::sync::OnceCell::new(),
            #[cfg(feature = "cluster")]
            node: self.cluster.node.map(|node| super::PoolNode {
                node,
                made: self.cluster.made_node,
            }),
        });
        #[cfg(feature = "cluster")]
        pool.drain_with_node();
        Ok(pool)
    }

    /// Refuses the settings no pool can work with.
    fn validate(&self) -> Result<(), BuildError> {
        let invalid = |field, reason| Err(BuildError::Invalid { field, reason });
        if self.admission.max_concurrency == 0 {
            return invalid(
                "max_concurrency",
                "must be at least 1, or no call ever starts",
            );
        }
        if self.timeout == Some(Duration::ZERO) {
            return invalid("timeout", "must be above zero, or every call times out");
        }
        if let Some(reason) = skein_actors::tag_problem(&self.tags) {
            return invalid("tags", reason);
        }
        #[cfg(feature = "cluster")]
        if self.cluster.workers_per_process == 0 {
            return invalid(
                "workers_per_process",
                "must be at least 1, or a worker process serves nothing",
            );
        }
        #[cfg(feature = "cluster")]
        if let Some(tags) = self.cluster.process_tags {
            for index in 0..self.cluster.processes {
                if let Some(reason) = skein_actors::tag_problem(&tags(index)) {
                    return invalid("process_tags", reason);
                }
            }
        }
        Ok(())
    }

    #[cfg(not(feature = "cluster"))]
    fn has_node(&self) -> bool {
        false
    }

    #[cfg(not(feature = "cluster"))]
    fn limits(&self) -> Limits {
        Limits::default()
    }
}

#[cfg(feature = "cluster")]
impl PoolBuilder {
    /// Runs the routines in `n` worker processes too: the pool re-runs the current
    /// binary `n` times, and each child joins this pool's node (one is made if none
    /// was given) and serves the same routines. The binary's `main` must call
    /// [`crate::serve_if_worker`] first. The pool restarts a child that exits, under
    /// its restart policy, and kills every child when it is dropped; a child also
    /// exits by itself when this process dies.
    pub fn processes(mut self, n: usize) -> Self {
        self.cluster.processes = n;
        self
    }

    /// The tags of each worker process's workers, by the process's index (from 0),
    /// beside the pool's own [`tags`](PoolBuilder::tags): so that a route can reach
    /// one kind of child. Handed to each child in its environment, one tag a line, so
    /// [`build`](PoolBuilder::build) refuses a child's tag that is empty or holds a
    /// line break, as it does the pool's own.
    pub fn process_tags(mut self, tags: fn(usize) -> Vec<String>) -> Self {
        self.cluster.process_tags = Some(tags);
        self
    }

    /// In-process workers in each worker process (default 1).
    ///
    /// `0` makes [`build`](PoolBuilder::build) fail with [`BuildError::Invalid`]: a
    /// worker process without workers would serve nothing.
    pub fn workers_per_process(mut self, n: usize) -> Self {
        self.cluster.workers_per_process = n;
        self
    }

    /// Joins the pool to a node's cluster: its workers join the process group (see
    /// [`PoolBuilder::group`]) so pools on other nodes can use them, and it routes to
    /// the workers other nodes have in that group. A dispatch to a node that dies or
    /// stops answering fails with [`DispatchError::NodeDown`](crate::DispatchError::NodeDown).
    pub fn node(mut self, node: &skein_actors::Node) -> Self {
        self.cluster.node = Some(node.clone());
        self
    }

    /// The process group of a pool with a node (default [`DEFAULT_GROUP`]). Pools in
    /// one group share their workers; the routines they register must agree.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.cluster.group = group.into();
        self
    }

    fn has_node(&self) -> bool {
        self.cluster.node.is_some()
    }

    /// The limits of the pool's frames: its node's.
    fn limits(&self) -> Limits {
        self.cluster
            .node
            .as_ref()
            .map_or_else(Limits::default, |node| node.limits())
    }

    /// Settles what the cluster settings imply: a pool of worker processes has no
    /// local workers unless asked, and makes itself a node if it was given none.
    async fn settle_cluster(&mut self) -> Result<(), BuildError> {
        if self.cluster.processes == 0 {
            return Ok(());
        }
        if !self.cluster.workers_set {
            self.workers = 0;
        }
        if self.cluster.node.is_none() {
            let node = skein_actors::Node::builder()
                .listen("127.0.0.1:0")
                .cookie(uuid::Uuid::new_v4().simple().to_string())
                .build()
                .await?;
            self.cluster.node = Some(node);
            self.cluster.made_node = true;
        }
        Ok(())
    }
}

#[cfg(feature = "cluster")]
impl Cluster {
    /// The supervisor of a pool with a node: its workers in the group, and its worker
    /// processes.
    fn supervise(&self, supervisor: SupervisorBuilder) -> SupervisorBuilder {
        match &self.node {
            Some(node) => {
                let supervisor = supervisor
                    .node(node)
                    .group(self.group.clone())
                    .node_name(node.name())
                    .node_tags(node.tags().iter().cloned())
                    .processes(self.processes, self.workers_per_process, node);
                match self.process_tags {
                    Some(tags) => supervisor.process_tags(tags),
                    None => supervisor,
                }
            }
            None => supervisor,
        }
    }
}
