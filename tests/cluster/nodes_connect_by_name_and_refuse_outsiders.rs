//! Nodes meeting each other: a peer given by DNS name is found and connected, a node
//! with the wrong cookie is refused on both sides, and nodes that speak
//! TLS serve calls over it and refuse a node that does not. The second node is this
//! binary again in `node` mode, a process of its own as a real peer is (nodes in one
//! process are `any_number_of_nodes_share_one_process.rs`), printing every
//! `NodeEvent` it sees, one a line.

use futures::StreamExt;
use skein::{Node, NodeEvent, NodeEvents};
use tokio::time::Instant;

use crate::support::{self, Helper, BOUND};

/// The cookie of a `node`-mode process.
const COOKIE_ENV: &str = "SKEIN_TEST_COOKIE";
/// The peer a `node`-mode process connects to.
const PEER_ENV: &str = "SKEIN_TEST_PEER";
/// Set (to anything) for a `node`-mode process that speaks TLS.
const TLS_ENV: &str = "SKEIN_TEST_TLS";

/// TLS from the test certificates in `tls/` (a throwaway CA and one certificate for
/// `skein.test`, which every node both presents and verifies).
pub fn tls() -> skein::actors::Tls {
    use skein::actors::rustls_pki_types::pem::PemObject;
    use skein::actors::rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use skein::actors::tokio_rustls;
    use skein::actors::tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
    use std::sync::Arc;

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/node.crt"))
            .expect("node.crt")
            .map(|cert| cert.expect("a certificate"))
            .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/node.key")).expect("node.key");
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(format!("{dir}/ca.crt")).expect("ca.crt") {
        roots
            .add(ca.expect("the CA certificate"))
            .expect("a usable CA");
    }
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a server config");
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    skein::actors::Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        server_name: ServerName::try_from("skein.test")
            .expect("a DNS name")
            .to_owned(),
    }
}

/// Waits for the node's next event that `wanted` accepts; panics on a `Connected`
/// when `no_connect` is set, and with the events seen on the way after `deadline`.
async fn wait_node_event(
    events: &mut NodeEvents,
    deadline: Instant,
    what: &str,
    no_connect: bool,
    wanted: impl Fn(&NodeEvent) -> bool,
) -> NodeEvent {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(event @ NodeEvent::Connected { .. })) if no_connect => {
                panic!("{what}: a peer connected: {event:?}")
            }
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("{what}: the event stream ended; seen {seen:?}"),
            Err(_) => panic!("{what}: not seen in time; seen {seen:?}"),
        }
    }
}

/// S89: nodes with different cookies refuse each other. The parent sees the child's
/// attempt as `Refused`, the child sees the parent's answer as `Refused`, and neither
/// ever reports the other connected.
pub async fn a_wrong_cookie_is_refused_on_both_sides() {
    let node = Node::builder()
        .cookie("right")
        .build()
        .await
        .expect("node builds");
    let mut events = node.events();
    let mut child = Helper::spawn(
        "node",
        &[
            (COOKIE_ENV, "wrong".to_string()),
            (PEER_ENV, node.addr().to_string()),
        ],
    );
    let deadline = Instant::now() + BOUND;
    wait_node_event(
        &mut events,
        deadline,
        "the parent refuses the child",
        true,
        |e| matches!(e, NodeEvent::Refused { .. }),
    )
    .await;
    child
        .wait_line(deadline, "the child is refused", |line| {
            assert!(
                !line.starts_with("Connected"),
                "a node with the wrong cookie connected: {line}"
            );
            line.starts_with("Refused")
        })
        .await;
    assert!(
        node.peers().is_empty(),
        "no peer connected: {:?}",
        node.peers()
    );
    child.kill().await;
}

/// A peer given as `localhost:<port>` (a name to resolve, not an address) is
/// connected: both sides report `Connected`.
pub async fn peers_by_dns_name() {
    let node = Node::builder()
        .cookie("right")
        .build()
        .await
        .expect("node builds");
    let mut events = node.events();
    let peer = format!("localhost:{}", node.addr().port());
    let mut child = Helper::spawn(
        "node",
        &[(COOKIE_ENV, "right".to_string()), (PEER_ENV, peer)],
    );
    let deadline = Instant::now() + BOUND;
    let connected = wait_node_event(
        &mut events,
        deadline,
        "the named peer connects",
        false,
        |e| matches!(e, NodeEvent::Connected { .. }),
    )
    .await;
    let NodeEvent::Connected { peer } = connected else {
        unreachable!()
    };
    assert!(
        node.peers().contains(&peer),
        "{peer} is listed among the peers {:?}",
        node.peers()
    );
    child
        .wait_line(deadline, "the child connects by name", |line| {
            line.starts_with("Connected")
        })
        .await;
    child.kill().await;
}

/// Nodes that speak TLS connect and serve calls over it; a node without TLS is
/// refused by one that requires it.
pub async fn a_tls_cluster_serves_calls_and_refuses_plain_peers() {
    let node = Node::builder()
        .cookie("tls")
        .tls(tls())
        .build()
        .await
        .expect("node builds");
    let pool = crate::routines()
        .workers(0)
        .node(&node)
        .build()
        .await
        .expect("pool builds");
    let mut events = node.events();
    let child = Helper::spawn(
        "node",
        &[
            (COOKIE_ENV, "tls".to_string()),
            (PEER_ENV, node.addr().to_string()),
            (TLS_ENV, "1".to_string()),
        ],
    );
    pool.wait_for_workers(1, BOUND)
        .await
        .expect("the TLS peer's worker joined");
    let pid = pool.call::<crate::Pid>(()).await.expect("a call over TLS");
    assert_ne!(pid, std::process::id(), "the call ran in the TLS peer");

    let mut plain = Helper::spawn(
        "node",
        &[
            (COOKIE_ENV, "tls".to_string()),
            (PEER_ENV, node.addr().to_string()),
        ],
    );
    // Both sides tell: the plain side sees its session close unauthenticated, the
    // TLS side refuses the connection for its failed TLS handshake.
    let deadline = Instant::now() + BOUND;
    plain
        .wait_line(deadline, "the plain peer is refused", |line| {
            line.starts_with("Refused")
        })
        .await;
    wait_node_event(
        &mut events,
        deadline,
        "the TLS node refuses the plain peer",
        false,
        |e| {
            matches!(
                e,
                NodeEvent::Refused {
                    reason: skein::RefusalReason::Tls { .. },
                    ..
                }
            )
        },
    )
    .await;
    assert_eq!(
        node.peers().len(),
        1,
        "only the TLS peer is connected: {:?}",
        node.peers()
    );
    assert_eq!(
        pool.remote_workers().len(),
        1,
        "the plain peer's worker never joined"
    );
    plain.kill().await;
    child.kill().await;
}

/// The `node` mode: a bare node with the cookie and peer of its environment, that
/// prints every event it sees, one a line, until it is killed.
pub fn node() {
    support::exit_when_stdin_closes();
    let cookie = std::env::var(COOKIE_ENV).expect("a node process is given a cookie");
    let peer = std::env::var(PEER_ENV).expect("a node process is given a peer");
    // One thread: the node's connect loop cannot run before the subscription below,
    // so no event is missed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut builder = Node::builder().cookie(cookie).peer(peer);
        if std::env::var_os(TLS_ENV).is_some() {
            builder = builder.tls(tls());
        }
        let node = builder.build().await.expect("node builds");
        let mut events = node.events();
        // A worker the other node can call, once connected.
        let _pool = crate::routines()
            .workers(1)
            .node(&node)
            .build()
            .await
            .expect("pool builds");
        println!("listening {}", node.addr());
        while let Some(event) = events.next().await {
            println!("{event:?}");
        }
    });
}
