//! `pool.stats()`: each worker's dispatches in flight and queued, its slot's restarts
//! and when it was last busy, with the sums per node (S131, S132).

mod support;

use std::time::{Duration, Instant};

use skein::{Pool, SupervisionEvent};
use support::pool_helpers::{events_until, within, Gate, Hold, BOUND};

/// S131: in flight and queued count what the worker runs and what waits; a busy
/// worker was last busy now, an idle one when its last dispatch ended; the node's
/// sums add its workers up.
#[tokio::test]
async fn stats_count_in_flight_queued_and_last_busy() {
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(1)
        .tag("stats")
        .routine::<Hold>()
        .build()
        .await
        .expect("pool builds");
    let idle = pool.stats(BOUND).await;
    assert_eq!(idle.workers.len(), 1);
    let fresh = idle.workers[0].stats().expect("a local worker answers");
    assert_eq!((fresh.in_flight, fresh.queued, fresh.restarts), (0, 0, 0));
    assert_eq!(idle.workers[0].info.tags, vec!["stats".to_string()]);

    // Polled once, each call is handed to the worker: the first runs, two queue.
    let gate = Gate::new();
    let mut calls = Box::pin(futures::future::join_all(
        (0..3).map(|_| pool.call::<Hold>(gate.id())),
    ));
    assert!(futures::poll!(calls.as_mut()).is_pending());
    gate.until("the first call runs", |c| c.entered == 1).await;
    let busy = pool.stats(BOUND).await;
    let worker = busy.workers[0].stats().expect("local");
    assert_eq!((worker.in_flight, worker.queued), (1, 2));
    assert_eq!(worker.idle_for, Duration::ZERO, "busy now");
    assert!(worker.last_busy().elapsed() < Duration::from_secs(1));
    let node = busy.node("local").expect("the pool's node");
    assert_eq!(
        (node.workers, node.in_flight, node.queued, node.unreachable),
        (1, 1, 2, 0)
    );

    gate.open();
    for result in within(BOUND, "the held calls", calls).await {
        assert_eq!(result, Ok(()));
    }
    let released = Instant::now();
    let after = pool.stats(BOUND).await;
    let worker = after.workers[0].stats().expect("local");
    assert_eq!((worker.in_flight, worker.queued), (0, 0));
    assert!(
        worker.last_busy() <= Instant::now()
            && worker.idle_for <= released.elapsed() + Duration::from_secs(1),
        "last busy when its last call ended: idle for {:?}",
        worker.idle_for
    );
}

/// S132: a slot's restarts count each time it was restarted; other slots' stay.
#[tokio::test]
async fn stats_count_restarts_per_slot() {
    let pool = Pool::builder()
        .workers(2)
        .routine::<Hold>()
        .build()
        .await
        .expect("pool builds");
    let mut events = pool.events();
    let victim = pool.workers()[1].clone().expect("worker 1");
    skein::actors::crash(&victim, "counted")
        .await
        .expect("the worker takes the crash");
    events_until(&mut events, "worker 1 restarts", |event| {
        matches!(event, SupervisionEvent::WorkerRestarted { worker: 1, .. })
    })
    .await;
    let stats = pool.stats(BOUND).await;
    let mut restarts: Vec<(usize, usize)> = stats
        .workers
        .iter()
        .map(|w| {
            (
                w.info.slot.expect("local"),
                w.stats().expect("local").restarts,
            )
        })
        .collect();
    restarts.sort();
    assert_eq!(restarts, vec![(0, 0), (1, 1)]);
    assert_eq!(stats.node("local").expect("the node").restarts, 1);
}
