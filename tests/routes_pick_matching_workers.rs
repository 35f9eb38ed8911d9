//! Routes and balancers: a call on `pool.on(route)` goes only to workers that carry
//! the route's tags (S125), fails at once, typed, when none does (S126), waits up to
//! the route's wait for one to join (S127), is placed by the pool's balancer, which
//! sees every matching candidate (S128); `LeastInFlight` avoids a busy worker (S129);
//! and a broadcast runs once on every matching worker (S130).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ractor::ActorRef;
use skein::actors::{Reply, WorkerMsg};
use skein::{
    DispatchError, LeastInFlight, Never, Pool, RestartPolicy, Route, Routine, SupervisionEvent,
};
use support::pick_last::PickLast;
use support::pool_helpers::{cast_call, events_until, mailbox_stats, within, Gate, Hold, BOUND};
use tokio::sync::oneshot;

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "routes.echo";
    type Args = u32;
    type Output = u32;
    type Error = Never;
    async fn run(n: u32) -> Result<u32, Never> {
        Ok(n)
    }
}

/// Calls `Echo` on the route its args name, from inside a routine.
struct EchoOn;
impl Routine for EchoOn {
    const NAME: &'static str = "routes.echo_on";
    type Args = (String, u32);
    type Output = Result<u32, String>;
    type Error = Never;
    async fn run((tag, n): (String, u32)) -> Result<Result<u32, String>, Never> {
        Ok(skein::call_on::<Echo>(&Route::any().tag(tag), n)
            .await
            .map_err(|e| e.to_string()))
    }
}

/// What is left of the deadline it runs under, in milliseconds.
struct LeftMs;
impl Routine for LeftMs {
    const NAME: &'static str = "routes.left_ms";
    type Args = ();
    type Output = Option<u128>;
    type Error = Never;
    async fn run(_: ()) -> Result<Option<u128>, Never> {
        Ok(skein::time_left().map(|left| left.as_millis()))
    }
}

fn builder() -> skein::PoolBuilder {
    Pool::builder()
        .routine::<EchoOn>()
        .routine::<LeftMs>()
        .routine::<Hold>()
        .routine::<Echo>()
        .stream_routine::<Nothing>()
}

/// Each of the pool's workers' dispatches (in flight, queued), by slot.
async fn load_by_slot(pool: &Pool) -> Vec<(usize, usize)> {
    let stats = within(BOUND, "the stats", pool.stats(BOUND)).await;
    let mut by_slot: Vec<_> = stats
        .workers
        .iter()
        .map(|w| {
            let s = w.stats().expect("a local worker answers");
            (
                w.info.slot.expect("a local worker"),
                (s.in_flight, s.queued),
            )
        })
        .collect();
    by_slot.sort();
    by_slot.into_iter().map(|(_, load)| load).collect()
}

/// S125: the pool's tags are every worker's, under the node name "local"; a route
/// asking for them reaches the pool, and so does a route naming the node.
#[tokio::test]
async fn a_route_to_the_pools_tags_reaches_its_workers() {
    let pool = builder()
        .workers(2)
        .tags(["cpu", "eu"])
        .build()
        .await
        .expect("pool builds");
    for info in pool.worker_infos() {
        assert_eq!(info.node, "local");
        assert_eq!(info.tags, vec!["cpu".to_string(), "eu".to_string()]);
    }
    let routed = pool.on(Route::any().tags(["eu", "cpu"]));
    assert_eq!(
        within(BOUND, "a routed call", routed.call::<Echo>(7)).await,
        Ok(7)
    );
    let by_node = pool.on(Route::any().node("local").tag("cpu"));
    assert_eq!(
        within(BOUND, "a call by node", by_node.call::<Echo>(8)).await,
        Ok(8)
    );
    assert_eq!(routed.route(), Route::any().tag("cpu").tag("eu"));
}

/// S126: a route nobody matches fails at once with `NoMatchingWorker`, naming the
/// route; for calls, streams and broadcasts alike.
#[tokio::test]
async fn a_route_nobody_matches_fails_at_once_typed() {
    let pool = builder()
        .workers(2)
        .tag("cpu")
        .build()
        .await
        .expect("pool builds");
    for route in [
        Route::any().tag("gpu"),
        Route::any().tag("cpu").node("elsewhere"),
    ] {
        let started = Instant::now();
        let failed = within(
            BOUND,
            "a call to no one",
            pool.on(route.clone()).call::<Echo>(1),
        )
        .await;
        assert_eq!(
            failed,
            Err(DispatchError::NoMatchingWorker {
                route: route.to_string()
            })
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "at once, not after {:?}",
            started.elapsed()
        );
        let broadcast = within(
            BOUND,
            "a broadcast to no one",
            pool.on(route.clone()).broadcast::<Echo>(1),
        )
        .await;
        assert!(matches!(
            broadcast,
            Err(DispatchError::NoMatchingWorker { .. })
        ));
    }
    assert!(Route::any().tag("gpu").to_string().contains("gpu"));
}

/// Crashes the pool's only worker and waits until the pool has seen it fail: its slot
/// is then empty for the restart backoff.
async fn crash_the_worker(pool: &Pool, events: &mut skein::Events, why: &str) {
    let victim = pool.workers()[0].clone().expect("a live worker");
    skein::actors::crash(&victim, why)
        .await
        .expect("the worker takes the crash");
    events_until(events, "the crash is seen", |event| {
        matches!(event, SupervisionEvent::WorkerFailed { .. })
    })
    .await;
}

/// S127: a route with a wait waits for a matching worker to come (here, a crashed
/// worker's restart) and then runs; with nobody coming it fails typed after the wait.
#[tokio::test]
async fn a_route_with_a_wait_runs_when_a_matching_worker_arrives() {
    let pool = builder()
        .workers(1)
        .tag("solo")
        .restart_policy(
            RestartPolicy::new(10, Duration::from_secs(5))
                // Long enough that the empty slot is seen empty, on any machine.
                .with_backoff(Duration::from_secs(1), Duration::from_secs(2)),
        )
        .build()
        .await
        .expect("pool builds");
    let mut events = pool.events();
    crash_the_worker(&pool, &mut events, "make room").await;
    // Its slot is empty for the backoff: no wait fails now.
    let now = pool.on(Route::any().tag("solo")).call::<Echo>(1).await;
    assert!(
        matches!(now, Err(DispatchError::NoMatchingWorker { .. })),
        "{now:?}"
    );
    let waiting = pool.on(Route::any().tag("solo").wait(BOUND));
    assert_eq!(
        within(BOUND, "a waiting call", waiting.call::<Echo>(2)).await,
        Ok(2)
    );
    // A stream waits the same way: crash the worker again and open one meanwhile.
    crash_the_worker(&pool, &mut events, "again").await;
    assert!(
        pool.workers()[0].is_none(),
        "the slot waits out its backoff"
    );
    let streamed: Vec<_> = within(
        BOUND,
        "a waiting stream",
        waiting.stream::<Nothing>(()).collect::<Vec<_>>(),
    )
    .await;
    assert!(
        streamed.is_empty(),
        "it opened once the worker came back: {streamed:?}"
    );

    let started = Instant::now();
    let nobody = pool.on(Route::any().tag("gpu").wait(Duration::from_millis(150)));
    let failed = within(BOUND, "a wait nobody ends", nobody.call::<Echo>(3)).await;
    assert!(
        matches!(failed, Err(DispatchError::NoMatchingWorker { .. })),
        "{failed:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "failed only after its wait, not after {:?}",
        started.elapsed()
    );
}

/// S127, S114: a route's wait ends at the call's deadline, for a call, a broadcast
/// and a stream alike, with `Timeout`; a call whose wait ended in time sends its
/// worker only what is left after the wait.
#[tokio::test]
async fn a_routes_wait_ends_at_the_deadline() {
    let pool = builder()
        .workers(1)
        .tag("solo")
        .restart_policy(
            RestartPolicy::new(10, Duration::from_secs(5))
                .with_backoff(Duration::from_secs(1), Duration::from_secs(2)),
        )
        .build()
        .await
        .expect("pool builds");
    let gpu = pool.on(Route::any().tag("gpu").wait(BOUND));
    let started = Instant::now();
    let call = skein::with_deadline(Duration::from_millis(150), gpu.call::<Echo>(1));
    assert_eq!(
        within(BOUND, "a call waiting", call).await,
        Err(DispatchError::Timeout)
    );
    let broadcast = skein::with_deadline(Duration::from_millis(150), gpu.broadcast::<Echo>(1));
    assert!(matches!(
        within(BOUND, "a broadcast waiting", broadcast).await,
        Err(DispatchError::Timeout)
    ));
    let stream = skein::with_deadline(
        Duration::from_millis(150),
        gpu.stream::<Nothing>(()).collect::<Vec<_>>(),
    );
    let items = within(BOUND, "a stream waiting", stream).await;
    assert!(
        matches!(items.as_slice(), [Err(DispatchError::Timeout)]),
        "{items:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each wait ended at its deadline, not the route's: {:?}",
        started.elapsed()
    );

    // The worker is away for its restart backoff (1 s): a call under a 5 s deadline
    // waits for it, and the worker is handed what is left after the wait.
    let mut events = pool.events();
    crash_the_worker(&pool, &mut events, "make it wait").await;
    let solo = pool.on(Route::any().tag("solo").wait(BOUND));
    let left = within(
        BOUND,
        "a call waiting for the restart",
        skein::with_deadline(Duration::from_secs(5), solo.call::<LeftMs>(())),
    )
    .await
    .expect("it ran once the worker was back")
    .expect("under the deadline");
    assert!(
        left < 4_500,
        "the wait came off the 5 s: {left} ms were left on the worker"
    );
}

/// A stream of nothing, to open on a route.
struct Nothing;
impl skein::StreamRoutine for Nothing {
    const NAME: &'static str = "routes.nothing";
    type Args = ();
    type Item = u32;
    type Error = Never;
    fn run(_: ()) -> impl futures::Stream<Item = Result<u32, Never>> + Send + 'static {
        futures::stream::empty()
    }
}

/// S128: the pool's balancer places every call, seeing each matching worker with its
/// node, tags and locality.
#[tokio::test]
async fn a_custom_balancer_places_calls_and_sees_the_candidates() {
    let balancer = Arc::new(PickLast::default());
    let pool = builder()
        .workers(3)
        .tag("a")
        .balancer(balancer.clone())
        .build()
        .await
        .expect("pool builds");
    let gate = Gate::new();
    let held: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn({
                let pool = pool.clone();
                let gate = gate.id();
                async move { pool.call::<Hold>(gate).await }
            })
        })
        .collect();
    gate.until("both held calls run", |c| c.entered == 2).await;
    assert_eq!(
        load_by_slot(&pool).await,
        vec![(0, 0), (0, 0), (2, 0)],
        "the balancer put both on the last worker"
    );
    let seen = balancer.seen();
    assert_eq!(seen.len(), 2, "asked once per call");
    for candidates in seen {
        assert_eq!(
            candidates,
            vec![("local".to_string(), vec!["a".to_string()], true); 3]
        );
    }
    gate.open();
    for call in held {
        assert_eq!(
            within(BOUND, "a held call", call).await.expect("joins"),
            Ok(())
        );
    }
}

/// Sends `count` dispatches of `Hold` at `gate` straight to `worker`, behind its pool's
/// back, and returns where their replies will come.
fn hold_directly(
    worker: &ActorRef<WorkerMsg>,
    gate: &Gate,
    count: usize,
) -> Vec<oneshot::Receiver<Reply>> {
    (0..count)
        .map(|_| {
            cast_call(
                worker,
                skein::request::<Hold>(gate.id()).expect("args encode"),
            )
        })
        .collect()
}

/// S129: `LeastInFlight` sends calls to the idle worker while another is busy.
#[tokio::test]
async fn least_in_flight_avoids_a_busy_worker() {
    let pool = builder()
        .workers(2)
        .balancer(LeastInFlight::new())
        .build()
        .await
        .expect("pool builds");
    // Worker 0 is made busy behind the pool's back: three held dispatches sent to it
    // directly.
    let gate = Gate::new();
    let busy = pool.workers()[0].clone().expect("worker 0");
    let direct = hold_directly(&busy, &gate, 3);
    gate.until("worker 0 is busy", |c| c.entered == 3).await;
    assert_eq!(load_by_slot(&pool).await, vec![(3, 0), (0, 0)]);
    let through_pool: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn({
                let pool = pool.clone();
                let gate = gate.id();
                async move { pool.call::<Hold>(gate).await }
            })
        })
        .collect();
    gate.until("the pool's calls run", |c| c.entered == 6).await;
    assert_eq!(
        load_by_slot(&pool).await,
        vec![(3, 0), (3, 0)],
        "every call of the pool went to the idle worker"
    );
    gate.open();
    for call in through_pool {
        assert_eq!(within(BOUND, "a call", call).await.expect("joins"), Ok(()));
    }
    for reply in direct {
        within(BOUND, "a direct reply", reply)
            .await
            .expect("answered");
    }
}

/// S129: among workers equally loaded, `LeastInFlight` takes turns: calls made while
/// every worker is idle alternate between them.
#[tokio::test]
async fn least_in_flight_takes_turns_among_equals() {
    let pool = builder()
        .workers(2)
        .balancer(LeastInFlight::new())
        .build()
        .await
        .expect("pool builds");
    let mut busy_slots = Vec::new();
    for _ in 0..4 {
        // Each call is made with both workers idle: a task takes itself out of its
        // worker's table before it answers.
        let gate = Gate::new();
        let mut call = Box::pin(pool.call::<Hold>(gate.id()));
        assert!(futures::poll!(call.as_mut()).is_pending());
        gate.until("the call runs", |c| c.entered == 1).await;
        let load = load_by_slot(&pool).await;
        busy_slots.push(load.iter().position(|&(in_flight, _)| in_flight == 1));
        gate.open();
        assert_eq!(within(BOUND, "the call", call).await, Ok(()));
    }
    let first = busy_slots[0].expect("one worker ran it");
    let other = 1 - first;
    assert_eq!(
        busy_slots,
        vec![Some(first), Some(other), Some(first), Some(other)],
        "the ties went in turn"
    );
}

/// S129: what waits in a worker's queue counts as its load: with one dispatch at a
/// time per worker, a worker with one running and two queued is avoided while the
/// other's count is lower.
#[tokio::test]
async fn least_in_flight_counts_a_workers_queue() {
    let pool = builder()
        .workers(2)
        .max_concurrency(1)
        .balancer(LeastInFlight::new())
        .build()
        .await
        .expect("pool builds");
    let gate = Gate::new();
    let busy = pool.workers()[0].clone().expect("worker 0");
    let direct = hold_directly(&busy, &gate, 3);
    // The worker answers in mailbox order: by its answer, all three were taken.
    let stats = mailbox_stats(&busy).await;
    assert_eq!((stats.in_flight, stats.queued), (1, 2));
    // Polled once, each of the pool's calls is placed at once: 0, 1 and 2 on worker 1
    // are each fewer than worker 0's 3.
    let mut calls = Box::pin(futures::future::join_all(
        (0..3).map(|_| pool.call::<Hold>(gate.id())),
    ));
    assert!(futures::poll!(calls.as_mut()).is_pending());
    assert_eq!(
        load_by_slot(&pool).await,
        vec![(1, 2), (1, 2)],
        "all three went to worker 1"
    );
    gate.open();
    for result in within(BOUND, "the pool's calls", calls).await {
        assert_eq!(result, Ok(()));
    }
    for reply in direct {
        within(BOUND, "a direct reply", reply)
            .await
            .expect("answered");
    }
}

/// S130: a broadcast runs once on each matching worker and names each.
#[tokio::test]
async fn a_broadcast_returns_one_result_per_worker() {
    let pool = builder()
        .workers(3)
        .tag("all")
        .build()
        .await
        .expect("pool builds");
    let results = within(BOUND, "a broadcast", pool.broadcast::<Echo>(5))
        .await
        .expect("broadcast");
    assert_eq!(results.len(), 3);
    let slots: BTreeSet<_> = results
        .iter()
        .map(|(info, _)| info.slot.expect("local"))
        .collect();
    assert_eq!(slots, BTreeSet::from([0, 1, 2]), "one per worker");
    for (info, result) in &results {
        assert_eq!(result, &Ok(5));
        assert_eq!(info.node, "local");
        assert_eq!(info.tags, vec!["all".to_string()]);
    }
    let routed = within(
        BOUND,
        "a routed broadcast",
        pool.on(Route::any().tag("all")).broadcast::<Echo>(6),
    )
    .await
    .expect("routed broadcast");
    assert_eq!(routed.len(), 3);
}

/// A tag no route could ask for is refused when the pool is built.
#[tokio::test]
async fn empty_tags_are_refused_at_build() {
    for bad in ["", "two\nlines"] {
        let built = builder().workers(1).tag(bad).build().await;
        assert!(
            matches!(built, Err(skein::BuildError::Invalid { field: "tags", .. })),
            "{bad:?}: {built:?}"
        );
    }
}

/// S125: a pool with a node: its workers are known by the node's name, and carry the
/// node's tags beside the pool's.
#[cfg(feature = "cluster")]
#[tokio::test]
async fn a_nodes_tags_and_name_are_its_pools_workers() {
    let node = skein::Node::builder()
        .cookie("routes")
        .tags(["zone-a"])
        .build()
        .await
        .expect("node builds");
    let pool = builder()
        .workers(1)
        .tag("cpu")
        .node(&node)
        .group("routes.node_tags")
        .build()
        .await
        .expect("pool builds");
    let infos = pool.worker_infos();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].node, node.name());
    assert_eq!(infos[0].tags, vec!["cpu".to_string(), "zone-a".to_string()]);
    let routed = pool.on(Route::any().node(node.name()).tag("zone-a"));
    assert_eq!(
        within(BOUND, "a call by node and node tag", routed.call::<Echo>(9)).await,
        Ok(9)
    );
    let elsewhere = pool.on(Route::any().node("local")).call::<Echo>(9).await;
    assert!(
        matches!(elsewhere, Err(DispatchError::NoMatchingWorker { .. })),
        "{elsewhere:?}"
    );
}

/// S125, S126: a nested call on a route (`skein::call_on`) reaches the workers that
/// match it, and fails typed on a route nobody matches; outside a routine it is
/// `NotInRoutine`.
#[tokio::test]
async fn a_nested_call_takes_its_route() {
    let pool = builder()
        .workers(2)
        .tag("inner")
        .build()
        .await
        .expect("pool builds");
    let found = within(
        BOUND,
        "a nested routed call",
        pool.call::<EchoOn>(("inner".into(), 4)),
    )
    .await;
    assert_eq!(found, Ok(Ok(4)));
    let missing = within(
        BOUND,
        "a nested call to no one",
        pool.call::<EchoOn>(("gpu".into(), 4)),
    )
    .await;
    let expected = DispatchError::<Never>::NoMatchingWorker {
        route: Route::any().tag("gpu").to_string(),
    };
    assert_eq!(missing, Ok(Err(expected.to_string())));
    assert_eq!(
        skein::call_on::<Echo>(&Route::any(), 1).await,
        Err(DispatchError::NotInRoutine)
    );
}
