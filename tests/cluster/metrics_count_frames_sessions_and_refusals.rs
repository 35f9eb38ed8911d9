//! The cluster's metrics, read through `metrics-util`'s debugging recorder installed
//! as this process's recorder: two nodes in this process, calls from one to the
//! other's workers, and a stranger that speaks HTTP to a node's port. The frames that
//! crossed the connection are measured in both directions, the session is counted,
//! and so is the refusal, by its reason.

use futures::StreamExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use skein::actors::metrics::{CALLS, FRAME_BYTES, NODE_REFUSALS, NODE_SESSIONS};
use skein::{Node, NodeEvent, RefusalReason};
use tokio::io::AsyncWriteExt;

use crate::support::{within, BOUND};
use crate::{routines, Add};

const COOKIE: &str = "metrics";

pub async fn frames_sessions_and_refusals_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this process");

    let b = Node::builder()
        .listen("127.0.0.1:0")
        .cookie(COOKIE)
        .build()
        .await
        .expect("node B builds");
    let mut b_events = b.events();
    let a = Node::builder()
        .listen("127.0.0.1:0")
        .cookie(COOKIE)
        .peer(b.addr().to_string())
        .build()
        .await
        .expect("node A builds");
    let _pool_b = routines()
        .workers(1)
        .node(&b)
        .build()
        .await
        .expect("the pool on B builds");
    let pool_a = routines()
        .workers(0)
        .node(&a)
        .build()
        .await
        .expect("the pool on A builds");
    pool_a
        .wait_for_workers(1, BOUND)
        .await
        .expect("A's pool sees B's worker");

    const N: i64 = 20;
    for i in 0..N {
        let sum = within(BOUND, "a call from A to B", pool_a.call::<Add>((i, 1)))
            .await
            .expect("the call");
        assert_eq!(sum, i + 1);
    }

    // Not a peer: HTTP spoken to the cluster port.
    let mut stranger = tokio::net::TcpStream::connect(b.addr())
        .await
        .expect("the port accepts");
    stranger
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n")
        .await
        .expect("the request is written");
    within(BOUND, "the stranger's refusal", async {
        loop {
            match b_events.next().await.expect("B's events") {
                NodeEvent::Refused { reason, .. } => return reason,
                _ => continue,
            }
        }
    })
    .await;

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |kind: MetricKind, name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .filter(|(key, ..)| key.kind() == kind && key.key().name() == name)
            .filter(|(key, ..)| {
                labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, _, _, value)| value)
            .collect::<Vec<_>>()
    };
    let counter = |name: &str, labels: &[(&str, &str)]| -> u64 {
        find(MetricKind::Counter, name, labels)
            .into_iter()
            .map(|v| match v {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    };
    let frames = |message: &str, direction: &str| -> Vec<f64> {
        find(
            MetricKind::Histogram,
            FRAME_BYTES,
            &[("message", message), ("direction", direction)],
        )
        .into_iter()
        .flat_map(|v| match v {
            DebugValue::Histogram(xs) => xs.iter().map(|x| x.into_inner()).collect::<Vec<_>>(),
            other => panic!("{FRAME_BYTES} is not a histogram: {other:?}"),
        })
        .collect()
    };

    assert_eq!(
        counter(CALLS, &[("routine", "cluster.add"), ("outcome", "ok")]),
        N as u64
    );
    for (message, direction) in [
        ("dispatch", "sent"),
        ("dispatch", "received"),
        ("reply", "sent"),
        ("reply", "received"),
    ] {
        let sizes = frames(message, direction);
        assert!(
            sizes.len() >= N as usize,
            "every call's {message} was {direction}: {} frames",
            sizes.len()
        );
        assert!(
            sizes.iter().all(|bytes| *bytes > 2.0),
            "each is a header and a body"
        );
    }
    assert!(
        counter(NODE_SESSIONS, &[("event", "connected")]) >= 1,
        "the session between A and B is counted"
    );
    assert_eq!(
        counter(NODE_REFUSALS, &[("reason", RefusalReason::NotAPeer.kind())]),
        1,
        "the stranger is counted by its reason"
    );
}
