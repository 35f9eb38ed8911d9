//! A fn marked `#[skein::routine]` is a routine every pool has: callable through a
//! pool that never registered it, under the name the macro gave it, with its args,
//! output and error as the fn wrote them.

mod support;

use futures::{Stream, StreamExt};
use skein::{BuildError, DispatchError, ErrorMessage, Never, Pool, Routine, StreamRoutine};
use support::pool_helpers::{within, BOUND};

/// Several args: a tuple. A plain return: `Error = Never`.
#[skein::routine]
async fn add(x: i64, y: i64) -> i64 {
    x + y
}

/// One arg: the type itself. A `Result`: its error is the routine's.
#[skein::routine(name = "macro_test.withdraw")]
async fn withdraw(amount: u64) -> Result<u64, ErrorMessage> {
    if amount > 100 {
        return Err(format!("{amount} is over the limit").into());
    }
    Ok(100 - amount)
}

/// No args, no return value.
#[skein::routine]
async fn ping() {}

/// A nested call from a marked routine to another one.
#[skein::routine]
async fn add_twice(x: i64) -> Result<i64, ErrorMessage> {
    let once = skein::call::<Add>((x, x)).await?;
    Ok(skein::call::<Add>((once, x)).await?)
}

/// A stream of results.
#[skein::routine(stream, name = "macro_test.countdown")]
fn countdown(from: u32) -> impl Stream<Item = Result<u32, ErrorMessage>> + Send + 'static {
    futures::stream::iter((0..=from).rev().map(move |i| {
        if i == 0 {
            Err(ErrorMessage::from("liftoff"))
        } else {
            Ok(i)
        }
    }))
}

/// A stream of plain items: `Error = Never`.
#[skein::routine(stream)]
fn squares(n: u64) -> impl Stream<Item = u64> + Send + 'static {
    futures::stream::iter((1..=n).map(|i| i * i))
}

/// Not marked: holds `withdraw`'s name, to show a clash is still refused.
struct Impostor;
impl Routine for Impostor {
    const NAME: &'static str = "macro_test.withdraw";
    type Args = u64;
    type Output = u64;
    type Error = Never;
    async fn run(amount: u64) -> Result<u64, Never> {
        Ok(amount)
    }
}

/// A pool that registers nothing explicitly.
async fn bare_pool() -> Pool {
    within(BOUND, "build", Pool::builder().workers(2).build())
        .await
        .expect("a pool with only marked routines builds")
}

#[test]
fn names_come_from_the_module_path_unless_overridden() {
    assert_eq!(
        <Add as Routine>::NAME,
        "routine_macro_registers_and_runs::add"
    );
    assert_eq!(
        <AddTwice as Routine>::NAME,
        "routine_macro_registers_and_runs::add_twice"
    );
    assert_eq!(<Withdraw as Routine>::NAME, "macro_test.withdraw");
    assert_eq!(<Countdown as StreamRoutine>::NAME, "macro_test.countdown");
    assert_eq!(
        <Squares as StreamRoutine>::NAME,
        "routine_macro_registers_and_runs::squares"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fn_stays_callable_in_process() {
    assert_eq!(add(2, 3).await, 5);
    assert_eq!(withdraw(30).await, Ok(70));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marked_routines_run_on_a_pool_that_never_registered_them() {
    let pool = bare_pool().await;
    assert_eq!(within(BOUND, "add", pool.call::<Add>((2, 3))).await, Ok(5));
    assert_eq!(
        within(BOUND, "withdraw", pool.call::<Withdraw>(30)).await,
        Ok(70)
    );
    assert_eq!(within(BOUND, "ping", pool.call::<Ping>(())).await, Ok(()));
    assert_eq!(
        within(BOUND, "add_twice", pool.call::<AddTwice>(4)).await,
        Ok(12)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_routines_error_reaches_the_caller_as_routine() {
    let pool = bare_pool().await;
    let refused = within(BOUND, "withdraw", pool.call::<Withdraw>(500)).await;
    assert_eq!(
        refused,
        Err(DispatchError::Routine(ErrorMessage(
            "500 is over the limit".to_string()
        )))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marked_streams_are_pulled_item_by_item() {
    let pool = bare_pool().await;
    let items: Vec<_> = within(
        BOUND,
        "countdown",
        pool.stream::<Countdown>(3).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        items,
        vec![
            Ok(3),
            Ok(2),
            Ok(1),
            Err(DispatchError::Routine(ErrorMessage("liftoff".to_string())))
        ]
    );
    let squares: Vec<_> = within(
        BOUND,
        "squares",
        pool.stream::<Squares>(4).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(squares, vec![Ok(1), Ok(4), Ok(9), Ok(16)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_marked_routine_explicitly_too_is_not_a_duplicate() {
    let pool = within(
        BOUND,
        "build",
        Pool::builder()
            .workers(1)
            .routine::<Add>()
            .stream_routine::<Squares>()
            .build(),
    )
    .await
    .expect("a marked routine registered explicitly too is the same routine");
    assert_eq!(within(BOUND, "add", pool.call::<Add>((1, 1))).await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_routine_under_a_marked_routines_name_is_refused() {
    let refused = within(
        BOUND,
        "build",
        Pool::builder().workers(1).routine::<Impostor>().build(),
    )
    .await
    .expect_err("two routines under one name must not build");
    assert!(
        matches!(
            refused,
            BuildError::DuplicateRoutine {
                routine: "macro_test.withdraw"
            }
        ),
        "{refused:?}"
    );
}
