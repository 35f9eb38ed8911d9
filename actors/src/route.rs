//! Where a dispatch may go: a [`Route`] (tags the worker must carry, a node it must
//! be on, how long to wait for one), and each matching worker as a balancer sees it
//! ([`Candidate`]).
//!
//! Every worker is known by its [`WorkerInfo`]: its node's name (`"local"` for a pool
//! without a node), its tags, and its slot (a worker of this pool) or its actor id.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ractor::ActorId;

/// The node name of the workers of a pool that has no node.
pub const LOCAL_NODE: &str = "local";

/// Which workers a dispatch may go to: every tag given (all of them), on the node
/// named (if one is), and how long to wait for such a worker to join when there is
/// none. [`Route::any`] is every worker, at once.
///
/// ```
/// use std::time::Duration;
/// use skein_actors::Route;
///
/// let route = Route::any().tag("gpu").node("skein@10.0.0.7:7400").wait(Duration::from_secs(2));
/// assert_eq!(route.to_string(), "workers tagged [gpu] on node \"skein@10.0.0.7:7400\" (waiting up to 2s)");
/// assert!(route.matches("skein@10.0.0.7:7400", &["big".into(), "gpu".into()]));
/// assert!(!route.matches("skein@10.0.0.8:7400", &["gpu".into()]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Route {
    /// Sorted, without repeats: matching is a subset test over two sorted lists.
    tags: Vec<String>,
    node: Option<String>,
    wait: Option<Duration>,
}

impl Route {
    /// Every worker, at once: the route of a plain call.
    pub fn any() -> Route {
        Route::default()
    }

    /// Only workers that carry `tag` (beside any other tag asked for).
    pub fn tag(mut self, tag: impl Into<String>) -> Route {
        let tag = tag.into();
        if let Err(at) = self.tags.binary_search(&tag) {
            self.tags.insert(at, tag);
        }
        self
    }

    /// Only workers that carry every one of `tags`.
    pub fn tags<T: Into<String>>(self, tags: impl IntoIterator<Item = T>) -> Route {
        tags.into_iter().fold(self, Route::tag)
    }

    /// Only workers of the node named `node` (see `Node::name`; `"local"` is a pool's
    /// own workers when it has no node).
    pub fn node(mut self, node: impl Into<String>) -> Route {
        self.node = Some(node.into());
        self
    }

    /// When no worker matches, wait up to `wait` for one to join before failing with
    /// `NoMatchingWorker` (default: fail at once).
    pub fn wait(mut self, wait: Duration) -> Route {
        self.wait = Some(wait);
        self
    }

    /// The tags a worker must carry, sorted.
    pub fn required_tags(&self) -> &[String] {
        &self.tags
    }

    /// The node a worker must be on, if any.
    pub fn required_node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// How long a dispatch waits for a matching worker, if at all.
    pub fn max_wait(&self) -> Option<Duration> {
        self.wait
    }

    /// Whether every worker matches: no tag and no node asked for.
    pub fn is_any(&self) -> bool {
        self.tags.is_empty() && self.node.is_none()
    }

    /// Whether a worker of `node` carrying `tags` matches.
    pub fn matches(&self, node: &str, tags: &[String]) -> bool {
        self.node.as_deref().is_none_or(|wanted| wanted == node)
            && self.tags.iter().all(|wanted| tags.contains(wanted))
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("any worker")?;
        } else {
            f.write_str("workers")?;
            if !self.tags.is_empty() {
                write!(f, " tagged [{}]", self.tags.join(", "))?;
            }
            if let Some(node) = &self.node {
                write!(f, " on node {node:?}")?;
            }
        }
        if let Some(wait) = self.wait {
            write!(f, " (waiting up to {wait:?})")?;
        }
        Ok(())
    }
}

/// Why a set of worker tags cannot be used, if it cannot: a tag that is empty (no
/// route could ask for it) or holds a line break (a worker process is handed its tags
/// one a line). The pool's and the node's builders refuse such tags with this reason.
pub fn tag_problem(tags: &[String]) -> Option<&'static str> {
    if tags.iter().any(|tag| tag.is_empty()) {
        Some("a tag must not be empty: no route could ask for it")
    } else if tags.iter().any(|tag| tag.contains(['\n', '\r'])) {
        Some("a tag must not hold a line break")
    } else {
        None
    }
}

/// Who a worker is: its node, its tags, and where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Its node's name (`"local"` for a pool without a node).
    pub node: String,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Its slot, for a worker of this pool; `None` for a worker of another node.
    pub slot: Option<usize>,
    /// Its actor.
    pub actor: ActorId,
}

/// What every worker of one pool on one node carries: the node's name and the tags.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Identity {
    pub(crate) node: String,
    /// Sorted, without repeats.
    pub(crate) tags: Vec<String>,
}

impl Identity {
    pub(crate) fn new(node: impl Into<String>, tags: impl IntoIterator<Item = String>) -> Self {
        let mut tags: Vec<String> = tags.into_iter().collect();
        tags.sort();
        tags.dedup();
        Identity {
            node: node.into(),
            tags,
        }
    }
}

/// One worker a balancer may pick, read lazily: nothing is copied until asked for.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) local: bool,
    pub(crate) in_flight: &'a AtomicUsize,
}

impl<'a> Candidate<'a> {
    /// Its node's name.
    pub fn node(&self) -> &'a str {
        &self.identity.node
    }

    /// Its tags, sorted.
    pub fn tags(&self) -> &'a [String] {
        &self.identity.tags
    }

    /// Whether it is a worker of this pool (in this process), not of another node.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Its dispatches in flight, taken and not answered yet: a local worker's own
    /// count (what it runs and what waits in its queue), or, for a worker of another
    /// node, this pool's dispatches to it that have not been answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}
