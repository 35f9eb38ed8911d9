//! The metrics skein records, through the `metrics` facade: every name, its labels
//! and its unit, in one place.
//!
//! skein installs no recorder and ships no exporter: a service installs its own (a
//! Prometheus exporter, say) and skein's metrics go wherever the service's go. The
//! handles of the busiest metrics (a call's outcome and latency, a worker's gauges)
//! are taken once, when a pool or a worker starts, from the recorder installed then:
//! install the recorder before building the pool. With no recorder they do nothing,
//! at the cost of a branch each.

use metrics::{Gauge, Histogram};

use crate::failure::DispatchError;

/// Counter, calls by `routine` and `outcome`: `ok`, or the failure's
/// [`DispatchError::kind`] (`routine_error` for the routine's own error). Counted by
/// the caller, once per call, nested calls included.
pub const CALLS: &str = "skein_calls_total";
/// Histogram, seconds, by `routine`: how long each call took at its caller, from the
/// call to its result, whatever the outcome.
pub const CALL_DURATION: &str = "skein_call_duration_seconds";
/// Gauge, by `worker` (its slot): dispatches running on the worker now.
pub const WORKER_IN_FLIGHT: &str = "skein_worker_in_flight";
/// Gauge, by `worker`: root dispatches waiting for a slot on the worker.
pub const WORKER_QUEUED: &str = "skein_worker_queued";
/// Counter: workers that died (their calls in flight failed with `WorkerCrashed`).
pub const WORKER_CRASHES: &str = "skein_worker_crashes_total";
/// Counter: dead workers that were replaced.
pub const WORKER_RESTARTS: &str = "skein_worker_restarts_total";
/// Counter: worker processes that exited (feature `cluster`).
pub const PROCESS_EXITS: &str = "skein_worker_process_exits_total";
/// Counter: pools that gave up, past their restart intensity.
pub const POOL_FAILURES: &str = "skein_pool_failures_total";
/// Counter, by `event`: `connected`, `disconnected`, `left` (a peer that shut down
/// cleanly), `unresponsive` (a peer cut off
/// for missed heartbeats). Node sessions, feature `cluster`.
pub const NODE_SESSIONS: &str = "skein_node_sessions_total";
/// Counter, by `reason` (`RefusalReason::kind`): connections
/// a node refused before they authenticated (feature `cluster`).
pub const NODE_REFUSALS: &str = "skein_node_refusals_total";
/// Counter, by `outcome`: `spent` (this spend won), `already_spent` (refused: the
/// token was spent before) or `unavailable` (refused: its home ledger is out of
/// reach). Token spends asked in this process, wherever their home decided them, so
/// each spend is counted once, by the process that asked.
pub const LEDGER_SPENDS: &str = "skein_ledger_spends_total";
/// Histogram, bytes, by `message` (`dispatch`, `pull`, `reply`) and `direction`
/// (`sent`, `received`): the frames that crossed a node connection (feature `cluster`).
pub const FRAME_BYTES: &str = "skein_frame_bytes";

/// The label value of a call that succeeded.
pub const OK: &str = "ok";

/// A worker's two gauges, taken once when the worker starts.
#[derive(Clone, Debug)]
pub(crate) struct WorkerGauges {
    pub(crate) in_flight: Gauge,
    pub(crate) queued: Gauge,
}

impl WorkerGauges {
    /// The gauges of the worker in `slot`. Several pools in one process add up on
    /// the same slots (the gauges move by increments, never by `set`).
    pub(crate) fn new(slot: usize) -> WorkerGauges {
        WorkerGauges {
            in_flight: metrics::gauge!(WORKER_IN_FLIGHT, "worker" => slot.to_string()),
            queued: metrics::gauge!(WORKER_QUEUED, "worker" => slot.to_string()),
        }
    }
}

/// Counts one of the supervisors' events (a counter without labels).
pub(crate) fn supervision(name: &'static str) {
    metrics::counter!(name).increment(1);
}

/// Counts a spend decided in this process.
pub(crate) fn spend(outcome: &'static str) {
    metrics::counter!(LEDGER_SPENDS, "outcome" => outcome).increment(1);
}

/// Counts a node session event.
#[cfg(feature = "cluster")]
pub(crate) fn node_session(event: &'static str) {
    metrics::counter!(NODE_SESSIONS, "event" => event).increment(1);
}

/// Counts a refused connection.
#[cfg(feature = "cluster")]
pub(crate) fn node_refusal(reason: &'static str) {
    metrics::counter!(NODE_REFUSALS, "reason" => reason).increment(1);
}

/// Records the size of a frame that crossed a node connection.
#[cfg(feature = "cluster")]
pub(crate) fn frame(message: &'static str, direction: &'static str, bytes: usize) {
    metrics::histogram!(FRAME_BYTES, "message" => message, "direction" => direction)
        .record(bytes as f64);
}

/// The handles of one routine's calls at a caller: its `ok` counter and its latency
/// histogram, taken once. A failure is rarer and counted through the facade as it
/// happens.
#[derive(Clone, Debug)]
pub struct CallHandles {
    routine: &'static str,
    ok: metrics::Counter,
    duration: Histogram,
}

impl CallHandles {
    /// The handles of `routine`, from the recorder installed now.
    pub fn new(routine: &'static str) -> CallHandles {
        CallHandles {
            routine,
            ok: metrics::counter!(CALLS, "routine" => routine, "outcome" => OK),
            duration: metrics::histogram!(CALL_DURATION, "routine" => routine),
        }
    }

    /// Records one call that took `seconds` and ended `Ok`, or with `failure`.
    pub fn record<E>(&self, seconds: f64, failure: Option<&DispatchError<E>>) {
        match failure {
            None => self.ok.increment(1),
            Some(failure) => self.failed(failure.kind()),
        }
        self.duration.record(seconds);
    }

    fn failed(&self, kind: &'static str) {
        metrics::counter!(CALLS, "routine" => self.routine, "outcome" => kind).increment(1);
    }
}
