//! Every failure a user can provoke reaches the caller as its own `DispatchError`
//! variant: the routine's own error keeps its type, a panic is `Panicked` with its
//! message, and nothing is stringly typed (S52–S55, S60).

mod support;

use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use skein::actors::{Dispatch, DispatchKind, WorkerMsg};
use skein::{BuildError, DispatchError, Never, Pool, Routine, StreamRoutine};
use support::pool_helpers::{cast_call, within, Gate, Hold, BOUND};

/// The routine's own error type: it must come back as this value, not as a string.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, thiserror::Error)]
enum Refusal {
    #[error("{got} is over the limit of {limit}")]
    TooBig { limit: u32, got: i64 },
    #[error("{0}")]
    Negative(String),
}

/// Accepts 0..=100; refuses the rest with its own error.
struct Check;
impl Routine for Check {
    const NAME: &'static str = "errors.check";
    type Args = i64;
    type Output = u32;
    type Error = Refusal;
    async fn run(n: i64) -> Result<u32, Refusal> {
        if n < 0 {
            Err(Refusal::Negative(format!("{n} is negative")))
        } else if n > 100 {
            Err(Refusal::TooBig { limit: 100, got: n })
        } else {
            Ok(n as u32)
        }
    }
}

/// A different routine that claims `Check`'s name.
struct Impostor;
impl Routine for Impostor {
    const NAME: &'static str = "errors.check";
    type Args = ();
    type Output = ();
    type Error = Never;
    async fn run(_: ()) -> Result<(), Never> {
        Ok(())
    }
}

/// A stream routine that claims `Check`'s name.
struct StreamImpostor;
impl StreamRoutine for StreamImpostor {
    const NAME: &'static str = "errors.check";
    type Args = ();
    type Item = ();
    type Error = Never;
    fn run(_: ()) -> impl futures::Stream<Item = Result<(), Never>> + Send + 'static {
        futures::stream::empty()
    }
}

/// Panics with a message built from its args.
struct Explode;
impl Routine for Explode {
    const NAME: &'static str = "errors.explode";
    type Args = String;
    type Output = ();
    type Error = Never;
    async fn run(tag: String) -> Result<(), Never> {
        if !tag.is_empty() {
            panic!("explode: {tag}");
        }
        Ok(())
    }
}

async fn one_worker_pool() -> Pool {
    Pool::builder()
        .workers(1)
        .routine::<Check>()
        .routine::<Explode>()
        .routine::<Hold>()
        .build()
        .await
        .expect("pool builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routine_error_carries_the_routines_own_value() {
    let pool = one_worker_pool().await;
    assert_eq!(within(BOUND, "call", pool.call::<Check>(7)).await, Ok(7));
    assert_eq!(
        within(BOUND, "call", pool.call::<Check>(250)).await,
        Err(DispatchError::Routine(Refusal::TooBig {
            limit: 100,
            got: 250
        }))
    );
    assert_eq!(
        within(BOUND, "call", pool.call::<Check>(-3)).await,
        Err(DispatchError::Routine(Refusal::Negative(
            "-3 is negative".to_string()
        )))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_panicked_with_its_message_and_the_worker_lives_on() {
    let pool = one_worker_pool().await;
    let mut events = pool.events();
    let before = pool.workers()[0]
        .clone()
        .expect("worker 0 is live")
        .get_id();

    let result = within(
        BOUND,
        "panicking call",
        pool.call::<Explode>("kaboom-17".into()),
    )
    .await;
    match result {
        Err(DispatchError::Panicked { message }) => assert!(
            message.contains("explode: kaboom-17"),
            "the panic message travels: {message:?}"
        ),
        other => panic!("expected Panicked, got {other:?}"),
    }

    // The same (only) worker answers the next call: a panic fails one dispatch, not
    // the worker (S54).
    assert_eq!(
        within(BOUND, "call after panic", pool.call::<Check>(5)).await,
        Ok(5)
    );
    let after = pool.workers()[0]
        .clone()
        .expect("worker 0 is live")
        .get_id();
    assert_eq!(before, after, "the worker was not replaced");
    assert_eq!(
        events.next().now_or_never(),
        None,
        "no supervision event after a routine panic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_routine_is_unknown_routine() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Check>()
        .build()
        .await
        .expect("pool builds");
    assert_eq!(
        within(BOUND, "call", pool.call::<Explode>("x".into())).await,
        Err(DispatchError::UnknownRoutine {
            routine: "errors.explode".to_string()
        })
    );
    // The worker is fine afterwards.
    assert_eq!(within(BOUND, "call", pool.call::<Check>(1)).await, Ok(1));
}

/// Sends `request` straight to worker 0 and returns its raw reply.
async fn direct(pool: &Pool, request: skein::actors::Request) -> skein::actors::Reply {
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
async fn args_that_do_not_decode_are_bad_args() {
    let pool = one_worker_pool().await;

    // The path itself works: an untouched request runs.
    let request = skein::request::<Check>(5).expect("args encode");
    assert_eq!(
        skein::decode_reply::<Check>(direct(&pool, request).await),
        Ok(5)
    );

    // 0xc1 is never valid MessagePack.
    let mut request = skein::request::<Check>(5).expect("args encode");
    request.args = vec![0xc1].into();
    match skein::decode_reply::<Check>(direct(&pool, request).await) {
        Err(DispatchError::BadArgs { reason: message }) => assert!(!message.is_empty()),
        other => panic!("expected BadArgs for garbage bytes, got {other:?}"),
    }

    // Valid MessagePack of the wrong type: a string where an i64 is expected.
    let mut request = skein::request::<Check>(5).expect("args encode");
    request.args = skein::payload::encode("not a number")
        .expect("encodes")
        .into();
    match skein::decode_reply::<Check>(direct(&pool, request).await) {
        Err(DispatchError::BadArgs { reason: message }) => assert!(!message.is_empty()),
        other => panic!("expected BadArgs for a wrong-typed arg, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_worker_answers_overloaded_at_once() {
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(1)
        .max_queue(0)
        .routine::<Hold>()
        .routine::<Check>()
        .build()
        .await
        .expect("pool builds");
    let gate = Gate::new();
    let first = tokio::spawn({
        let pool = pool.clone();
        let gate = gate.id();
        async move { pool.call::<Hold>(gate).await }
    });
    gate.until("the slow routine is running", |c| c.entered == 1)
        .await;

    // Full: one running, no queue. The answer comes at once, not after the slow one.
    let second = within(
        Duration::from_secs(1),
        "an overloaded worker answers at once",
        pool.call::<Hold>(gate.id()),
    )
    .await;
    assert_eq!(second, Err(DispatchError::Overloaded));
    assert_eq!(
        within(
            Duration::from_secs(1),
            "an overloaded worker answers at once",
            pool.call::<Check>(3)
        )
        .await,
        Err(DispatchError::Overloaded)
    );
    assert_eq!(gate.counts().entered, 1, "the refused call never ran");

    // Nothing lost: the admitted call completes once released.
    gate.open();
    assert_eq!(
        within(BOUND, "the admitted call", first)
            .await
            .expect("task"),
        Ok(())
    );
    assert_eq!(gate.counts().passed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_only_when_full_so_sequential_calls_are_admitted() {
    // One call at a time never fills a worker that runs one at a time: once a call
    // has its answer, its slot is free, and the next call must be admitted (S55:
    // a full queue answers `Overloaded`; nothing else does).
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(1)
        .max_queue(0)
        .routine::<Check>()
        .build()
        .await
        .expect("pool builds");
    let mut overloaded = Vec::new();
    for i in 0..200 {
        match within(BOUND, "a sequential call", pool.call::<Check>(i % 100)).await {
            Ok(n) => assert_eq!(i64::from(n), i % 100),
            Err(DispatchError::Overloaded) => overloaded.push(i),
            Err(other) => panic!("call {i}: {other:?}"),
        }
    }
    assert!(
        overloaded.is_empty(),
        "{} of 200 strictly sequential calls were refused Overloaded by a worker with \
         nothing else in flight (calls {:?}...): the finished call's slot is still \
         counted when its answer has already reached the caller",
        overloaded.len(),
        &overloaded[..overloaded.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_deadline_a_call_is_timeout_and_the_routine_is_dropped() {
    let pool = one_worker_pool().await;
    let gate = Gate::new(); // never opened: the routine would wait forever
    let started = Instant::now();
    let result = within(
        BOUND,
        "a call with a 50 ms deadline",
        pool.call_timeout::<Hold>(gate.id(), Duration::from_millis(50)),
    )
    .await;
    assert_eq!(result, Err(DispatchError::Timeout));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "not before the deadline: {:?}",
        started.elapsed()
    );
    // The routine was cancelled: its cleanup ran, and it never went on.
    let counts = gate
        .until("the timed-out routine's cleanup ran", |c| c.dropped == 1)
        .await;
    assert_eq!(counts.entered, 1);
    assert_eq!(counts.passed, 0);
    // The worker is fine.
    assert_eq!(within(BOUND, "call", pool.call::<Check>(2)).await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_pool_handle_cancels_dispatches_in_flight() {
    let pool = one_worker_pool().await;
    let gate = Gate::new(); // never opened
                            // A `Pool::call` future keeps its pool alive, so a dispatch outliving the last
                            // handle is a direct one.
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    let rx = cast_call(
        &worker,
        skein::request::<Hold>(gate.id()).expect("args encode"),
    );
    gate.until("the routine is running", |c| c.entered == 1)
        .await;

    drop(pool);

    let reply = within(BOUND, "the in-flight dispatch's reply", rx)
        .await
        .expect("the reply is sent, not dropped");
    let counts = gate
        .until("the cancelled routine's cleanup ran", |c| c.dropped == 1)
        .await;
    assert_eq!(counts.passed, 0);
    // `Pool` documents: "the pool stops when the last handle is dropped, and
    // dispatches in flight then end with `Cancelled`" (a graceful stop), not with
    // `WorkerCrashed` (which is for a worker that died).
    assert_eq!(
        skein::decode_reply::<Hold>(reply),
        Err(DispatchError::Cancelled),
        "a dispatch in flight when the last Pool handle is dropped must end Cancelled; \
         WorkerCrashed means the workers were killed rather than stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_refuses_no_workers_and_duplicate_names() {
    let refused = Pool::builder()
        .workers(0)
        .routine::<Check>()
        .build()
        .await
        .unwrap_err();
    assert!(matches!(refused, BuildError::NoWorkers), "{refused:?}");
    let refused = Pool::builder()
        .workers(1)
        .routine::<Check>()
        .routine::<Impostor>()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            BuildError::DuplicateRoutine {
                routine: "errors.check"
            }
        ),
        "{refused:?}"
    );
    let refused = Pool::builder()
        .workers(1)
        .routine::<Check>()
        .stream_routine::<StreamImpostor>()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            BuildError::DuplicateRoutine {
                routine: "errors.check"
            }
        ),
        "{refused:?}"
    );
    // Registering the same routine twice is not a duplicate.
    let pool = Pool::builder()
        .workers(1)
        .routine::<Check>()
        .routine::<Check>()
        .build()
        .await
        .expect("the same routine twice is fine");
    assert_eq!(within(BOUND, "call", pool.call::<Check>(4)).await, Ok(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skein_call_outside_a_routine_is_not_in_routine() {
    // A pool is running, and still `skein::call` outside a routine has none to call.
    let _pool = one_worker_pool().await;
    assert_eq!(
        within(BOUND, "skein::call", skein::call::<Check>(1)).await,
        Err(DispatchError::NotInRoutine)
    );
    // Inside a context scope, but still not inside a routine body.
    let in_scope =
        skein::scope(async { within(BOUND, "skein::call", skein::call::<Check>(1)).await }).await;
    assert_eq!(in_scope, Err(DispatchError::NotInRoutine));
}
