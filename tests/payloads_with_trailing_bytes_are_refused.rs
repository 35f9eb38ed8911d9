//! A routine's args, output and error decode exactly: bytes left over after the value
//! are refused with a typed error, `BadArgs` on the worker and `BadFrame` at the
//! caller, never accepted as the value they start with.

mod support;

use skein::actors::{
    Blob, Dispatch, DispatchKind, LedgerDelta, Outcome, Reply, Request, WorkerMsg,
};
use skein::{DispatchError, Pool, Routine, StreamRoutine};
use support::pool_helpers::{within, BOUND};

/// A number the routine could not double; on the wire it is the bare number.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{0} is too large to double")]
struct TooLarge(u32);

struct Double;
impl Routine for Double {
    const NAME: &'static str = "trailing.double";
    type Args = u32;
    type Output = u32;
    type Error = TooLarge;
    async fn run(n: u32) -> Result<u32, TooLarge> {
        n.checked_mul(2).ok_or(TooLarge(n))
    }
}

struct Count;
impl StreamRoutine for Count {
    const NAME: &'static str = "trailing.count";
    type Args = u32;
    type Item = u32;
    type Error = TooLarge;
    fn run(n: u32) -> impl futures::Stream<Item = Result<u32, TooLarge>> + Send + 'static {
        futures::stream::iter((0..n).map(Ok))
    }
}

/// `7` as MessagePack (the fixint 0x07), then bytes that are no part of it.
fn seven_and_more() -> Blob {
    vec![0x07, 0x07, 0xc1, 0x00].into()
}

async fn one_worker_pool() -> Pool {
    within(
        BOUND,
        "build",
        Pool::builder()
            .workers(1)
            .routine::<Double>()
            .stream_routine::<Count>()
            .build(),
    )
    .await
    .expect("pool builds")
}

async fn direct(pool: &Pool, request: Request, kind: DispatchKind) -> Reply {
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    within(BOUND, "direct dispatch", async {
        ractor::call!(worker, |reply| WorkerMsg::Dispatch(
            Dispatch::new(request, kind),
            reply
        ))
    })
    .await
    .expect("the worker answers a direct dispatch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_args_with_trailing_bytes_are_bad_args() {
    let pool = one_worker_pool().await;
    // The path works: the exact args run.
    let mut request = skein::request::<Double>(7).expect("args encode");
    request.args = vec![0x07].into();
    assert_eq!(
        skein::decode_reply::<Double>(direct(&pool, request, DispatchKind::Call).await),
        Ok(14)
    );

    let mut request = skein::request::<Double>(7).expect("args encode");
    request.args = seven_and_more();
    match skein::decode_reply::<Double>(direct(&pool, request, DispatchKind::Call).await) {
        Err(DispatchError::BadArgs { reason }) => {
            assert!(reason.contains("3 trailing bytes"), "{reason:?}")
        }
        other => panic!("expected BadArgs, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_args_with_trailing_bytes_are_bad_args() {
    let pool = one_worker_pool().await;
    let request = Request::new(Count::NAME, seven_and_more(), Default::default());
    let reply = direct(&pool, request, DispatchKind::Stream).await;
    match reply.outcome {
        Outcome::Failed(DispatchError::BadArgs { reason }) => {
            assert!(reason.contains("3 trailing bytes"), "{reason:?}")
        }
        other => panic!("expected BadArgs, got {other:?}"),
    }
}

#[test]
fn an_output_with_trailing_bytes_is_a_bad_frame() {
    let reply = Reply::new(Outcome::Value(seven_and_more()), None, LedgerDelta::new());
    match skein::decode_reply::<Double>(reply) {
        Err(DispatchError::BadFrame { reason }) => {
            assert!(reason.contains("3 trailing bytes"), "{reason:?}")
        }
        other => panic!("expected BadFrame, got {other:?}"),
    }
    // The exact output decodes.
    let reply = Reply::new(Outcome::Value(vec![0x07].into()), None, LedgerDelta::new());
    assert_eq!(skein::decode_reply::<Double>(reply), Ok(7));
}

#[test]
fn a_routine_error_with_trailing_bytes_is_a_bad_frame() {
    let reply = Reply::failed(DispatchError::Routine(seven_and_more()));
    match skein::decode_reply::<Double>(reply) {
        Err(DispatchError::BadFrame { reason }) => {
            assert!(reason.contains("3 trailing bytes"), "{reason:?}")
        }
        other => panic!("expected BadFrame, got {other:?}"),
    }
    // The exact error decodes as the routine's own.
    let reply = Reply::failed(DispatchError::Routine(vec![0x07].into()));
    assert_eq!(
        skein::decode_reply::<Double>(reply),
        Err(DispatchError::Routine(TooLarge(7)))
    );
}
