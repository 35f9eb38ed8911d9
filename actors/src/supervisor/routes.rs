//! Every worker a pool's dispatch may go to, as routing reads them under one lock:
//! the pool's own workers by slot, and the workers of other nodes, each with the node
//! and tags it carries.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use ractor::ActorRef;

use crate::route::{Candidate, Identity, Route, WorkerInfo};
use crate::worker::{WorkerHandle, WorkerMsg};

/// Every worker a dispatch may go to, behind one lock: routing reads it once.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// The node and tags of the pool's own workers (all of them carry the same).
    pub(crate) identity: Identity,
    /// The pool's own workers, by slot; `None` while a slot restarts.
    pub(crate) slots: Vec<Option<WorkerHandle>>,
    /// Workers of other nodes in the pool's process group.
    pub(crate) remote: Vec<RemoteWorker>,
}

/// A worker of another node as this pool routes to it.
#[derive(Clone, Debug)]
pub(crate) struct RemoteWorker {
    pub(crate) actor: ActorRef<WorkerMsg>,
    pub(crate) identity: Arc<Identity>,
    /// This pool's dispatches to it not answered yet, counted on this side: kept
    /// across membership changes, so a rebuild does not forget what is in flight.
    pub(crate) in_flight: Arc<AtomicUsize>,
}

impl Routes {
    pub(crate) fn len(&self) -> usize {
        self.slots.len() + self.remote.len()
    }

    /// The live workers that match `route` (every live one for `None`), in order:
    /// the pool's own slots first, then the remote workers. Walked, never collected.
    pub(crate) fn matching<'a>(
        &'a self,
        route: Option<&'a Route>,
    ) -> impl Iterator<Item = (Candidate<'a>, TargetRef<'a>)> + 'a {
        let accepts = move |identity: &Identity| {
            route.is_none_or(|route| route.matches(&identity.node, &identity.tags))
        };
        let local_match = accepts(&self.identity);
        let local = self
            .slots
            .iter()
            .enumerate()
            .filter(move |_| local_match)
            .filter_map(move |(slot, worker)| {
                let worker = worker.as_ref()?;
                Some((
                    Candidate {
                        identity: &self.identity,
                        local: true,
                        in_flight: worker.in_flight(),
                    },
                    TargetRef::Local(slot, worker),
                ))
            });
        let remote = self
            .remote
            .iter()
            .filter(move |worker| accepts(&worker.identity))
            .map(|worker| {
                (
                    Candidate {
                        identity: &worker.identity,
                        local: false,
                        in_flight: &worker.in_flight,
                    },
                    TargetRef::Remote(worker),
                )
            });
        local.chain(remote)
    }
}

/// Where a dispatch goes: a worker of this process, or one on another node.
pub(crate) enum Target {
    Local(WorkerHandle),
    Remote(RemoteWorker),
}

/// A [`Target`] still under the read lock.
#[derive(Clone, Copy)]
pub(crate) enum TargetRef<'a> {
    Local(usize, &'a WorkerHandle),
    Remote(&'a RemoteWorker),
}

impl TargetRef<'_> {
    pub(crate) fn to_owned(self) -> Target {
        match self {
            TargetRef::Local(_, worker) => Target::Local(worker.clone()),
            TargetRef::Remote(worker) => Target::Remote(worker.clone()),
        }
    }

    pub(crate) fn info(self, routes: &Routes) -> WorkerInfo {
        let (identity, slot, actor) = match self {
            TargetRef::Local(slot, worker) => {
                (&routes.identity, Some(slot), worker.actor().get_id())
            }
            TargetRef::Remote(worker) => (&*worker.identity, None, worker.actor.get_id()),
        };
        WorkerInfo {
            node: identity.node.clone(),
            tags: identity.tags.clone(),
            slot,
            actor,
        }
    }
}
