//! Nodes: this process's place in a cluster. The one module that speaks to
//! ractor_cluster, so transport and membership live in one place.
//!
//! A node listens on an address with a shared secret (the cookie), and optionally TLS.
//! It connects to the peers it is given (addresses, or DNS names that may resolve to
//! several) and keeps reconnecting with backoff. Every connected peer is pinged on a
//! heartbeat; a peer that misses enough pings has its session torn down, so calls in
//! flight to a hung node fail instead of waiting forever (TCP alone never notices a
//! stopped process or a cut-off host).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::{
    IncomingEncryptionMode, NodeEventSubscription, NodeServer, NodeServerMessage,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::frame::{set_wire_limits, Limits};
use crate::home::home;
use crate::ids::{LedgerId, TokenId};
use crate::ledger::{LedgerActor, LedgerMsg, SpendOutcome};

/// The process group every node's agent joins.
const NODES_GROUP: &str = "skein.nodes";
/// The process group every node's ledger actor joins.
const LEDGERS_GROUP: &str = "skein.ledgers";

fn ledger_name(home: LedgerId) -> String {
    format!("skein.ledger.{}", home.as_uuid().simple())
}

/// What a node reports about its peers.
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

/// TLS for node connections, as ractor_cluster takes it: an acceptor for incoming
/// sessions and a connector (with the server name to verify) for outgoing ones.
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
    transitive: bool,
}

/// A node could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A node needs a cookie: the shared secret of its cluster.
    #[error("a node needs a cookie")]
    NoCookie,
    /// The listen address is not a socket address.
    #[error("bad listen address {0:?}: {1}")]
    BadAddress(String, String),
    /// The node's actors failed to start.
    #[error("the node failed to start: {0}")]
    Start(String),
}

impl NodeBuilder {
    /// The address to listen on, as `ip:port`; port 0 picks a free one (default
    /// `127.0.0.1:0`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The shared secret of the cluster. Nodes with different cookies refuse each other.
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

    /// TLS for every session, in and out.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The heartbeat period, and how many missed beats in a row tear a session down
    /// (default 250 ms and 2: a hung peer is cut off within about 0.75 s).
    pub fn heartbeat(mut self, period: Duration, misses: u32) -> Self {
        self.heartbeat = period;
        self.misses = misses.max(1);
        self
    }

    /// The reconnect backoff: the first wait, doubling up to the longest.
    pub fn reconnect_backoff(mut self, first: Duration, longest: Duration) -> Self {
        self.backoff = (first, longest);
        self
    }

    /// The largest frame a session accepts or sends (default 16 MiB). A dispatch or a
    /// reply past it is refused with a typed error; the session stays up.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether connecting to a peer also connects to that peer's peers (default
    /// false: nodes connect only to the peers they are given).
    pub fn transitive(mut self, transitive: bool) -> Self {
        self.transitive = transitive;
        self
    }

    /// Starts the node: its server, its agent (which answers heartbeats), its ledger
    /// actor (which decides spends of tokens minted here, for every node), and the
    /// reconnect and heartbeat loops.
    ///
    /// # Errors
    ///
    /// [`NodeError`] for a missing cookie, a bad address, or actors that fail to start.
    pub async fn build(self) -> Result<Node, NodeError> {
        let cookie = self.cookie.ok_or(NodeError::NoCookie)?;
        let requested: SocketAddr =
            self.listen.parse().map_err(|e: std::net::AddrParseError| {
                NodeError::BadAddress(self.listen.clone(), e.to_string())
            })?;
        // ractor_cluster cannot report the port it bound when asked for port 0, so
        // pick a free one here first.
        let addr = if requested.port() == 0 {
            std::net::TcpListener::bind(requested)
                .and_then(|l| l.local_addr())
                .map_err(|e| NodeError::BadAddress(self.listen.clone(), e.to_string()))?
        } else {
            requested
        };
        let name = self.name.unwrap_or_else(|| format!("skein@{addr}"));
        set_wire_limits(self.limits);

        let encryption = match &self.tls {
            Some(tls) => IncomingEncryptionMode::Tls(tls.acceptor.clone()),
            None => IncomingEncryptionMode::Raw,
        };
        let mode = if self.transitive {
            NodeConnectionMode::Transitive
        } else {
            NodeConnectionMode::Isolated
        };
        let cookie_copy = cookie.clone();
        let server = NodeServer::new(
            addr.port(),
            cookie,
            name.clone(),
            addr.ip().to_string(),
            Some(encryption),
            Some(mode),
        )
        .with_listen_addr(addr.ip())
        .with_max_inbound_frame_size(self.limits.max_frame_bytes as u64 + 4096);
        let (server, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|e| NodeError::Start(e.to_string()))?;

        let (agent, _) = Actor::spawn(Some(format!("skein.node.{name}")), Agent, ())
            .await
            .map_err(|e| NodeError::Start(e.to_string()))?;
        ractor::pg::join(NODES_GROUP.to_string(), vec![agent.get_cell()]);
        let (ledger, _) = Actor::spawn(Some(ledger_name(home().id())), LedgerActor, ())
            .await
            .map_err(|e| NodeError::Start(e.to_string()))?;
        ractor::pg::join(LEDGERS_GROUP.to_string(), vec![ledger.get_cell()]);

        let (events, _) = broadcast::channel(256);
        let sessions: Arc<Mutex<HashMap<u64, Session>>> = Arc::default();
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "skein".to_string(),
                subscription: Box::new(Forward(raw_tx)),
            })
            .map_err(|e| NodeError::Start(e.to_string()))?;

        let mut tasks = vec![tokio::spawn(track_sessions(
            raw_rx,
            sessions.clone(),
            events.clone(),
        ))];
        tasks.push(tokio::spawn(heartbeat(
            sessions.clone(),
            events.clone(),
            self.heartbeat,
            self.misses,
        )));
        let inner = Arc::new(NodeInner {
            server,
            agent,
            ledger,
            name,
            addr,
            cookie: cookie_copy,
            events,
            sessions,
            tls: self.tls,
            tasks: Mutex::new(Vec::new()),
        });
        for peer in self.peers {
            tasks.push(tokio::spawn(keep_connected(
                Arc::downgrade(&inner),
                peer,
                self.backoff,
            )));
        }
        *inner.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(Node { inner })
    }
}

/// This process's node. Handles are cheap to clone; the node stops when the last one
/// is dropped.
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
    server: ActorRef<NodeServerMessage>,
    agent: ActorRef<AgentMsg>,
    ledger: ActorRef<LedgerMsg>,
    name: String,
    addr: SocketAddr,
    cookie: String,
    events: broadcast::Sender<NodeEvent>,
    sessions: Arc<Mutex<HashMap<u64, Session>>>,
    tls: Option<Tls>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.server.stop(Some("node dropped".to_string()));
        self.agent.stop(None);
        self.ledger.stop(None);
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("addr", &self.inner.addr)
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
            transitive: false,
        }
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The cluster's cookie (what worker processes are handed to join it).
    pub fn cookie(&self) -> &str {
        &self.inner.cookie
    }

    /// The node's events, from now on.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// The names of the peers connected now.
    pub fn peers(&self) -> Vec<String> {
        lock(&self.inner.sessions)
            .values()
            .filter(|s| s.ready)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Opens a session to `addr` once (the builder's peers are kept connected; this
    /// is for a peer met later). The session is ready when [`NodeEvent::Connected`]
    /// names it.
    ///
    /// # Errors
    ///
    /// The connection error, as text, when the address cannot be reached.
    pub async fn connect(&self, addr: SocketAddr) -> Result<(), String> {
        connect(&self.inner, addr).await
    }
}

async fn connect(inner: &NodeInner, addr: SocketAddr) -> Result<(), String> {
    match &inner.tls {
        None => ractor_cluster::client_connect(&inner.server, addr).await,
        Some(tls) => {
            ractor_cluster::client_connect_enc(
                &inner.server,
                addr,
                tls.connector.clone(),
                tls.server_name.clone(),
            )
            .await
        }
    }
    .map_err(|e| format!("{e:?}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A session as the node tracks it.
#[derive(Debug)]
struct Session {
    actor: ActorRef<ractor_cluster::NodeSessionMessage>,
    /// The peer's node name, or its address until it says.
    name: String,
    /// The addresses this session answers for: the socket's, and the peer's
    /// advertised listen address.
    addrs: Vec<String>,
    authenticated: bool,
    ready: bool,
    missed: u32,
}

enum Raw {
    Opened(NodeServerSessionInformation),
    Authenticated(NodeServerSessionInformation),
    Ready(NodeServerSessionInformation),
    Disconnected(NodeServerSessionInformation),
}

/// ractor_cluster calls these inside its server actor: they must not block, so they
/// only forward.
struct Forward(mpsc::UnboundedSender<Raw>);

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

async fn track_sessions(
    mut raw: mpsc::UnboundedReceiver<Raw>,
    sessions: Arc<Mutex<HashMap<u64, Session>>>,
    events: broadcast::Sender<NodeEvent>,
) {
    while let Some(event) = raw.recv().await {
        match event {
            Raw::Opened(ses) => {
                let (name, addrs) = describe(&ses);
                lock(&sessions).insert(
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
                if let Some(session) = lock(&sessions).get_mut(&ses.node_id) {
                    session.authenticated = true;
                    session.name = name;
                    session.addrs = addrs;
                }
            }
            Raw::Ready(ses) => {
                let (name, addrs) = describe(&ses);
                if let Some(session) = lock(&sessions).get_mut(&ses.node_id) {
                    session.ready = true;
                    session.name = name.clone();
                    session.addrs = addrs;
                }
                tracing::info!(peer = %name, "skein node connected");
                let _ = events.send(NodeEvent::Connected { peer: name });
            }
            Raw::Disconnected(ses) => {
                let session = lock(&sessions).remove(&ses.node_id);
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

/// The agent of each node answers heartbeats.
#[derive(Debug, ractor_cluster::RactorClusterMessage)]
pub enum AgentMsg {
    /// A heartbeat; answered at once.
    #[rpc]
    Ping(RpcReplyPort<u64>),
}

struct Agent;

impl Actor for Agent {
    type Msg = AgentMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<AgentMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<AgentMsg>,
        message: AgentMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentMsg::Ping(reply) => {
                let _ = reply.send(0);
            }
        }
        Ok(())
    }
}

/// Pings every ready peer each period; a peer that misses `misses` in a row has its
/// session killed, which fails every call in flight to it at once.
async fn heartbeat(
    sessions: Arc<Mutex<HashMap<u64, Session>>>,
    events: broadcast::Sender<NodeEvent>,
    period: Duration,
    misses: u32,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let agents = ractor::pg::get_members(&NODES_GROUP.to_string());
        let ready: Vec<u64> = lock(&sessions)
            .iter()
            .filter(|(_, s)| s.ready)
            .map(|(id, _)| *id)
            .collect();
        let pings = ready.into_iter().map(|node_id| {
            let agent = agents
                .iter()
                .find(|a| !a.get_id().is_local() && a.get_id().node() == node_id)
                .map(|a| ActorRef::<AgentMsg>::from(a.clone()));
            async move {
                let answered = match agent {
                    Some(agent) => matches!(
                        agent.call(AgentMsg::Ping, Some(period)).await,
                        Ok(CallResult::Success(_))
                    ),
                    // Its agent has not synced yet; not a miss.
                    None => true,
                };
                (node_id, answered)
            }
        });
        for (node_id, answered) in futures::future::join_all(pings).await {
            let mut sessions = lock(&sessions);
            let Some(session) = sessions.get_mut(&node_id) else {
                continue;
            };
            if answered {
                session.missed = 0;
                continue;
            }
            session.missed += 1;
            if session.missed >= misses {
                tracing::error!(peer = %session.name, missed = session.missed, "skein node unresponsive: tearing its session down");
                let _ = events.send(NodeEvent::Unresponsive {
                    peer: session.name.clone(),
                });
                session.actor.kill();
            }
        }
    }
}

/// Keeps a session open to every address `peer` resolves to, reconnecting with backoff.
async fn keep_connected(
    node: std::sync::Weak<NodeInner>,
    peer: String,
    (first, longest): (Duration, Duration),
) {
    let mut wait = first;
    loop {
        let Some(inner) = node.upgrade() else {
            return;
        };
        let all_connected = match tokio::net::lookup_host(peer.as_str()).await {
            Ok(addrs) => {
                let mut all = true;
                // A name may resolve to this node too (a Kubernetes headless Service
                // lists every pod, this one included): never dial ourselves.
                for addr in addrs.filter(|addr| *addr != inner.addr) {
                    let text = addr.to_string();
                    let connected = lock(&inner.sessions)
                        .values()
                        .any(|s| s.addrs.contains(&text));
                    if !connected {
                        all = false;
                        if let Err(e) = connect(&inner, addr).await {
                            tracing::debug!(%peer, %addr, error = %e, "skein node: peer not reachable yet");
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
        drop(inner);
        wait = if all_connected {
            first
        } else {
            (wait * 2).min(longest)
        };
        tokio::time::sleep(wait).await;
    }
}

/// A spend could not be decided: the token's home ledger is out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's home ledger is unavailable")]
pub struct LedgerUnavailable;

/// How long a spend waits for a remote home ledger.
const REMOTE_SPEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a token is spent, as its home ledger knows it: here, from what this node
/// has learned, or by asking the home node.
///
/// # Errors
///
/// [`LedgerUnavailable`] when the home node is not connected or does not answer.
pub async fn is_spent(id: TokenId) -> Result<bool, LedgerUnavailable> {
    let here = home();
    if id.home() == here.id() || here.is_spent(&id) {
        return Ok(here.is_spent(&id));
    }
    let ledger = home_ledger(id.home()).ok_or(LedgerUnavailable)?;
    match ledger
        .call(
            |port| LedgerMsg::IsSpent(id, port),
            Some(REMOTE_SPEND_TIMEOUT),
        )
        .await
    {
        Ok(CallResult::Success(spent)) => {
            if spent {
                here.learn([&id]);
            }
            Ok(spent)
        }
        _ => Err(LedgerUnavailable),
    }
}

/// The ledger actor of the node whose home ledger is `home`, if it is connected.
fn home_ledger(home: LedgerId) -> Option<ActorRef<LedgerMsg>> {
    let name = ledger_name(home);
    ractor::pg::get_members(&LEDGERS_GROUP.to_string())
        .into_iter()
        .find(|cell| cell.get_name().as_deref() == Some(name.as_str()))
        .map(ActorRef::<LedgerMsg>::from)
}

/// Decides a spend at the token's home ledger: here for tokens minted here, on the
/// home node otherwise. A home that cannot be reached refuses the spend
/// (`LedgerUnavailable`): never a double spend.
///
/// # Errors
///
/// [`LedgerUnavailable`] when the home node is not connected or does not answer.
pub async fn spend(id: TokenId) -> Result<SpendOutcome, LedgerUnavailable> {
    let here = home();
    if id.home() == here.id() {
        return Ok(here.spend(id));
    }
    if here.is_spent(&id) {
        return Ok(SpendOutcome::AlreadySpent);
    }
    let ledger = home_ledger(id.home()).ok_or(LedgerUnavailable)?;
    match ledger
        .call(
            |port| LedgerMsg::Spend(id, port),
            Some(REMOTE_SPEND_TIMEOUT),
        )
        .await
    {
        Ok(CallResult::Success(outcome)) => {
            // Either way the id is spent now: remember it here.
            here.learn([&id]);
            Ok(outcome)
        }
        _ => Err(LedgerUnavailable),
    }
}
