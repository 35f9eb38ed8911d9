//! The table of a node's sessions, kept from ractor_cluster's session events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ractor::ActorRef;
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeSessionMessage};
use tokio::sync::{broadcast, mpsc};

use super::events::NodeEvent;

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
/// only forward.
pub(crate) struct Forward(pub(crate) mpsc::UnboundedSender<Raw>);

impl NodeEventSubscription for Forward {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Raw::Opened(ses));
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Raw::Disconnected(ses));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Raw::Authenticated(ses));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Raw::Ready(ses));
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
    events: broadcast::Sender<NodeEvent>,
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
                let _ = events.send(NodeEvent::Connected { peer: name });
            }
            Raw::Disconnected(ses) => {
                let session = sessions.lock().remove(&ses.node_id);
                let event = match session {
                    // A session that closes before the handshake completes was refused:
                    // ractor_cluster says no more than that the socket closed.
                    Some(session) if !session.authenticated => {
                        let reason =
                            "the handshake failed: a wrong cookie, or not a skein node".to_string();
                        tracing::error!(peer = %ses.peer_addr, %reason, "skein node refused a peer");
                        NodeEvent::Refused {
                            peer: ses.peer_addr.clone(),
                            reason,
                        }
                    }
                    Some(session) => {
                        tracing::warn!(peer = %session.name, "skein node disconnected");
                        NodeEvent::Disconnected { peer: session.name }
                    }
                    None => NodeEvent::Disconnected {
                        peer: ses.peer_addr.clone(),
                    },
                };
                let _ = events.send(event);
            }
        }
    }
}
