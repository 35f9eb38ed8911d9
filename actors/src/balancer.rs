//! Picking the worker a dispatch goes to among those that match its route: the
//! [`Balancer`] trait, the matching workers as it sees them ([`Candidates`]), and the
//! balancers skein provides ([`RoundRobin`], [`LeastInFlight`]).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::route::{Candidate, Route};
use crate::supervisor::routes::Routes;

/// The workers that match a dispatch's route, in a stable order, as a [`Balancer`]
/// sees them. Counting and indexing walk the pool's workers (nothing is collected),
/// so a balancer that looks at each candidate once costs one pass.
pub struct Candidates<'a> {
    pub(crate) routes: &'a Routes,
    pub(crate) route: Option<&'a Route>,
}

impl fmt::Debug for Candidates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> Candidates<'a> {
    /// Every candidate, in order.
    pub fn iter(&self) -> impl Iterator<Item = Candidate<'a>> + 'a {
        self.routes
            .matching(self.route)
            .map(|(candidate, _)| candidate)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The `index`-th candidate.
    pub fn get(&self, index: usize) -> Option<Candidate<'a>> {
        self.iter().nth(index)
    }
}

/// Picks the worker a dispatch goes to among those that match its route. Set one on a
/// pool with `PoolBuilder::balancer`; the default is [`RoundRobin`].
///
/// `pick` runs on the caller's thread, under the pool's read lock, once per dispatch:
/// it should be quick, and must not call into the pool. A panic in `pick` is the
/// caller's: it unwinds out of the call that asked, and the pool goes on.
///
/// # Examples
///
/// ```
/// use skein_actors::{Balancer, Candidates};
///
/// /// This process's workers first; another node's only when none here matches.
/// struct LocalFirst;
///
/// impl Balancer for LocalFirst {
///     fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
///         candidates
///             .iter()
///             .position(|worker| worker.is_local())
///             .or(Some(0))
///     }
/// }
/// ```
pub trait Balancer: Send + Sync + 'static {
    /// The index (among `candidates`) of the worker to use, or `None` to refuse every
    /// one (the dispatch then fails with `NoMatchingWorker`). `candidates` is never
    /// empty; an index past its end is refused the same way.
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize>;
}

impl<B: Balancer + ?Sized> Balancer for Arc<B> {
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
        (**self).pick(candidates)
    }
}

/// Each candidate in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A round robin that starts at the first candidate.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
        let n = candidates.len();
        (n > 0).then(|| self.next.fetch_add(1, Ordering::Relaxed) % n)
    }
}

/// The candidate with the fewest dispatches in flight; ties go round robin, so an
/// idle pool still spreads its calls.
#[derive(Debug, Default)]
pub struct LeastInFlight {
    next: AtomicUsize,
}

impl LeastInFlight {
    /// A balancer by dispatches in flight.
    pub fn new() -> LeastInFlight {
        LeastInFlight::default()
    }
}

impl Balancer for LeastInFlight {
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
        let n = candidates.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        // The fewest in flight; among equals, the nearest from `start`, so the rotation
        // decides.
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(index, candidate)| (candidate.in_flight(), (index + n - start) % n))
            .map(|(index, _)| index)
    }
}
