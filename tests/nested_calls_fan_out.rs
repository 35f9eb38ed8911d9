//! Nested calls (S40–S42): `skein::call` inside a routine dispatches to the pool
//! again, records its parent, is admitted past the concurrency limit so fan-out cannot
//! deadlock, continues the caller's context through every hop, and merges the inner
//! changes back through every hop.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use skein::actors::ChainId;
use skein::{
    Context, ContextVar, DispatchError, ErrorMessage, Never, Pool, ResetErrorKind, Routine, Token,
};
use tokio::sync::Barrier;

static TENANT: ContextVar<String> = ContextVar::new("nested_fan_out", "tenant");
static STAGE: ContextVar<String> = ContextVar::new("nested_fan_out", "stage");
static RESULT: ContextVar<String> = ContextVar::new("nested_fan_out", "result");

const FAN_OUT: usize = 16;

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(secs: u64, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("hung: no answer in time")
}

/// A 2-worker pool that runs one root dispatch at a time per worker.
async fn pool() -> Pool {
    Pool::builder()
        .workers(2)
        .max_concurrency(1)
        .routine::<Fib>()
        .routine::<FanOut>()
        .routine::<Meet>()
        .routine::<Outer>()
        .routine::<Inner>()
        .routine::<OuterReset>()
        .routine::<InnerReset>()
        .build()
        .await
        .expect("pool builds")
}

struct Fib;
impl Routine for Fib {
    const NAME: &'static str = "nested_fan_out.fib";
    type Args = u32;
    type Output = u64;
    type Error = ErrorMessage;
    async fn run(n: u32) -> Result<u64, ErrorMessage> {
        if n < 2 {
            return Ok(u64::from(n));
        }
        let (a, b) = futures::join!(skein::call::<Fib>(n - 1), skein::call::<Fib>(n - 2));
        Ok(a.map_err(ErrorMessage::from)? + b.map_err(ErrorMessage::from)?)
    }
}

/// What one fanned-out call saw where it ran.
#[derive(Debug, Serialize, Deserialize)]
struct Met {
    index: usize,
    chain: Option<ChainId>,
    tenant: Option<String>,
}

/// Every `Meet` waits here for all the others: the fan-out completes only if all 16
/// run at the same time, which they can only do as real, concurrently admitted
/// dispatches (one at a time, in-process or queued behind the limit, they would hang).
static MEETING: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(FAN_OUT));
static MEETINGS_RUN: AtomicUsize = AtomicUsize::new(0);

struct Meet;
impl Routine for Meet {
    const NAME: &'static str = "nested_fan_out.meet";
    type Args = usize;
    type Output = Met;
    type Error = ErrorMessage;
    async fn run(index: usize) -> Result<Met, ErrorMessage> {
        MEETINGS_RUN.fetch_add(1, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(10), MEETING.wait())
            .await
            .map_err(|_| format!("call {index}: the other fanned-out calls never ran alongside"))?;
        Ok(Met {
            index,
            chain: Context::current().and_then(|cx| cx.chain()),
            tenant: TENANT.get(),
        })
    }
}

struct FanOut;
impl Routine for FanOut {
    const NAME: &'static str = "nested_fan_out.fan_out";
    type Args = ();
    type Output = Vec<Met>;
    type Error = ErrorMessage;
    async fn run((): ()) -> Result<Vec<Met>, ErrorMessage> {
        join_all((0..FAN_OUT).map(skein::call::<Meet>))
            .await
            .into_iter()
            .map(|met| met.map_err(ErrorMessage::from))
            .collect()
    }
}

/// What the inner routine saw: the caller's tenant and the outer routine's stage.
type Seen = (Option<String>, Option<String>);

struct Inner;
impl Routine for Inner {
    const NAME: &'static str = "nested_fan_out.inner";
    type Args = ();
    type Output = Seen;
    type Error = ErrorMessage;
    async fn run((): ()) -> Result<Seen, ErrorMessage> {
        let seen = (TENANT.get(), STAGE.get());
        let _ = RESULT.set("inner".into()).map_err(ErrorMessage::from)?;
        Ok(seen)
    }
}

/// Sets `STAGE`, then calls [`Inner`]; returns what the inner saw and what the outer
/// sees after the inner's changes merged into it.
struct Outer;
impl Routine for Outer {
    const NAME: &'static str = "nested_fan_out.outer";
    type Args = ();
    type Output = (Seen, Option<String>);
    type Error = ErrorMessage;
    async fn run((): ()) -> Result<(Seen, Option<String>), ErrorMessage> {
        let _ = STAGE.set("outer".into()).map_err(ErrorMessage::from)?;
        let inner = skein::call::<Inner>(()).await.map_err(ErrorMessage::from)?;
        Ok((inner, RESULT.get()))
    }
}

/// Resets, two hops from the caller, a token the caller minted.
struct InnerReset;
impl Routine for InnerReset {
    const NAME: &'static str = "nested_fan_out.inner_reset";
    type Args = Token<String>;
    type Output = bool;
    type Error = Never;
    async fn run(token: Token<String>) -> Result<bool, Never> {
        Ok(TENANT.reset(token).await.is_ok())
    }
}

/// Passes the caller's token on to [`InnerReset`]; reports the tenant it sees after.
struct OuterReset;
impl Routine for OuterReset {
    const NAME: &'static str = "nested_fan_out.outer_reset";
    type Args = Token<String>;
    type Output = (bool, Option<String>);
    type Error = ErrorMessage;
    async fn run(token: Token<String>) -> Result<(bool, Option<String>), ErrorMessage> {
        let reset = skein::call::<InnerReset>(token)
            .await
            .map_err(ErrorMessage::from)?;
        Ok((reset, TENANT.get()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fib_by_nested_fan_out_completes_past_a_concurrency_limit_of_one() {
    let pool = pool().await;
    // fib(12) is 465 dispatches, up to 12 deep, on 2 workers that each admit one root
    // dispatch at a time: only nested admission keeps it from deadlocking.
    let fib = bounded(20, pool.call::<Fib>(12)).await.expect("fib(12)");
    assert_eq!(fib, 144);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_nested_calls_run_at_once_on_the_pool_and_continue_the_callers_chain() {
    let pool = pool().await;
    bounded(
        30,
        skein::scope(async {
            let _ = TENANT.set("acme".into()).unwrap();
            let chain = Context::current()
                .unwrap()
                .chain()
                .expect("armed by the set");

            let mut met = pool
                .call::<FanOut>(())
                .await
                .expect("every nested call met the others");
            met.sort_by_key(|m| m.index);
            assert_eq!(
                met.iter().map(|m| m.index).collect::<Vec<_>>(),
                (0..FAN_OUT).collect::<Vec<_>>()
            );
            // Each inner call was dispatched exactly once.
            assert_eq!(MEETINGS_RUN.load(Ordering::SeqCst), FAN_OUT);
            for m in &met {
                // An awaited dispatch continues the chain, two hops away too (S21, S42).
                assert_eq!(
                    m.chain,
                    Some(chain),
                    "call {} continues the caller's chain",
                    m.index
                );
                assert_eq!(
                    m.tenant.as_deref(),
                    Some("acme"),
                    "call {} sees the caller's value",
                    m.index
                );
            }
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_see_the_callers_and_the_outer_routines_values() {
    let pool = pool().await;
    bounded(
        10,
        skein::scope(async {
            let _ = TENANT.set("acme".into()).unwrap();
            let ((tenant, stage), _) = pool.call::<Outer>(()).await.unwrap();
            assert_eq!(
                tenant.as_deref(),
                Some("acme"),
                "set by the caller before the outer call"
            );
            assert_eq!(
                stage.as_deref(),
                Some("outer"),
                "set by the outer routine before the inner call"
            );
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_changes_merge_back_through_both_hops() {
    let pool = pool().await;
    bounded(
        10,
        skein::scope(async {
            let (_, outer_saw) = pool.call::<Outer>(()).await.unwrap();
            assert_eq!(
                outer_saw.as_deref(),
                Some("inner"),
                "merged into the outer routine first"
            );
            assert_eq!(
                RESULT.get().as_deref(),
                Some("inner"),
                "then into the caller"
            );
            assert_eq!(
                STAGE.get().as_deref(),
                Some("outer"),
                "the outer's own set too"
            );
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_token_reset_two_hops_away_restores_at_the_caller_and_is_spent() {
    let pool = pool().await;
    bounded(
        10,
        skein::scope(async {
            let _ = TENANT.set("before".into()).unwrap();
            let token = TENANT.set("during".into()).unwrap();
            let kept = token.duplicate();
            // S35 at each hop: the caller's manifest lists the id, so the outer routine
            // anchors it; forwarding it keeps it listed, so the inner one anchors it.
            let (reset, outer_saw) = pool.call::<OuterReset>(token).await.unwrap();
            assert!(
                reset,
                "the inner routine continues the caller through the outer one"
            );
            assert_eq!(
                outer_saw.as_deref(),
                Some("before"),
                "the restore merged into the outer"
            );
            assert_eq!(
                TENANT.get().as_deref(),
                Some("before"),
                "and into the caller"
            );
            assert_eq!(
                TENANT.reset(kept).await.unwrap_err().kind(),
                ResetErrorKind::AlreadyUsed
            );
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skein_call_outside_a_routine_is_refused() {
    // S40, S54: `skein::call` dispatches only from inside a routine body; outside one there
    // is no pool to call, and it says so instead of running anything in-process.
    let refused = skein::scope(skein::call::<Fib>(3)).await.unwrap_err();
    assert!(
        matches!(refused, DispatchError::NotInRoutine),
        "got {refused:?}"
    );
}

/// Reports its own dispatch and its parent.
struct WhoAmI;
impl Routine for WhoAmI {
    const NAME: &'static str = "nested.who_am_i";
    type Args = ();
    type Output = (String, Option<String>);
    type Error = Never;
    async fn run(_: ()) -> Result<Self::Output, Never> {
        let info = skein::current_dispatch().expect("inside a routine");
        Ok((info.id.to_string(), info.caller.map(|c| c.to_string())))
    }
}

/// Calls `WhoAmI` and returns its own id beside what the inner call saw.
struct Parent;
impl Routine for Parent {
    const NAME: &'static str = "nested.parent";
    type Args = ();
    type Output = (String, (String, Option<String>));
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<Self::Output, ErrorMessage> {
        let own = skein::current_dispatch()
            .expect("inside a routine")
            .id
            .to_string();
        let inner = skein::call::<WhoAmI>(())
            .await
            .map_err(ErrorMessage::from)?;
        Ok((own, inner))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_dispatch_records_its_parent() {
    // S41: the nested Task records the parent's id in `caller`; a root call has none.
    let pool = Pool::builder()
        .workers(2)
        .routine::<WhoAmI>()
        .routine::<Parent>()
        .build()
        .await
        .unwrap();
    let (_, root_caller) = bounded(10, pool.call::<WhoAmI>(())).await.unwrap();
    assert_eq!(root_caller, None, "a root call has no parent");
    let (parent, (child, child_caller)) = bounded(10, pool.call::<Parent>(())).await.unwrap();
    assert_ne!(parent, child);
    assert_eq!(
        child_caller,
        Some(parent),
        "the nested call names its parent"
    );
    assert!(
        skein::current_dispatch().is_none(),
        "no dispatch outside a routine"
    );
}
