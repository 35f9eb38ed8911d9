//! Nodes: a process's place in a cluster (feature `cluster`). The one module that
//! speaks to ractor_cluster, so transport and membership live in one place.
//!
//! A node listens on an address with a shared secret (the cookie), and optionally TLS.
//! It connects to the peers it is given (addresses, or DNS names that may resolve to
//! several) and keeps reconnecting with backoff; it pings every connected peer on a
//! heartbeat and tears down the session of one that stops answering.
//!
//! - `events`: [`NodeEvent`], what a node reports, and rate-limited refusal logs.
//! - `listener`: the accept loop, which guards a connection until it authenticates.
//! - `sessions`: the table of sessions, kept from ractor_cluster's events.
//! - `heartbeat`: the agent that answers pings, and the loop that sends them.
//! - `connect`: dialing a peer once, or keeping it connected.
//! - `tls`: [`Tls`].
//! - `wire`: how the actors' messages cross a session.
//!
//! Any number of nodes may run in one process, each with its own address, cookie and
//! limits.

mod connect;
mod events;
mod heartbeat;
mod listener;
mod sessions;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use ractor::{Actor, ActorRef, SpawnErr};
use ractor_cluster::node::NodeConnectionMode;
use ractor_cluster::{IncomingEncryptionMode, NodeServer, NodeServerMessage};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use connect::ConnectError;
pub use events::{NodeEvent, NodeEvents, RefusalReason};
pub use tls::Tls;
use tls::TlsSlot;

use crate::frame::Limits;
use crate::ledger::remote::{self as ledger, LedgerMsg};
use crate::supervisor::events::ShutdownReport;
use connect::Dialer;
use events::Events;
use heartbeat::AgentMsg;
use listener::{HandshakeLimits, Pending};
use sessions::{Forward, Sessions};

/// The bytes a session reads beyond the frame limit: ractor_cluster's envelope around
/// a frame (the variant name, the reply port's id).
const ENVELOPE_BYTES: usize = 4096;

/// Builds a [`Node`]. Start with [`Node::builder`].
#[derive(Debug)]
pub struct NodeBuilder {
    listen: String,
    cookie: Option<String>,
    name: Option<String>,
    peers: Vec<String>,
    tls: Option<Tls>,
    heartbeat: Duration,
    misses: u32,
    backoff: (Duration, Duration),
    limits: Limits,
    handshake: HandshakeLimits,
    transitive: bool,
    tags: Vec<String>,
}

/// The smallest frame limit a node takes: a dispatch of small args must fit.
const MIN_FRAME_BYTES: usize = 1024;

/// A node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A node needs a cookie: the shared secret of its cluster.
    #[error("a node needs a cookie")]
    NoCookie,
    /// The listen address is not a socket address.
    #[error("bad listen address {address:?}")]
    BadAddress {
        /// The address given.
        address: String,
        /// Why it does not parse.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The node's actors failed to start.
    #[error("the node's actors failed to start")]
    Start(#[from] SpawnErr),
    /// A setting cannot work.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The builder's setting.
        field: &'static str,
        /// Why it cannot work.
        reason: &'static str,
    },
}

impl NodeBuilder {
    /// The address to listen on, as `ip:port`; port 0 picks a free one (default
    /// `127.0.0.1:0`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The shared secret of the cluster. Nodes with different cookies refuse each other.
    /// It must not be empty.
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// The node's name (default: `skein@<listen address>`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A peer to connect to and stay connected to: `host:port`, where `host` may be a
    /// DNS name that resolves to several addresses (as a Kubernetes headless Service
    /// does); every address it resolves to is connected.
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peers.push(peer.into());
        self
    }

    /// TLS for every session, in and out. For untrusted networks, make it mutual: give
    /// the acceptor a client certificate verifier, so that only peers with a
    /// certificate of your CA are accepted. [`Node::set_tls`] replaces it at run time.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The heartbeat period, and how many missed beats in a row tear a session down
    /// (default 250 ms and 2: a hung peer is cut off within about 0.75 s). The period
    /// must be more than zero and `misses` at least one.
    pub fn heartbeat(mut self, period: Duration, misses: u32) -> Self {
        self.heartbeat = period;
        self.misses = misses;
        self
    }

    /// How long an incoming connection has to authenticate, its TLS handshake
    /// included (default 5 s); past it the connection is closed and reported
    /// `Refused` with [`RefusalReason::HandshakeTimeout`]. More than zero.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake.timeout = timeout;
        self
    }

    /// How many bytes an incoming connection may deliver before it authenticates
    /// (default 16 KiB; a handshake takes well under 1 KiB). At least 1 KiB.
    pub fn handshake_bytes(mut self, max_bytes: usize) -> Self {
        self.handshake.max_bytes = max_bytes;
        self
    }

    /// How many incoming connections may be waiting to authenticate at once (default
    /// 64); a connection past it is closed at once and reported `Refused` with
    /// [`RefusalReason::TooManyPending`]. At least one.
    pub fn max_pending_handshakes(mut self, n: usize) -> Self {
        self.handshake.max_pending = n;
        self
    }

    /// The reconnect backoff: the first wait, doubling up to the longest. The first
    /// must be more than zero and no longer than the longest.
    pub fn reconnect_backoff(mut self, first: Duration, longest: Duration) -> Self {
        self.backoff = (first, longest);
        self
    }

    /// The largest frame this node sends or reads (default 16 MiB, at least 1 KiB). A
    /// dispatch or a reply past it is refused with a typed error and the session stays
    /// up. Nodes of one cluster should agree: a frame past the reader's limit ends the
    /// session.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Tags that every worker of every pool on this node carries (beside the pool's
    /// own), for routes to ask for: a node's hardware, its zone.
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Whether connecting to a peer also connects to that peer's peers (default
    /// false: nodes connect only to the peers they are given).
    pub fn transitive(mut self, transitive: bool) -> Self {
        self.transitive = transitive;
        self
    }

    /// Starts the node: its server, its agent (which answers heartbeats), its ledger
    /// actor (through which other nodes reach this process's home ledger), and the
    /// reconnect and heartbeat loops.
    ///
    /// # Errors
    ///
    /// [`NodeError`] for a missing cookie, a bad or busy address, or actors that fail
    /// to start.
    pub async fn build(self) -> Result<Node, NodeError> {
        self.validate()?;
        let cookie = self.cookie.ok_or(NodeError::NoCookie)?;
        let requested: SocketAddr =
            self.listen
                .parse()
                .map_err(|source| NodeError::BadAddress {
                    address: self.listen.clone(),
                    source,
                })?;
        let listener = tokio::net::TcpListener::bind(requested)
            .await
            .map_err(|source| NodeError::Bind {
                address: requested,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| NodeError::Bind {
            address: requested,
            source,
        })?;
        let name = self.name.unwrap_or_else(|| format!("skein@{addr}"));

        let mode = if self.transitive {
            NodeConnectionMode::Transitive
        } else {
            NodeConnectionMode::Isolated
        };
        // The node accepts connections itself (`listener.rs`). ractor_cluster's server
        // insists on a listener of its own: it gets one on an ephemeral loopback port,
        // told to no one, that refuses every TLS handshake, so nothing reaches a
        // session through it. Peers are told the node's real port.
        let tls = TlsSlot::new(self.tls);
        let refuse_all = listener::refuse_all()
            .map_err(|e| NodeError::Start(SpawnErr::StartupFailed(e.to_string().into())))?;
        let server = NodeServer::new(
            0,
            cookie.clone(),
            name.clone(),
            addr.ip().to_string(),
            Some(IncomingEncryptionMode::Tls(refuse_all)),
            Some(mode),
        )
        .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
        .with_max_inbound_frame_size(
            self.limits.max_frame_bytes.saturating_add(ENVELOPE_BYTES) as u64,
        );
        let (server, _) = Actor::spawn(None, server, ()).await?;
        let start_failed = |e: ractor::MessagingErr<NodeServerMessage>| {
            NodeError::Start(SpawnErr::StartupFailed(e.to_string().into()))
        };
        // After the message its own listener sent while it started.
        server
            .cast(NodeServerMessage::PortChanged { port: addr.port() })
            .map_err(start_failed)?;
        // From here on `inner` owns what has started: a later failure stops it.
        let mut inner = NodeInner {
            dialer: Arc::new(Dialer {
                server,
                tls: tls.clone(),
                own: addr,
                sessions: Sessions::default(),
            }),
            agent: None,
            ledger: None,
            name,
            cookie,
            limits: self.limits,
            tags: self.tags,
            events: Events::new(),
            tasks: Mutex::new(Vec::new()),
            drains: Mutex::new(Vec::new()),
            shutdown: tokio::sync::OnceCell::new(),
        };
        inner.agent = Some(heartbeat::start_agent(inner.dialer.sessions.clone()).await?);
        inner.ledger = Some(ledger::start().await?);

        let pending = Pending::default();
        let (raw, raw_rx) = mpsc::unbounded_channel();
        inner
            .dialer
            .server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "skein".to_string(),
                subscription: Box::new(Forward {
                    raw,
                    pending: pending.clone(),
                }),
            })
            .map_err(start_failed)?;
        let sessions = inner.dialer.sessions.clone();
        let mut tasks = vec![
            tokio::spawn(sessions::track(
                raw_rx,
                sessions.clone(),
                pending.clone(),
                inner.events.clone(),
            )),
            tokio::spawn(heartbeat::beat(
                sessions,
                inner.events.clone(),
                self.heartbeat,
                self.misses,
            )),
            tokio::spawn(listener::accept(
                listener,
                inner.dialer.server.clone(),
                tls,
                self.handshake,
                pending,
                inner.events.clone(),
            )),
        ];
        for peer in self.peers {
            tasks.push(tokio::spawn(connect::keep_connected(
                Arc::downgrade(&inner.dialer),
                peer,
                self.backoff,
            )));
        }
        *inner.tasks.get_mut().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(Node {
            inner: Arc::new(inner),
        })
    }

    /// Every setting that cannot work is refused here, by name, before anything
    /// starts: nothing later may panic on a value the user passed.
    fn validate(&self) -> Result<(), NodeError> {
        let invalid = |field, reason| Err(NodeError::Invalid { field, reason });
        if self.cookie.as_deref() == Some("") {
            return invalid("cookie", "an empty shared secret is no secret");
        }
        if self.heartbeat.is_zero() {
            return invalid("heartbeat period", "must be more than zero");
        }
        if self.misses == 0 {
            return invalid("heartbeat misses", "must be at least one");
        }
        let (first, longest) = self.backoff;
        if first.is_zero() {
            return invalid("reconnect backoff", "the first wait must be more than zero");
        }
        if first > longest {
            return invalid(
                "reconnect backoff",
                "the first wait is longer than the longest",
            );
        }
        if self.limits.max_frame_bytes < MIN_FRAME_BYTES {
            return invalid(
                "limits",
                "a frame limit under 1 KiB cannot carry a dispatch",
            );
        }
        if self.handshake.timeout.is_zero() {
            return invalid("handshake timeout", "must be more than zero");
        }
        if self.handshake.max_bytes < HandshakeLimits::MIN_BYTES {
            return invalid("handshake bytes", "a handshake needs at least 1 KiB");
        }
        if self.handshake.max_pending == 0 {
            return invalid("max pending handshakes", "must be at least one");
        }
        if let Some(reason) = crate::route::tag_problem(&self.tags) {
            return invalid("tags", reason);
        }
        Ok(())
    }
}

/// A node: this process's place in a cluster. Handles are cheap to clone; the node
/// stops when the last one is dropped.
///
/// ```no_run
/// # async fn f() -> Result<(), skein_actors::NodeError> {
/// use skein_actors::Node;
/// let node = Node::builder().listen("127.0.0.1:0").cookie("secret").peer("127.0.0.1:7400").build().await?;
/// println!("listening on {}", node.addr());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    dialer: Arc<Dialer>,
    agent: Option<ActorRef<AgentMsg>>,
    ledger: Option<ActorRef<LedgerMsg>>,
    name: String,
    cookie: String,
    limits: Limits,
    tags: Vec<String>,
    events: Events,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// What drains when the node shuts down: the pools built on it.
    drains: Mutex<Vec<Weak<dyn Drain>>>,
    /// The report of the node's one shutdown, once it has begun.
    shutdown: tokio::sync::OnceCell<ShutdownReport>,
}

impl NodeInner {
    /// Stops the node's loops and actors: its sessions end with its server.
    fn stop(&self, why: &str) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.dialer.server.stop(Some(why.to_string()));
        if let Some(agent) = &self.agent {
            agent.stop(None);
        }
        if let Some(ledger) = &self.ledger {
            ledger.stop(None);
        }
    }
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.stop("node dropped");
    }
}

/// Something that drains when its node shuts down ([`Node::shutdown`]): a pool built
/// on the node registers itself with [`Node::on_shutdown`].
pub trait Drain: Send + Sync + 'static {
    /// Shuts down gracefully within `grace`, and reports what was in flight.
    fn drain(self: Arc<Self>, grace: Duration) -> BoxFuture<'static, ShutdownReport>;
}

/// How long a leaving node waits for each peer to note that it is leaving.
const LEAVE_NOTICE: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("addr", &self.inner.dialer.own)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A builder with the defaults: `127.0.0.1:0`, no peers, no TLS.
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            listen: "127.0.0.1:0".to_string(),
            cookie: None,
            name: None,
            peers: Vec::new(),
            tls: None,
            heartbeat: Duration::from_millis(250),
            misses: 2,
            backoff: (Duration::from_millis(50), Duration::from_secs(5)),
            limits: Limits::default(),
            handshake: HandshakeLimits::default(),
            transitive: false,
            tags: Vec::new(),
        }
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.dialer.own
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The tags every worker of every pool on this node carries.
    pub fn tags(&self) -> &[String] {
        &self.inner.tags
    }

    /// The cluster's cookie (what worker processes are handed to join it).
    pub fn cookie(&self) -> &str {
        &self.inner.cookie
    }

    /// The limits of the frames this node sends and reads.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The node's events, from now on, as a stream of the same shape as
    /// `skein::Pool::events`.
    pub fn events(&self) -> NodeEvents {
        self.inner.events.subscribe()
    }

    /// The names of the peers connected now.
    pub fn peers(&self) -> Vec<String> {
        self.inner.dialer.sessions.ready_peers()
    }

    /// Replaces the node's TLS (or sets it, on a node built without): every session
    /// that starts from now on, in or out, uses `tls`; sessions already open go on
    /// with what they started with. This is how certificates are rotated.
    pub fn set_tls(&self, tls: Tls) {
        self.inner.dialer.tls.replace(tls);
    }

    /// Has `drain` drain when the node shuts down, for as long as it lives (it is held
    /// weakly: a pool dropped first is skipped).
    pub fn on_shutdown(&self, drain: Weak<dyn Drain>) {
        let mut drains = self.inner.drains.lock().unwrap_or_else(|p| p.into_inner());
        drains.retain(|d| d.strong_count() > 0);
        drains.push(drain);
    }

    /// Shuts the node down gracefully:
    ///
    /// 1. every pool built on it drains within `grace` (see `skein::Pool::shutdown`:
    ///    new calls refused, its workers out of their process groups first and the
    ///    peers synced, so they route elsewhere at once; what is in flight given the
    ///    grace, the rest cancelled);
    /// 2. it tells each peer it is leaving, and waits (a second at most) until each
    ///    has noted it, so the peer reports [`NodeEvent::Left`] when the session ends,
    ///    never a failure;
    /// 3. it closes its sessions and its port.
    ///
    /// The node stays shut: its handles answer, but it serves and connects no more.
    /// A second call waits for the first and returns its report.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        *self
            .inner
            .shutdown
            .get_or_init(|| async {
                let drains: Vec<_> = self
                    .inner
                    .drains
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter_map(Weak::upgrade)
                    .collect();
                let reports =
                    futures::future::join_all(drains.into_iter().map(|d| d.drain(grace))).await;
                self.leave().await;
                reports
                    .into_iter()
                    .fold(ShutdownReport::default(), |a, b| a + b)
            })
            .await
    }

    /// Leaves the cluster now, draining nothing: tells each peer this node is leaving
    /// (so it reports [`NodeEvent::Left`]), then closes the sessions and the port. A
    /// pool that made its own node leaves it this way once it has drained.
    pub async fn leave(&self) {
        self.announce_leaving().await;
        self.inner.stop("node left");
    }

    async fn announce_leaving(&self) {
        let addr = self.inner.dialer.own.to_string();
        heartbeat::announce_leaving(&self.inner.dialer.sessions, &addr, LEAVE_NOTICE).await;
    }

    /// Waits (a second at most for each) until every connected peer has applied the
    /// process-group changes this node made so far: after its workers leave their
    /// group, a pool knows from this that no peer routes to them any more.
    pub async fn sync_with_peers(&self) {
        heartbeat::sync_with_peers(&self.inner.dialer.sessions, LEAVE_NOTICE).await;
    }

    /// Opens a session to `addr` once (the builder's peers are kept connected; this
    /// is for a peer met later). The session is ready when [`NodeEvent::Connected`]
    /// names it.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] when the address cannot be reached.
    pub async fn connect(&self, addr: SocketAddr) -> Result<(), ConnectError> {
        self.inner.dialer.connect(addr).await
    }
}
