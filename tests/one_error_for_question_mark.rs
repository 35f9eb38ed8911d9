//! `skein::Error` (S107): every skein error converts into it, so one `?` works on a
//! pool build, a call, a set and a reset in the same scope body; each converted error
//! says what failed, and hands on the error it wraps as its `source()`.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use skein::{
    BuildError, ContextVar, DispatchError, Error, ErrorMessage, Pool, ResetError, ResetErrorKind,
    Routine, SetError,
};

static LIMIT: ContextVar<u64> = ContextVar::new("one_error", "limit");

/// Withdraws from the current limit, or fails with a message.
struct Withdraw;
impl Routine for Withdraw {
    const NAME: &'static str = "one_error.withdraw";
    type Args = u64;
    type Output = u64;
    type Error = ErrorMessage;
    async fn run(amount: u64) -> Result<u64, ErrorMessage> {
        let limit = LIMIT.get().unwrap_or(100);
        limit
            .checked_sub(amount)
            .ok_or_else(|| format!("{amount} is over the limit of {limit}").into())
    }
}

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

/// One body, one error type: a build, a set, a call and a reset, each with `?`.
/// `workers` and `amount` choose which of them fails; `twice` resets a second handle
/// of the token after the first.
async fn body(workers: usize, amount: u64, twice: bool) -> Result<u64, Error> {
    let pool = Pool::builder()
        .workers(workers)
        .routine::<Withdraw>()
        .build()
        .await?;
    let token = LIMIT.set(50)?;
    let again = token.duplicate();
    let left = pool.call::<Withdraw>(amount).await?;
    LIMIT.reset(token).await?;
    if twice {
        LIMIT.reset(again).await?;
    }
    Ok(left)
}

#[tokio::test]
async fn a_scope_body_uses_question_mark_on_a_build_a_call_a_set_and_a_reset() {
    let left = bounded(skein::scope(body(1, 20, false))).await;
    assert_eq!(left.expect("nothing fails"), 30);
}

#[tokio::test]
async fn a_failed_call_keeps_the_routines_error() {
    let error = bounded(skein::scope(body(1, 80, false)))
        .await
        .expect_err("80 is over 50");
    assert_eq!(
        error.to_string(),
        "call failed: the routine returned an error: 80 is over the limit of 50"
    );
    assert!(matches!(error, Error::Dispatch(DispatchError::Routine(_))));
    let wrapped = error.source().expect("the dispatch error is the source");
    assert_eq!(
        wrapped.to_string(),
        "the routine returned an error: 80 is over the limit of 50"
    );
    assert_eq!(
        wrapped.source().expect("the routine's error").to_string(),
        "80 is over the limit of 50"
    );
    assert_eq!(
        error.routine_error::<ErrorMessage>(),
        Some(&ErrorMessage::from("80 is over the limit of 50"))
    );
    assert_eq!(error.routine_error::<skein::Never>(), None, "not a Never");
}

#[tokio::test]
async fn a_failed_build_says_so() {
    let error = bounded(skein::scope(body(0, 20, false)))
        .await
        .expect_err("no workers");
    assert_eq!(
        error.to_string(),
        "pool build failed: a pool needs at least one worker"
    );
    let source = error.source().expect("the build error is the source");
    assert!(
        matches!(source.downcast_ref(), Some(BuildError::NoWorkers)),
        "{source:?}"
    );
}

#[tokio::test]
async fn a_refused_reset_keeps_its_kind_and_its_token() {
    let error = bounded(skein::scope(body(1, 20, true)))
        .await
        .expect_err("the second handle is already used");
    let Error::Reset { kind, source } = &error else {
        panic!("expected Error::Reset, got {error:?}");
    };
    assert_eq!(*kind, ResetErrorKind::AlreadyUsed);
    assert!(
        error.to_string().starts_with(
            "reset failed: token has already been used once (var (one_error, limit), token "
        ),
        "{error}"
    );
    let refused = source
        .downcast_ref::<ResetError<u64>>()
        .expect("the ResetError, with its token");
    assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
}

#[tokio::test]
async fn a_set_outside_any_scope_says_so() {
    // No scope around the body: the build succeeds, the set fails.
    let error = bounded(body(1, 20, false)).await.expect_err("no scope");
    assert_eq!(
        error.to_string(),
        "set failed: set of (one_error, limit) outside any context scope"
    );
    assert!(matches!(
        error.source().and_then(|e| e.downcast_ref()),
        Some(SetError::NoScope(_))
    ));
}
