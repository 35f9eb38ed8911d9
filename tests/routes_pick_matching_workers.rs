//! Routes and balancers: a call on `pool.on(route)` goes only to workers that carry
//! the route's tags (S125), fails at once, typed, when none does (S126), waits up to
//! the route's wait for one to join (S127), is placed by the pool's balancer, which
//! sees every matching candidate (S128); `LeastInFlight` avoids a busy worker (S129);
//! and a broadcast runs once on every matching worker (S130).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use skein::actors::{Candidates, Dispatch, DispatchKind, WorkerMsg};
use skein::{
    Balancer, DispatchError, LeastInFlight, Never, Pool, RestartPolicy, Route, Routine,
    SupervisionEvent,
};
use tokio::sync::Semaphore;

const BOUND: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {BOUND:?}"))
}

/// Gates a `Hold` call waits on, by id: each test uses its own.
fn gate(id: u32) -> Arc<Semaphore> {
    static GATES: Mutex<Option<HashMap<u32, Arc<Semaphore>>>> = Mutex::new(None);
    let mut gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
    gates
        .get_or_insert_with(HashMap::new)
        .entry(id)
        .or_insert_with(|| Arc::new(Semaphore::new(0)))
        .clone()
}

/// Runs until its gate lets it through.
struct Hold;
impl Routine for Hold {
    const NAME: &'static str = "routes.hold";
    type Args = u32;
    type Output = ();
    type Error = Never;
    async fn run(id: u32) -> Result<(), Never> {
        let gate = gate(id);
        if let Ok(permit) = gate.acquire().await {
            permit.forget();
        }
        Ok(())
    }
}

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

fn builder() -> skein::PoolBuilder {
    Pool::builder()
        .routine::<EchoOn>()
        .routine::<Hold>()
        .routine::<Echo>()
        .stream_routine::<Nothing>()
}

/// Polls `pool.stats` until `done` holds of the in-flight counts by slot.
async fn in_flight_until(pool: &Pool, what: &str, done: impl Fn(&[usize]) -> bool) -> Vec<usize> {
    within(what, async {
        loop {
            let stats = pool.stats(BOUND).await;
            let mut by_slot: Vec<(usize, usize)> = stats
                .workers
                .iter()
                .map(|w| {
                    (
                        w.info.slot.expect("a local worker"),
                        w.stats().expect("local").in_flight,
                    )
                })
                .collect();
            by_slot.sort();
            let counts: Vec<usize> = by_slot.into_iter().map(|(_, n)| n).collect();
            if done(&counts) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
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
    assert_eq!(within("a routed call", routed.call::<Echo>(7)).await, Ok(7));
    let by_node = pool.on(Route::any().node("local").tag("cpu"));
    assert_eq!(
        within("a call by node", by_node.call::<Echo>(8)).await,
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
        let failed = within("a call to no one", pool.on(route.clone()).call::<Echo>(1)).await;
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

/// S127: a route with a wait waits for a matching worker to come (here, a crashed
/// worker's restart) and then runs; with nobody coming it fails typed after the wait.
#[tokio::test]
async fn a_route_with_a_wait_runs_when_a_matching_worker_arrives() {
    let pool = builder()
        .workers(1)
        .tag("solo")
        .restart_policy(
            RestartPolicy::new(10, Duration::from_secs(5))
                .with_backoff(Duration::from_millis(300), Duration::from_secs(1)),
        )
        .build()
        .await
        .expect("pool builds");
    let mut events = pool.events();
    let victim = pool.workers()[0].clone().expect("a live worker");
    skein::actors::crash(&victim, "make room")
        .await
        .expect("the worker takes the crash");
    within("the crash is seen", async {
        while let Some(event) = events.next().await {
            if matches!(event, SupervisionEvent::WorkerFailed { .. }) {
                return;
            }
        }
        panic!("the events ended");
    })
    .await;
    // Its slot is empty for the backoff: no wait fails now.
    let now = pool.on(Route::any().tag("solo")).call::<Echo>(1).await;
    assert!(
        matches!(now, Err(DispatchError::NoMatchingWorker { .. })),
        "{now:?}"
    );
    let waiting = pool.on(Route::any().tag("solo").wait(BOUND));
    assert_eq!(
        within("a waiting call", waiting.call::<Echo>(2)).await,
        Ok(2)
    );
    // A stream waits the same way: crash the worker again and open one meanwhile.
    let victim = pool.workers()[0].clone().expect("the restarted worker");
    skein::actors::crash(&victim, "again")
        .await
        .expect("the worker takes the crash");
    within("the second crash is seen", async {
        while let Some(event) = events.next().await {
            if matches!(event, SupervisionEvent::WorkerFailed { .. }) {
                return;
            }
        }
        panic!("the events ended");
    })
    .await;
    assert!(
        pool.workers()[0].is_none(),
        "the slot waits out its backoff"
    );
    let streamed: Vec<_> = within(
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
    let failed = within("a wait nobody ends", nobody.call::<Echo>(3)).await;
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

/// A candidate as a balancer saw it: node, tags, local.
type Seen = (String, Vec<String>, bool);

/// Records what it is shown and always picks the last candidate.
#[derive(Default)]
struct PickLast {
    seen: Mutex<Vec<Vec<Seen>>>,
}

impl Balancer for PickLast {
    fn pick(&self, candidates: &Candidates<'_>) -> Option<usize> {
        let seen = candidates
            .iter()
            .map(|c| (c.node().to_string(), c.tags().to_vec(), c.is_local()))
            .collect::<Vec<_>>();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(seen);
        Some(candidates.len() - 1)
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
    let held: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn({
                let pool = pool.clone();
                async move { pool.call::<Hold>(128).await }
            })
        })
        .collect();
    let counts = in_flight_until(&pool, "both held calls run", |c| {
        c.iter().sum::<usize>() == 2
    })
    .await;
    assert_eq!(
        counts,
        vec![0, 0, 2],
        "the balancer put both on the last worker"
    );
    let seen = balancer
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(seen.len(), 2, "asked once per call");
    for candidates in seen {
        assert_eq!(
            candidates,
            vec![("local".to_string(), vec!["a".to_string()], true); 3]
        );
    }
    gate(128).add_permits(2);
    for call in held {
        assert_eq!(within("a held call", call).await.expect("joins"), Ok(()));
    }
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
    let busy = pool.workers()[0].clone().expect("worker 0");
    let mut direct = Vec::new();
    for _ in 0..3 {
        let request = skein::request::<Hold>(129).expect("args encode");
        let (tx, rx) = tokio::sync::oneshot::channel();
        busy.cast(WorkerMsg::Dispatch(
            Dispatch::new(request, DispatchKind::Call),
            tx.into(),
        ))
        .expect("worker 0 takes it");
        direct.push(rx);
    }
    in_flight_until(&pool, "worker 0 is busy", |c| c == [3, 0]).await;
    let through_pool: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn({
                let pool = pool.clone();
                async move { pool.call::<Hold>(129).await }
            })
        })
        .collect();
    let counts = in_flight_until(&pool, "the pool's calls run", |c| {
        c.iter().sum::<usize>() == 6
    })
    .await;
    assert_eq!(
        counts,
        vec![3, 3],
        "every call of the pool went to the idle worker"
    );
    gate(129).add_permits(6);
    for call in through_pool {
        assert_eq!(within("a call", call).await.expect("joins"), Ok(()));
    }
    for reply in direct {
        within("a direct reply", reply).await.expect("answered");
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
    let results = within("a broadcast", pool.broadcast::<Echo>(5))
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
        within("a call by node and node tag", routed.call::<Echo>(9)).await,
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
        "a nested routed call",
        pool.call::<EchoOn>(("inner".into(), 4)),
    )
    .await;
    assert_eq!(found, Ok(Ok(4)));
    let missing = within(
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
