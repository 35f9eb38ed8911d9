//! A stream with `ahead(n)` across worker processes: items run ahead arrive in
//! batches, each merges its own step's changes as the caller takes it, and a worker
//! process killed mid-stream ends the stream with `NodeDown`, never a hang.

use std::time::Duration;

use futures::{stream, Stream, StreamExt};
use skein::{ContextVar, DispatchError, Never, StreamRoutine};
use tokio::time::Instant;

use crate::support::{self, process_pool, within, BOUND};

static STEP: ContextVar<u64> = ContextVar::new("cluster_streams", "step");
static MINE: ContextVar<String> = ContextVar::new("cluster_streams", "mine");

/// The bound on `NodeDown` for a node that dies.
const NODE_DOWN_WITHIN: Duration = Duration::from_secs(2);

/// Yields `(pid, index)` for each step, endlessly, and sets `STEP` to the index on the
/// worker at each step.
pub struct Steps;
impl StreamRoutine for Steps {
    const NAME: &'static str = "cluster.steps";
    type Args = ();
    type Item = (u32, u64);
    type Error = Never;
    fn run((): ()) -> impl Stream<Item = Result<(u32, u64), Never>> + Send + 'static {
        stream::unfold(0u64, |index| async move {
            let _ = STEP.set(index).expect("a step runs in a context");
            Some((Ok((std::process::id(), index)), index + 1))
        })
    }
}

pub async fn an_ahead_stream_across_processes_merges_each_item_as_it_is_taken() {
    let pool = process_pool(2).await;
    within(
        BOUND,
        "2,000 items run ahead across processes",
        skein::scope(async {
            let mut items = pool.stream::<Steps>(()).ahead(32);
            let mut worker = None;
            for k in 0..2_000u64 {
                if k == 100 {
                    // A variable the routine never touches: steps run ahead began
                    // before this change, and none of them sends it back over.
                    let _ = MINE.set("the caller's".into()).unwrap();
                }
                let (pid, index) = items.next().await.expect("an item").expect("ok");
                assert_eq!(index, k, "items arrive in order");
                assert_ne!(
                    pid,
                    std::process::id(),
                    "the stream runs in a worker process"
                );
                assert_eq!(*worker.get_or_insert(pid), pid, "one stream, one worker");
                assert_eq!(STEP.get(), Some(k), "after item {k}");
                if k >= 100 {
                    assert_eq!(MINE.get().as_deref(), Some("the caller's"));
                }
            }
        }),
    )
    .await;
}

pub async fn a_worker_process_killed_mid_stream_ends_the_stream_with_node_down() {
    let pool = process_pool(2).await;
    let mut items = pool.stream::<Steps>(()).ahead(16);
    let (pid, _) = within(BOUND, "the first item", items.next())
        .await
        .expect("an item")
        .expect("ok");
    for k in 1..10 {
        let (_, index) = within(BOUND, "an item", items.next())
            .await
            .expect("an item")
            .expect("ok");
        assert_eq!(index, k);
    }

    let killed = Instant::now();
    support::signal("-KILL", pid);
    // Items already on their way may still come; then the stream ends with NodeDown.
    let deadline = killed + NODE_DOWN_WITHIN;
    let mut after = 0u32;
    loop {
        match tokio::time::timeout_at(deadline, items.next()).await {
            Ok(Some(Ok(_))) => after += 1,
            Ok(Some(Err(DispatchError::NodeDown))) => break,
            Ok(other) => panic!("the stream ended with {other:?}, not NodeDown"),
            Err(_) => panic!("no NodeDown within {NODE_DOWN_WITHIN:?} of the kill"),
        }
    }
    assert!(
        after <= 16 * 2,
        "{after} items after the kill: more than were granted"
    );
    eprintln!(
        "a_worker_process_killed_mid_stream_ends_the_stream_with_node_down: NodeDown after {:.2?}, {after} items after the kill",
        killed.elapsed()
    );
    assert!(
        within(BOUND, "the end after NodeDown", items.next())
            .await
            .is_none(),
        "NodeDown ends the stream"
    );
}
