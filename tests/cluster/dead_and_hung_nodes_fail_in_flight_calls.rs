//! Faults on purpose: a worker process killed or stopped with calls in flight (S85,
//! S87: every call in flight to a node that dies or is cut off fails with `NodeDown`
//! within a bounded time; the pool replaces a dead process, and welcomes a node back
//! when it returns).

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use skein::{DispatchError, Never, Pool, SupervisionEvent};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::support::{self, children, process_pool, wait_event, WorkerProcess, BOUND};
use crate::{Park, Pid};

/// The bound S85 and S87 (and the performance targets) set on `NodeDown` for a node
/// that dies or hangs.
const NODE_DOWN_WITHIN: Duration = Duration::from_secs(2);

/// Calls in flight to each worker process.
const PER_PROCESS: usize = 3;

type Parked = JoinHandle<Result<(), DispatchError<Never>>>;

/// Puts `PER_PROCESS` calls of [`Park`] in flight on each of the pool's two worker
/// processes. The pool balances round robin, so alternate calls go to alternate
/// processes; each call is polled once here, which hands its dispatch to a worker
/// before this returns.
async fn park_calls(pool: &Pool) -> Vec<Parked> {
    let mut parked = Vec::new();
    for _ in 0..2 * PER_PROCESS {
        let pool = pool.clone();
        let mut call: Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(async move { pool.call::<Park>(()).await });
        assert!(
            futures::poll!(&mut call).is_pending(),
            "a parked call answered at once"
        );
        parked.push(tokio::spawn(call));
    }
    parked
}

/// Waits for the calls in flight to the faulty process to fail: exactly
/// `PER_PROCESS` of the calls must end, each with `NodeDown`, within
/// [`NODE_DOWN_WITHIN`] of `since`, while the calls on the healthy process go on.
/// Returns how long the failures took.
async fn expect_node_down(parked: &mut [Parked], since: Instant, what: &str) -> Duration {
    let deadline = since + NODE_DOWN_WITHIN;
    let mut pending: FuturesUnordered<_> = parked
        .iter_mut()
        .enumerate()
        .map(|(i, handle)| async move { (i, handle.await) })
        .collect();
    let mut failed = Vec::new();
    let mut last = since;
    while failed.len() < PER_PROCESS {
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some((i, outcome))) => {
                last = Instant::now();
                match outcome.expect("a parked call's task") {
                    Err(DispatchError::NodeDown) => failed.push(i),
                    other => panic!("{what}: a call in flight ended with {other:?}, not NodeDown"),
                }
            }
            Ok(None) => unreachable!("more calls than failures"),
            Err(_) => panic!(
                "{what}: only {} of the {PER_PROCESS} calls in flight to it failed within \
                 {NODE_DOWN_WITHIN:?}",
                failed.len()
            ),
        }
    }
    drop(pending);
    let finished: Vec<usize> = (0..parked.len())
        .filter(|i| !failed.contains(i) && parked[*i].is_finished())
        .collect();
    assert!(
        finished.is_empty(),
        "{what}: calls in flight to the healthy process ended too: {finished:?}"
    );
    last - since
}

/// Cancels the calls still parked (dropping a call cancels its routine).
fn cancel(parked: Vec<Parked>) {
    for handle in parked {
        handle.abort();
    }
}

/// Makes sure a stopped process is resumed, whatever happens to the test.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        support::signal("-CONT", self.0);
    }
}

/// Eight calls through the pool's balancing, which must all succeed and reach exactly
/// the processes `pids`.
async fn calls_reach(pool: &Pool, pids: &BTreeSet<u32>) {
    let mut seen = BTreeSet::new();
    for _ in 0..8 {
        let pid = support::within(BOUND, "a call after recovery", pool.call::<Pid>(()))
            .await
            .expect("a call after recovery succeeds");
        seen.insert(pid);
    }
    assert_eq!(&seen, pids, "calls are balanced over both processes again");
}

fn pick(processes: &[WorkerProcess]) -> (WorkerProcess, WorkerProcess) {
    assert_eq!(processes.len(), 2, "two worker processes: {processes:?}");
    (processes[0].clone(), processes[1].clone())
}

/// S85: SIGKILL one worker process with calls in flight on both: the calls to it
/// fail with `NodeDown` within 2 s, the others go on; the pool reports the exit and
/// starts a replacement, and calls then succeed on both processes.
pub async fn a_killed_node_fails_in_flight_calls_and_is_replaced() {
    let pool = process_pool(2).await;
    let (victim, survivor) = pick(&children(&pool).await);
    let mut events = pool.events();
    let mut parked = park_calls(&pool).await;

    let killed = Instant::now();
    support::signal("-KILL", victim.pid);
    let took = expect_node_down(&mut parked, killed, "a killed worker process").await;
    eprintln!("a_killed_node_fails_in_flight_calls_and_is_replaced: NodeDown after {took:.2?}");
    cancel(parked);

    let deadline = Instant::now() + BOUND;
    let exited = wait_event(&mut events, deadline, "the killed process's exit", |e| {
        matches!(e, SupervisionEvent::ProcessExited { .. })
    })
    .await;
    assert!(
        matches!(exited, SupervisionEvent::ProcessExited { process, .. } if process == victim.index),
        "the exit reported is the killed process's (index {}): {exited:?}",
        victim.index
    );
    let started = wait_event(&mut events, deadline, "the replacement's start", |e| {
        matches!(e, SupervisionEvent::ProcessStarted { .. })
    })
    .await;
    let SupervisionEvent::ProcessStarted { process, pid } = started else {
        unreachable!()
    };
    assert_eq!(
        process, victim.index,
        "the replacement takes the killed one's index"
    );
    assert_ne!(pid, victim.pid, "the replacement is a new process");
    assert!(support::is_running(pid), "the replacement runs");

    let pids = BTreeSet::from([survivor.pid, pid]);
    support::wait_for_children(&pool, &pids, BOUND).await;
    pool.wait_for_workers(2, BOUND)
        .await
        .expect("the pool routes to two workers again");
    calls_reach(&pool, &pids).await;
}

/// S87: SIGSTOP a worker process with calls in flight: TCP never notices a stopped
/// process, the heartbeats do, and the calls to it fail with `NodeDown` within 2 s.
pub async fn a_hung_node_is_cut_off_within_2_s() {
    let pool = process_pool(2).await;
    let (victim, survivor) = pick(&children(&pool).await);
    let mut parked = park_calls(&pool).await;

    let stopped = Instant::now();
    support::signal("-STOP", victim.pid);
    let resume = Resume(victim.pid);
    let took = expect_node_down(&mut parked, stopped, "a stopped worker process").await;
    eprintln!("a_hung_node_is_cut_off_within_2_s: NodeDown after {took:.2?}");
    cancel(parked);
    // New calls go to the process that answers.
    let pid = support::within(
        BOUND,
        "a call while one process hangs",
        pool.call::<Pid>(()),
    )
    .await
    .expect("a call while one process hangs succeeds");
    assert_eq!(pid, survivor.pid, "a new call went to the healthy process");
    drop(resume);
}

/// S87: a node cut off for hanging is welcomed back when it resumes: the same process
/// serves calls again, and the pool did not replace it.
pub async fn a_hung_node_is_welcomed_back_when_it_resumes() {
    let pool = process_pool(2).await;
    let (victim, survivor) = pick(&children(&pool).await);
    let mut events = pool.events();

    support::signal("-STOP", victim.pid);
    let resume = Resume(victim.pid);
    wait_event(
        &mut events,
        Instant::now() + NODE_DOWN_WITHIN,
        "the stopped process's workers leave the pool",
        |e| matches!(e, SupervisionEvent::RemoteWorkers { count: 1 }),
    )
    .await;
    drop(resume);

    let pids = BTreeSet::from([victim.pid, survivor.pid]);
    support::wait_for_children(&pool, &pids, Duration::from_secs(10)).await;
    calls_reach(&pool, &pids).await;
    assert!(
        support::is_running(victim.pid),
        "the resumed process is the one serving"
    );
    while let Some(Some(event)) = events.next().now_or_never() {
        assert!(
            !matches!(event, SupervisionEvent::ProcessExited { .. }),
            "a process exited: {event:?}"
        );
    }
}
