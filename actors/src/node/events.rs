//! What a node reports about its peers.

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
    /// A peer was refused: the handshake failed (a wrong cookie, or not a skein node).
    Refused {
        /// The peer's address.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// A peer stopped answering heartbeats; its session was torn down.
    Unresponsive {
        /// The peer's node name.
        peer: String,
    },
}
