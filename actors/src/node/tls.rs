//! TLS for node sessions.

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
