//! A stream opened with `ahead(n)` runs up to n steps ahead of its caller on credits:
//! a step run ahead sees the context of the latest grant that reached the worker, each
//! item merges only its own step's changes as the caller takes it, the worker never
//! runs more than n steps past the items taken, and dropping the stream cancels the
//! routine with items in flight.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use futures::{stream, Stream, StreamExt};
use skein::{ContextVar, Never, Pool, ResetErrorKind, StreamRoutine, Token};
use tokio::sync::{oneshot, watch};

static SEEN: ContextVar<String> = ContextVar::new("streams_ahead", "seen");
static STEP: ContextVar<u64> = ContextVar::new("streams_ahead", "step");
static MINE: ContextVar<String> = ContextVar::new("streams_ahead", "mine");
static SPENT: ContextVar<u32> = ContextVar::new("streams_ahead", "spent");
static NUMBER: ContextVar<u32> = ContextVar::new("streams_ahead", "number");

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

/// What the routines of one test report, by the key in their args: the tests of this
/// binary run at once, so none shares a channel.
#[derive(Default)]
struct Probes {
    /// How many steps the stream has run, as it runs them.
    steps: HashMap<u64, watch::Sender<u64>>,
    /// Where the stream's cleanup reports the steps it ran.
    cleanups: HashMap<u64, oneshot::Sender<u64>>,
}

fn probes() -> &'static Mutex<Probes> {
    static PROBES: OnceLock<Mutex<Probes>> = OnceLock::new();
    PROBES.get_or_init(Default::default)
}

/// A fresh key, the count of steps run under it, and its cleanup's report.
fn probe() -> (u64, watch::Receiver<u64>, oneshot::Receiver<u64>) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let (steps, counted) = watch::channel(0);
    let (cleanup, cleaned) = oneshot::channel();
    let mut probes = probes().lock().unwrap();
    probes.steps.insert(key, steps);
    probes.cleanups.insert(key, cleanup);
    (key, counted, cleaned)
}

/// Held by a [`Counted`] stream: counts its steps as they run, and reports the count
/// when the stream is dropped.
struct Guard {
    key: u64,
    steps: u64,
}

impl Guard {
    fn step(&mut self) -> u64 {
        let index = self.steps;
        self.steps += 1;
        if let Some(steps) = probes().lock().unwrap().steps.get(&self.key) {
            steps.send_replace(self.steps);
        }
        index
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(cleanup) = probes().lock().unwrap().cleanups.remove(&self.key) {
            let _ = cleanup.send(self.steps);
        }
    }
}

/// An endless stream of its step indexes, counted by a [`Guard`] under its key. Each
/// step sets `STEP` to its index on the worker.
struct Counted;
impl StreamRoutine for Counted {
    const NAME: &'static str = "streams_ahead.counted";
    type Args = u64;
    type Item = u64;
    type Error = Never;
    fn run(key: u64) -> impl Stream<Item = Result<u64, Never>> + Send + 'static {
        stream::unfold(Guard { key, steps: 0 }, |mut guard| async move {
            let index = guard.step();
            let _ = STEP.set(index).expect("a step runs in a context");
            Some((Ok(index), guard))
        })
    }
}

/// Yields `SEEN` as the worker sees it at each step, `n` times.
struct Mirror;
impl StreamRoutine for Mirror {
    const NAME: &'static str = "streams_ahead.mirror";
    type Args = u32;
    type Item = Option<String>;
    type Error = Never;
    fn run(n: u32) -> impl Stream<Item = Result<Option<String>, Never>> + Send + 'static {
        stream::unfold(0, move |i| async move {
            (i < n).then(|| (Ok(SEEN.get()), i + 1))
        })
    }
}

/// Counted like [`Counted`] under its key; its second step resets the token it was
/// given.
struct SpendsAtStepOne;
impl StreamRoutine for SpendsAtStepOne {
    const NAME: &'static str = "streams_ahead.spends_at_step_one";
    type Args = (u64, Token<u32>);
    type Item = u64;
    type Error = Never;
    fn run((key, token): (u64, Token<u32>)) -> impl Stream<Item = Result<u64, Never>> + Send {
        stream::unfold(
            (Guard { key, steps: 0 }, Some(token)),
            |(mut guard, mut token)| async move {
                let index = guard.step();
                if index == 1 {
                    let token = token.take().expect("step 1 runs once");
                    SPENT.reset(token).await.expect("the step spends the token");
                }
                Some((Ok(index), (guard, token)))
            },
        )
    }
}

async fn pool() -> Pool {
    Pool::builder()
        .workers(2)
        .stream_routine::<Counted>()
        .stream_routine::<Mirror>()
        .stream_routine::<SpendsAtStepOne>()
        .build()
        .await
        .expect("pool builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ahead_stream_yields_every_item_in_order() {
    let pool = pool().await;
    // u32::MAX: taken as the cap, and a batch still leaves once it holds 1,024 items.
    for ahead in [1, 2, 7, 64, u32::MAX] {
        let (key, _, _) = probe();
        let items: Vec<u64> = bounded(
            pool.stream::<Counted>(key)
                .ahead(ahead)
                .take(500)
                .map(|item| item.expect("item"))
                .collect(),
        )
        .await;
        assert_eq!(items, (0..500).collect::<Vec<_>>(), "ahead({ahead})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_runs_ahead_but_never_past_the_credits_granted() {
    let pool = pool().await;
    let (key, mut steps, _) = probe();
    const AHEAD: u64 = 8;
    let mut items = pool.stream::<Counted>(key).ahead(AHEAD as u32);

    assert_eq!(bounded(items.next()).await.unwrap().unwrap(), 0);
    // With one item taken and nothing else asked, the worker runs on by itself up to
    // its credits: the dispatch's 8, and the grant sent as the first half was taken.
    bounded(steps.wait_for(|&run| run >= AHEAD)).await.unwrap();

    // A slow consumer: every few milliseconds an item. The steps run never exceed the
    // items taken plus the credits.
    for taken in 2..=40u64 {
        let item = bounded(items.next()).await.unwrap().unwrap();
        assert_eq!(item, taken - 1);
        let run = *steps.borrow();
        assert!(
            run <= taken + AHEAD,
            "{run} steps run with {taken} items taken and {AHEAD} credits"
        );
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let run = *steps.borrow();
    assert!(run >= 40, "the worker kept up: {run} steps for 40 items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_merges_only_its_own_step_as_the_caller_takes_it() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let (key, mut steps, _) = probe();
        let mut items = pool.stream::<Counted>(key).ahead(16);
        assert_eq!(items.next().await.unwrap().unwrap(), 0);
        // Let the worker run well ahead of the items taken.
        steps.wait_for(|&run| run >= 16).await.unwrap();
        assert_eq!(STEP.get(), Some(0), "only step 0's change merged");

        // A variable the routine never touches: the caller's change survives every
        // item, though the steps run ahead began before it was made.
        let _mine = MINE.set("the caller's".into()).unwrap();
        for k in 1..=12 {
            assert_eq!(items.next().await.unwrap().unwrap(), k);
            assert_eq!(STEP.get(), Some(k), "after item {k}");
            assert_eq!(MINE.get().as_deref(), Some("the caller's"));
        }
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_made_in_a_step_run_ahead_counts_before_its_item_is_taken() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let (key, mut steps, _) = probe();
        let token = SPENT.set(7).unwrap();
        let mine = token.duplicate();
        let mut items = pool.stream::<SpendsAtStepOne>((key, token)).ahead(8);
        assert_eq!(items.next().await.unwrap().unwrap(), 0);
        // Step 1 (the spend) and more have run; only item 0 was taken.
        steps.wait_for(|&run| run >= 3).await.unwrap();
        let refused = SPENT
            .reset(mine)
            .await
            .expect_err("the token was spent ahead");
        assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_run_ahead_sees_the_latest_grant_that_reached_the_worker() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let _before = SEEN.set("before".into()).unwrap();
        let mut items = pool.stream::<Mirror>(12).ahead(4);
        let mut seen = Vec::new();
        seen.push(items.next().await.unwrap().unwrap());
        let _after = SEEN.set("after".into()).unwrap();
        while let Some(item) = items.next().await {
            seen.push(item.unwrap());
        }
        assert_eq!(seen.len(), 12);
        let seen: Vec<&str> = seen.iter().map(|s| s.as_deref().unwrap()).collect();

        // The first step ran before the caller changed anything.
        assert_eq!(seen[0], "before");
        // Steps 5 on needed credits beyond the dispatch's 4, which only grants made
        // after the change gave.
        assert!(seen[4..].iter().all(|s| *s == "after"), "{seen:?}");
        // Steps 2 to 4 ran with either, as a grant reached the worker before they
        // began or not; but a step never sees an older grant than the one before it.
        let first_after = seen.iter().position(|s| *s == "after").unwrap();
        assert!(
            seen[first_after..].iter().all(|s| *s == "after"),
            "{seen:?}"
        );
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_ahead_stream_cancels_it_with_items_in_flight() {
    // One slot and no queue: the next call finds room only if the stream's slot is free.
    let pool = Pool::builder()
        .workers(1)
        .max_concurrency(1)
        .max_queue(0)
        .stream_routine::<Counted>()
        .build()
        .await
        .expect("pool builds");
    let (key, mut steps, cleaned) = probe();
    let mut items = pool.stream::<Counted>(key).ahead(16);
    for expected in 0..3 {
        assert_eq!(bounded(items.next()).await.unwrap().unwrap(), expected);
    }
    bounded(steps.wait_for(|&run| run >= 16)).await.unwrap();
    drop(items);

    let run = bounded(cleaned)
        .await
        .expect("the routine was dropped without its cleanup");
    assert!(
        (16..=3 + 16).contains(&run),
        "{run} steps: ahead, and within the credits"
    );
    // The slot is free: a new stream opens and runs on the one worker.
    let (key, _, _) = probe();
    let first = bounded(pool.stream::<Counted>(key).ahead(16).next()).await;
    assert_eq!(first.unwrap().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_a_strict_worker_refuses_ends_the_stream_with_the_install_error() {
    use skein::actors::{
        Binding, ChainId, Dispatch, DispatchKind, Manifest, Outcome, Pull, Reply, Request,
        VarEntry, WorkerMsg,
    };
    NUMBER.declare().unwrap();
    let pool = Pool::builder()
        .workers(1)
        .install_mode(skein::InstallMode::Strict)
        .stream_routine::<Counted>()
        .build()
        .await
        .expect("pool builds");
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    let (key, _, _) = probe();
    let args = skein::payload::encode(&key).expect("args encode");
    let request = Request::new(Counted::NAME, args, Manifest::default());
    let id = request.id;
    let first: Reply = bounded(async {
        ractor::call!(worker, |reply| WorkerMsg::Dispatch(
            Dispatch::new(request, DispatchKind::Stream).with_credits(1),
            reply
        ))
    })
    .await
    .expect("the worker answers the dispatch");
    assert!(matches!(first.outcome, Outcome::Value(_)), "{first:?}");

    // A grant whose context holds a value with a byte left over: strict refuses it.
    let bad = Manifest::new(
        Some(ChainId::new()),
        [VarEntry::new(
            NUMBER.key().clone(),
            Binding::value(vec![0x57, 0x01]),
        )],
    );
    let refused: Reply = bounded(async {
        ractor::call!(worker, |reply| WorkerMsg::Pull(Pull::new(id, bad), reply))
    })
    .await
    .expect("the worker answers the pull");
    match refused.outcome {
        Outcome::Failed(skein::DispatchError::Context(error)) => {
            assert_eq!(error.entries.len(), 1, "{error:?}");
            assert_eq!(error.entries[0].key, *NUMBER.key());
        }
        other => panic!("expected the install error, got {other:?}"),
    }
    // The refusal ended the stream.
    let after: Reply = bounded(async {
        ractor::call!(worker, |reply| WorkerMsg::Pull(
            Pull::new(id, Manifest::default()),
            reply
        ))
    })
    .await
    .expect("the worker answers");
    assert!(
        matches!(
            after.outcome,
            Outcome::Failed(skein::DispatchError::NoSuchStream)
        ),
        "{after:?}"
    );
}
