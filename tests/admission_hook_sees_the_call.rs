//! A pool's admission hook runs on the worker before the routine, inside the caller's
//! context as the worker installed it: it rejects by a context value, and a rejected
//! call runs nothing, spends nothing and merges nothing (S120, S121); it sees the
//! routine's name, the worker's load (a queued dispatch's as it leaves the queue), a
//! nested call's caller, and a stream once, at open (S122); a hook that panics
//! rejects, and the worker serves on (S123).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use skein::actors::{home, DispatchId, DispatchKind, Load};
use skein::{
    AdmissionRequest, ContextVar, DispatchError, Never, Pool, ResetErrorKind, Routine,
    StreamRoutine, Token, Verdict,
};
use support::pool_helpers::{within, Gate, Hold, BOUND};

static TENANT: ContextVar<String> = ContextVar::new("admission", "tenant");
static V: ContextVar<u64> = ContextVar::new("admission", "v");
static MARK: ContextVar<String> = ContextVar::new("admission", "mark");

/// Rejects every dispatch whose caller's `TENANT` is "blocked": the hook most services
/// would write.
fn block_tenants(_: &AdmissionRequest<'_>) -> Verdict {
    match TENANT.get() {
        Some(tenant) if tenant == "blocked" => {
            Verdict::reject(format!("tenant {tenant} is blocked"))
        }
        _ => Verdict::Admit,
    }
}

/// Times [`Spend`] ran.
static SPEND_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Counts itself, marks the context, and resets the token it is sent.
struct Spend;
impl Routine for Spend {
    const NAME: &'static str = "admission.spend";
    type Args = Token<u64>;
    type Output = bool;
    type Error = Never;
    async fn run(token: Token<u64>) -> Result<bool, Never> {
        SPEND_RUNS.fetch_add(1, Ordering::SeqCst);
        let _mark = MARK.set("ran".into()).expect("a routine runs in a context");
        Ok(V.reset(token).await.is_ok())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_rejects_by_a_context_value_and_the_call_runs_and_spends_nothing() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Spend>()
        .admission_hook(block_tenants)
        .build()
        .await
        .expect("pool builds");
    skein::scope(async {
        let _before = V.set(1).expect("a scope");
        let _tenant = TENANT.set("blocked".into()).expect("a scope");
        let token = V.set(2).expect("a scope");
        let kept = token.duplicate();
        let rejected = within(BOUND, "a rejected call", pool.call::<Spend>(token)).await;
        assert_eq!(
            rejected,
            Err(DispatchError::Rejected {
                reason: "tenant blocked is blocked".into()
            })
        );
        assert_eq!(
            SPEND_RUNS.load(Ordering::SeqCst),
            0,
            "the routine never ran"
        );
        assert_eq!(MARK.get(), None, "nothing merged back");
        assert_eq!(V.get(), Some(2), "the caller's value is untouched");
        // The token travelled in the args and was not spent there: the kept handle
        // still resets, here, and restores what the set replaced.
        V.reset(kept)
            .await
            .expect("the rejected call spent nothing");
        assert_eq!(V.get(), Some(1));

        // Another tenant is admitted, and the call runs as it always did.
        let _tenant = TENANT.set("acme".into()).expect("a scope");
        let token = V.set(3).expect("a scope");
        let kept = token.duplicate();
        let admitted = within(BOUND, "an admitted call", pool.call::<Spend>(token)).await;
        assert_eq!(admitted, Ok(true), "admitted: it ran and reset the token");
        assert_eq!(SPEND_RUNS.load(Ordering::SeqCst), 1);
        assert_eq!(
            MARK.get().as_deref(),
            Some("ran"),
            "its context merged back"
        );
        assert_eq!(V.get(), Some(1), "its reset merged back");
        let refused = V.reset(kept).await.expect_err("spent on the worker");
        assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_call_hands_the_weight_of_its_tokens_back() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Spend>()
        .admission_hook(|_: &AdmissionRequest<'_>| Verdict::reject("closed"))
        .build()
        .await
        .expect("pool builds");
    skein::scope(async {
        // The only handle goes in the args. The worker drops it unanchored when the
        // hook rejects the call, so its weight goes home: no handle is left anywhere,
        // and the id closes (S77) instead of staying open for ever.
        let token = V.set(7).expect("a scope");
        let id = token.id();
        let rejected = within(BOUND, "a rejected call", pool.call::<Spend>(token)).await;
        assert!(
            matches!(rejected, Err(DispatchError::Rejected { .. })),
            "{rejected:?}"
        );
        assert!(
            home().is_spent(&id),
            "every handle is gone: the id closed, its weight not lost"
        );
        assert_eq!(V.get(), Some(7), "and nothing was reset: the value stands");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sees_the_routine_and_the_load_and_rejects_past_two_in_flight() {
    let seen: Arc<Mutex<Vec<(String, DispatchKind, Load)>>> = Arc::default();
    let log = seen.clone();
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(8)
        .routine::<Hold>()
        .admission_hook(move |request: &AdmissionRequest<'_>| {
            let load = request.load();
            log.lock()
                .unwrap()
                .push((request.routine().to_string(), request.kind(), load));
            if load.in_flight >= 2 {
                Verdict::reject(format!("busy: {} in flight", load.in_flight))
            } else {
                Verdict::Admit
            }
        })
        .build()
        .await
        .expect("pool builds");
    let pool = Arc::new(pool);
    let gate = Gate::new();
    let parked: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            let id = gate.id();
            tokio::spawn(async move { pool.call::<Hold>(id).await })
        })
        .collect();
    gate.until("two calls park", |c| c.entered == 2).await;
    let third = within(BOUND, "the third call", pool.call::<Hold>(gate.id())).await;
    assert_eq!(
        third,
        Err(DispatchError::Rejected {
            reason: "busy: 2 in flight".into()
        })
    );
    assert_eq!(
        gate.counts().entered,
        2,
        "the rejected call never reached the gate"
    );
    gate.open();
    for call in parked {
        let joined = within(BOUND, "a parked call", call).await;
        assert_eq!(joined.expect("the task"), Ok(()));
    }
    // Both freed their slots: the next call starts into an idle worker.
    within(BOUND, "a call after", pool.call::<Hold>(gate.id()))
        .await
        .expect("admitted once the worker is idle");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "asked once per dispatch: {seen:?}");
    for (routine, kind, load) in &seen {
        assert_eq!(routine, Hold::NAME);
        assert_eq!(*kind, DispatchKind::Call);
        assert_eq!(load.admission.max_concurrency, 8, "the worker's limits");
        assert_eq!(load.queued, 0);
    }
    let in_flight: Vec<_> = seen.iter().map(|(_, _, load)| load.in_flight).collect();
    let mut first_two = in_flight[..2].to_vec();
    first_two.sort();
    assert_eq!(
        first_two,
        [0, 1],
        "each counts the dispatches beside it, not itself"
    );
    assert_eq!(in_flight[2..], [2, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_dispatch_is_asked_when_it_leaves_the_queue_with_the_load_then() {
    let loads: Arc<Mutex<Vec<Load>>> = Arc::default();
    let log = loads.clone();
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(1)
        .max_queue(4)
        .routine::<Hold>()
        .admission_hook(move |request: &AdmissionRequest<'_>| {
            let load = request.load();
            log.lock().unwrap().push(load);
            if load.queued > 0 {
                Verdict::reject(format!("{} still waiting behind it", load.queued))
            } else {
                Verdict::Admit
            }
        })
        .build()
        .await
        .expect("pool builds");
    let gate = Gate::new();
    let mut first = Box::pin(pool.call::<Hold>(gate.id()));
    let mut second = Box::pin(pool.call::<Hold>(gate.id()));
    let mut third = Box::pin(pool.call::<Hold>(gate.id()));
    // A call's first poll hands it to the local worker, in this order.
    assert!(futures::poll!(&mut first).is_pending());
    gate.until("the first call parks", |c| c.entered == 1).await;
    assert!(futures::poll!(&mut second).is_pending());
    assert!(futures::poll!(&mut third).is_pending());
    assert_eq!(
        loads.lock().unwrap().len(),
        1,
        "a dispatch in the queue has not been asked yet"
    );
    gate.open();
    let (first, second, third) = within(BOUND, "the three calls", async {
        futures::join!(first, second, third)
    })
    .await;
    assert_eq!(first, Ok(()));
    assert_eq!(
        second,
        Err(DispatchError::Rejected {
            reason: "1 still waiting behind it".into()
        }),
        "asked as it left the queue, with the third still in it"
    );
    assert_eq!(third, Ok(()), "the last one out had nothing behind it");
    let seen: Vec<_> = loads
        .lock()
        .unwrap()
        .iter()
        .map(|l| (l.in_flight, l.queued))
        .collect();
    assert_eq!(seen, [(0, 0), (0, 1), (0, 0)]);
}

/// What the hook saw of each dispatch: routine, dispatch, caller.
type Seen = Arc<Mutex<Vec<(String, DispatchId, Option<DispatchId>)>>>;

/// Calls [`Inner`] from inside a routine; returns its own dispatch id and what the
/// nested call came to (the rejection's reason, if it was refused).
struct Outer;
impl Routine for Outer {
    const NAME: &'static str = "admission.outer";
    type Args = ();
    type Output = (DispatchId, Result<(DispatchId, Option<DispatchId>), String>);
    type Error = Never;
    async fn run(_: ()) -> Result<Self::Output, Never> {
        let me = skein::current_dispatch().expect("in a routine").id;
        let inner = match skein::call::<Inner>(()).await {
            Ok(seen) => Ok(seen),
            Err(DispatchError::Rejected { reason }) => Err(reason),
            Err(other) => Err(format!("not a rejection: {other}")),
        };
        Ok((me, inner))
    }
}

/// Its own dispatch id and its caller's.
struct Inner;
impl Routine for Inner {
    const NAME: &'static str = "admission.inner";
    type Args = ();
    type Output = (DispatchId, Option<DispatchId>);
    type Error = Never;
    async fn run(_: ()) -> Result<(DispatchId, Option<DispatchId>), Never> {
        let info = skein::current_dispatch().expect("in a routine");
        Ok((info.id, info.caller))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_call_passes_through_the_hook_with_its_caller_visible() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let pool = Pool::builder()
        .workers(2)
        .routine::<Outer>()
        .routine::<Inner>()
        .admission_hook(move |request: &AdmissionRequest<'_>| {
            log.lock().unwrap().push((
                request.routine().to_string(),
                request.dispatch(),
                request.caller(),
            ));
            // The nested call runs in the outer routine's context, which continues
            // the caller's: the hook reads the caller's value there too.
            match (request.caller(), TENANT.get().as_deref()) {
                (Some(_), Some("no-nesting")) => Verdict::reject("no nested calls"),
                _ => Verdict::Admit,
            }
        })
        .build()
        .await
        .expect("pool builds");
    skein::scope(async {
        let (outer, inner) = within(BOUND, "a nested call", pool.call::<Outer>(()))
            .await
            .expect("admitted");
        let (inner_id, inner_caller) = inner.expect("the nested call was admitted");
        assert_eq!(inner_caller, Some(outer), "the routine sees its caller");
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            seen,
            [
                (Outer::NAME.to_string(), outer, None),
                (Inner::NAME.to_string(), inner_id, Some(outer)),
            ],
            "the hook saw the root call, then the nested one with its caller"
        );

        let _tenant = TENANT.set("no-nesting".into()).expect("a scope");
        let (_, inner) = within(BOUND, "a nested call", pool.call::<Outer>(()))
            .await
            .expect("the root call is admitted");
        assert_eq!(
            inner,
            Err("no nested calls".to_string()),
            "the nested one is not"
        );
    })
    .await;
}

/// Times [`Steady`] ran.
static STEADY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Counts itself.
struct Steady;
impl Routine for Steady {
    const NAME: &'static str = "admission.steady";
    type Args = ();
    type Output = usize;
    type Error = Never;
    async fn run(_: ()) -> Result<usize, Never> {
        Ok(STEADY_RUNS.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_hook_rejects_typed_and_the_worker_serves_on() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Steady>()
        .admission_hook(|_: &AdmissionRequest<'_>| {
            if TENANT.get().as_deref() == Some("boom") {
                panic!("the hook fell over");
            }
            Verdict::Admit
        })
        .build()
        .await
        .expect("pool builds");
    let worker = pool.workers()[0].clone().expect("a live worker").get_id();
    skein::scope(async {
        let _tenant = TENANT.set("boom".into()).expect("a scope");
        let failed = within(BOUND, "a call the hook panics on", pool.call::<Steady>(())).await;
        assert_eq!(
            failed,
            Err(DispatchError::Rejected {
                reason: "the admission hook panicked: the hook fell over".into()
            })
        );
        assert_eq!(
            STEADY_RUNS.load(Ordering::SeqCst),
            0,
            "the routine never ran"
        );
        let _tenant = TENANT.set("calm".into()).expect("a scope");
        let served = within(BOUND, "the next call", pool.call::<Steady>(())).await;
        assert_eq!(served, Ok(1), "the same worker serves the next call");
    })
    .await;
    assert_eq!(
        pool.workers()[0].clone().map(|w| w.get_id()),
        Some(worker),
        "the worker was never restarted"
    );
}

/// Times [`Count`] started.
static COUNT_STARTS: AtomicUsize = AtomicUsize::new(0);

/// Yields `0..n`.
struct Count;
impl StreamRoutine for Count {
    const NAME: &'static str = "admission.count";
    type Args = u32;
    type Item = u32;
    type Error = Never;
    fn run(n: u32) -> impl futures::Stream<Item = Result<u32, Never>> + Send + 'static {
        COUNT_STARTS.fetch_add(1, Ordering::SeqCst);
        futures::stream::iter((0..n).map(Ok))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_checked_once_at_open() {
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let pool = Pool::builder()
        .workers(1)
        .stream_routine::<Count>()
        .admission_hook(move |request: &AdmissionRequest<'_>| {
            assert_eq!(request.kind(), DispatchKind::Stream);
            count.fetch_add(1, Ordering::SeqCst);
            block_tenants(request)
        })
        .build()
        .await
        .expect("pool builds");
    skein::scope(async {
        let _tenant = TENANT.set("blocked".into()).expect("a scope");
        let items: Vec<_> = within(
            BOUND,
            "a rejected stream",
            pool.stream::<Count>(3).collect(),
        )
        .await;
        assert_eq!(
            items,
            [Err(DispatchError::Rejected {
                reason: "tenant blocked is blocked".into()
            })],
            "the rejection is the stream's one item"
        );
        assert_eq!(
            COUNT_STARTS.load(Ordering::SeqCst),
            0,
            "the routine never started"
        );

        let _tenant = TENANT.set("acme".into()).expect("a scope");
        let items: Vec<_> = within(
            BOUND,
            "an admitted stream",
            pool.stream::<Count>(3).collect(),
        )
        .await;
        assert_eq!(items, [Ok(0), Ok(1), Ok(2)]);
        assert_eq!(COUNT_STARTS.load(Ordering::SeqCst), 1);
        // Each exact pull carried the caller's context; none of them asked the hook.
        assert_eq!(asked.load(Ordering::SeqCst), 2, "once per stream, at open");
    })
    .await;
}
