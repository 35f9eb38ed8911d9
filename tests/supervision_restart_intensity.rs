//! Restart intensity is bounded and backoff grows: past `max_restarts` within the
//! window the pool reports itself failed, loudly, and refuses new calls; each restart
//! of one slot inside the window waits twice as long as the one before (S68).

mod support;

use std::time::Duration;

use tokio::time::Instant;

use skein::{DispatchError, Never, Pool, RestartPolicy, Routine, SupervisionEvent};
use support::pool_helpers::{events_until, within, BOUND};

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "intensity.echo";
    type Args = usize;
    type Output = usize;
    type Error = Never;
    async fn run(x: usize) -> Result<usize, Never> {
        Ok(x)
    }
}

async fn one_worker_pool(policy: RestartPolicy) -> Pool {
    Pool::builder()
        .workers(1)
        .restart_policy(policy)
        .routine::<Echo>()
        .build()
        .await
        .expect("pool builds")
}

fn kill_worker0(pool: &Pool) {
    pool.workers()[0].as_ref().expect("worker 0 is live").kill();
}

fn restarted_or_failed(event: &SupervisionEvent) -> bool {
    matches!(
        event,
        SupervisionEvent::WorkerRestarted { .. } | SupervisionEvent::PoolFailed { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fourth_death_in_the_window_fails_the_pool() {
    let policy =
        RestartPolicy::new(3, Duration::from_secs(30)).with_backoff(Duration::ZERO, Duration::ZERO);
    let pool = one_worker_pool(policy).await;
    let mut events = pool.events();

    for death in 1..=3 {
        kill_worker0(&pool);
        let seen = events_until(&mut events, "a restart after a death", restarted_or_failed).await;
        assert!(
            seen.iter()
                .any(|e| matches!(e, SupervisionEvent::WorkerFailed { worker: 0, .. })),
            "death {death}: {seen:?}"
        );
        assert_eq!(
            seen.last(),
            Some(&SupervisionEvent::WorkerRestarted {
                worker: 0,
                restarts_in_window: death
            }),
            "death {death} is within the limit: {seen:?}"
        );
        assert!(!pool.has_failed(), "death {death}");
        assert_eq!(
            within(BOUND, "a call after a restart", pool.call::<Echo>(death)).await,
            Ok(death)
        );
    }

    kill_worker0(&pool);
    let seen = events_until(&mut events, "the 4th death", restarted_or_failed).await;
    let failed_at = seen
        .iter()
        .position(|e| matches!(e, SupervisionEvent::WorkerFailed { worker: 0, .. }))
        .unwrap_or_else(|| panic!("the 4th death is reported: {seen:?}"));
    assert!(
        matches!(seen.last(), Some(SupervisionEvent::PoolFailed { .. })),
        "the 4th death within the window fails the pool, it is not restarted: {seen:?}"
    );
    assert!(failed_at < seen.len() - 1, "WorkerFailed before PoolFailed");
    assert!(pool.has_failed());
    assert_eq!(
        within(BOUND, "a call on a failed pool", pool.call::<Echo>(9)).await,
        Err(DispatchError::PoolFailed)
    );
}

/// Runs on tokio's paused clock, which the restart window and ractor's `send_after`
/// read, so each backoff is measured exactly rather than against the wall clock. The
/// clock moves only while every task waits, and then straight to the next timer:
/// between a death and its restart the one timer due first is the backoff's, so the
/// restart comes exactly that long after the death. Every wait is still on an event
/// and still bounded (by `BOUND` of paused time: a hang fails at once, not after 10 s).
#[tokio::test(start_paused = true)]
async fn backoff_doubles_with_each_restart_of_a_slot() {
    // Nominal waits: 20, 40 and 80 ms, then 100 ms (the cap, not 160 ms).
    let ms = Duration::from_millis;
    let policy = RestartPolicy::new(10, Duration::from_secs(30)).with_backoff(ms(20), ms(100));
    let pool = one_worker_pool(policy).await;
    let mut events = pool.events();

    let mut waits = Vec::new();
    for restart in 1..=4 {
        kill_worker0(&pool);
        let seen = events_until(&mut events, "the death", |e| {
            matches!(e, SupervisionEvent::WorkerFailed { worker: 0, .. })
        })
        .await;
        let failed = Instant::now();
        assert_eq!(seen.len(), 1, "nothing before the death: {seen:?}");
        let seen = events_until(&mut events, "the restart", restarted_or_failed).await;
        waits.push(failed.elapsed());
        assert_eq!(
            seen.last(),
            Some(&SupervisionEvent::WorkerRestarted {
                worker: 0,
                restarts_in_window: restart
            }),
            "{seen:?}"
        );
    }
    assert_eq!(
        waits,
        [ms(20), ms(40), ms(80), ms(100)],
        "each restart of the slot waits twice the one before, up to max_backoff"
    );
    assert_eq!(
        within(BOUND, "a call after the restarts", pool.call::<Echo>(3)).await,
        Ok(3)
    );
}
