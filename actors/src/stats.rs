//! How busy each worker is, as an autoscaler reads it: [`WorkerStats`] (what one
//! worker answers), [`WorkerReport`] (one worker, with who it is, or that it did not
//! answer) and [`PoolStats`] (every worker, and the sums per node).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::route::WorkerInfo;

/// What one worker reports of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Dispatches running now.
    pub in_flight: usize,
    /// Root dispatches waiting for a slot.
    pub queued: usize,
    /// How many times its slot was restarted before this worker started.
    pub restarts: usize,
    /// How long since it last ran something: zero while it is busy.
    pub idle_for: Duration,
}

impl WorkerStats {
    /// When it last ran something, on this process's clock (now, while it is busy).
    pub fn last_busy(&self) -> Instant {
        let now = Instant::now();
        now.checked_sub(self.idle_for).unwrap_or(now)
    }
}

/// A worker's answer to [`WorkerMsg::Stats`](crate::WorkerMsg::Stats): its stats, or
/// why they could not be read (a frame that did not decode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsAnswer(pub Result<WorkerStats, String>);

/// Whether a worker answered, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerStatus {
    /// Its stats.
    Answered(WorkerStats),
    /// It did not answer within the wait (its node is down or hung), or its answer
    /// did not decode.
    Unreachable {
        /// What went wrong.
        reason: String,
    },
}

/// One worker: who it is, and how busy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Its node, tags, slot or actor.
    pub info: WorkerInfo,
    /// Its answer.
    pub status: WorkerStatus,
}

impl WorkerReport {
    /// Its stats, if it answered.
    pub fn stats(&self) -> Option<&WorkerStats> {
        match &self.status {
            WorkerStatus::Answered(stats) => Some(stats),
            WorkerStatus::Unreachable { .. } => None,
        }
    }
}

/// The sums over one node's workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// The node's name.
    pub node: String,
    /// How many of its workers there are.
    pub workers: usize,
    /// How many of them did not answer.
    pub unreachable: usize,
    /// Dispatches in flight, over the workers that answered.
    pub in_flight: usize,
    /// Dispatches queued, over the workers that answered.
    pub queued: usize,
    /// Restarts, over the workers that answered.
    pub restarts: usize,
    /// The least idle of the workers that answered: zero if any is busy.
    pub idle_for: Option<Duration>,
}

/// Every worker a pool routes to, and the sums per node (in the order the nodes are
/// first met: the pool's own first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Each worker.
    pub workers: Vec<WorkerReport>,
    /// Each node.
    pub nodes: Vec<NodeStats>,
}

impl PoolStats {
    /// The stats of `workers`, summed per node.
    pub fn new(workers: Vec<WorkerReport>) -> PoolStats {
        let mut nodes: Vec<NodeStats> = Vec::new();
        for report in &workers {
            let at = match nodes.iter().position(|n| n.node == report.info.node) {
                Some(at) => at,
                None => {
                    nodes.push(NodeStats {
                        node: report.info.node.clone(),
                        ..NodeStats::default()
                    });
                    nodes.len() - 1
                }
            };
            let node = &mut nodes[at];
            node.workers += 1;
            match &report.status {
                WorkerStatus::Answered(stats) => {
                    node.in_flight += stats.in_flight;
                    node.queued += stats.queued;
                    node.restarts += stats.restarts;
                    node.idle_for = Some(
                        node.idle_for
                            .map_or(stats.idle_for, |idle| idle.min(stats.idle_for)),
                    );
                }
                WorkerStatus::Unreachable { .. } => node.unreachable += 1,
            }
        }
        PoolStats { workers, nodes }
    }

    /// The sums of the node named `node`.
    pub fn node(&self, node: &str) -> Option<&NodeStats> {
        self.nodes.iter().find(|n| n.node == node)
    }
}
