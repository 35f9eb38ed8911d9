//! What the supervisors report.

/// A change in a pool's workers or worker processes, as its supervisors report it.
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
    /// The pool's graceful shutdown began: root dispatches are refused from now on,
    /// and what is in flight has `grace` to finish.
    ShuttingDown {
        /// How long what is in flight may still run.
        grace: std::time::Duration,
    },
    /// The pool's graceful shutdown is over: its workers and worker processes are
    /// stopped.
    ShutDown {
        /// What it came to.
        report: ShutdownReport,
    },
    /// Restarts of workers or of worker processes exceeded the policy: the pool
    /// refuses new dispatches from now on.
    PoolFailed {
        /// What tipped it over.
        reason: String,
    },
}

/// What a graceful shutdown came to, counted once per dispatch where it ran: the
/// dispatches on the pool's own workers (whoever sent them), and the calls the pool
/// sent to workers elsewhere (its worker processes, other nodes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// In flight when the shutdown began (or nested in those, meanwhile), and ended
    /// within the grace: by themselves, or cancelled by their own callers.
    pub finished: usize,
    /// Still running when the grace was over: cancelled, their callers answered
    /// `Cancelled`.
    pub cancelled: usize,
}

impl std::ops::Add for ShutdownReport {
    type Output = ShutdownReport;

    fn add(self, other: ShutdownReport) -> ShutdownReport {
        ShutdownReport {
            finished: self.finished + other.finished,
            cancelled: self.cancelled + other.cancelled,
        }
    }
}
