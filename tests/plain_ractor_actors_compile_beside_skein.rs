#![cfg(not(feature = "cluster"))]
//! With the default features, depending on skein must not change how a user's own
//! ractor actors compile: a plain message enum, with no `ractor::Message` impl and no
//! derive, is still a message, and its actor runs beside a pool on the same runtime.
//!
//! The file compiles to nothing under the `cluster` feature, on purpose: that feature
//! turns on ractor's own `cluster` feature, under which ractor asks every message type
//! in the program to implement `ractor::Message` (and say how it converts to bytes,
//! `BytesConvertable`), so a plain enum like `CounterMsg` would not compile there.
//! That is the cost the feature documents (see `Cargo.toml`), and the reason it is off
//! by default.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use ractor::{call, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use skein::{ErrorMessage, Never, Pool, Routine};

/// The bound of every wait: each should end at once, none may hang the suite.
const BOUND: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(BOUND, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {BOUND:?} (hung)"),
    }
}

/// A plain message enum, as a user writes one: no `ractor::Message` impl, no derive.
enum CounterMsg {
    Increment,
    Get(RpcReplyPort<u64>),
}

struct Counter;

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = u64;

    async fn pre_start(
        &self,
        _myself: ActorRef<CounterMsg>,
        start: u64,
    ) -> Result<u64, ActorProcessingErr> {
        Ok(start)
    }

    async fn handle(
        &self,
        _myself: ActorRef<CounterMsg>,
        message: CounterMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CounterMsg::Increment => *count += 1,
            CounterMsg::Get(reply) => {
                // The caller may have given up; that is its business.
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// A routine of the pool's own.
struct Double;
impl Routine for Double {
    const NAME: &'static str = "plain_ractor.double";
    type Args = u64;
    type Output = u64;
    type Error = Never;
    async fn run(x: u64) -> Result<u64, Never> {
        Ok(2 * x)
    }
}

/// The user's counter, for [`Tally`] to reach from a worker.
static COUNTER: OnceLock<ActorRef<CounterMsg>> = OnceLock::new();

/// A routine that uses the user's plain actor from a skein worker: it increments the
/// counter `n` times and returns the count it then reads.
struct Tally;
impl Routine for Tally {
    const NAME: &'static str = "plain_ractor.tally";
    type Args = u64;
    type Output = u64;
    type Error = ErrorMessage;
    async fn run(n: u64) -> Result<u64, ErrorMessage> {
        let counter = COUNTER.get().ok_or("no counter registered")?;
        for _ in 0..n {
            counter
                .cast(CounterMsg::Increment)
                .map_err(|e| e.to_string())?;
        }
        call!(counter, CounterMsg::Get).map_err(|e| ErrorMessage(e.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_enum_actor_runs_beside_a_pool() {
    let (counter, counter_task) = within("the counter starts", Actor::spawn(None, Counter, 0))
        .await
        .expect("the counter starts");
    assert!(
        COUNTER.set(counter.clone()).is_ok(),
        "the counter is registered once"
    );

    let pool = within(
        "the pool builds",
        Pool::builder()
            .workers(2)
            .routine::<Double>()
            .routine::<Tally>()
            .build(),
    )
    .await
    .expect("the pool builds");

    // The pool serves its routine while the user's actor runs.
    let doubled = within("Double(21)", pool.call::<Double>(21))
        .await
        .expect("Double succeeds");
    assert_eq!(doubled, 42);

    // The user's actor, cast to and called as usual, beside the running pool. One
    // sender's messages arrive in order, so the `Get` sees every increment.
    for _ in 0..doubled {
        counter
            .cast(CounterMsg::Increment)
            .expect("the counter is alive");
    }
    let count = within("the counter's value", async {
        call!(counter, CounterMsg::Get)
    })
    .await
    .expect("the counter answers");
    assert_eq!(count, 42);

    // And from inside a routine, on a skein worker.
    let tallied = within("Tally(8)", pool.call::<Tally>(8))
        .await
        .expect("Tally succeeds");
    assert_eq!(tallied, 50, "the routine saw its own 8 increments after 42");
    let count = within("the counter's value after Tally", async {
        call!(counter, CounterMsg::Get)
    })
    .await
    .expect("the counter answers");
    assert_eq!(count, 50);

    // The pool's own routine still answers, and both stop cleanly.
    assert_eq!(
        within("Double(50)", pool.call::<Double>(count)).await,
        Ok(100)
    );
    drop(pool);
    counter.stop(None);
    within("the counter stops", counter_task)
        .await
        .expect("the counter's task ends without a panic");
}
