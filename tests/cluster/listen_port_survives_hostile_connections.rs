//! The listen port survives what arrives before a peer has proved who it is: idle
//! sockets, floods of bytes, frames declared at the limit, stalled TLS handshakes, a
//! name message and then silence. Each is closed within the handshake deadline or the
//! byte budget, reported as `Refused` with its own reason, and while it lasts a real
//! peer connects and serves calls.
//!
//! Every test runs two nodes in this one process: A, the node under attack, with a
//! pool of workers, and B, the real peer, whose pool (no workers of its own) calls
//! A's workers.

use std::time::Duration;

use futures::StreamExt;
use skein::actors::{Limits, RefusalReason};
use skein::{Node, NodeEvent, NodeEvents, Pool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::{within, BOUND};
use crate::{routines, Add};

const COOKIE: &str = "hostile";

/// The default handshake budget: the bytes a connection may deliver before it
/// authenticates.
const BUDGET: u64 = 16 * 1024;

/// A pool of one worker on `node`.
async fn serving(node: &Node) -> Pool {
    routines()
        .workers(1)
        .node(node)
        .build()
        .await
        .expect("the pool under attack builds")
}

/// A real peer of `target`: a node of the same cluster, and a pool on it that calls
/// `target`'s worker. Returns once a call has gone through.
async fn real_peer(target: &Node, tls: Option<skein::actors::Tls>) -> (Node, Pool) {
    let mut builder = Node::builder()
        .cookie(COOKIE)
        .peer(target.addr().to_string());
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let node = builder.build().await.expect("the real peer builds");
    let pool = routines()
        .workers(0)
        .node(&node)
        .build()
        .await
        .expect("the real peer's pool builds");
    pool.wait_for_workers(1, BOUND)
        .await
        .expect("the real peer sees the worker under attack");
    let sum = within(
        BOUND,
        "a call from the real peer",
        pool.call::<Add>((20, 22)),
    )
    .await
    .expect("the real peer's call is served");
    assert_eq!(sum, 42);
    (node, pool)
}

/// Waits until the other end has closed `socket`: a read returns end of file or an
/// error (a reset). Fails loudly if it is still open past `deadline`.
async fn closed_by(socket: &mut TcpStream, deadline: Instant, what: &str) {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue, // the node may answer a name message before closing
            Err(_) => panic!("{what}: still open past its deadline"),
        }
    }
}

/// Collects the refusals `events` reports until `enough` says so, or fails loudly.
async fn refusals_until(
    events: &mut NodeEvents,
    what: &str,
    mut enough: impl FnMut(&[RefusalReason]) -> bool,
) -> Vec<RefusalReason> {
    let deadline = Instant::now() + BOUND;
    let mut seen = Vec::new();
    while !enough(&seen) {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(NodeEvent::Refused { reason, .. })) => seen.push(reason),
            Ok(Some(_)) => {}
            Ok(None) => panic!("{what}: the events ended"),
            Err(_) => panic!("{what}: not seen in time; refusals seen: {seen:?}"),
        }
    }
    seen
}

/// 200 idle TCP connections are all closed within the handshake deadline (1 s here),
/// each reported as `HandshakeTimeout`, and while they are open a real peer connects
/// and serves calls.
pub async fn idle_connections_are_closed_at_the_deadline_and_a_peer_still_connects() {
    let deadline_after = Duration::from_secs(1);
    let target = Node::builder()
        .cookie(COOKIE)
        .handshake_timeout(deadline_after)
        .max_pending_handshakes(256)
        .build()
        .await
        .expect("the node under attack builds");
    let mut events = target.events();
    let _pool = serving(&target).await;

    let opened = Instant::now();
    let mut idle = Vec::new();
    for i in 0..200 {
        idle.push(
            TcpStream::connect(target.addr())
                .await
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}")),
        );
    }
    let (_peer, pool) = real_peer(&target, None).await;
    assert!(
        opened.elapsed() < deadline_after,
        "the real peer connected while the idle sockets were still open \
         (took {:?}; rerun on a less loaded machine if this is the only failure)",
        opened.elapsed()
    );

    // The deadline runs from each accept; allow it a second of slack for a loaded
    // machine, no more.
    let closed_before = opened + deadline_after + Duration::from_secs(1);
    for (i, socket) in idle.iter_mut().enumerate() {
        closed_by(socket, closed_before, &format!("idle connection {i}")).await;
    }
    let seen = refusals_until(&mut events, "the idle connections' refusals", |seen| {
        seen.iter()
            .filter(|r| **r == RefusalReason::HandshakeTimeout)
            .count()
            >= 100
    })
    .await;
    assert!(
        seen.iter().all(|r| *r == RefusalReason::HandshakeTimeout),
        "idle connections are refused for the deadline only: {seen:?}"
    );
    let sum = within(BOUND, "a call after the sweep", pool.call::<Add>((1, 2)))
        .await
        .expect("the real peer still calls");
    assert_eq!(sum, 3);
}

/// The resident memory of this process, from the kernel.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// 40 connections that each start sending 16 MiB before authenticating raise the
/// node's resident memory by less than 16 MiB, and real calls keep working meanwhile.
/// 20 announce a 16 MiB frame in their first frame header (refused as `NotAPeer` on
/// the header alone); 20 announce a frame as large as the whole handshake budget and
/// go on sending (refused as `TooManyBytes` when the budget runs out).
pub async fn frames_sent_before_authentication_cost_a_bounded_amount_of_memory() {
    let target = Node::builder()
        .cookie(COOKIE)
        .build()
        .await
        .expect("the node under attack builds");
    let mut events = target.events();
    let _pool = serving(&target).await;
    let (_peer, pool) = real_peer(&target, None).await;
    let before = rss_bytes();

    let frame = Limits::DEFAULT_MAX_FRAME_BYTES;
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut senders = Vec::new();
    for i in 0..40 {
        let addr = target.addr();
        let chunk = chunk.clone();
        senders.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.expect("connect");
            let announced = if i % 2 == 0 { frame as u64 } else { BUDGET };
            if socket.write_all(&announced.to_be_bytes()).await.is_err() {
                return;
            }
            let mut sent = 0;
            // The node closes the connection long before the frame is through.
            while sent < frame {
                match socket.write_all(&chunk).await {
                    Ok(()) => sent += chunk.len(),
                    Err(_) => return,
                }
            }
            panic!("connection {i}: a 16 MiB frame went through before authentication");
        }));
    }
    for (i, sender) in senders.into_iter().enumerate() {
        within(BOUND, &format!("sender {i} is cut off"), sender)
            .await
            .expect("sender task");
    }
    let grew = rss_bytes().saturating_sub(before);
    assert!(
        grew < 16 * 1024 * 1024,
        "40 unauthenticated 16 MiB frames grew the node by {grew} bytes"
    );
    let seen = refusals_until(&mut events, "the senders' refusals", |seen| {
        seen.len() >= 40
    })
    .await;
    assert!(
        seen.contains(&RefusalReason::NotAPeer) && seen.contains(&RefusalReason::TooManyBytes),
        "a frame announced past the budget is NotAPeer, bytes past it TooManyBytes: {seen:?}"
    );
    for i in 0..10 {
        let sum = within(BOUND, "a call after the flood", pool.call::<Add>((i, 1)))
            .await
            .expect("the real peer still calls");
        assert_eq!(sum, i + 1);
    }
}

/// A TLS node with an idle raw socket and a half-sent ClientHello held open accepts a
/// correctly configured TLS peer within 1 s: each handshake runs in its own task.
pub async fn stalled_tls_handshakes_do_not_stop_a_tls_node_accepting() {
    let tls = crate::nodes_connect_by_name_and_refuse_outsiders::tls;
    let target = Node::builder()
        .cookie(COOKIE)
        .tls(tls())
        .build()
        .await
        .expect("the TLS node builds");
    let _pool = serving(&target).await;
    let _idle = TcpStream::connect(target.addr())
        .await
        .expect("idle socket");
    let mut half = TcpStream::connect(target.addr())
        .await
        .expect("half-hello socket");
    // A TLS record header announcing a 512-byte handshake message, and nothing more.
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .expect("half a ClientHello");

    let started = Instant::now();
    let (_peer, _pool) = real_peer(&target, Some(tls())).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the TLS peer connected and was served in {:?}, not within 1 s",
        started.elapsed()
    );
}

/// A connection that sends a valid name message (the first frame a real node sends)
/// and then nothing is closed within the handshake deadline, as `HandshakeTimeout`.
pub async fn a_name_message_then_silence_is_closed_at_the_deadline() {
    // Learn a valid name message: let a real node dial a socket of ours.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a socket to dial");
    let dialer = Node::builder()
        .cookie(COOKIE)
        .build()
        .await
        .expect("the dialing node builds");
    let dial = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = dialer.connect(dial).await;
        futures::future::pending::<()>().await; // keep the node alive
    });
    let (mut from_node, _) = within(BOUND, "the node dials", listener.accept())
        .await
        .expect("accept");
    let mut length = [0u8; 8];
    within(
        BOUND,
        "the name message's length",
        from_node.read_exact(&mut length),
    )
    .await
    .expect("a frame header");
    let mut name = vec![0u8; u64::from_be_bytes(length) as usize];
    within(BOUND, "the name message", from_node.read_exact(&mut name))
        .await
        .expect("a frame body");

    let deadline_after = Duration::from_secs(1);
    let target = Node::builder()
        .cookie(COOKIE)
        .handshake_timeout(deadline_after)
        .build()
        .await
        .expect("the node under attack builds");
    let mut events = target.events();
    let mut socket = TcpStream::connect(target.addr()).await.expect("connect");
    let sent = Instant::now();
    socket.write_all(&length).await.expect("send the header");
    socket.write_all(&name).await.expect("send the name");
    closed_by(
        &mut socket,
        sent + deadline_after + Duration::from_secs(1),
        "the silent connection",
    )
    .await;
    let seen = refusals_until(&mut events, "its refusal", |seen| !seen.is_empty()).await;
    assert_eq!(seen, [RefusalReason::HandshakeTimeout]);
}

/// Past the cap on connections waiting to authenticate, a new one is closed at once
/// and reported `TooManyPending`.
pub async fn connections_past_the_pending_cap_are_closed_at_once() {
    let target = Node::builder()
        .cookie(COOKIE)
        .max_pending_handshakes(2)
        .build()
        .await
        .expect("the node under attack builds");
    let mut events = target.events();
    let _held: Vec<TcpStream> = vec![
        TcpStream::connect(target.addr()).await.expect("first"),
        TcpStream::connect(target.addr()).await.expect("second"),
    ];
    let mut third = TcpStream::connect(target.addr()).await.expect("third");
    // Well before the 5 s handshake deadline.
    closed_by(
        &mut third,
        Instant::now() + Duration::from_secs(2),
        "the connection past the cap",
    )
    .await;
    let seen = refusals_until(&mut events, "its refusal", |seen| !seen.is_empty()).await;
    assert_eq!(seen, [RefusalReason::TooManyPending]);
}

/// Where the test's subscriber writes: the log lines skein emitted.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Each way a connection can be refused is told apart, as an event and as a WARN
/// line, and a burst of one kind (30 port probes) is 30 events but only one or two
/// log lines.
pub async fn refusals_name_their_reason_at_warn_and_the_log_is_rate_limited() {
    let log = Log::default();
    let writer = log.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("the test's subscriber installs");

    let target = Node::builder()
        .cookie(COOKIE)
        .handshake_timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("the node under attack builds");
    let mut events = target.events();
    let addr = target.addr();

    // Silent, 30 times: a burst of port probes.
    for _ in 0..30 {
        drop(TcpStream::connect(addr).await.expect("probe"));
    }
    // Not a peer: an HTTP request.
    let mut http = TcpStream::connect(addr).await.expect("http");
    http.write_all(b"GET / HTTP/1.1\r\nHost: skein\r\n\r\n")
        .await
        .expect("an HTTP request");
    // Too many bytes: a first frame as large as the whole budget.
    let mut flood = TcpStream::connect(addr).await.expect("flood");
    flood
        .write_all(&BUDGET.to_be_bytes())
        .await
        .expect("a header");
    let _ = flood.write_all(&vec![0u8; BUDGET as usize]).await;
    // The handshake deadline: an idle socket.
    let _idle = TcpStream::connect(addr).await.expect("idle");
    // A failed handshake: a node with another cookie.
    let wrong = Node::builder()
        .cookie("not-the-cookie")
        .build()
        .await
        .expect("the wrong node builds");
    let _ = wrong.connect(addr).await;
    // Too many pending, on a node that takes one at a time.
    let capped = Node::builder()
        .cookie(COOKIE)
        .max_pending_handshakes(1)
        .build()
        .await
        .expect("the capped node builds");
    let mut capped_events = capped.events();
    let _first = TcpStream::connect(capped.addr()).await.expect("first");
    let _second = TcpStream::connect(capped.addr()).await.expect("second");
    // TLS: plain bytes to a TLS node.
    let tls_node = Node::builder()
        .cookie(COOKIE)
        .tls(crate::nodes_connect_by_name_and_refuse_outsiders::tls())
        .build()
        .await
        .expect("the TLS node builds");
    let mut tls_events = tls_node.events();
    let mut plain = TcpStream::connect(tls_node.addr()).await.expect("plain");
    plain
        .write_all(&[0, 0, 0, 0, 0, 0, 0, 64])
        .await
        .expect("a plain frame header");

    let kinds = [
        RefusalReason::Silent,
        RefusalReason::NotAPeer,
        RefusalReason::TooManyBytes,
        RefusalReason::HandshakeTimeout,
        RefusalReason::HandshakeFailed,
    ];
    let seen = refusals_until(&mut events, "every kind of refusal", |seen| {
        kinds.iter().all(|kind| seen.contains(kind))
            && seen.iter().filter(|r| **r == RefusalReason::Silent).count() >= 30
    })
    .await;
    let capped_seen = refusals_until(&mut capped_events, "too many pending", |seen| {
        !seen.is_empty()
    })
    .await;
    assert_eq!(capped_seen, [RefusalReason::TooManyPending]);
    let tls_seen = refusals_until(&mut tls_events, "a failed TLS handshake", |seen| {
        !seen.is_empty()
    })
    .await;
    assert!(
        matches!(tls_seen.as_slice(), [RefusalReason::Tls { .. }]),
        "{tls_seen:?}"
    );

    let lines = log.lines();
    let warned = |reason: &RefusalReason| {
        let text = reason.to_string();
        lines
            .iter()
            .filter(|line| line.contains("WARN") && line.contains(&text))
            .count()
    };
    for reason in kinds.iter().chain(&capped_seen).chain(&tls_seen) {
        assert!(
            warned(reason) >= 1,
            "no WARN line says {reason}: {lines:#?}"
        );
    }
    assert!(
        warned(&RefusalReason::Silent) <= 2,
        "30 probes in a burst are logged once or twice, not {} times (events: {})",
        warned(&RefusalReason::Silent),
        seen.iter().filter(|r| **r == RefusalReason::Silent).count()
    );
}
