//! Dialing peers: one connection on request, or a peer kept connected with backoff.

use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;

use ractor::ActorRef;
use ractor_cluster::{ClientConnectErr, NodeServerMessage};

use super::sessions::Sessions;
use super::tls::TlsSlot;

/// A session could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {addr}")]
pub struct ConnectError {
    /// The address dialed.
    pub addr: SocketAddr,
    /// Why not.
    #[source]
    pub source: ClientConnectErr,
}

/// What a node dials with.
#[derive(Debug)]
pub(crate) struct Dialer {
    pub(crate) server: ActorRef<NodeServerMessage>,
    pub(crate) tls: TlsSlot,
    /// The node's own address: a peer name that resolves to it is never dialed.
    pub(crate) own: SocketAddr,
    pub(crate) sessions: Sessions,
}

impl Dialer {
    /// Opens one session to `addr`; it is ready when the node reports it connected.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> Result<(), ConnectError> {
        match &self.tls.current() {
            None => ractor_cluster::client_connect(&self.server, addr).await,
            Some(tls) => {
                ractor_cluster::client_connect_enc(
                    &self.server,
                    addr,
                    tls.connector.clone(),
                    tls.server_name.clone(),
                )
                .await
            }
        }
        .map_err(|source| ConnectError { addr, source })
    }
}

/// Keeps a session open to every address `peer` resolves to, reconnecting with a
/// doubling backoff, for as long as the node lives.
pub(crate) async fn keep_connected(
    dialer: Weak<Dialer>,
    peer: String,
    (first, longest): (Duration, Duration),
) {
    let mut wait = first;
    loop {
        let Some(dialer) = dialer.upgrade() else {
            return;
        };
        let all_connected = match tokio::net::lookup_host(peer.as_str()).await {
            Ok(addrs) => {
                let mut all = true;
                // A name may resolve to this node too (a Kubernetes headless Service
                // lists every pod, this one included): never dial ourselves.
                for addr in addrs.filter(|addr| *addr != dialer.own) {
                    if !dialer.sessions.answers_for(&addr.to_string()) {
                        all = false;
                        if let Err(e) = dialer.connect(addr).await {
                            tracing::debug!(%peer, error = %e, "skein node: peer not reachable yet");
                        }
                    }
                }
                all
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "skein node: peer name does not resolve yet");
                false
            }
        };
        drop(dialer);
        wait = if all_connected {
            first
        } else {
            (wait * 2).min(longest)
        };
        tokio::time::sleep(wait).await;
    }
}
