//! The pool: a handle on supervised workers that run routines.
//!
//! - `builder`: [`PoolBuilder`], and how a pool starts.
//! - `stream`: [`RoutineStream`], the caller's side of a streaming routine.
//! - `events`: [`Events`], the supervisors' events as a stream.
//! - `process` (feature `cluster`): the entry hook of worker processes.

pub(crate) mod builder;
mod events;
#[cfg(feature = "cluster")]
pub(crate) mod process;
pub(crate) mod stream;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ractor::ActorRef;
use skein_actors::{
    DispatchError, PoolStats, Route, ShutdownReport, Supervisor, WorkerInfo, WorkerMsg,
};

pub use events::Events;

use crate::dispatch::{Broadcast, Caller};
use crate::routine::{Routine, StreamRoutine};
use crate::state::State;
use stream::RoutineStream;

/// A pool of supervised workers that run routines.
///
/// Handles are cheap to clone and share one pool; the pool stops when the last handle
/// is dropped, and dispatches in flight then end with `Cancelled`.
///
/// # Examples
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
    /// The route this handle's calls, streams and broadcasts take (see [`Pool::on`]);
    /// `None` is any worker, the plain call's fast path.
    route: Option<Arc<Route>>,
}

/// What the handles of one pool share. Dropped with the last handle, field by field:
/// the supervisor goes first (stopping the workers and worker processes), then the
/// node.
pub(crate) struct PoolShared {
    pub(crate) caller: Arc<Caller>,
    /// Dropping it stops the pool's actors; [`Pool::shutdown`] stops them first.
    pub(crate) supervisor: Supervisor,
    /// The report of the pool's one shutdown, once it has begun: a second
    /// [`Pool::shutdown`] waits for the first and returns the same.
    pub(crate) shutdown: tokio::sync::OnceCell<ShutdownReport>,
    /// The node whose cluster the pool reaches, kept alive as long as the pool.
    #[cfg(feature = "cluster")]
    pub(crate) node: Option<PoolNode>,
}

/// The node of a pool.
#[cfg(feature = "cluster")]
pub(crate) struct PoolNode {
    pub(crate) node: skein_actors::Node,
    /// The pool made it (for its worker processes): it leaves the cluster when the
    /// pool shuts down. A node the pool was given is its owner's to shut down.
    pub(crate) made: bool,
}

/// A node that shuts down drains the pools built on it.
#[cfg(feature = "cluster")]
impl skein_actors::Drain for PoolShared {
    fn drain(
        self: Arc<Self>,
        grace: Duration,
    ) -> futures::future::BoxFuture<'static, ShutdownReport> {
        Box::pin(async move {
            let pool = Pool {
                shared: self,
                route: None,
            };
            pool.shutdown(grace).await
        })
    }
}

impl Pool {
    pub(crate) fn from_shared(shared: PoolShared) -> Pool {
        Pool {
            shared: Arc::new(shared),
            route: None,
        }
    }

    /// Has the pool's node drain it when the node shuts down.
    #[cfg(feature = "cluster")]
    pub(crate) fn drain_with_node(&self) {
        if let Some(PoolNode { node, .. }) = &self.shared.node {
            let shared: Arc<dyn skein_actors::Drain> = self.shared.clone();
            node.on_shutdown(Arc::downgrade(&shared));
        }
    }

    /// A handle on the same pool whose calls, streams and broadcasts go only to the
    /// workers `route` matches (its tags, its node), picked among them by the pool's
    /// balancer. Cheap: it shares the pool, and the route is shared by its clones.
    ///
    /// No matching worker fails a call with [`DispatchError::NoMatchingWorker`]: at
    /// once, or, for a route with a [`wait`](Route::wait), once the wait passes
    /// without a matching worker joining.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::{DispatchError, Pool, Route};
    ///
    /// #[skein::routine(name = "doc.on.where")]
    /// async fn here() -> String {
    ///     "ran".to_string()
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder().workers(2).tag("cpu").build().await?;
    /// assert_eq!(pool.on(Route::any().tag("cpu")).call::<Here>(()).await?, "ran");
    /// let gpu = pool.on(Route::any().tag("gpu"));
    /// assert!(matches!(
    ///     gpu.call::<Here>(()).await,
    ///     Err(DispatchError::NoMatchingWorker { .. })
    /// ));
    /// # Ok(()) }
    /// ```
    pub fn on(&self, route: Route) -> Pool {
        Pool {
            shared: self.shared.clone(),
            route: (!route.is_any() || route.max_wait().is_some()).then(|| Arc::new(route)),
        }
    }

    /// The route this handle's calls take (`Route::any()` for a plain handle).
    pub fn route(&self) -> Route {
        self.route.as_deref().cloned().unwrap_or_default()
    }

    /// Runs `R` on a worker with the current context, and merges the worker's changes
    /// back before returning.
    ///
    /// # Errors
    ///
    /// A [`DispatchError`]: the routine's own error as `Routine(E)`, and every other
    /// failure as its own variant.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the routine on the worker; nothing merges back, but
    /// spends it made stay spent.
    pub async fn call<R: Routine>(
        &self,
        args: R::Args,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        let caller = &self.shared.caller;
        caller
            .call::<R>(args, caller.timeout, None, self.route.as_deref())
            .await
    }

    /// [`Pool::call`] with a deadline; past it the routine is cancelled and the call
    /// fails with [`DispatchError::Timeout`].
    ///
    /// # Errors
    ///
    /// As [`Pool::call`].
    ///
    /// # Cancel safety
    ///
    /// As [`Pool::call`].
    pub async fn call_timeout<R: Routine>(
        &self,
        args: R::Args,
        timeout: Duration,
    ) -> Result<R::Output, DispatchError<R::Error>> {
        self.shared
            .caller
            .call::<R>(args, Some(timeout), None, self.route.as_deref())
            .await
    }

    /// Opens a streaming routine. Nothing is sent until the first item is asked for;
    /// each item is pulled with the current context, and merges back before it is
    /// returned ([`RoutineStream::ahead`] lets the worker run ahead instead). Dropping
    /// the stream cancels the routine and runs its cleanup.
    pub fn stream<R: StreamRoutine>(&self, args: R::Args) -> RoutineStream<R> {
        RoutineStream::open(self.shared.caller.clone(), args, None, self.route.clone())
    }

    /// Runs `R` once on every live worker this handle's route matches (every worker,
    /// for a plain handle), at the same time, and returns each worker's result with
    /// who the worker is: its node, its tags, and its slot (a worker of this pool) or
    /// actor. The args are encoded, and the context snapshotted, once; each worker's
    /// context changes merge back in turn, in the order of the results. The pool's
    /// timeout bounds each.
    ///
    /// # Examples
    ///
    /// ```
    /// use skein::Pool;
    ///
    /// #[skein::routine(name = "doc.broadcast.reload")]
    /// async fn reload(version: u32) -> u32 {
    ///     version // a real one would reload its worker's cache
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder().workers(3).build().await?;
    /// let results = pool.broadcast::<Reload>(7).await?;
    /// assert_eq!(results.len(), 3, "once on each worker");
    /// for (worker, result) in results {
    ///     assert_eq!(result?, 7, "worker {:?} on {}", worker.slot, worker.node);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoMatchingWorker`] (or `NoWorkers`, for a plain handle) when
    /// no worker matches; `PoolFailed` for a pool that gave up; `Encode` for args that
    /// do not encode. A worker's own failure is its entry's result.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the routine on every worker still running it.
    pub async fn broadcast<R: Routine>(
        &self,
        args: R::Args,
    ) -> Result<Broadcast<R::Output, R::Error>, DispatchError<R::Error>> {
        self.shared
            .caller
            .broadcast::<R>(args, self.route.as_deref(), None)
            .await
    }

    /// How busy each worker this handle's route matches is (every worker, for a plain
    /// handle), and the sums per node: what an autoscaler reads. The pool's own
    /// workers are read from their tables; each worker of another node is asked,
    /// at once, and one that does not answer within `within` is reported
    /// [`Unreachable`](skein_actors::WorkerStatus::Unreachable): the call never takes
    /// much longer than `within`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use skein::Pool;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder().workers(2).build().await?;
    /// let stats = pool.stats(Duration::from_millis(500)).await;
    /// let local = stats.node("local").expect("a pool without a node is \"local\"");
    /// assert_eq!((local.workers, local.in_flight, local.queued), (2, 0, 0));
    /// for worker in &stats.workers {
    ///     let busy = worker.stats().expect("a local worker always answers");
    ///     println!("slot {:?}: idle for {:?}", worker.info.slot, busy.idle_for);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only asks.
    pub async fn stats(&self, within: Duration) -> PoolStats {
        let workers = &self.shared.caller.workers;
        PoolStats::new(workers.stats(self.route.as_deref(), within).await)
    }

    /// Every worker the pool routes to, local and remote, with who each is.
    pub fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.shared.caller.workers.infos()
    }

    /// The pool's state of type `T` (see [`PoolBuilder::state`](crate::PoolBuilder::state)),
    /// or `None` if it was given none: the value this process built, the one its own
    /// workers' routines read. (A worker process reads the one it built itself.)
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.shared.caller.states.get::<T>()
    }

    /// The supervisors' events, from now on.
    pub fn events(&self) -> Events {
        Events::new(self.shared.caller.workers.subscribe())
    }

    /// The pool's own workers, by slot (`None` while a slot restarts). A user may send
    /// a [`WorkerMsg::Dispatch`] straight to one; see `examples/direct_dispatch.rs`.
    pub fn workers(&self) -> Vec<Option<ActorRef<WorkerMsg>>> {
        self.shared.caller.workers.live()
    }

    /// The workers of other nodes this pool routes to (see
    /// [`PoolBuilder::node`](crate::PoolBuilder::node)).
    #[cfg(feature = "cluster")]
    pub fn remote_workers(&self) -> Vec<ActorRef<WorkerMsg>> {
        self.shared.caller.workers.remote()
    }

    /// Waits until the pool routes to at least `n` workers, local and remote together:
    /// for a pool whose workers are on other nodes, that connect after it starts.
    /// A `within` too far ahead to be a point in time (such as [`Duration::MAX`])
    /// means no deadline: it waits until there are `n`.
    ///
    /// # Errors
    ///
    /// [`WaitError`] if there are still fewer after `within`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    pub async fn wait_for_workers(&self, n: usize, within: Duration) -> Result<(), WaitError> {
        let workers = &self.shared.caller.workers;
        let mut events = self.events();
        // A `within` past what an instant can hold is no deadline, never an overflow.
        // tokio's timer rounds a deadline up to its next millisecond by adding to it,
        // so a deadline must leave that much room too.
        let deadline = tokio::time::Instant::now()
            .checked_add(within)
            .filter(|deadline| deadline.checked_add(Duration::from_millis(1)).is_some());
        while workers.len() < n {
            // Every change of membership is an event; wait for the next one.
            let next = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, events.next()).await,
                None => Ok(events.next().await),
            };
            match next {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
        let found = workers.len();
        if found >= n {
            Ok(())
        } else {
            Err(WaitError {
                wanted: n,
                found,
                within,
            })
        }
    }

    /// Shuts the pool down gracefully, and reports what was in flight:
    ///
    /// - new calls and streams through the pool get [`DispatchError::ShuttingDown`] at
    ///   once (a routine already running may still make nested calls, so that it can
    ///   finish);
    /// - the pool's workers leave its process group first, so pools on other nodes
    ///   route elsewhere at once; a dispatch already on its way from one of them is in
    ///   flight, and runs within the grace like the rest;
    /// - what is in flight has up to `grace` to finish, on the pool's workers and its
    ///   worker processes (which are told to drain the same way, then exit);
    /// - what is still running then is cancelled: its callers get
    ///   [`DispatchError::Cancelled`], and its routine is dropped where it stands, so
    ///   its cleanup runs. Worker processes that have not exited are killed.
    ///
    /// The report counts each dispatch once, where it ran (see [`ShutdownReport`]).
    /// It returns a couple of seconds past `grace` at most. The pool stays shut:
    /// calling `shutdown` again waits for the first and returns its report.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the pool refusing new calls; the drain goes on only
    /// while some call of `shutdown` is polled.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let shared = &self.shared;
        *shared
            .shutdown
            .get_or_init(|| async {
                let report = shared.supervisor.shutdown(grace).await;
                #[cfg(feature = "cluster")]
                if let Some(PoolNode { node, made: true }) = &shared.node {
                    node.leave().await;
                }
                tracing::info!(
                    finished = report.finished,
                    cancelled = report.cancelled,
                    "skein pool shut down"
                );
                report
            })
            .await
    }

    /// Listens for SIGTERM or ctrl-c from now on (see [`crate::shutdown_signal`]); the
    /// future waits for one, then shuts the pool down with `grace`
    /// ([`Pool::shutdown`]). The last line of a service's `main`:
    ///
    /// ```no_run
    /// # async fn serve(pool: skein::Pool) -> std::io::Result<()> {
    /// let report = pool.shutdown_on_signal(std::time::Duration::from_secs(20))?.await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The I/O error of a signal handler that could not be installed.
    pub fn shutdown_on_signal(
        &self,
        grace: Duration,
    ) -> std::io::Result<impl std::future::Future<Output = ShutdownReport> + Send + 'static> {
        let signal = crate::signal::shutdown_signal()?;
        let pool = self.clone();
        Ok(async move {
            signal.await;
            pool.shutdown(grace).await
        })
    }

    /// Whether the pool's shutdown has begun ([`Pool::shutdown`]).
    pub fn is_shutting_down(&self) -> bool {
        self.shared.caller.workers.is_shutting_down()
    }

    /// Whether the pool gave up after too many restarts of its workers or of its
    /// worker processes.
    pub fn has_failed(&self) -> bool {
        self.shared.caller.workers.has_failed()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let workers = &self.shared.caller.workers;
        f.debug_struct("Pool")
            .field("workers", &workers.len())
            .field("route", &self.route)
            .field("failed", &workers.has_failed())
            .finish_non_exhaustive()
    }
}

/// Fewer workers than asked for were there when [`Pool::wait_for_workers`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{found} of the {wanted} workers asked for after {within:?}")]
pub struct WaitError {
    /// How many workers were asked for.
    pub wanted: usize,
    /// How many there were.
    pub found: usize,
    /// How long it waited.
    pub within: Duration,
}
