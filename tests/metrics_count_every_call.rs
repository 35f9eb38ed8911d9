//! skein's metrics, read through a real recorder (`metrics-util`'s debugging
//! recorder, installed as the process's recorder before the pool is built): every call
//! is counted by routine and outcome and timed, a worker's gauges follow what runs on
//! it, supervision and token spends are counted.
//!
//! One test in this file: the recorder is the process's, and its snapshot resets what
//! it reads, so the steps run one after another, each reading what it caused.

mod support;

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use serde::{Deserialize, Serialize};
use skein::actors::metrics::{
    CALLS, CALL_DURATION, LEDGER_SPENDS, WORKER_CRASHES, WORKER_IN_FLIGHT, WORKER_QUEUED,
    WORKER_RESTARTS,
};
use skein::{ContextVar, DispatchError, Pool, Routine, SupervisionEvent};
use support::pool_helpers::{events_until, within, Gate, BOUND};

/// Refuses multiples of four; doubles the rest.
struct Check;

#[derive(Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{0} is a multiple of four")]
struct MultipleOfFour(u32);

impl Routine for Check {
    const NAME: &'static str = "metrics.check";
    type Args = u32;
    type Output = u32;
    type Error = MultipleOfFour;
    async fn run(n: u32) -> Result<u32, MultipleOfFour> {
        if n % 4 == 0 {
            Err(MultipleOfFour(n))
        } else {
            Ok(n * 2)
        }
    }
}

/// Waits at the gate its args name.
struct Wait;
impl Routine for Wait {
    const NAME: &'static str = "metrics.wait";
    type Args = u64;
    type Output = ();
    type Error = skein::Never;
    async fn run(gate: u64) -> Result<(), skein::Never> {
        Gate::find(gate).pass().await;
        Ok(())
    }
}

struct Panics;
impl Routine for Panics {
    const NAME: &'static str = "metrics.panics";
    type Args = ();
    type Output = ();
    type Error = skein::Never;
    async fn run((): ()) -> Result<(), skein::Never> {
        panic!("on purpose")
    }
}

static V: ContextVar<u32> = ContextVar::new("metrics", "v");

/// A metric's kind, name and labels (sorted).
type MetricId = (MetricKind, String, Vec<(String, String)>);

/// What one snapshot read: each metric by its name and labels.
struct Read(HashMap<MetricId, DebugValue>);

impl Read {
    fn now(snapshotter: &Snapshotter) -> Read {
        Read(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (name_of(&key), value))
                .collect(),
        )
    }

    fn get(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.0.get(&(kind, name.to_string(), labels))
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(x)) => x.into_inner(),
            other => panic!("{name} {labels:?} is not a gauge here: {other:?}"),
        }
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.get(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(xs)) => xs.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{name} {labels:?} is not a histogram here: {other:?}"),
        }
    }
}

fn name_of(key: &CompositeKey) -> MetricId {
    let mut labels: Vec<(String, String)> = key
        .key()
        .labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect();
    labels.sort();
    (key.kind(), key.key().name().to_string(), labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outcomes_latency_gauges_restarts_and_spends_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this process");
    let pool = Pool::builder()
        .workers(2)
        .max_concurrency(1)
        .routine::<Check>()
        .routine::<Wait>()
        .routine::<Panics>()
        .build()
        .await
        .expect("pool builds");

    // N calls, K of them refused by the routine.
    const N: u32 = 200;
    let mut failures = 0;
    for n in 0..N {
        match pool.call::<Check>(n).await {
            Ok(doubled) => assert_eq!(doubled, n * 2),
            Err(DispatchError::Routine(MultipleOfFour(m))) => {
                assert_eq!(m, n);
                failures += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        pool.call::<Panics>(()).await,
        Err(DispatchError::Panicked {
            message: "on purpose".into()
        })
    );
    let read = Read::now(&snapshotter);
    let check = [("routine", Check::NAME)];
    let ok = read.counter(CALLS, &[check[0], ("outcome", "ok")]);
    let refused = read.counter(CALLS, &[check[0], ("outcome", "routine_error")]);
    assert_eq!(failures, N / 4);
    assert_eq!(
        (ok, refused),
        (u64::from(N - failures), u64::from(failures))
    );
    let latencies = read.samples(CALL_DURATION, &check);
    assert_eq!(latencies.len(), N as usize, "one latency sample per call");
    assert!(
        latencies
            .iter()
            .all(|s| *s > 0.0 && *s < BOUND.as_secs_f64()),
        "latencies are in seconds"
    );
    assert_eq!(
        read.counter(CALLS, &[("routine", Panics::NAME), ("outcome", "panicked")]),
        1
    );
    assert_eq!(
        read.samples(CALL_DURATION, &[("routine", Panics::NAME)])
            .len(),
        1
    );

    // Calls that wait show as in flight on their workers, one more as queued (each
    // worker runs one root dispatch at a time here), and only while they do.
    let gate = Gate::new();
    let running: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            let gate = gate.id();
            tokio::spawn(async move { pool.call::<Wait>(gate).await })
        })
        .collect();
    gate.until("both workers run one", |c| c.entered == 2).await;
    let third = pool.call::<Wait>(gate.id());
    let mut third = std::pin::pin!(third);
    // Its first poll hands the dispatch to a worker, whose one slot is taken.
    assert!(futures::poll!(&mut third).is_pending());
    let read = Read::now(&snapshotter); // resets the gauges to 0 from here
    let sum = |read: &Read, name| -> f64 {
        ["0", "1"]
            .iter()
            .map(|slot| read.gauge(name, &[("worker", slot)]))
            .sum()
    };
    assert_eq!(sum(&read, WORKER_IN_FLIGHT), 2.0, "two dispatches run");
    assert_eq!(sum(&read, WORKER_QUEUED), 1.0, "and one waits");
    gate.open();
    for call in running {
        within(BOUND, "a waiting call", call)
            .await
            .expect("the task")
            .expect("the call");
    }
    within(BOUND, "the queued call", third)
        .await
        .expect("the queued call");
    let read = Read::now(&snapshotter);
    // Moves since the reset: the two that ran left, the queued one started and left.
    assert_eq!(
        sum(&read, WORKER_IN_FLIGHT),
        -2.0,
        "they left when they finished"
    );
    assert_eq!(
        sum(&read, WORKER_QUEUED),
        -1.0,
        "the queued one left the queue"
    );

    // A worker that dies is counted, and so is its restart.
    let mut events = pool.events();
    let worker = pool.workers()[0].clone().expect("slot 0 is live");
    skein::actors::crash(&worker, "injected")
        .await
        .expect("the worker is live");
    events_until(&mut events, "the restart", |e| {
        matches!(e, SupervisionEvent::WorkerRestarted { .. })
    })
    .await;
    let read = Read::now(&snapshotter);
    assert_eq!(read.counter(WORKER_CRASHES, &[]), 1);
    assert_eq!(read.counter(WORKER_RESTARTS, &[]), 1);

    // A spend that wins (the reset), and a second spend of the same token that the
    // ledger refuses. (A second reset would be refused before it reached the ledger:
    // the context knows the token is spent.)
    skein::scope(async {
        let token = V.set(7).expect("in a scope");
        let id = token.id();
        V.reset(token).await.expect("the first reset wins");
        assert_eq!(
            skein::actors::spend(id).await,
            Ok(skein::actors::SpendOutcome::AlreadySpent)
        );
    })
    .await;
    let read = Read::now(&snapshotter);
    assert_eq!(read.counter(LEDGER_SPENDS, &[("outcome", "spent")]), 1);
    assert_eq!(
        read.counter(LEDGER_SPENDS, &[("outcome", "already_spent")]),
        1
    );
}
