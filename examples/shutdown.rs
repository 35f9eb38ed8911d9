//! A graceful shutdown on SIGTERM, as Kubernetes asks for one: a pool of 2 worker
//! processes has 10 calls in flight, half of them quick and half far too slow; the
//! example sends itself SIGTERM, the pool drains within its grace, and the report
//! and the callers agree: the quick ones finished, the slow ones were cancelled (their
//! cleanup ran on the workers), later calls are refused, and no worker process is
//! left.
//!
//! Run with `cargo run --release --features cluster --example shutdown`.

use std::time::Duration;

use skein::{DispatchError, Pool, PoolBuilder};

/// Works for `ms` milliseconds.
#[skein::routine(name = "example.shutdown.work")]
async fn work(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

fn routines() -> PoolBuilder {
    Pool::builder()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    skein::serve_if_worker(routines);
    let pool = routines().processes(2).build().await?;
    pool.wait_for_workers(2, Duration::from_secs(10)).await?;

    // Listening from here on: a SIGTERM now starts the shutdown instead of killing us.
    let grace = Duration::from_millis(500);
    let shutdown = pool.shutdown_on_signal(grace)?;

    let calls = futures::future::join_all((0..10).map(|i| {
        let pool = pool.clone();
        // Even calls take 100 ms, odd ones 60 s: those cannot finish within the grace.
        let ms = if i % 2 == 0 { 100 } else { 60_000 };
        async move { pool.call::<Work>(ms).await }
    }));
    tokio::pin!(calls);
    // One poll sends all ten. A call to each process behind them comes back once
    // that process has taken them in (a session delivers in order), so all ten are
    // in flight there when the kubelet's SIGTERM (here, our own) comes.
    assert!(futures::poll!(calls.as_mut()).is_pending());
    for _ in 0..2 {
        pool.call::<Work>(0).await?;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()?;
    assert!(status.success(), "kill -TERM");

    let (results, report) = tokio::join!(calls, shutdown);
    for (i, result) in results.iter().enumerate() {
        println!("call {i}: {result:?}");
    }
    println!(
        "shutdown report: {} finished, {} cancelled",
        report.finished, report.cancelled
    );
    let finished = results.iter().filter(|r| r.is_ok()).count();
    let cancelled = results
        .iter()
        .filter(|r| matches!(r, Err(DispatchError::Cancelled)))
        .count();
    assert_eq!((finished, cancelled), (5, 5));
    assert_eq!((report.finished, report.cancelled), (5, 5));

    let later = pool.call::<Work>(1).await;
    println!("a call after the shutdown: {later:?}");
    assert_eq!(later, Err(DispatchError::ShuttingDown));
    Ok(())
}
