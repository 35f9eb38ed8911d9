//! Routing by tags and nodes: a pool whose workers are 2 worker processes, one tagged
//! `gpu` and one `cpu`. Calls go to a tag or to a node, a route nobody matches fails
//! typed, a broadcast reaches every worker, and the stats name every node.
//!
//!     cargo run --release --features cluster --example routing
//!
//! The pool re-runs this same binary as its worker processes, so `main` calls
//! `skein::serve_if_worker` before anything else.

use std::time::Duration;

use skein::{DispatchError, LeastInFlight, Never, Pool, PoolBuilder, Route, Routine};

/// Where the routine ran: the pid of its process.
struct WhereAmI;
impl Routine for WhereAmI {
    const NAME: &'static str = "routing.where_am_i";
    type Args = ();
    type Output = u32;
    type Error = Never;
    async fn run(_: ()) -> Result<u32, Never> {
        Ok(std::process::id())
    }
}

/// Everything the workers need: the parent and each child build it.
fn routines() -> PoolBuilder {
    Pool::builder().routine::<WhereAmI>()
}

/// Child 0 has the GPU.
fn process_tags(index: usize) -> Vec<String> {
    vec![if index == 0 { "gpu" } else { "cpu" }.to_string()]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    skein::serve_if_worker(routines);
    let pool = routines()
        .processes(2)
        .process_tags(process_tags)
        .balancer(LeastInFlight::new())
        .build()
        .await?;
    pool.wait_for_workers(2, Duration::from_secs(10)).await?;
    for worker in pool.worker_infos() {
        println!("worker on {} tagged {:?}", worker.node, worker.tags);
    }

    let gpu = pool.on(Route::any().tag("gpu"));
    println!("gpu work ran in pid {}", gpu.call::<WhereAmI>(()).await?);
    let cpu_node = pool
        .worker_infos()
        .into_iter()
        .find(|w| w.tags.iter().any(|t| t == "cpu"))
        .map(|w| w.node)
        .ok_or("no cpu worker")?;
    let by_node = pool.on(Route::any().node(cpu_node.clone()));
    println!(
        "{cpu_node} ran it in pid {}",
        by_node.call::<WhereAmI>(()).await?
    );

    match pool.on(Route::any().tag("tpu")).call::<WhereAmI>(()).await {
        Err(DispatchError::NoMatchingWorker { route }) => println!("no worker matches {route}"),
        other => return Err(format!("a tag nobody has: {other:?}").into()),
    }

    for (worker, pid) in pool.broadcast::<WhereAmI>(()).await? {
        println!("broadcast: {} answered {:?}", worker.node, pid);
    }
    let stats = pool.stats(Duration::from_millis(500)).await;
    for node in &stats.nodes {
        println!(
            "{}: {} worker(s), {} in flight, {} queued, {} unreachable",
            node.node, node.workers, node.in_flight, node.queued, node.unreachable
        );
    }
    Ok(())
}
