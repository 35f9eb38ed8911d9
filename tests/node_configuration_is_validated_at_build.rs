//! Node settings that cannot work are refused when the node is built, each as a typed
//! `NodeError::Invalid` naming the setting; nothing starts, and nothing later panics
//! on a value the user passed (a zero heartbeat period used to build, then panic in
//! the heartbeat task, leaving hang detection silently off).
#![cfg(feature = "cluster")]

use std::time::Duration;

use skein::actors::Limits;
use skein::{Node, NodeBuilder, NodeError};

fn node() -> NodeBuilder {
    Node::builder().cookie("secret")
}

async fn refused(builder: NodeBuilder) -> (&'static str, &'static str) {
    match builder.build().await {
        Err(NodeError::Invalid { field, reason }) => (field, reason),
        Err(other) => panic!("expected NodeError::Invalid, got {other:?}"),
        Ok(node) => panic!("a node with a setting that cannot work was built: {node:?}"),
    }
}

#[tokio::test]
async fn every_setting_that_cannot_work_is_refused_by_name() {
    let cases: Vec<(&str, NodeBuilder)> = vec![
        ("cookie", Node::builder().cookie("")),
        ("heartbeat period", node().heartbeat(Duration::ZERO, 2)),
        (
            "heartbeat misses",
            node().heartbeat(Duration::from_millis(250), 0),
        ),
        (
            "reconnect backoff",
            node().reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
        ),
        (
            "reconnect backoff",
            node().reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ),
        ("limits", node().limits(Limits::with_max_frame_bytes(0))),
        ("limits", node().limits(Limits::with_max_frame_bytes(512))),
        (
            "handshake timeout",
            node().handshake_timeout(Duration::ZERO),
        ),
        ("handshake bytes", node().handshake_bytes(100)),
        ("max pending handshakes", node().max_pending_handshakes(0)),
        ("tags", node().tags([""])),
        ("tags", node().tags(["two\nlines"])),
    ];
    for (field, builder) in cases {
        let (named, reason) = refused(builder).await;
        assert_eq!(named, field, "the error names the setting ({reason})");
        assert!(!reason.is_empty(), "{field}: the error says why");
        let shown = NodeError::Invalid {
            field: named,
            reason,
        }
        .to_string();
        assert!(shown.contains(field), "{shown}");
    }
}

#[tokio::test]
async fn a_missing_cookie_is_still_no_cookie() {
    assert!(matches!(
        Node::builder().build().await,
        Err(NodeError::NoCookie)
    ));
}

#[tokio::test]
async fn the_smallest_settings_that_can_work_are_taken() {
    let node = node()
        .heartbeat(Duration::from_millis(1), 1)
        .reconnect_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .limits(Limits::with_max_frame_bytes(1024))
        .handshake_timeout(Duration::from_millis(1))
        .handshake_bytes(1024)
        .max_pending_handshakes(1)
        .build()
        .await
        .expect("the smallest workable settings build");
    assert_eq!(node.limits(), Limits::with_max_frame_bytes(1024));
}
