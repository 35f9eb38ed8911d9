//! Multi-process tests: pools whose workers are other processes on 127.0.0.1.
//!
//! This binary has its own `main` (`harness = false`): a pool built with
//! `processes(n)` re-runs it as worker processes, which must reach
//! `skein::serve_if_worker` before anything else.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use skein::{Never, Pool, PoolBuilder, Routine};

struct Add;
impl Routine for Add {
    const NAME: &'static str = "cluster.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// The pid of the process the routine runs in.
struct Pid;
impl Routine for Pid {
    const NAME: &'static str = "cluster.pid";
    type Args = ();
    type Output = u32;
    type Error = Never;
    async fn run(_: ()) -> Result<u32, Never> {
        Ok(std::process::id())
    }
}

fn routines() -> PoolBuilder {
    Pool::builder().routine::<Add>().routine::<Pid>()
}

const BOUND: Duration = Duration::from_secs(20);

async fn calls_run_in_worker_processes() {
    let pool = routines().processes(2).build().await.expect("pool builds");
    pool.wait_for_workers(2, BOUND)
        .await
        .expect("both worker processes joined");
    assert_eq!(pool.call::<Add>((2, 3)).await.expect("add"), 5);
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..8 {
        pids.insert(pool.call::<Pid>(()).await.expect("pid"));
    }
    assert!(
        !pids.contains(&std::process::id()),
        "no call ran in the parent"
    );
    assert_eq!(
        pids.len(),
        2,
        "calls were balanced over both processes: {pids:?}"
    );
}

type Test = (
    &'static str,
    fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
);

fn tests() -> Vec<Test> {
    vec![("calls_run_in_worker_processes", || {
        Box::pin(calls_run_in_worker_processes())
    })]
}

fn main() {
    skein::serve_if_worker(routines);
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let start = Instant::now();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async { tokio::time::timeout(BOUND * 2, tokio::spawn(test())).await })
        }));
        runtime.shutdown_timeout(Duration::from_secs(1));
        match outcome {
            Ok(Ok(Ok(()))) => println!("test {name} ... ok ({:.2?})", start.elapsed()),
            Ok(Ok(Err(e))) => {
                println!("test {name} ... FAILED: {e}");
                failed.push(name);
            }
            Ok(Err(_)) => {
                println!("test {name} ... FAILED: hung past {:?}", BOUND * 2);
                failed.push(name);
            }
            Err(_) => {
                println!("test {name} ... FAILED (panicked)");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
