//! How a pool's workers are known across its cluster: each joins its pool's process
//! group with its node's name and its tags, and a supervisor reads the workers of
//! other nodes back, with theirs.
//!
//! The pool's group name is a process-group *scope*; inside it each worker joins one
//! group whose name spells its identity (node and tags). One group per identity, not
//! one per tag, so that a worker's identity arrives whole: ractor_cluster sends a
//! peer each group's joins on their own, and a worker seen in one group before the
//! others would route for a moment without some of its tags.

use std::sync::Arc;

use ractor::{ActorCell, ActorRef};

use crate::route::Identity;
use crate::worker::WorkerMsg;

/// What every identity group's name starts with.
const PREFIX: &str = "skein.worker/";

/// The name of the group of the workers that carry `identity`: each field as its
/// length, a colon and its text, so any node name or tag round-trips.
fn group_of(identity: &Identity) -> String {
    let mut name = String::from(PREFIX);
    for field in std::iter::once(&identity.node).chain(&identity.tags) {
        name.push_str(&field.len().to_string());
        name.push(':');
        name.push_str(field);
    }
    name
}

/// The identity a group's name spells, or `None` for a group that is not one (or
/// was spelled by something else).
fn identity_of(group: &str) -> Option<Identity> {
    let mut rest = group.strip_prefix(PREFIX)?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let field = tail.get(..len)?;
        fields.push(field.to_string());
        rest = &tail[len..];
    }
    let mut fields = fields.into_iter();
    let node = fields.next()?;
    Some(Identity::new(node, fields))
}

/// `worker` joins the pool's group `scope` as a worker with `identity`.
pub(crate) fn join(scope: &str, identity: &Identity, worker: ActorCell) {
    ractor::pg::join_scoped(scope.to_string(), group_of(identity), vec![worker]);
}

/// `worker` leaves every group [`join`] put it in: other nodes stop routing to it.
/// (A worker that dies leaves them by itself.)
pub(crate) fn leave(scope: &str, identity: &Identity, worker: ActorCell) {
    ractor::pg::leave_scoped(scope.to_string(), group_of(identity), vec![worker]);
}

/// `supervisor` hears of every join and leave in the pool's group `scope`, on any node.
pub(crate) fn monitor(scope: &str, supervisor: ActorCell) {
    ractor::pg::monitor_scope(scope.to_string(), supervisor);
}

/// The workers other nodes have in the pool's group `scope`, each with its identity.
pub(crate) fn remote_workers(scope: &str) -> Vec<(ActorRef<WorkerMsg>, Arc<Identity>)> {
    let scope = scope.to_string();
    let mut workers = Vec::new();
    for group in ractor::pg::which_scoped_groups(&scope) {
        let Some(identity) = identity_of(&group) else {
            continue;
        };
        let identity = Arc::new(identity);
        workers.extend(
            ractor::pg::get_scoped_members(&scope, &group)
                .into_iter()
                .filter(|cell| !cell.get_id().is_local())
                .map(|cell| (ActorRef::from(cell), identity.clone())),
        );
    }
    // A stable order, whatever order the groups are kept in: round robin over it.
    workers.sort_by_key(|(worker, _)| worker.get_id());
    workers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_through_group_names() {
        for identity in [
            Identity::new("local", Vec::new()),
            Identity::new("skein@127.0.0.1:7400", vec!["gpu".into(), "big".into()]),
            Identity::new("a:1:b", vec!["3:x".into(), "".into(), "é".into()]),
        ] {
            assert_eq!(identity_of(&group_of(&identity)), Some(identity));
        }
        assert_eq!(identity_of("skein.workers"), None);
        assert_eq!(identity_of("skein.worker/9:short"), None);
        assert_eq!(identity_of("skein.worker/x:y"), None);
    }
}
