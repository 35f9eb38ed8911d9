//! `Pool::wait_for_workers` takes any `within`: one too large to add to the clock
//! (`Duration::MAX`) means no deadline, never an overflow panic.

mod support;

use std::time::Duration;

use futures::FutureExt;
use skein::{Never, Pool, Routine, WaitError};
use support::pool_helpers::{within, BOUND};

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "wait.echo";
    type Args = u32;
    type Output = u32;
    type Error = Never;
    async fn run(n: u32) -> Result<u32, Never> {
        Ok(n)
    }
}

async fn one_worker_pool() -> Pool {
    within(
        BOUND,
        "build",
        Pool::builder().workers(1).routine::<Echo>().build(),
    )
    .await
    .expect("pool builds")
}

/// How long a wait with no deadline is watched to see that it is still waiting.
const WATCH: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_with_enough_workers_returns_ok_at_once() {
    let pool = one_worker_pool().await;
    // At once: the first poll finishes it, nothing is awaited.
    let waited = pool.wait_for_workers(1, Duration::MAX).now_or_never();
    assert_eq!(waited, Some(Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_with_too_few_workers_waits_without_a_deadline() {
    let pool = one_worker_pool().await;
    // A panic inside would fail this test here; a wait with no deadline is still
    // pending when the watch ends.
    let waited = tokio::time::timeout(WATCH, pool.wait_for_workers(2, Duration::MAX)).await;
    assert!(
        waited.is_err(),
        "with 1 of 2 workers and no deadline it must still be waiting, got {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_ages_away_waits_like_any_other() {
    // 146 billion years: where the clock can hold it (Linux), a deadline the timer
    // must take without overflowing; where it cannot, no deadline. Either way it waits.
    let pool = one_worker_pool().await;
    let far = Duration::from_secs(u64::MAX / 4);
    let waited = tokio::time::timeout(WATCH, pool.wait_for_workers(2, far)).await;
    assert!(
        waited.is_err(),
        "with 1 of 2 workers and a far deadline it must still be waiting, got {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_bound_still_ends_in_wait_error() {
    let pool = one_worker_pool().await;
    let bound = Duration::from_millis(50);
    let waited = within(BOUND, "wait_for_workers", pool.wait_for_workers(2, bound)).await;
    assert_eq!(
        waited,
        Err(WaitError {
            wanted: 2,
            found: 1,
            within: bound,
        })
    );
}
