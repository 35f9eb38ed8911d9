//! The listen port belongs to skein; the sessions to ractor_cluster.
//!
//! ractor_cluster's own listener awaits each TLS handshake inside its accept loop (one
//! idle socket stops a TLS node from accepting anyone) and lets a peer that has not
//! authenticated send frames up to the full limit. So a node accepts connections
//! itself:
//!
//! - every connection gets its own task, and its TLS handshake (if any) runs there,
//!   under the handshake deadline;
//! - at most `max_pending` connections may be waiting to authenticate; past that a new
//!   one is closed at once;
//! - until its session authenticates, a connection may deliver at most `max_bytes`
//!   and must authenticate before the deadline; its first eight bytes must be the
//!   length of a frame it could send within that budget;
//! - then the stream is handed to ractor_cluster's `NodeServer` as an external
//!   connection, and from authentication on it is read untouched.
//!
//! Every refusal is a `NodeEvent::Refused` with its reason.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use ractor::ActorRef;
use ractor_cluster::{BoxRead, BoxWrite, ClusterBidiStream, NodeServerMessage};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::events::{Events, RefusalReason};
use super::tls::TlsSlot;

/// What a connection may do before it authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// How long a connection has to authenticate (its TLS handshake included).
    pub timeout: Duration,
    /// How many bytes it may deliver before it authenticates.
    pub max_bytes: usize,
    /// How many connections may be waiting to authenticate at once.
    pub max_pending: usize,
}

impl HandshakeLimits {
    /// The fewest bytes a handshake can be done in: below this no peer could ever
    /// authenticate.
    pub const MIN_BYTES: usize = 1024;
}

impl Default for HandshakeLimits {
    /// 5 s, 16 KiB (a handshake takes well under 1 KiB), 64 connections.
    fn default() -> Self {
        HandshakeLimits {
            timeout: Duration::from_secs(5),
            max_bytes: 16 * 1024,
            max_pending: 64,
        }
    }
}

/// One accepted connection, until its session authenticates or closes.
#[derive(Debug, Default)]
struct Conn {
    authenticated: AtomicBool,
    state: Mutex<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Its place among the connections waiting to authenticate; released when it
    /// authenticates or closes.
    permit: Option<OwnedSemaphorePermit>,
    /// Why the guard cut it, if it did.
    cut: Option<RefusalReason>,
    /// Bytes delivered so far.
    read: usize,
    /// Whether its first frame header announced a frame within the budget.
    plausible: bool,
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The connections accepted and not yet authenticated, by the label their session
/// reports as its peer address (the socket's peer address, unique among live
/// connections).
#[derive(Clone, Debug, Default)]
pub(crate) struct Pending(Arc<Mutex<HashMap<String, Arc<Conn>>>>);

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of `label` authenticated: from now on its stream is read
    /// untouched, and it no longer counts against the cap.
    pub(crate) fn authenticated(&self, label: &str) {
        if let Some(conn) = self.lock().remove(label) {
            conn.authenticated.store(true, Ordering::Release);
            conn.lock().permit = None;
        }
    }

    /// The session of `label` closed before it authenticated: why, if it was one of
    /// ours (`None` for a session this node dialed).
    pub(crate) fn closed(&self, label: &str) -> Option<RefusalReason> {
        let conn = self.lock().remove(label)?;
        let mut state = conn.lock();
        state.permit = None;
        Some(match state.cut.take() {
            Some(reason) => reason,
            None if state.read == 0 => RefusalReason::Silent,
            None if state.plausible => RefusalReason::HandshakeFailed,
            None => RefusalReason::NotAPeer,
        })
    }
}

/// Accepts connections on `listener` for as long as the node lives.
pub(crate) async fn accept(
    listener: TcpListener,
    server: ActorRef<NodeServerMessage>,
    tls: TlsSlot,
    limits: HandshakeLimits,
    pending: Pending,
    events: Events,
) {
    let slots = Arc::new(Semaphore::new(limits.max_pending));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(error = %e, "skein node: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            events.refused(peer.to_string(), RefusalReason::TooManyPending);
            continue;
        };
        let deadline = Instant::now() + limits.timeout;
        tokio::spawn(open(
            stream,
            peer.to_string(),
            permit,
            deadline,
            limits.max_bytes,
            tls.current().map(|tls| tls.acceptor),
            server.clone(),
            pending.clone(),
            events.clone(),
        ));
    }
}

/// Takes one connection through its TLS handshake (if any) and hands it to the
/// node server, guarded until it authenticates.
#[allow(clippy::too_many_arguments)] // one connection's whole context, used once
async fn open(
    stream: TcpStream,
    label: String,
    permit: OwnedSemaphorePermit,
    deadline: Instant,
    max_bytes: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
    server: ActorRef<NodeServerMessage>,
    pending: Pending,
    events: Events,
) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(Conn::default());
    conn.lock().permit = Some(permit);
    fn guard<R>(read: R, conn: &Arc<Conn>, deadline: Instant, max_bytes: usize) -> Guarded<R> {
        Guarded {
            inner: read,
            conn: conn.clone(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            max_bytes,
            head: Vec::with_capacity(8),
        }
    }
    let (read, write): (BoxRead, BoxWrite) = match tls {
        None => {
            let (read, write) = stream.into_split();
            (
                Box::new(guard(read, &conn, deadline, max_bytes)),
                Box::new(write),
            )
        }
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                let (read, write) = tokio::io::split(stream);
                (
                    Box::new(guard(read, &conn, deadline, max_bytes)),
                    Box::new(write),
                )
            }
            Ok(Err(e)) => {
                events.refused(
                    label,
                    RefusalReason::Tls {
                        error: e.to_string(),
                    },
                );
                return;
            }
            Err(_) => {
                events.refused(label, RefusalReason::HandshakeTimeout);
                return;
            }
        },
    };
    pending.lock().insert(label.clone(), conn);
    let stream = Box::new(Accepted {
        read,
        write,
        label: label.clone(),
    });
    if server
        .cast(NodeServerMessage::ConnectionOpenedExternal {
            stream,
            is_server: true,
        })
        .is_err()
    {
        // The node is stopping.
        pending.lock().remove(&label);
    }
}

/// An accepted connection as ractor_cluster takes it.
struct Accepted {
    read: BoxRead,
    write: BoxWrite,
    label: String,
}

impl ClusterBidiStream for Accepted {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        (self.read, self.write)
    }

    fn peer_label(&self) -> Option<String> {
        Some(self.label.clone())
    }
}

/// The read half of a connection that has not authenticated yet: it ends the stream
/// (an error the session closes on) at the deadline, past the byte budget, or when
/// the first frame header announces more than the budget.
struct Guarded<R> {
    inner: R,
    conn: Arc<Conn>,
    deadline: Pin<Box<Sleep>>,
    max_bytes: usize,
    /// The first eight bytes: the length of the first frame.
    head: Vec<u8>,
}

impl<R> Guarded<R> {
    fn cut(&self, reason: RefusalReason) -> Poll<io::Result<()>> {
        let message = reason.to_string();
        self.conn.lock().cut = Some(reason);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            message,
        )))
    }
}

/// However the connection ends (its session closed, or never started), it no longer
/// counts against the cap on connections waiting to authenticate.
impl<R> Drop for Guarded<R> {
    fn drop(&mut self) {
        self.conn.lock().permit = None;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Guarded<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.authenticated.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.cut(RefusalReason::HandshakeTimeout);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        // Authenticated meanwhile: these bytes are the session's own.
        if this.conn.authenticated.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let new = &buf.filled()[before..];
        let missing = 8 - this.head.len();
        if missing > 0 {
            this.head.extend(new.iter().take(missing));
            if this.head.len() == 8 {
                let mut length = [0u8; 8];
                length.copy_from_slice(&this.head);
                if u64::from_be_bytes(length) > this.max_bytes as u64 {
                    return this.cut(RefusalReason::NotAPeer);
                }
                this.conn.lock().plausible = true;
            }
        }
        let read = {
            let mut state = this.conn.lock();
            state.read += new.len();
            state.read
        };
        if read > this.max_bytes {
            return this.cut(RefusalReason::TooManyBytes);
        }
        Poll::Ready(Ok(()))
    }
}

/// A TLS acceptor that completes no handshake: it has no certificate to offer. What
/// ractor_cluster's own listener is given, so that nothing reaches a session that way.
pub(crate) fn refuse_all() -> Result<tokio_rustls::TlsAcceptor, tokio_rustls::rustls::Error> {
    use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
    use tokio_rustls::rustls::sign::CertifiedKey;
    use tokio_rustls::rustls::ServerConfig;

    #[derive(Debug)]
    struct NoCertificate;

    impl ResolvesServerCert for NoCertificate {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            None
        }
    }

    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(NoCertificate));
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
