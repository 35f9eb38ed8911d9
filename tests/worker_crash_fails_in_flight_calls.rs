//! A worker that dies fails every dispatch in flight on it at once with
//! `WorkerCrashed`, the supervisor reports and restarts it, and spends made before
//! the crash stay spent (S67, S74).

mod support;

use std::time::Duration;

use ractor::ActorRef;
use skein::actors::WorkerMsg;
use skein::{
    ContextVar, DispatchError, ErrorMessage, Never, Pool, ResetErrorKind, Routine,
    SupervisionEvent, Token,
};
use support::pool_helpers::{events_until, within, Gate, Hold, BOUND};
use tokio::time::Instant;

/// How fast in-flight calls must fail after the crash: far below any timeout.
const AT_ONCE: Duration = Duration::from_secs(1);

struct Echo;
impl Routine for Echo {
    const NAME: &'static str = "crash.echo";
    type Args = u32;
    type Output = u32;
    type Error = Never;
    async fn run(x: u32) -> Result<u32, Never> {
        Ok(x)
    }
}

static SPENT: ContextVar<u32> = ContextVar::new("crash", "spent");

/// Resets the token it is given, then blocks at the gate.
struct SpendThenHold;
impl Routine for SpendThenHold {
    const NAME: &'static str = "crash.spend_then_hold";
    type Args = (Token<u32>, u64);
    type Output = ();
    type Error = ErrorMessage;
    async fn run((token, gate): (Token<u32>, u64)) -> Result<(), ErrorMessage> {
        SPENT
            .reset(token)
            .await
            .map_err(|e| format!("the worker's reset was refused: {:?}", e.kind()))?;
        Gate::find(gate).pass().await;
        Ok(())
    }
}

async fn pool() -> Pool {
    Pool::builder()
        .workers(1)
        .routine::<Hold>()
        .routine::<Echo>()
        .routine::<SpendThenHold>()
        .build()
        .await
        .expect("pool builds")
}

fn worker0(pool: &Pool) -> ActorRef<WorkerMsg> {
    pool.workers()[0].clone().expect("worker 0 is live")
}

/// 8 calls block on the only worker; `fault` kills it; every call must end
/// `WorkerCrashed` within [`AT_ONCE`], the events must show the failure and the
/// restart of slot 0, and the pool must serve again. Returns the failure's reason.
async fn in_flight_calls_fail_when<F, Fut>(fault: F) -> String
where
    F: FnOnce(ActorRef<WorkerMsg>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let pool = pool().await;
    let gate = Gate::new(); // never opened
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            let gate = gate.id();
            tokio::spawn(async move { pool.call::<Hold>(gate).await })
        })
        .collect();
    gate.until("8 calls in flight", |c| c.entered == 8).await;

    let mut events = pool.events(); // before the fault
    let victim = worker0(&pool);
    let deadline = Instant::now() + AT_ONCE;
    fault(victim.clone()).await;

    for (i, call) in calls.into_iter().enumerate() {
        let result = tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or_else(|_| {
                panic!("in-flight call {i} not answered within {AT_ONCE:?} of the crash")
            })
            .expect("call task");
        assert_eq!(
            result,
            Err(DispatchError::WorkerCrashed),
            "in-flight call {i}"
        );
    }
    // The routines did not live on as orphans: each was dropped, its cleanup ran.
    let counts = gate
        .until("the dead worker's routines were dropped", |c| {
            c.dropped == 8
        })
        .await;
    assert_eq!(counts.passed, 0);

    let seen = events_until(&mut events, "slot 0 restarted", |e| {
        matches!(e, SupervisionEvent::WorkerRestarted { worker: 0, .. })
    })
    .await;
    let failed_at = seen
        .iter()
        .position(|e| matches!(e, SupervisionEvent::WorkerFailed { worker: 0, .. }))
        .unwrap_or_else(|| panic!("no WorkerFailed for slot 0 before its restart: {seen:?}"));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SupervisionEvent::PoolFailed { .. })),
        "{seen:?}"
    );
    let SupervisionEvent::WorkerFailed { reason, .. } = seen[failed_at].clone() else {
        unreachable!()
    };

    let replacement = worker0(&pool);
    assert_ne!(
        replacement.get_id(),
        victim.get_id(),
        "slot 0 holds a new worker"
    );
    assert!(!pool.has_failed());
    assert_eq!(
        within(BOUND, "a call after the restart", pool.call::<Echo>(41)).await,
        Ok(41)
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_fails_every_in_flight_call_at_once() {
    in_flight_calls_fail_when(|worker| async move { worker.kill() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_crash_fails_every_in_flight_call_at_once() {
    let reason = in_flight_calls_fail_when(|worker| async move {
        skein::actors::crash(&worker, "injected")
            .await
            .expect("the live worker takes the crash");
    })
    .await;
    assert!(
        reason.contains("injected"),
        "the failure event carries the crash reason: {reason:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_made_before_the_crash_stays_spent() {
    // S74: the worker's reset is recorded when it happens, not when a reply arrives;
    // the crash loses the reply, not the spend.
    let pool = pool().await;
    let gate = Gate::new(); // never opened
    skein::scope(async {
        let token = SPENT.set(1).expect("set in scope");
        let kept = token.duplicate();
        let victim = worker0(&pool);
        let call = pool.call::<SpendThenHold>((token, gate.id()));
        let kill = async {
            gate.until("the worker reset the token and blocked", |c| c.entered == 1)
                .await;
            victim.kill();
        };
        let (result, ()) = within(BOUND, "the call on the killed worker", async {
            tokio::join!(call, kill)
        })
        .await;
        assert_eq!(result, Err(DispatchError::WorkerCrashed));

        // A crashed dispatch merges nothing back (S60): the caller's value is as it was.
        assert_eq!(SPENT.get(), Some(1));
        // ...but the spend it made stands: the caller's kept handle is refused.
        let retry = SPENT.reset(kept).await.map_err(|e| e.kind());
        assert_eq!(retry, Err(ResetErrorKind::AlreadyUsed));
        assert_eq!(SPENT.get(), Some(1), "a refused reset changes nothing");
    })
    .await;
}
