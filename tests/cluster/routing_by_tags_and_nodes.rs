//! Routing across processes: two worker processes with different tags, and the
//! parent's own worker with its node's tags. Routes by tag and by node land on the
//! right process (S133), a tag nobody has fails at once, typed (S126), a custom
//! balancer sees the remote candidates with their nodes and tags (S128), a broadcast
//! reaches every process (S130), and the stats name every node (S134).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skein::{DispatchError, Node, Route, WorkerStatus};

use crate::pick_last::PickLast;
use crate::support::{signal, within, BOUND};
use crate::{routines, Identity};

/// The tags of worker process `index`: its own, and its kind.
fn process_tags(index: usize) -> Vec<String> {
    let kind = if index == 0 { "gpu" } else { "cpu" };
    vec![format!("process-{index}"), kind.to_string()]
}

pub async fn routes_by_tags_and_nodes_land_on_the_right_process() {
    let node = Node::builder()
        .cookie(uuid::Uuid::new_v4().simple().to_string())
        .tags(["parent"])
        .build()
        .await
        .expect("the parent's node");
    let balancer = Arc::new(PickLast::default());
    let pool = routines()
        .node(&node)
        .workers(1)
        .processes(2)
        .process_tags(process_tags)
        .balancer(balancer.clone())
        .build()
        .await
        .expect("pool builds");
    pool.wait_for_workers(3, BOUND)
        .await
        .expect("the parent's worker and both processes' joined");

    // Every worker is known by its node's name and its tags.
    let infos = pool.worker_infos();
    let local = infos
        .iter()
        .find(|i| i.slot.is_some())
        .expect("the parent's worker");
    assert_eq!(local.node, node.name());
    assert_eq!(local.tags, vec!["parent".to_string()]);
    let node_of = |tag: &str| {
        infos
            .iter()
            .find(|i| i.tags.iter().any(|t| t == tag))
            .unwrap_or_else(|| panic!("a worker tagged {tag}: {infos:?}"))
            .node
            .clone()
    };
    let (gpu_node, cpu_node) = (node_of("gpu"), node_of("cpu"));
    assert_ne!(gpu_node, cpu_node, "two processes, two nodes");

    // By tag, and by node: always the same process.
    for (route, index) in [
        (Route::any().tag("gpu"), 0),
        (Route::any().tag("cpu"), 1),
        (Route::any().tag("process-1").tag("cpu"), 1),
        (Route::any().node(gpu_node.clone()), 0),
        (Route::any().node(cpu_node.clone()), 1),
    ] {
        let routed = pool.on(route.clone());
        for _ in 0..4 {
            let (pid, ran_on) = within(BOUND, "a routed call", routed.call::<Identity>(()))
                .await
                .expect("a routed call runs");
            assert_ne!(pid, std::process::id(), "{route}: ran in a worker process");
            assert_eq!(ran_on, index, "{route} landed on process {ran_on}");
        }
    }
    // The parent's own worker, by its node's tag.
    let (pid, _) = within(
        BOUND,
        "a call to the parent",
        pool.on(Route::any().tag("parent")).call::<Identity>(()),
    )
    .await
    .expect("the parent's worker runs it");
    assert_eq!(pid, std::process::id());

    // A tag nobody has fails at once, typed.
    let started = Instant::now();
    let nobody = pool.on(Route::any().tag("tpu")).call::<Identity>(()).await;
    assert_eq!(
        nobody,
        Err(DispatchError::NoMatchingWorker {
            route: Route::any().tag("tpu").to_string()
        })
    );
    assert!(started.elapsed() < Duration::from_secs(1), "at once");

    // The balancer saw every candidate, remote ones with their nodes and tags.
    let seen = balancer.seen();
    // Once per call that found a candidate: 5 routes of 4 calls, and the parent's.
    assert_eq!(seen.len(), 21, "asked once per call");
    let gpu = (
        gpu_node.clone(),
        vec!["gpu".to_string(), "process-0".to_string()],
        false,
    );
    assert_eq!(
        seen[0],
        vec![gpu],
        "the gpu route's one candidate, remote, with its tags"
    );
    // Unrouted, the balancer picks among all three, always the last.
    let mut pids = BTreeSet::new();
    for _ in 0..4 {
        pids.insert(
            within(BOUND, "a plain call", pool.call::<Identity>(()))
                .await
                .expect("runs")
                .0,
        );
    }
    assert_eq!(pids.len(), 1, "the balancer's pick, every time: {pids:?}");
    let last = balancer.seen().pop().expect("asked");
    assert_eq!(last.len(), 3, "every worker a candidate: {last:?}");
    assert_eq!(last.iter().filter(|(_, _, local)| *local).count(), 1);

    // A broadcast reaches every process.
    let results = within(BOUND, "a broadcast", pool.broadcast::<Identity>(()))
        .await
        .expect("a broadcast");
    let pids: BTreeSet<u32> = results
        .iter()
        .map(|(_, result)| result.as_ref().expect("each worker answers").0)
        .collect();
    assert_eq!(pids.len(), 3, "the parent and both processes: {results:?}");
    let kinds = within(
        BOUND,
        "a routed broadcast",
        pool.on(Route::any().tag("cpu")).broadcast::<Identity>(()),
    )
    .await
    .expect("a routed broadcast");
    assert_eq!(kinds.len(), 1);
    assert_eq!(kinds[0].0.node, cpu_node);

    // The stats name every node, each worker answering.
    let stats = within(BOUND, "the stats", pool.stats(Duration::from_secs(5))).await;
    let nodes: BTreeSet<&str> = stats.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(
        nodes,
        BTreeSet::from([node.name(), gpu_node.as_str(), cpu_node.as_str()]),
        "{stats:?}"
    );
    for report in &stats.workers {
        assert!(
            matches!(report.status, WorkerStatus::Answered(_)),
            "{report:?}"
        );
    }
    for n in &stats.nodes {
        assert_eq!((n.workers, n.unreachable), (1, 0), "{n:?}");
    }

    // A hung process does not hang the stats: its worker is reported unreachable
    // once the wait passes.
    let (cpu_pid, _) = within(
        BOUND,
        "the cpu process's pid",
        pool.on(Route::any().tag("cpu")).call::<Identity>(()),
    )
    .await
    .expect("runs");
    signal("-STOP", cpu_pid);
    let started = Instant::now();
    let stats = within(
        BOUND,
        "the stats of a hung cluster",
        pool.stats(Duration::from_millis(300)),
    )
    .await;
    signal("-CONT", cpu_pid);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by its wait: {:?}",
        started.elapsed()
    );
    let hung = stats
        .node(&cpu_node)
        .expect("the hung node is still listed");
    assert_eq!((hung.workers, hung.unreachable), (1, 1), "{hung:?}");
    assert_eq!(stats.node(&gpu_node).expect("the gpu node").unreachable, 0);
}
