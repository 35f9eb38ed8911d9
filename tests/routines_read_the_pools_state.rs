//! A pool's state: built once when the pool is built, shared by every routine its
//! workers run (explicit routines through `State::get`, marked ones through a
//! `State<T>` argument), and a typed error where there is none.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use skein::{BuildError, DispatchError, ErrorMessage, Never, Pool, Routine, State, StateError};
use support::pool_helpers::{within, BOUND};

/// A state every call changes: the calls count themselves in it.
struct Counter(AtomicUsize);

/// Bumps the pool's `Counter` and answers the count it left.
struct Bump;
impl Routine for Bump {
    const NAME: &'static str = "state_test.bump";
    type Args = ();
    type Output = usize;
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<usize, ErrorMessage> {
        let counter = State::<Counter>::get()?;
        Ok(counter.0.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// A state the test pools never get.
struct Absent;

/// What `State::<Absent>::get()` says on the worker: whether it is `Missing` naming
/// `Absent`, and how it displays.
struct AskForAbsent;
impl Routine for AskForAbsent {
    const NAME: &'static str = "state_test.ask_for_absent";
    type Args = ();
    type Output = (bool, String);
    type Error = Never;
    async fn run(_: ()) -> Result<(bool, String), Never> {
        Ok(match State::<Absent>::get() {
            Err(e) => (
                e == StateError::Missing {
                    type_name: std::any::type_name::<Absent>(),
                },
                e.to_string(),
            ),
            Ok(_) => (false, "found a state nobody gave".to_string()),
        })
    }
}

/// The same through `?` into `ErrorMessage`.
struct NeedAbsent;
impl Routine for NeedAbsent {
    const NAME: &'static str = "state_test.need_absent";
    type Args = ();
    type Output = ();
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<(), ErrorMessage> {
        State::<Absent>::get()?;
        Ok(())
    }
}

struct Prefix(String);
struct Factor(i64);

/// A marked routine with a state between two args: its `Args` are `(x, y)`.
#[skein::routine(name = "state_test.scaled")]
async fn scaled(x: i64, factor: State<Factor>, y: i64) -> Result<i64, ErrorMessage> {
    Ok((x + y) * factor.0)
}

/// Two states and one arg, through the full path, returning a plain value.
#[skein::routine(name = "state_test.greet")]
async fn greet(name: String, prefix: skein::State<Prefix>, factor: State<Factor>) -> String {
    format!("{} {name} x{}", prefix.0, factor.0)
}

/// A marked stream whose steps read the state it was started with.
#[skein::routine(stream, name = "state_test.multiples")]
fn multiples(n: i64, factor: State<Factor>) -> impl Stream<Item = i64> + Send + 'static {
    futures::stream::iter((1..=n).map(move |i| i * factor.0))
}

/// A marked routine whose state no test pool has.
#[skein::routine(name = "state_test.needs_absent")]
async fn needs_absent(absent: State<Absent>) {
    let _ = absent;
}

/// A factory that counts its runs in `runs`.
fn counted(runs: &Arc<AtomicUsize>) -> impl FnOnce() -> Counter + Send + 'static {
    let runs = Arc::clone(runs);
    move || {
        runs.fetch_add(1, Ordering::SeqCst);
        Counter(AtomicUsize::new(0))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_given_once_is_shared_by_every_call() {
    let pool = Pool::builder()
        .workers(4)
        .state(|| Counter(AtomicUsize::new(0)))
        .routine::<Bump>()
        .build()
        .await
        .expect("pool builds");
    let calls = (0..32).map(|_| pool.call::<Bump>(()));
    let counts: BTreeSet<usize> = within(BOUND, "32 calls", futures::future::join_all(calls))
        .await
        .into_iter()
        .map(|count| count.expect("bump"))
        .collect();
    // One shared counter: 32 calls on 4 workers left 32 distinct counts, 1 to 32.
    assert_eq!(counts, (1..=32).collect::<BTreeSet<_>>());
    let counter = pool.state::<Counter>().expect("the pool holds its state");
    assert_eq!(counter.0.load(Ordering::SeqCst), 32);
    assert!(pool.state::<Absent>().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_routine_takes_its_state_as_an_argument() {
    let pool = Pool::builder()
        .workers(2)
        .state(|| Factor(10))
        .state(|| Prefix("hello".to_string()))
        .build()
        .await
        .expect("pool builds");
    // The states are not args: `Scaled` takes `(x, y)`, `Greet` only the name.
    let scaled: i64 = within(BOUND, "scaled", pool.call::<Scaled>((1, 2)))
        .await
        .expect("scaled");
    assert_eq!(scaled, 30);
    let greeting = within(BOUND, "greet", pool.call::<Greet>("ada".to_string()))
        .await
        .expect("greet");
    assert_eq!(greeting, "hello ada x10");
    let items: Vec<_> = within(BOUND, "multiples", pool.stream::<Multiples>(3).collect()).await;
    assert_eq!(items, [Ok(10), Ok(20), Ok(30)]);
    // The fn is still a fn, given a state of its own.
    assert_eq!(scaled_fn_directly().await, 9);
}

async fn scaled_fn_directly() -> i64 {
    scaled(1, State::new(Factor(3)), 2)
        .await
        .expect("scaled runs in-process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_state_is_a_typed_error() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<AskForAbsent>()
        .routine::<NeedAbsent>()
        .build()
        .await
        .expect("pool builds");
    let (missing, message) = within(BOUND, "ask", pool.call::<AskForAbsent>(()))
        .await
        .expect("ask");
    assert!(missing, "StateError::Missing naming the type: {message}");
    assert!(message.contains("Absent"), "{message}");

    // Through `?`, the routine's own error says the same.
    let Err(DispatchError::Routine(error)) = pool.call::<NeedAbsent>(()).await else {
        panic!("a routine without its state fails with its own error");
    };
    assert_eq!(error.0, message);

    // A marked routine has no error to carry it (here `Never`): the call panics on the
    // worker, naming the routine and the type, and the worker lives on.
    let Err(DispatchError::Panicked { message }) =
        within(BOUND, "needs_absent", pool.call::<NeedsAbsent>(())).await
    else {
        panic!("a marked routine without its state is Panicked");
    };
    assert!(message.contains("state_test.needs_absent"), "{message}");
    assert!(message.contains("Absent"), "{message}");
    assert!(message.contains("PoolBuilder::state"), "{message}");
    assert!(within(BOUND, "after", pool.call::<AskForAbsent>(()))
        .await
        .is_ok());

    // Outside a routine there is no pool to ask.
    assert_eq!(
        State::<Counter>::get().err(),
        Some(StateError::NotInRoutine)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factory_runs_once_per_pool_build() {
    let runs = Arc::new(AtomicUsize::new(0));
    let builder = Pool::builder()
        .workers(2)
        .state(counted(&runs))
        .routine::<Bump>();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "not before build");
    let first = builder.build().await.expect("pool builds");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "once at build");
    for _ in 0..8 {
        within(BOUND, "bump", first.call::<Bump>(()))
            .await
            .expect("bump");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "never again per call");

    // Another build is another pool, with a value of its own.
    let second = Pool::builder()
        .workers(1)
        .state(counted(&runs))
        .routine::<Bump>()
        .build()
        .await
        .expect("second pool builds");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(
        within(BOUND, "bump", second.call::<Bump>(()))
            .await
            .expect("bump"),
        1,
        "the second pool counts in its own state"
    );
    assert_eq!(
        first.state::<Counter>().unwrap().0.load(Ordering::SeqCst),
        8
    );

    // A build refused for its settings runs no factory.
    let refused = Pool::builder()
        .max_concurrency(0)
        .state(counted(&runs))
        .build()
        .await;
    assert!(matches!(refused, Err(BuildError::Invalid { .. })));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a refused build made nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_state_of_one_type_replaces_the_first() {
    let first_runs = Arc::new(AtomicUsize::new(0));
    let runs = Arc::clone(&first_runs);
    let pool = Pool::builder()
        .workers(1)
        .state(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            Factor(1)
        })
        .state(|| Prefix("kept".to_string()))
        .state(|| Factor(7))
        .build()
        .await
        .expect("pool builds");
    assert_eq!(
        within(BOUND, "greet", pool.call::<Greet>("x".to_string()))
            .await
            .expect("greet"),
        "kept x x7",
        "the last `Factor` wins, and the `Prefix` beside it stays"
    );
    assert_eq!(
        first_runs.load(Ordering::SeqCst),
        0,
        "the replaced factory never ran"
    );
}

/// Counts its drops in the `Arc` it holds.
struct DropCounted(Arc<AtomicUsize>);
impl Drop for DropCounted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_that_fails_fails_the_build_naming_its_type() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let made = Arc::clone(&dropped);
    let built = Pool::builder()
        .workers(1)
        .state(move || DropCounted(made))
        .try_state(|| "not a number".parse::<i64>().map(Factor))
        .build()
        .await;
    let Err(BuildError::State { type_name, source }) = built else {
        panic!("a failed factory is BuildError::State");
    };
    assert_eq!(type_name, std::any::type_name::<Factor>());
    assert_eq!(source.to_string(), "invalid digit found in string");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the state made before it was dropped with the refused build"
    );

    // One that succeeds is a state like any other.
    let pool = Pool::builder()
        .workers(1)
        .try_state(|| "6".parse::<i64>().map(Factor))
        .state(|| Prefix("ok".to_string()))
        .build()
        .await
        .expect("pool builds");
    assert_eq!(
        within(BOUND, "greet", pool.call::<Greet>("y".to_string()))
            .await
            .expect("greet"),
        "ok y x6"
    );
}
