//! The table of a node's sessions, kept from ractor_cluster's session events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ractor::ActorRef;
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeSessionMessage};
use tokio::sync::mpsc;

use super::events::{Events, NodeEvent, RefusalReason};
use super::listener::Pending;

/// A session as the node tracks it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) actor: ActorRef<NodeSessionMessage>,
    /// The peer's node name, or its address until it says.
    pub(crate) name: String,
    /// The addresses this session answers for: the socket's, and the peer's
    /// advertised listen address.
    pub(crate) addrs: Vec<String>,
    authenticated: bool,
    pub(crate) ready: bool,
    /// Heartbeats missed in a row.
    pub(crate) missed: u32,
    /// The peer said it is shutting down: the session's end is a clean leave.
    pub(crate) leaving: bool,
}

/// A node's sessions by ractor_cluster's node id. Cheap to clone; clones share one
/// table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<u64, Session>>>);

impl Sessions {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<u64, Session>> {
        // Every critical section is a single map operation or a field update.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The names of the peers whose sessions are ready.
    pub(crate) fn ready_peers(&self) -> Vec<String> {
        self.lock()
            .values()
            .filter(|s| s.ready)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Marks the session of the peer that listens on `addr` as leaving.
    pub(crate) fn leaving(&self, addr: &str) {
        for session in self
            .lock()
            .values_mut()
            .filter(|s| s.addrs.iter().any(|a| a == addr))
        {
            session.leaving = true;
        }
    }

    /// Whether some session answers for `addr`.
    pub(crate) fn answers_for(&self, addr: &str) -> bool {
        self.lock()
            .values()
            .any(|s| s.addrs.iter().any(|a| a == addr))
    }
}

/// A session event as ractor_cluster reports it.
pub(crate) enum Raw {
    Opened(NodeServerSessionInformation),
    Authenticated(NodeServerSessionInformation),
    Ready(NodeServerSessionInformation),
    Disconnected(NodeServerSessionInformation),
}

/// ractor_cluster calls these inside its server actor: they must not block, so they
/// forward, and mark an accepted connection authenticated at once (its guard must not
/// count what the peer sends after authenticating against the handshake's budget).
pub(crate) struct Forward {
    pub(crate) raw: mpsc::UnboundedSender<Raw>,
    pub(crate) pending: Pending,
}

impl NodeEventSubscription for Forward {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        let _ = self.raw.send(Raw::Opened(ses));
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.raw.send(Raw::Disconnected(ses));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        self.pending.authenticated(&ses.peer_addr);
        let _ = self.raw.send(Raw::Authenticated(ses));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.raw.send(Raw::Ready(ses));
    }
}

fn describe(ses: &NodeServerSessionInformation) -> (String, Vec<String>) {
    let mut addrs = vec![ses.peer_addr.clone()];
    let name = match &ses.peer_name {
        Some(peer) => {
            addrs.push(peer.connection_string.clone());
            peer.name.clone()
        }
        None => ses.peer_addr.clone(),
    };
    (name, addrs)
}

/// Keeps `sessions` current from the raw events, and reports each change as a
/// [`NodeEvent`].
pub(crate) async fn track(
    mut raw: mpsc::UnboundedReceiver<Raw>,
    sessions: Sessions,
    pending: Pending,
    events: Events,
) {
    while let Some(event) = raw.recv().await {
        match event {
            Raw::Opened(ses) => {
                let (name, addrs) = describe(&ses);
                sessions.lock().insert(
                    ses.node_id,
                    Session {
                        actor: ses.actor.clone(),
                        name,
                        addrs,
                        authenticated: false,
                        ready: false,
                        missed: 0,
                        leaving: false,
                    },
                );
            }
            Raw::Authenticated(ses) => {
                let (name, addrs) = describe(&ses);
                if let Some(session) = sessions.lock().get_mut(&ses.node_id) {
                    session.authenticated = true;
                    session.name = name;
                    session.addrs = addrs;
                }
            }
            Raw::Ready(ses) => {
                let (name, addrs) = describe(&ses);
                if let Some(session) = sessions.lock().get_mut(&ses.node_id) {
                    session.ready = true;
                    session.name = name.clone();
                    session.addrs = addrs;
                }
                tracing::info!(peer = %name, "skein node connected");
                events.send(NodeEvent::Connected { peer: name });
            }
            Raw::Disconnected(ses) => {
                let session = sessions.lock().remove(&ses.node_id);
                // An accepted connection knows why it closed; one this node dialed
                // says no more than that the socket closed.
                let refused = pending.closed(&ses.peer_addr);
                match session {
                    Some(session) if session.leaving => {
                        tracing::info!(peer = %session.name, "skein node left");
                        events.send(NodeEvent::Left { peer: session.name });
                    }
                    Some(session) if session.authenticated => {
                        tracing::warn!(peer = %session.name, "skein node disconnected");
                        events.send(NodeEvent::Disconnected { peer: session.name });
                    }
                    Some(_) => events.refused(
                        ses.peer_addr.clone(),
                        refused.unwrap_or(RefusalReason::HandshakeFailed),
                    ),
                    None => events.send(NodeEvent::Disconnected {
                        peer: ses.peer_addr.clone(),
                    }),
                }
            }
        }
    }
}
