//! Streaming routines pull with the caller's context: each pull carries the caller's
//! context as it is then, each item merges the worker's changes back before it is
//! returned (S43), an error item merges and ends the stream (S52), and dropping the
//! stream cancels the routine and runs its cleanup (S49).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::{stream, Stream, StreamExt};
use skein::{ContextVar, DispatchError, ErrorMessage, Never, Pool, StreamRoutine};
use tokio::sync::oneshot;

static SEEN: ContextVar<String> = ContextVar::new("streams_pull", "seen");
static STEP: ContextVar<u32> = ContextVar::new("streams_pull", "step");

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

/// Yields `SEEN` as the worker sees it at each step, `n` times.
struct Mirror;
impl StreamRoutine for Mirror {
    const NAME: &'static str = "streams_pull.mirror";
    type Args = u32;
    type Item = Option<String>;
    type Error = Never;
    fn run(n: u32) -> impl Stream<Item = Result<Option<String>, Never>> + Send + 'static {
        // The read happens when the step is polled, inside the step's context.
        stream::unfold(0, move |i| async move {
            (i < n).then(|| (Ok(SEEN.get()), i + 1))
        })
    }
}

/// Sets `STEP` to the item's index on the worker at each step, and yields the index.
struct Stepper;
impl StreamRoutine for Stepper {
    const NAME: &'static str = "streams_pull.stepper";
    type Args = u32;
    type Item = u32;
    type Error = Never;
    fn run(n: u32) -> impl Stream<Item = Result<u32, Never>> + Send + 'static {
        stream::unfold(0, move |i| async move {
            (i < n).then(|| {
                let _ = STEP.set(i).expect("a step runs in a context");
                (Ok(i), i + 1)
            })
        })
    }
}

/// Where the cleanup of a [`Guarded`] stream reports, by the key in its args: each
/// test in this binary may run at once, so none shares a channel.
fn cleanups() -> &'static Mutex<HashMap<u64, oneshot::Sender<u64>>> {
    static CLEANUPS: std::sync::OnceLock<Mutex<HashMap<u64, oneshot::Sender<u64>>>> =
        std::sync::OnceLock::new();
    CLEANUPS.get_or_init(Default::default)
}

fn expect_cleanup() -> (u64, oneshot::Receiver<u64>) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    cleanups().lock().unwrap().insert(key, tx);
    (key, rx)
}

/// Held by a [`Guarded`] stream: counts the items produced, and reports the count
/// when the stream is dropped.
struct Guard {
    key: u64,
    produced: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tx) = cleanups().lock().unwrap().remove(&self.key) {
            let _ = tx.send(self.produced);
        }
    }
}

/// An endless stream that holds a [`Guard`].
struct Guarded;
impl StreamRoutine for Guarded {
    const NAME: &'static str = "streams_pull.guarded";
    type Args = u64;
    type Item = u64;
    type Error = Never;
    fn run(key: u64) -> impl Stream<Item = Result<u64, Never>> + Send + 'static {
        stream::unfold(Guard { key, produced: 0 }, |mut guard| async move {
            let item = guard.produced;
            guard.produced += 1;
            Some((Ok(item), guard))
        })
    }
}

/// Yields `0..n`, sets `SEEN` on the worker, then fails; the stream would go on if
/// it were pulled again. It holds a [`Guard`] keyed by its args.
struct FailAt;
impl StreamRoutine for FailAt {
    const NAME: &'static str = "streams_pull.fail_at";
    type Args = (u64, u64);
    type Item = u64;
    type Error = ErrorMessage;
    fn run((n, key): (u64, u64)) -> impl Stream<Item = Result<u64, ErrorMessage>> + Send + 'static {
        stream::unfold(Guard { key, produced: 0 }, move |mut guard| async move {
            let i = guard.produced;
            guard.produced += 1;
            if i == n {
                let _ = SEEN
                    .set("set before the error".into())
                    .expect("in a context");
                Some((Err(format!("boom at {i}").into()), guard))
            } else {
                Some((Ok(i), guard))
            }
        })
    }
}

/// Never registered in the pool.
struct Unregistered;
impl StreamRoutine for Unregistered {
    const NAME: &'static str = "streams_pull.unregistered";
    type Args = ();
    type Item = u32;
    type Error = Never;
    fn run((): ()) -> impl Stream<Item = Result<u32, Never>> + Send + 'static {
        stream::empty()
    }
}

async fn pool() -> Pool {
    Pool::builder()
        .workers(2)
        .stream_routine::<Mirror>()
        .stream_routine::<Stepper>()
        .stream_routine::<Guarded>()
        .stream_routine::<FailAt>()
        .build()
        .await
        .expect("pool builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_arrive_in_order_and_the_stream_ends() {
    let pool = pool().await;
    let items: Vec<u32> = bounded(
        pool.stream::<Stepper>(50)
            .map(|item| item.expect("item"))
            .collect(),
    )
    .await;
    assert_eq!(items, (0..50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_change_between_pulls_is_seen_by_the_next_step() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let first = SEEN.set("a".into()).unwrap();
        let mut items = pool.stream::<Mirror>(4);
        assert_eq!(items.next().await.unwrap().unwrap().as_deref(), Some("a"));

        // S43: the next pull carries the caller's context as it is now.
        let second = SEEN.set("b".into()).unwrap();
        assert_eq!(items.next().await.unwrap().unwrap().as_deref(), Some("b"));

        // A reset between pulls travels too: back to "a", then to no value at all.
        SEEN.reset(second).await.unwrap();
        assert_eq!(items.next().await.unwrap().unwrap().as_deref(), Some("a"));
        SEEN.reset(first).await.unwrap();
        assert_eq!(items.next().await.unwrap().unwrap(), None);

        assert!(items.next().await.is_none(), "4 items, then the end");
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_set_merges_into_the_caller_after_each_item() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let mut items = pool.stream::<Stepper>(3);
        assert_eq!(STEP.get(), None);
        for expected in 0..3 {
            let item = items.next().await.unwrap().unwrap();
            assert_eq!(item, expected);
            // S43: merged before the item was handed over.
            assert_eq!(STEP.get(), Some(expected), "after item {expected}");
        }
        assert!(items.next().await.is_none());
        assert_eq!(STEP.get(), Some(2), "the end changes nothing");
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_cancels_the_routine_and_runs_its_cleanup() {
    let pool = pool().await;
    let (key, cleanup) = expect_cleanup();
    let mut items = pool.stream::<Guarded>(key);
    assert_eq!(bounded(items.next()).await.unwrap().unwrap(), 0);
    assert_eq!(bounded(items.next()).await.unwrap().unwrap(), 1);
    drop(items);

    // The guard reports how many items the stream had produced when it was dropped:
    // 2, so the worker never ran ahead of the pulls (S43) and nothing came after.
    let produced = bounded(cleanup)
        .await
        .expect("the guard was dropped without reporting");
    assert_eq!(produced, 2, "no item is produced past the last pull");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_error_item_arrives_typed_merges_and_ends_the_stream() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let (key, cleanup) = expect_cleanup();
        let mut items = pool.stream::<FailAt>((2, key));
        assert_eq!(items.next().await.unwrap().unwrap(), 0);
        assert_eq!(items.next().await.unwrap().unwrap(), 1);
        match items.next().await {
            Some(Err(DispatchError::Routine(message))) => assert_eq!(message.0, "boom at 2"),
            other => panic!("expected the routine's own error, got {other:?}"),
        }
        // S52: the terminal error carried the worker's context as of the error.
        assert_eq!(SEEN.get().as_deref(), Some("set before the error"));
        // The worker dropped the routine's stream at the error, while the caller still
        // holds its end: cleanup does not wait for the caller.
        assert_eq!(
            cleanup.await.expect("the guard reports"),
            3,
            "2 items and the error"
        );
        // Polled once more after the end, a `Stream` may panic (the trait allows it,
        // and `RoutineStream` is not a `FusedStream`), so the end is checked once.
        assert!(
            items.next().await.is_none(),
            "an error item ends the stream"
        );
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_stream_routine_is_refused_by_name() {
    let pool = pool().await;
    let mut items = pool.stream::<Unregistered>(());
    match bounded(items.next()).await {
        Some(Err(DispatchError::UnknownRoutine { routine: name })) => {
            assert_eq!(name, Unregistered::NAME)
        }
        other => panic!("expected UnknownRoutine, got {other:?}"),
    }
    assert!(
        bounded(items.next()).await.is_none(),
        "the refusal ends the stream"
    );
}
