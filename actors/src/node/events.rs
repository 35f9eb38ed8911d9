//! What a node reports about its peers, and how refusals are logged.

use std::collections::HashMap;
use std::fmt;
use std::mem::Discriminant;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::event_stream::EventStream;

use crate::metrics;

/// A change in a node's sessions with its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A session with a peer is authenticated and ready.
    Connected {
        /// The peer's node name.
        peer: String,
    },
    /// A session ended.
    Disconnected {
        /// The peer's node name, or its address if it never said.
        peer: String,
    },
    /// A connection was refused before it authenticated.
    Refused {
        /// The peer's address.
        peer: String,
        /// Why.
        reason: RefusalReason,
    },
    /// A peer shut down cleanly ([`Node::shutdown`](crate::Node::shutdown)): it said
    /// so before its session ended, after draining what it ran. Not a failure: nothing
    /// was lost, and the pools here already route elsewhere.
    Left {
        /// The peer's node name.
        peer: String,
    },
    /// A peer stopped answering heartbeats; its session was torn down.
    Unresponsive {
        /// The peer's node name.
        peer: String,
    },
}

/// A node's events, as a stream: what [`Node::events`](crate::Node::events) returns.
/// Events missed by a slow reader are skipped, as they are by the pool's events
/// stream; it ends when the node is dropped.
pub type NodeEvents = EventStream<NodeEvent>;

/// Why a connection was refused before it authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The handshake failed after a well-formed start: a wrong cookie, or a peer of
    /// another cluster protocol. (ractor_cluster says no more than that the session
    /// closed.)
    HandshakeFailed,
    /// Its first bytes are not a cluster frame: not a skein peer (or TLS spoken to a
    /// node without it).
    NotAPeer,
    /// It closed without sending anything: a port probe, or a TCP health check.
    Silent,
    /// It did not authenticate within the handshake deadline.
    HandshakeTimeout,
    /// It sent more than the handshake allows before authenticating.
    TooManyBytes,
    /// Too many connections were waiting to authenticate: it was closed at once.
    TooManyPending,
    /// Its TLS handshake failed.
    Tls {
        /// What rustls said.
        error: String,
    },
}

impl RefusalReason {
    /// The reason's name in snake case: a stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RefusalReason::HandshakeFailed => "handshake_failed",
            RefusalReason::NotAPeer => "not_a_peer",
            RefusalReason::Silent => "silent",
            RefusalReason::HandshakeTimeout => "handshake_timeout",
            RefusalReason::TooManyBytes => "too_many_bytes",
            RefusalReason::TooManyPending => "too_many_pending",
            RefusalReason::Tls { .. } => "tls",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::HandshakeFailed => {
                f.write_str("the handshake failed: a wrong cookie, or another cluster protocol")
            }
            RefusalReason::NotAPeer => f.write_str("its first bytes are not a cluster frame"),
            RefusalReason::Silent => f.write_str("it closed without sending anything"),
            RefusalReason::HandshakeTimeout => {
                f.write_str("it did not authenticate within the handshake deadline")
            }
            RefusalReason::TooManyBytes => {
                f.write_str("it sent more than the handshake allows before authenticating")
            }
            RefusalReason::TooManyPending => {
                f.write_str("too many connections were waiting to authenticate")
            }
            RefusalReason::Tls { error } => write!(f, "its TLS handshake failed: {error}"),
        }
    }
}

/// How often one kind of refusal is logged: a port scan must not flood the log.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Per kind of refusal: when it was last logged, and how many went unlogged since.
type Logged = HashMap<Discriminant<RefusalReason>, (Option<Instant>, u64)>;

/// Where a node's events go, with a rate-limited WARN line per kind of refusal.
#[derive(Clone, Debug)]
pub(crate) struct Events {
    sender: broadcast::Sender<NodeEvent>,
    logged: Arc<Mutex<Logged>>,
}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            sender: broadcast::channel(256).0,
            logged: Arc::default(),
        }
    }

    pub(crate) fn subscribe(&self) -> NodeEvents {
        NodeEvents::new(self.sender.subscribe())
    }

    pub(crate) fn send(&self, event: NodeEvent) {
        match &event {
            NodeEvent::Connected { .. } => metrics::node_session("connected"),
            NodeEvent::Disconnected { .. } => metrics::node_session("disconnected"),
            NodeEvent::Left { .. } => metrics::node_session("left"),
            NodeEvent::Unresponsive { .. } => metrics::node_session("unresponsive"),
            NodeEvent::Refused { reason, .. } => metrics::node_refusal(reason.kind()),
        }
        // No subscriber is fine: events are for whoever listens.
        let _ = self.sender.send(event);
    }

    /// Reports a refused connection: always as an event, as a WARN line at most once
    /// a second per kind of refusal (saying how many were not logged in between).
    pub(crate) fn refused(&self, peer: String, reason: RefusalReason) {
        let now = Instant::now();
        let quiet = {
            let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
            let entry = logged
                .entry(std::mem::discriminant(&reason))
                .or_insert((None, 0));
            if entry
                .0
                .is_none_or(|last| now.duration_since(last) >= LOG_EVERY)
            {
                let quiet = entry.1;
                *entry = (Some(now), 0);
                Some(quiet)
            } else {
                entry.1 += 1;
                None
            }
        };
        if let Some(unlogged) = quiet {
            tracing::warn!(%peer, %reason, unlogged, "skein node refused a connection");
        }
        self.send(NodeEvent::Refused { peer, reason });
    }
}
