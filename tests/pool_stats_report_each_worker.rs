//! `pool.stats()`: each worker's dispatches in flight and queued, its slot's restarts
//! and when it was last busy, with the sums per node (S131, S132).

use std::time::{Duration, Instant};

use futures::StreamExt;
use skein::{Never, Pool, Routine, SupervisionEvent};
use tokio::sync::Semaphore;

const BOUND: Duration = Duration::from_secs(10);

static GATE: Semaphore = Semaphore::const_new(0);

async fn within<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {BOUND:?}"))
}

/// Runs until the gate lets it through.
struct Hold;
impl Routine for Hold {
    const NAME: &'static str = "stats.hold";
    type Args = ();
    type Output = ();
    type Error = Never;
    async fn run(_: ()) -> Result<(), Never> {
        if let Ok(permit) = GATE.acquire().await {
            permit.forget();
        }
        Ok(())
    }
}

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

    let calls: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn({
                let pool = pool.clone();
                async move { pool.call::<Hold>(()).await }
            })
        })
        .collect();
    let busy = within("one runs and two wait", async {
        loop {
            let stats = pool.stats(BOUND).await;
            let worker = stats.workers[0].stats().expect("local").clone();
            if worker.in_flight + worker.queued == 3 {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let worker = busy.workers[0].stats().expect("local");
    assert_eq!((worker.in_flight, worker.queued), (1, 2));
    assert_eq!(worker.idle_for, Duration::ZERO, "busy now");
    assert!(worker.last_busy().elapsed() < Duration::from_secs(1));
    let node = busy.node("local").expect("the pool's node");
    assert_eq!(
        (node.workers, node.in_flight, node.queued, node.unreachable),
        (1, 1, 2, 0)
    );

    GATE.add_permits(3);
    for call in calls {
        assert_eq!(within("a held call", call).await.expect("joins"), Ok(()));
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
    within("worker 1 restarts", async {
        while let Some(event) = events.next().await {
            if matches!(event, SupervisionEvent::WorkerRestarted { worker: 1, .. }) {
                return;
            }
        }
        panic!("the events ended");
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
