//! Any number of nodes in one process: two `Node`s side by side, each with its own
//! address and its own limits, one connected to the other, and a pool with no workers
//! of its own on A that calls the workers of a pool on B. Before nodes were
//! restructured the limits were process-wide and the second node failed to build
//! (its ledger actor's name was already registered).

use skein::actors::Limits;
use skein::Node;

use crate::support::{within, BOUND};
use crate::{routines, Add};

/// The cookie both nodes share.
const COOKIE: &str = "one-process";

/// How many workers the pool on B has.
const B_WORKERS: usize = 2;

/// A and B in one process: each reports its own limits; A, connected to B, routes a
/// call to B's workers, which A's pool sees as remote workers.
///
/// Both nodes share this process's ractor process groups, so each side of the one
/// session advertises B's workers: A's pool reaches them through a session proxy
/// (which is why it sees them as remote at all), and B's pool sees proxies of its own
/// workers next to them. Only what A's pool sees is asserted here.
pub async fn two_nodes_in_one_process_serve_calls() {
    let limits_a = Limits::default();
    let limits_b = Limits::with_max_frame_bytes(Limits::DEFAULT_MAX_FRAME_BYTES / 4);
    let b = Node::builder()
        .listen("127.0.0.1:0")
        .cookie(COOKIE)
        .limits(limits_b)
        .build()
        .await
        .expect("node B builds");
    let a = Node::builder()
        .listen("127.0.0.1:0")
        .cookie(COOKIE)
        .limits(limits_a)
        .peer(b.addr().to_string())
        .build()
        .await
        .expect("node A builds in the process that already has node B");
    assert_ne!(a.addr(), b.addr(), "each node listens on its own address");
    assert_eq!(a.limits(), limits_a, "A reports its own limits");
    assert_eq!(b.limits(), limits_b, "B reports its own limits");

    let pool_b = routines()
        .workers(B_WORKERS)
        .node(&b)
        .build()
        .await
        .expect("the pool on B builds");
    let pool_a = routines()
        .workers(0)
        .node(&a)
        .build()
        .await
        .expect("the pool on A builds with no workers of its own");
    pool_a
        .wait_for_workers(B_WORKERS, BOUND)
        .await
        .expect("A's pool sees B's workers");
    assert!(
        !pool_a.remote_workers().is_empty(),
        "A's pool routes to remote workers"
    );

    // Round robin: enough calls to go through every worker A's pool routes to.
    for i in 0..4 * pool_a.remote_workers().len() as i64 {
        let sum = within(BOUND, "a call from A to B", pool_a.call::<Add>((i, 1)))
            .await
            .unwrap_or_else(|e| panic!("call {i} through A's pool failed: {e}"));
        assert_eq!(sum, i + 1, "call {i}");
    }
    drop(pool_a);
    drop(pool_b);
}
