//! A scope deadline (`skein::with_deadline`) bounds every call made inside it, and
//! travels: the request carries the time left, the worker runs the routine under it,
//! and the routine's own nested calls inherit what is left of it (S113–S117, S119).

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use skein::actors::{Dispatch, DispatchKind, Outcome, Reply, Request, WorkerMsg};
use skein::{DispatchError, ErrorMessage, Never, Pool, Routine, StreamRoutine};
use support::pool_helpers::{cast_call, mailbox_stats, within, Gate, Hold, BOUND};

/// What is left of the deadline the routine runs under, in microseconds.
struct Left;
impl Routine for Left {
    const NAME: &'static str = "deadlines.left";
    type Args = ();
    type Output = Option<u64>;
    type Error = Never;
    async fn run(_: ()) -> Result<Option<u64>, Never> {
        Ok(micros(skein::time_left()))
    }
}

fn micros(left: Option<Duration>) -> Option<u64> {
    left.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Its own time left, and what a nested `skein::call` saw.
struct Outer;
impl Routine for Outer {
    const NAME: &'static str = "deadlines.outer";
    type Args = ();
    type Output = (Option<u64>, Option<u64>);
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<(Option<u64>, Option<u64>), ErrorMessage> {
        let own = micros(skein::time_left());
        let nested = skein::call::<Left>(()).await.map_err(ErrorMessage::from)?;
        Ok((own, nested))
    }
}

/// A nested call of `Left` two levels down, through `Outer`.
struct Deeper;
impl Routine for Deeper {
    const NAME: &'static str = "deadlines.deeper";
    type Args = ();
    type Output = (Option<u64>, Option<u64>);
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<(Option<u64>, Option<u64>), ErrorMessage> {
        skein::call::<Outer>(()).await.map_err(ErrorMessage::from)
    }
}

/// Narrows its own deadline to the given milliseconds around a nested `Left`.
struct Narrow;
impl Routine for Narrow {
    const NAME: &'static str = "deadlines.narrow";
    type Args = u64;
    type Output = Option<u64>;
    type Error = ErrorMessage;
    async fn run(ms: u64) -> Result<Option<u64>, ErrorMessage> {
        skein::with_deadline(Duration::from_millis(ms), skein::call::<Left>(()))
            .await
            .map_err(ErrorMessage::from)
    }
}

/// Waits on a nested `Hold` and says how that call ended, at once.
struct Waits;
impl Routine for Waits {
    const NAME: &'static str = "deadlines.waits";
    type Args = u64;
    type Output = String;
    type Error = Never;
    async fn run(gate: u64) -> Result<String, Never> {
        Ok(match skein::call::<Hold>(gate).await {
            Ok(()) => "ok".to_string(),
            Err(e) => e.kind().to_string(),
        })
    }
}

/// Yields what is left of its deadline, then blocks at the gate before a second item.
struct LeftThenHold;
impl StreamRoutine for LeftThenHold {
    const NAME: &'static str = "deadlines.left_then_hold";
    type Args = u64;
    type Item = Option<u64>;
    type Error = Never;
    fn run(gate: u64) -> impl futures::Stream<Item = Result<Option<u64>, Never>> + Send + 'static {
        let first = futures::stream::once(async { Ok(micros(skein::time_left())) });
        let then = futures::stream::once(async move {
            Gate::find(gate).pass().await;
            Ok(None)
        });
        first.chain(then)
    }
}

fn builder() -> skein::PoolBuilder {
    Pool::builder()
        .workers(2)
        .routine::<Left>()
        .routine::<Outer>()
        .routine::<Deeper>()
        .routine::<Narrow>()
        .routine::<Hold>()
        .routine::<Waits>()
        .stream_routine::<LeftThenHold>()
}

async fn pool() -> Pool {
    within(BOUND, "build", builder().build())
        .await
        .expect("pool builds")
}

fn ms(n: u64) -> u64 {
    n * 1_000
}

/// Sends `request` straight to the pool's first worker and returns its raw reply:
/// nobody on this side cuts the wait short, so what comes back is the worker's own.
async fn direct(pool: &Pool, request: Request) -> Reply {
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    within(BOUND, "direct dispatch", async {
        ractor::call!(worker, |reply| WorkerMsg::Dispatch(
            Dispatch::new(request, DispatchKind::Call),
            reply
        ))
    })
    .await
    .expect("the worker answers a direct dispatch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_with_deadline_narrows_and_never_widens() {
    // S113
    assert_eq!(skein::time_left(), None, "no deadline outside any");
    assert_eq!(skein::deadline(), None);
    skein::with_deadline(Duration::from_secs(1), async {
        let outer = skein::deadline().expect("a deadline is set");
        skein::with_deadline(Duration::from_secs(60), async {
            assert_eq!(skein::deadline(), Some(outer), "a wider one never widens");
        })
        .await;
        skein::with_deadline(Duration::from_millis(100), async {
            let inner = skein::deadline().expect("a deadline is set");
            assert!(inner < outer, "a narrower one narrows");
            assert!(skein::time_left().unwrap() <= Duration::from_millis(100));
        })
        .await;
        assert_eq!(
            skein::deadline(),
            Some(outer),
            "the outer one is back after"
        );
        // Too far ahead to be an instant: nothing changes.
        skein::with_deadline(Duration::MAX, async {
            assert_eq!(skein::deadline(), Some(outer));
        })
        .await;
    })
    .await;
    skein::with_deadline(Duration::MAX, async {
        assert_eq!(skein::deadline(), None, "Duration::MAX sets nothing");
    })
    .await;

    // The same inside a routine, around its nested call.
    let pool = pool().await;
    skein::with_deadline(Duration::from_millis(500), async {
        let wide = within(BOUND, "narrow 60 s", pool.call::<Narrow>(60_000))
            .await
            .expect("narrow");
        assert!(wide.unwrap() <= ms(500), "never widened: {wide:?}");
        let narrow = within(BOUND, "narrow 50 ms", pool.call::<Narrow>(50))
            .await
            .expect("narrow");
        assert!(narrow.unwrap() <= ms(50), "narrowed: {narrow:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_call_inherits_what_is_left() {
    // S115
    let pool = pool().await;
    let unbounded = within(BOUND, "no deadline", pool.call::<Outer>(()))
        .await
        .expect("outer");
    assert_eq!(unbounded, (None, None), "no deadline anywhere without one");

    let (own, nested) = skein::with_deadline(Duration::from_secs(2), async {
        within(BOUND, "under 2 s", pool.call::<Outer>(())).await
    })
    .await
    .expect("outer");
    let own = own.expect("the routine runs under the caller's deadline");
    let nested = nested.expect("its nested call inherits it");
    assert!(own <= ms(2_000) && own > 0, "{own} µs left on the worker");
    assert!(
        nested <= own,
        "the nested call got what was left: {nested} > {own}"
    );

    // Two levels down, and through a `Pool::call` from a plain task's scope: the same.
    let (_, deepest) = skein::with_deadline(Duration::from_millis(800), async {
        within(BOUND, "two levels", pool.call::<Deeper>(())).await
    })
    .await
    .expect("deeper");
    assert!(deepest.expect("inherited two levels down") <= ms(800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_default_and_the_scope_deadline_combine() {
    // S114
    let pool = within(
        BOUND,
        "build",
        builder().timeout(Duration::from_millis(300)).build(),
    )
    .await
    .expect("pool builds");
    let left = |limit: Option<Duration>| {
        let pool = pool.clone();
        async move {
            let call = pool.call::<Left>(());
            let left = match limit {
                Some(limit) => skein::with_deadline(limit, call).await,
                None => call.await,
            };
            left.expect("left").expect("a deadline on the worker")
        }
    };
    assert!(left(None).await <= ms(300), "the pool's default alone");
    assert!(
        left(Some(Duration::from_secs(10))).await <= ms(300),
        "the default is earlier"
    );
    assert!(
        left(Some(Duration::from_millis(100))).await <= ms(100),
        "the scope is earlier"
    );

    // `call_timeout` too: the earlier of its own and the scope's, each way round.
    let gate = Gate::new();
    for (own, scope) in [(60_000, 50), (50, 60_000)] {
        let started = Instant::now();
        let result = skein::with_deadline(Duration::from_millis(scope), async {
            within(
                BOUND,
                "call_timeout under a scope deadline",
                pool.call_timeout::<Hold>(gate.id(), Duration::from_millis(own)),
            )
            .await
        })
        .await;
        assert_eq!(result, Err(DispatchError::Timeout));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(5),
            "own {own} ms, scope {scope} ms: timed out after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_deadline_a_call_fails_at_once_sending_nothing() {
    // S114
    let pool = within(
        BOUND,
        "build",
        builder().workers(1).max_concurrency(1).build(),
    )
    .await
    .expect("pool builds");
    let gate = Gate::new();
    gate.open(); // a dispatch that arrived would pass and be counted
    let passed = Instant::now();
    let started = Instant::now();
    let (call, timed, stream) = skein::with_deadline_at(passed, async {
        assert_eq!(skein::time_left(), Some(Duration::ZERO));
        let call = pool.call::<Hold>(gate.id()).await;
        let timed = pool
            .call_timeout::<Hold>(gate.id(), Duration::from_secs(60))
            .await;
        let stream = pool.stream::<LeftThenHold>(gate.id()).next().await;
        (call, timed, stream)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "at once, not after a wait: {:?}",
        started.elapsed()
    );
    assert_eq!(call, Err(DispatchError::Timeout));
    assert_eq!(timed, Err(DispatchError::Timeout));
    assert_eq!(stream, Some(Err(DispatchError::Timeout)));
    // One worker, one slot, dispatches in order: had any of them been sent, it would
    // have run before this one.
    within(BOUND, "a call after", pool.call::<Hold>(gate.id()))
        .await
        .expect("hold");
    assert_eq!(
        gate.counts().entered,
        1,
        "only the last call reached the worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_past_its_deadline_is_dropped_and_its_cleanup_runs() {
    // S116: the worker's own deadline, with nobody cancelling: a direct dispatch whose
    // caller waits as long as it takes.
    let pool = pool().await;
    let gate = Gate::new(); // never opened
    let mut request = skein::request::<Hold>(gate.id()).expect("request");
    request.timeout = Some(Duration::from_millis(50));
    let started = Instant::now();
    let reply = direct(&pool, request).await;
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "not before its deadline: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(reply.outcome, Outcome::Failed(DispatchError::Timeout)),
        "the worker answers Timeout: {:?}",
        reply.outcome
    );
    let counts = gate
        .until("the routine's cleanup ran", |c| c.dropped == 1)
        .await;
    assert_eq!(counts.passed, 0, "it never went on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_waiting_on_a_nested_call_sees_its_timeout_first() {
    // S116: the routine's deadline and its nested call's are one instant here; the
    // routine sees the call's `Timeout` and answers, rather than being dropped.
    let pool = pool().await;
    for round in 0..20 {
        let gate = Gate::new();
        let mut request = skein::request::<Waits>(gate.id()).expect("request");
        request.timeout = Some(Duration::from_millis(20));
        let reply = direct(&pool, request).await;
        let answer = skein::decode_reply::<Waits>(reply);
        assert_eq!(
            answer,
            Ok("timeout".to_string()),
            "round {round}: the routine saw its nested call time out"
        );
        gate.until("the nested routine was cancelled", |c| c.dropped == 1)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_runs_under_the_deadline_and_is_cancelled_past_it() {
    // S117
    let pool = pool().await;
    let gate = Gate::new(); // never opened: the second item never comes
    let started = Instant::now();
    let (first, second) = skein::with_deadline(Duration::from_millis(100), async {
        let mut items = pool.stream::<LeftThenHold>(gate.id());
        let first = within(BOUND, "the first item", items.next()).await;
        let second = within(BOUND, "the second item", items.next()).await;
        (first, second)
    })
    .await;
    let first = first.expect("an item").expect("ok");
    assert!(first.expect("the step runs under the deadline") <= ms(100));
    assert_eq!(second, Some(Err(DispatchError::Timeout)));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let counts = gate
        .until("the stream's cleanup ran on the worker", |c| c.dropped == 1)
        .await;
    assert_eq!(counts.passed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_caller_cancels_its_nested_calls() {
    // S119, in one process: the caller of `Waits` goes away; its nested `Hold` is
    // cancelled on its worker.
    let pool = pool().await;
    let gate = Gate::new();
    let task = tokio::spawn({
        let pool = pool.clone();
        let id = gate.id();
        async move { pool.call::<Waits>(id).await }
    });
    gate.until("the nested routine runs", |c| c.entered == 1)
        .await;
    task.abort();
    let dropped = Instant::now();
    gate.until("the nested routine was cancelled", |c| c.dropped == 1)
        .await;
    assert!(
        dropped.elapsed() < Duration::from_millis(100),
        "cancelled within 100 ms: {:?}",
        dropped.elapsed()
    );
}

/// A pool of one worker that runs one root dispatch at a time: a second waits in its
/// queue.
async fn one_at_a_time() -> Pool {
    within(
        BOUND,
        "build",
        builder().workers(1).max_concurrency(1).build(),
    )
    .await
    .expect("pool builds")
}

/// Asks `pool`'s only worker for its load through its mailbox: every message sent to
/// it before (a cast dispatch, a cancel) has been handled by the time it answers.
async fn queued_on_worker(pool: &Pool) -> usize {
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    mailbox_stats(&worker).await.queued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_waiting_in_a_workers_queue_counts_against_the_deadline() {
    // S136: a dispatch's time left counts from when the worker received it.
    let pool = one_at_a_time().await;
    let busy = Gate::new();
    let mut holding = Box::pin(pool.call::<Hold>(busy.id()));
    assert!(futures::poll!(holding.as_mut()).is_pending());
    busy.until("the worker is busy", |c| c.entered == 1).await;

    // Queued behind it with 2 s left, it waits there 300 ms: the wait is what is
    // tested, so time passes for real.
    let mut request = skein::request::<Left>(()).expect("request");
    request.timeout = Some(Duration::from_secs(2));
    let queued = cast(&pool, request);
    assert_eq!(queued_on_worker(&pool).await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // One queued with 100 ms left runs out of time there.
    let expiring = Gate::new();
    let mut request = skein::request::<Hold>(expiring.id()).expect("request");
    request.timeout = Some(Duration::from_millis(100));
    let expired = cast(&pool, request);
    assert_eq!(queued_on_worker(&pool).await, 2);
    tokio::time::sleep(Duration::from_millis(150)).await;

    busy.open();
    within(BOUND, "the held call", holding)
        .await
        .expect("it ends");
    let left =
        skein::decode_reply::<Left>(within(BOUND, "the first", queued).await.expect("answered"))
            .expect("it ran")
            .expect("under a deadline");
    assert!(
        left <= ms(1_700),
        "the 300 ms in the queue came off its 2 s: {left} µs left"
    );
    let reply = within(BOUND, "the second", expired)
        .await
        .expect("answered");
    assert!(
        matches!(reply.outcome, Outcome::Failed(DispatchError::Timeout)),
        "out of time in the queue: {:?}",
        reply.outcome
    );
    assert_eq!(expiring.counts().entered, 0, "it never ran");
}

/// Sends `request` straight to the pool's first worker, through its mailbox, and
/// returns where its reply will come.
fn cast(pool: &Pool, request: Request) -> tokio::sync::oneshot::Receiver<Reply> {
    cast_call(
        &pool.workers()[0].clone().expect("worker 0 is live"),
        request,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_call_whose_caller_gives_up_never_runs() {
    // S136: a cancel takes a queued dispatch out of the queue.
    let pool = one_at_a_time().await;
    let busy = Gate::new();
    let mut holding = Box::pin(pool.call::<Hold>(busy.id()));
    assert!(futures::poll!(holding.as_mut()).is_pending());
    busy.until("the worker is busy", |c| c.entered == 1).await;

    // Queued, then dropped by its caller.
    let abandoned = Gate::new();
    let mut call = Box::pin(pool.call::<Hold>(abandoned.id()));
    assert!(futures::poll!(call.as_mut()).is_pending());
    drop(call);
    assert_eq!(queued_on_worker(&pool).await, 0, "the cancel took it out");

    // Under a deadline that passes while it waits: its caller cancels it too.
    let timed_out = Gate::new();
    let result =
        skein::with_deadline(Duration::from_millis(50), pool.call::<Hold>(timed_out.id())).await;
    assert_eq!(result, Err(DispatchError::Timeout));
    assert_eq!(queued_on_worker(&pool).await, 0, "the cancel took it out");

    // A call queued after them runs right after the held one: neither ran first.
    let after = Gate::new();
    after.open();
    let mut next = Box::pin(pool.call::<Hold>(after.id()));
    assert!(futures::poll!(next.as_mut()).is_pending());
    busy.open();
    within(BOUND, "the held call", holding)
        .await
        .expect("it ends");
    within(BOUND, "the next call", next).await.expect("it ends");
    assert_eq!(abandoned.counts().entered, 0, "the dropped call never ran");
    assert_eq!(
        timed_out.counts().entered,
        0,
        "the timed-out call never ran"
    );
}
