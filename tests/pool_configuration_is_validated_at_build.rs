//! `PoolBuilder::build` refuses every setting no pool can work with, with
//! `BuildError::Invalid` naming the setting, instead of building a pool whose calls
//! hang or always time out; settings that look odd but work are accepted.

mod support;

use std::time::Duration;

use skein::{BuildError, Never, Pool, PoolBuilder, Routine};
use support::pool_helpers::{within, BOUND};

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "validated.echo";
    type Args = u32;
    type Output = u32;
    type Error = Never;
    async fn run(n: u32) -> Result<u32, Never> {
        Ok(n)
    }
}

fn one_worker() -> PoolBuilder {
    Pool::builder().workers(1).routine::<Echo>()
}

/// Builds (bounded: a refusal must come before anything starts), expecting a refusal.
async fn refused(builder: PoolBuilder) -> BuildError {
    match within(BOUND, "build", builder.build()).await {
        Ok(pool) => panic!("the builder should have been refused, built {pool:?}"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_zero_is_invalid() {
    // With no slot to run in, every root call would wait forever.
    let e = refused(one_worker().max_concurrency(0)).await;
    assert!(
        matches!(
            e,
            BuildError::Invalid {
                field: "max_concurrency",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("invalid max_concurrency: "),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_is_invalid() {
    // Every call would time out before it ran.
    let e = refused(one_worker().timeout(Duration::ZERO)).await;
    assert!(
        matches!(
            e,
            BuildError::Invalid {
                field: "timeout",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("invalid timeout: "), "{e}");
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_workers_per_process_is_invalid() {
    // Refused whether or not processes are asked for; none are here, because this
    // test binary has no entry hook and must never be re-run as a worker process.
    let e = refused(one_worker().workers_per_process(0)).await;
    assert!(
        matches!(
            e,
            BuildError::Invalid {
                field: "workers_per_process",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("invalid workers_per_process: "),
        "{e}"
    );
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_tag_that_cannot_travel_is_invalid() {
    // Refused before any process starts (this binary must never be re-run as one).
    fn tags(index: usize) -> Vec<String> {
        match index {
            0 => vec!["gpu".to_string()],
            _ => vec!["two\nlines".to_string()],
        }
    }
    let e = refused(one_worker().processes(2).process_tags(tags)).await;
    assert!(
        matches!(
            e,
            BuildError::Invalid {
                field: "process_tags",
                reason: "a tag must not hold a line break",
            }
        ),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_setting_is_reported_before_missing_workers() {
    // Validation comes first: the named setting is the error, not `NoWorkers`.
    let e = refused(Pool::builder().workers(0).max_concurrency(0)).await;
    assert!(
        matches!(
            e,
            BuildError::Invalid {
                field: "max_concurrency",
                ..
            }
        ),
        "{e:?}"
    );
    // And zero workers alone is still `NoWorkers`.
    let e = refused(Pool::builder().workers(0)).await;
    assert!(matches!(e, BuildError::NoWorkers), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smallest_working_values_are_accepted() {
    // No queue is legitimate (a busy worker answers `Overloaded` at once), and so is
    // one slot; they serve a call.
    let pool = within(
        BOUND,
        "build",
        one_worker()
            .max_queue(0)
            .max_concurrency(1)
            .timeout(Duration::from_secs(10))
            .build(),
    )
    .await
    .expect("max_queue(0), max_concurrency(1) and a timeout above zero build");
    assert_eq!(within(BOUND, "call", pool.call::<Echo>(7)).await, Ok(7));
    // Only zero is certain to fail: any deadline above it is the caller's choice.
    let pool = within(
        BOUND,
        "build",
        one_worker().timeout(Duration::from_nanos(1)).build(),
    )
    .await;
    assert!(
        pool.is_ok(),
        "a timeout of 1 ns is short, not invalid: {pool:?}"
    );
}
