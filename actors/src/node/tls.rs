//! TLS for node sessions, and the slot that lets it be replaced at run time.

use std::sync::{Arc, RwLock};

/// TLS for node connections, as ractor_cluster takes it: an acceptor for incoming
/// sessions and a connector (with the server name to verify) for outgoing ones. The
/// types come from the `tokio_rustls` and `rustls_pki_types` crates, which this crate
/// re-exports.
#[derive(Clone)]
pub struct Tls {
    /// Accepts incoming sessions.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Opens outgoing sessions.
    pub connector: tokio_rustls::TlsConnector,
    /// The name peers' certificates are verified against.
    pub server_name: rustls_pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A node's TLS, shared by its accept loop and its dialer, and replaceable at run time:
/// each new session reads it when it starts; sessions already open go on as they are.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSlot(Arc<RwLock<Option<Tls>>>);

impl TlsSlot {
    pub(crate) fn new(tls: Option<Tls>) -> TlsSlot {
        TlsSlot(Arc::new(RwLock::new(tls)))
    }

    /// The TLS a session starting now uses, if any.
    pub(crate) fn current(&self) -> Option<Tls> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn replace(&self, tls: Tls) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(tls);
    }
}
