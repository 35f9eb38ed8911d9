//! `Pool::shutdown(grace)`: new calls are refused with `ShuttingDown` at once, what is
//! in flight has the grace to finish, the rest is cancelled with its cleanup run, and
//! the report agrees with what the callers got (S140–S143).

mod support;

use std::time::Duration;

use skein::{DispatchError, Never, Pool, Routine, SupervisionEvent};
use support::pool_helpers::{events_until, within, Gate, BOUND};
use tokio::time::Instant;

/// Waits at the gate whose id it is given, then makes a nested call: a routine that
/// is draining may still call on.
struct Hold;
impl Routine for Hold {
    const NAME: &'static str = "shutdown.hold";
    type Args = u64;
    type Output = u64;
    type Error = DispatchError<Never>;
    async fn run(gate: u64) -> Result<u64, DispatchError<Never>> {
        Gate::find(gate).pass().await;
        skein::call::<Echo>(gate).await
    }
}

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "shutdown.echo";
    type Args = u64;
    type Output = u64;
    type Error = Never;
    async fn run(x: u64) -> Result<u64, Never> {
        Ok(x)
    }
}

async fn pool() -> Pool {
    Pool::builder()
        .workers(2)
        .routine::<Hold>()
        .routine::<Echo>()
        .build()
        .await
        .expect("pool builds")
}

/// S140, S141, S142, S143: 100 calls in flight, half let through during the grace; the
/// report says 50 and 50, the callers got 50 `Ok` and 50 `Cancelled`, the cancelled
/// ones' cleanup ran, and no call hung.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_lets_half_finish_and_cancels_the_rest() {
    let pool = pool().await;
    let finishing = Gate::new();
    let parked = Gate::new();
    let mut calls = Vec::new();
    for i in 0..100 {
        let gate = if i % 2 == 0 { &finishing } else { &parked };
        let (pool, gate) = (pool.clone(), gate.id());
        calls.push(tokio::spawn(async move { pool.call::<Hold>(gate).await }));
    }
    finishing
        .until("50 calls wait to finish", |c| c.entered == 50)
        .await;
    parked.until("50 calls park", |c| c.entered == 50).await;

    let mut events = pool.events();
    let grace = Duration::from_millis(500);
    let started = Instant::now();
    let shutdown = tokio::spawn({
        let pool = pool.clone();
        async move { pool.shutdown(grace).await }
    });
    events_until(&mut events, "the shutdown begins", |e| {
        matches!(e, SupervisionEvent::ShuttingDown { .. })
    })
    .await;
    // Only now may half of them finish: they were all in flight when it began.
    finishing.open();

    let report = within(BOUND, "the shutdown returns", shutdown)
        .await
        .expect("the shutdown task");
    assert!(
        started.elapsed() >= grace,
        "the parked calls had the whole grace"
    );
    let mut ok = 0;
    let mut cancelled = 0;
    for call in calls {
        match within(BOUND, "every caller hears back", call)
            .await
            .expect("caller task")
        {
            Ok(_) => ok += 1,
            Err(DispatchError::Cancelled) => cancelled += 1,
            Err(other) => panic!("a call ended {other:?}, neither Ok nor Cancelled"),
        }
    }
    assert_eq!((ok, cancelled), (50, 50), "the callers' results");
    // The nested call each finishing routine made counts too: 50 + 50 finished.
    assert_eq!(
        (report.finished, report.cancelled),
        (100, 50),
        "the report: {report:?}"
    );
    assert_eq!(
        parked.counts().dropped,
        50,
        "every cancelled routine's cleanup ran"
    );
    assert_eq!(finishing.counts().passed, 50);
}

/// S140: once the shutdown has begun, a call, a stream and a second shutdown: the
/// first two are refused at once, the last returns the first's report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_a_shutdown_are_refused_at_once() {
    let pool = pool().await;
    let report = within(BOUND, "an idle pool shuts down", pool.shutdown(BOUND)).await;
    assert_eq!((report.finished, report.cancelled), (0, 0));
    assert!(pool.is_shutting_down());
    let refused = within(
        Duration::from_secs(1),
        "a refused call",
        pool.call::<Echo>(1),
    )
    .await;
    assert_eq!(refused, Err(DispatchError::ShuttingDown));
    assert_eq!(
        pool.shutdown(Duration::ZERO).await,
        report,
        "a second shutdown returns the first's report"
    );
}

/// S141: an idle pool does not wait out its grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_pool_shuts_down_without_waiting_out_its_grace() {
    let pool = pool().await;
    assert_eq!(pool.call::<Echo>(7).await, Ok(7));
    let started = Instant::now();
    within(
        BOUND,
        "the shutdown",
        pool.shutdown(Duration::from_secs(60)),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
