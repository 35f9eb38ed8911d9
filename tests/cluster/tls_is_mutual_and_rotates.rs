//! TLS for untrusted networks: a node that verifies client certificates refuses a peer
//! without one, or with one from another CA; and a node's TLS can be replaced at run
//! time, new sessions taking the new certificates while open ones go on.
//!
//! The certificates are the fixtures in `tls/` (see its README): two CAs, each with
//! one certificate for `skein.test`.

use std::sync::Arc;

use futures::StreamExt;
use skein::actors::rustls_pki_types::pem::PemObject;
use skein::actors::rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use skein::actors::tokio_rustls::rustls::server::WebPkiClientVerifier;
use skein::actors::tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use skein::actors::{tokio_rustls, RefusalReason, Tls};
use skein::{Node, NodeEvent, NodeEvents, Pool};
use tokio::time::Instant;

use crate::support::{within, BOUND};
use crate::{routines, Add};

const COOKIE: &str = "mutual";

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/tls");

fn certificates(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(format!("{DIR}/{name}.crt"))
        .unwrap_or_else(|e| panic!("{name}.crt: {e}"))
        .map(|cert| cert.expect("a certificate"))
        .collect()
}

fn roots(ca: &str) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca) {
        roots.add(cert).expect("a usable CA");
    }
    Arc::new(roots)
}

/// Mutual TLS: the node presents `identity`'s certificate (`node` or `other`), trusts
/// servers and clients whose certificates `ca` signed, and, dialing, presents
/// `identity` as its client certificate (none when `identity` is `None`: such a node
/// can dial, but a mutual node refuses it).
fn mutual(identity: Option<&str>, ca: &str) -> Tls {
    let verifier = WebPkiClientVerifier::builder(roots(ca))
        .build()
        .expect("a client verifier");
    let key = |name: &str| {
        PrivateKeyDer::from_pem_file(format!("{DIR}/{name}.key"))
            .unwrap_or_else(|e| panic!("{name}.key: {e}"))
    };
    let served = identity.unwrap_or("node");
    let server = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(served), key(served))
        .expect("a server config");
    let client = ClientConfig::builder().with_root_certificates(roots(ca));
    let client = match identity {
        Some(name) => client
            .with_client_auth_cert(certificates(name), key(name))
            .expect("a client certificate"),
        None => client.with_no_client_auth(),
    };
    Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        server_name: ServerName::try_from("skein.test")
            .expect("a DNS name")
            .to_owned(),
    }
}

/// A node with `tls` that dials `target`.
async fn dialing(target: &Node, tls: Tls) -> Node {
    Node::builder()
        .cookie(COOKIE)
        .tls(tls)
        .peer(target.addr().to_string())
        .build()
        .await
        .expect("a peer builds")
}

/// A pool on `node` with no workers of its own, once it sees `target`'s worker.
async fn calling(node: &Node) -> Pool {
    let pool = routines()
        .workers(0)
        .node(node)
        .build()
        .await
        .expect("the peer's pool builds");
    pool.wait_for_workers(1, BOUND)
        .await
        .expect("the peer sees the worker");
    pool
}

async fn call(pool: &Pool, what: &str) {
    let sum = within(BOUND, what, pool.call::<Add>((2, 3)))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(sum, 5, "{what}");
}

/// Waits until `events` reports `peer` connected (the session may be in use before
/// the node has said so), failing loudly past the bound.
async fn connected(events: &mut NodeEvents, peer: &Node) {
    let deadline = Instant::now() + BOUND;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            // ractor_cluster shows a peer's name as `<name>@<host>`.
            Ok(Some(NodeEvent::Connected { peer: name })) if name.starts_with(peer.name()) => {
                return
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("{} connected: the events ended", peer.name()),
            Err(_) => panic!("{} is not reported connected in time", peer.name()),
        }
    }
}

/// Waits for a `Refused { reason: Tls { .. } }` on `events`, failing loudly if a peer
/// connects instead or nothing comes in time.
async fn refused_for_tls(events: &mut NodeEvents, what: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(NodeEvent::Refused {
                reason: RefusalReason::Tls { .. },
                ..
            })) => return,
            Ok(Some(event @ NodeEvent::Connected { .. })) => panic!("{what}: {event:?}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("{what}: the events ended"),
            Err(_) => panic!("{what}: no TLS refusal in time"),
        }
    }
}

/// A mutual-TLS node serves a peer with a certificate of its CA, and refuses one that
/// presents no certificate and one whose certificate another CA signed.
pub async fn mutual_tls_refuses_peers_without_a_certificate_of_the_cluster_ca() {
    let target = Node::builder()
        .cookie(COOKIE)
        .tls(mutual(Some("node"), "ca"))
        .build()
        .await
        .expect("the mutual-TLS node builds");
    let _pool = routines()
        .workers(1)
        .node(&target)
        .build()
        .await
        .expect("its pool builds");
    let mut events = target.events();

    let member = dialing(&target, mutual(Some("node"), "ca")).await;
    call(
        &calling(&member).await,
        "a call from a peer of the cluster's CA",
    )
    .await;
    connected(&mut events, &member).await;

    // From here on no peer may connect.
    let anonymous = dialing(&target, mutual(None, "ca")).await;
    refused_for_tls(&mut events, "a peer without a client certificate").await;
    let stranger = dialing(&target, mutual(Some("other"), "ca")).await;
    refused_for_tls(&mut events, "a peer with another CA's certificate").await;
    assert_eq!(
        target.peers().len(),
        1,
        "only the member is connected: {:?}",
        target.peers()
    );
    drop((anonymous, stranger));
}

/// `Node::set_tls` rotates a node's certificates: sessions open before go on, a peer
/// of the new CA connects, and one of the old CA no longer can.
pub async fn a_node_rotates_its_tls_and_open_sessions_go_on() {
    let target = Node::builder()
        .cookie(COOKIE)
        .tls(mutual(Some("node"), "ca"))
        .build()
        .await
        .expect("the node builds");
    let _pool = routines()
        .workers(1)
        .node(&target)
        .build()
        .await
        .expect("its pool builds");
    let mut events = target.events();
    let before = dialing(&target, mutual(Some("node"), "ca")).await;
    let before_pool = calling(&before).await;
    call(&before_pool, "a call before the rotation").await;

    target.set_tls(mutual(Some("other"), "other-ca"));

    let after = dialing(&target, mutual(Some("other"), "other-ca")).await;
    call(&calling(&after).await, "a call from a peer of the new CA").await;
    connected(&mut events, &before).await;
    connected(&mut events, &after).await;
    call(
        &before_pool,
        "a call on the session opened before the rotation",
    )
    .await;
    // From here on no peer may connect.
    let late = dialing(&target, mutual(Some("node"), "ca")).await;
    refused_for_tls(&mut events, "a peer of the old CA after the rotation").await;
    assert_eq!(
        target.peers().len(),
        2,
        "the session from before and the one from after: {:?}",
        target.peers()
    );
    drop(late);
}
