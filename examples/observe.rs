//! Watching one request: an `http_request` span calls a routine on a worker process,
//! which prices each item through a nested `skein::call` (the worker process's own
//! pool routes it, to its own worker or to the other worker process). Every process
//! logs skein's spans as they close, to stderr, so the tree shows in the log, parents
//! first on each line: `http_request:skein.call` in the caller, and
//! `skein.run:skein.call:skein.run` in the worker process, every `skein.run` of one
//! request with the same `trace`. Then it prints the metrics this process recorded, as
//! Prometheus text.
//!
//!     cargo run --release --features cluster --example observe
//!
//! The pool re-runs this same binary as its worker processes, so `main` installs the
//! subscriber and calls `skein::serve_if_worker` before anything else.

use std::process::ExitCode;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use skein::{ErrorMessage, Never, Pool, PoolBuilder, Routine};
use tracing::Instrument;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

/// The price of an item: the inner routine.
struct Price;
impl Routine for Price {
    const NAME: &'static str = "observe.price";
    type Args = String;
    type Output = (u64, u32);
    type Error = Never;
    async fn run(item: String) -> Result<(u64, u32), Never> {
        tracing::info!(%item, "pricing");
        Ok((item.len() as u64 * 100, std::process::id()))
    }
}

/// A cart's total: prices every item through a nested call.
struct Checkout;
impl Routine for Checkout {
    const NAME: &'static str = "observe.checkout";
    type Args = Vec<String>;
    type Output = (u64, u32, Vec<u32>);
    type Error = ErrorMessage;
    async fn run(items: Vec<String>) -> Result<(u64, u32, Vec<u32>), ErrorMessage> {
        let mut total = 0;
        let mut priced_on = Vec::new();
        for item in items {
            let (price, pid) = skein::call::<Price>(item).await?;
            total += price;
            priced_on.push(pid);
        }
        Ok((total, std::process::id(), priced_on))
    }
}

fn routines() -> PoolBuilder {
    Pool::builder().routine::<Price>().routine::<Checkout>()
}

const BOUND: Duration = Duration::from_secs(20);

// A plain `fn main` that builds its runtime by hand, to bound the runtime's shutdown.
// `#[tokio::main]` would do as well: in a worker process `serve_if_worker` serves on a
// thread and a runtime of its own, and never returns.
fn main() -> ExitCode {
    // Every process, worker processes included, logs skein's DEBUG spans as they
    // close (the span's parents come first on each line), and skein's warnings.
    let only_ours = Targets::new()
        .with_target("skein", Level::DEBUG)
        .with_target("skein_actors", Level::WARN)
        .with_target("observe", Level::DEBUG);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_span_events(FmtSpan::CLOSE)
                .with_target(false)
                .without_time()
                .compact()
                .with_filter(only_ours),
        )
        .init();
    tracing::debug!(pid = std::process::id(), "process up");
    skein::serve_if_worker(routines);

    // Before the pool, so its handles come from this recorder.
    let prometheus = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("observe example failed: no recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("observe example failed: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run());
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => {
            println!("\nmetrics of this process (Prometheus text):\n");
            let rendered = prometheus.render();
            // skein's metrics; of each summary, its median.
            let skein = rendered.lines().filter(|l| l.starts_with("skein_"));
            for line in skein.filter(|l| !l.contains("quantile=") || l.contains("quantile=\"0.5\""))
            {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("observe example failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = routines().processes(2).build().await?;
    pool.wait_for_workers(2, BOUND).await?;
    println!("caller pid {}", std::process::id());
    let cart: Vec<String> = ["tea", "kettle"].map(String::from).into();
    // Round robin: the second request goes to the other worker process.
    for request_id in 1..=2 {
        let span = tracing::info_span!("http_request", request_id);
        let (total, checkout_pid, priced_on) =
            tokio::time::timeout(BOUND, pool.call::<Checkout>(cart.clone()))
                .instrument(span)
                .await??;
        println!(
            "request {request_id}: total {total}, checked out on pid {checkout_pid}, priced on {priced_on:?}"
        );
    }
    Ok(())
}
