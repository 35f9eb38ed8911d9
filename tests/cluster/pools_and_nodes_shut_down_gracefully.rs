//! Graceful shutdown across processes: a pool of worker processes drains them and
//! leaves none behind, and a node that shuts down is a clean leave for its peers,
//! which route on without a failure (S144–S147).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use skein::actors::{Node, NodeEvent};
use skein::{DispatchError, Never, Pool, Routine};
use tokio::time::Instant;

use crate::support::{self, Helper, BOUND};
use crate::{Park, Pid};

/// Sleeps for the milliseconds it is given: work that takes a while.
pub struct Nap;
impl Routine for Nap {
    const NAME: &'static str = "cluster.nap";
    type Args = u64;
    type Output = ();
    type Error = Never;
    async fn run(ms: u64) -> Result<(), Never> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }
}

/// S144, S147: 100 calls in flight on two worker processes, half of which finish within
/// the grace: the report says 50 and 50, the callers got 50 `Ok` and 50 `Cancelled`,
/// nothing hung, later calls are refused, and no worker process is left.
pub async fn a_process_pool_shuts_down_with_100_calls_in_flight() {
    let pool = support::process_pool(2).await;
    let children = support::children(&pool).await;
    let pids: Vec<u32> = children.iter().map(|c| c.pid).collect();
    // A stop signal is the parent's to act on: a worker process sent one (as a ctrl-c
    // in a terminal sends one to the whole process group) serves on, and drains when
    // its parent says so.
    for pid in &pids {
        support::signal("-TERM", *pid);
        support::signal("-INT", *pid);
    }
    let calls = futures::future::join_all((0..100).map(|i| {
        let pool = pool.clone();
        async move {
            if i % 2 == 0 {
                pool.call::<Nap>(300).await
            } else {
                pool.call::<Park>(()).await
            }
        }
    }));
    tokio::pin!(calls);
    // One poll sends all 100; a call sent to each process after them comes back only
    // once the process has taken them in (one session delivers in order).
    assert!(futures::poll!(calls.as_mut()).is_pending());
    for child in &children {
        support::dispatch::<Pid>(&child.worker, ())
            .await
            .expect("a worker process answers behind the 100");
    }
    let grace = Duration::from_secs(2);
    let started = Instant::now();
    let (results, report) = support::within(BOUND, "shutdown and callers", async {
        tokio::join!(calls, pool.shutdown(grace))
    })
    .await;
    assert!(
        started.elapsed() >= grace,
        "the parked calls had the whole grace"
    );
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let cancelled = results
        .iter()
        .filter(|r| matches!(r, Err(DispatchError::Cancelled)))
        .count();
    assert_eq!(
        (ok, cancelled),
        (50, 50),
        "the callers' results: {:?}",
        results
            .iter()
            .enumerate()
            .filter(|(_, r)| !matches!(r, Ok(()) | Err(DispatchError::Cancelled)))
            .collect::<Vec<_>>()
    );
    assert_eq!((report.finished, report.cancelled), (50, 50), "the report");
    assert_eq!(pool.call::<Pid>(()).await, Err(DispatchError::ShuttingDown));
    support::wait_exited(&pids, BOUND, "the drained worker processes").await;
}

/// The environment a leaving node is started with.
const PEER_ENV: &str = "SKEIN_TEST_LEAVING_PEER";
const COOKIE_ENV: &str = "SKEIN_TEST_LEAVING_COOKIE";

/// Helper mode `leaving`: a node with one worker that joins the test's node, prints
/// its name, and on SIGTERM shuts down gracefully (as a service in Kubernetes would),
/// prints `shut` and the report, and exits.
pub fn leaving_node() {
    support::exit_when_stdin_closes();
    let cookie = std::env::var(COOKIE_ENV).expect("a leaving node is given a cookie");
    let peer = std::env::var(PEER_ENV).expect("a leaving node is given a peer");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let node = Node::builder()
            .cookie(cookie)
            .peer(peer)
            .build()
            .await
            .expect("node builds");
        let _pool = crate::routines()
            .workers(1)
            .node(&node)
            .build()
            .await
            .expect("pool builds");
        let signal = skein::shutdown_signal().expect("a SIGTERM handler");
        println!("name {}", node.name());
        signal.await;
        let report = node.shutdown(Duration::from_secs(5)).await;
        println!("shut {} {}", report.finished, report.cancelled);
    });
}

/// S145, S146: two nodes serve a third's pool; one of them is sent SIGTERM while
/// calls keep flowing. Its peer sees `Left` (never `Disconnected` or `Unresponsive`),
/// every call succeeds, and the calls after the leave all run on the other node.
pub async fn a_node_that_shuts_down_is_a_clean_leave_for_its_peers() {
    let cookie = uuid::Uuid::new_v4().simple().to_string();
    let node = Node::builder()
        .cookie(cookie.clone())
        .build()
        .await
        .expect("node builds");
    let mut node_events = node.events();
    let pool = Pool::builder()
        .workers(0)
        .node(&node)
        .routine::<Pid>()
        .build()
        .await
        .expect("pool builds");
    let envs = [(PEER_ENV, node.addr().to_string()), (COOKIE_ENV, cookie)];
    let deadline = Instant::now() + BOUND;
    let mut leaving = Helper::spawn("leaving", &envs);
    let mut staying = Helper::spawn("leaving", &envs);
    let name_of = |line: String| line.trim_start_matches("name ").to_string();
    let leaving_name = name_of(
        leaving
            .wait_line(deadline, "the leaving node's name", |l| {
                l.starts_with("name ")
            })
            .await,
    );
    staying
        .wait_line(deadline, "the staying node's name", |l| {
            l.starts_with("name ")
        })
        .await;
    pool.wait_for_workers(2, BOUND)
        .await
        .expect("both nodes' workers");

    // Calls flow the whole time, from four callers.
    let stop = tokio::sync::watch::Sender::new(false);
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            let mut stop = stop.subscribe();
            tokio::spawn(async move {
                let mut results = Vec::new();
                while !*stop.borrow_and_update() {
                    results.push((Instant::now(), pool.call::<Pid>(()).await));
                }
                results
            })
        })
        .collect();

    support::signal("-TERM", leaving.pid);
    let mut seen = Vec::new();
    let left_at = loop {
        let event = tokio::time::timeout(BOUND, node_events.next()).await;
        let event = match event {
            Ok(Some(event)) => event,
            _ => panic!("no Left for {leaving_name} within {BOUND:?}; saw {seen:?}"),
        };
        seen.push(event.clone());
        match event {
            // A session names its peer `name@host`.
            NodeEvent::Left { peer } if peer.starts_with(&leaving_name) => break Instant::now(),
            NodeEvent::Disconnected { peer } | NodeEvent::Unresponsive { peer }
                if peer.starts_with(&leaving_name) =>
            {
                panic!("the leaving node was seen to fail, not to leave")
            }
            _ => {}
        }
    };
    let shut = leaving
        .wait_line(Instant::now() + BOUND, "the leaving node's report", |l| {
            l.starts_with("shut ")
        })
        .await;
    assert!(shut.starts_with("shut "), "{shut}");
    // Keep calling a while after the leave.
    let after = async {
        let mut pids = BTreeSet::new();
        while pids.is_empty() || Instant::now() < left_at + Duration::from_millis(300) {
            pids.insert(pool.call::<Pid>(()).await.expect("a call after the leave"));
        }
        pids
    };
    let pids_after = support::within(BOUND, "calls after the leave", after).await;
    stop.send_replace(true);
    let mut all = Vec::new();
    for caller in callers {
        all.extend(
            support::within(BOUND, "a caller stops", caller)
                .await
                .expect("caller"),
        );
    }
    let failed: Vec<_> = all.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "no call failed around the leave: {failed:?}"
    );
    let late: BTreeSet<u32> = all
        .iter()
        .filter(|(at, _)| *at > left_at)
        .filter_map(|(_, r)| r.as_ref().ok().copied())
        .chain(pids_after)
        .collect();
    assert_eq!(
        late,
        BTreeSet::from([staying.pid]),
        "after the leave every call ran on the staying node (the leaving one was {})",
        leaving.pid
    );
    support::wait_exited(&[leaving.pid], BOUND, "the node that shut down").await;
    staying.kill().await;
}
