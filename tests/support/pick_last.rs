//! A balancer for tests: it records the candidates it is shown, each as (node, tags,
//! local), and always picks the last one.

use std::sync::Mutex;

use skein::actors::Candidates;
use skein::Balancer;

/// A candidate as the balancer saw it: its node, its tags, and whether it is local.
pub type Seen = (String, Vec<String>, bool);

/// Records what it is shown and picks the last candidate.
#[derive(Default)]
pub struct PickLast {
    seen: Mutex<Vec<Vec<Seen>>>,
}

impl PickLast {
    /// The candidates of every pick so far, in order.
    pub fn seen(&self) -> Vec<Vec<Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Balancer for PickLast {
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
        let seen = candidates
            .iter()
            .map(|c| (c.node().to_string(), c.tags().to_vec(), c.is_local()))
            .collect();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(seen);
        Some(candidates.len() - 1)
    }
}
