//! `skein::spawn_blocking` runs a closure on tokio's blocking threads in the current
//! context (S106): it reads and sets variables there, what it sets is merged back to
//! a routine's caller like any other change, and it runs off the runtime's worker
//! threads.

use std::future::Future;
use std::thread::ThreadId;
use std::time::Duration;

use skein::{ContextVar, ErrorMessage, Pool, Routine, SetError};

static INPUT: ContextVar<u64> = ContextVar::new("blocking", "input");
static OUTPUT: ContextVar<u64> = ContextVar::new("blocking", "output");

/// What the blocking closure saw, and where it ran.
#[derive(Debug)]
struct Seen {
    input: Option<u64>,
    thread: ThreadId,
    /// Whether `Handle::block_on` worked there: it panics on a runtime's worker thread
    /// (and in any async context), and works on one of its blocking threads.
    could_block: bool,
}

/// The blocking half of the work: reads `INPUT`, blocks on the runtime to prove it is
/// allowed to, and sets `OUTPUT` to twice the input.
fn blocking_double() -> Seen {
    let input = INPUT.get();
    let could_block = std::panic::catch_unwind(|| {
        tokio::runtime::Handle::current().block_on(async { tokio::task::yield_now().await })
    })
    .is_ok();
    if let Some(input) = input {
        // The token is dropped: the change stays, and nothing will undo it.
        let _ = OUTPUT
            .set(input * 2)
            .expect("a set in the blocking closure");
    }
    Seen {
        input,
        thread: std::thread::current().id(),
        could_block,
    }
}

/// A routine whose body does its work in `spawn_blocking`, and reports whether the
/// closure saw the caller's value and ran on another thread than the body.
struct DoubleOffThread;
impl Routine for DoubleOffThread {
    const NAME: &'static str = "blocking.double_off_thread";
    type Args = ();
    type Output = (Option<u64>, bool, bool);
    type Error = ErrorMessage;
    async fn run((): ()) -> Result<(Option<u64>, bool, bool), ErrorMessage> {
        let body = std::thread::current().id();
        let seen = skein::spawn_blocking(blocking_double)
            .await
            .map_err(|e| ErrorMessage(format!("the blocking closure failed: {e}")))?;
        // The closure's set is in the routine's context as soon as it returns.
        let output = OUTPUT.get();
        if output != seen.input.map(|input| input * 2) {
            return Err(format!("the body sees {output:?} after the closure").into());
        }
        Ok((seen.input, seen.thread != body, seen.could_block))
    }
}

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_sets_a_var_in_blocking_work_and_the_caller_sees_it() {
    let pool = Pool::builder()
        .workers(2)
        .routine::<DoubleOffThread>()
        .build()
        .await
        .expect("pool builds");
    bounded(skein::scope(async {
        let _input = INPUT.set(21).unwrap();
        assert_eq!(OUTPUT.get(), None);
        let (input, other_thread, could_block) =
            pool.call::<DoubleOffThread>(()).await.expect("the call");
        assert_eq!(input, Some(21), "the closure reads the caller's value");
        assert!(other_thread, "the closure ran on the routine's own thread");
        assert!(could_block, "the closure ran on a runtime worker thread");
        assert_eq!(OUTPUT.get(), Some(42), "the closure's set merged back");
    }))
    .await;
}

#[tokio::test]
async fn blocking_work_shares_the_scope_it_was_spawned_in() {
    bounded(skein::scope(async {
        let _input = INPUT.set(5).unwrap();
        let seen = skein::spawn_blocking(blocking_double).await.unwrap();
        assert_eq!(seen.input, Some(5));
        assert_ne!(seen.thread, std::thread::current().id());
        assert!(
            seen.could_block,
            "ran on the runtime's (only) worker thread"
        );
        assert_eq!(OUTPUT.get(), Some(10), "the same context, not a fork");
    }))
    .await;
}

#[tokio::test]
async fn outside_any_scope_blocking_work_has_no_context() {
    let set = bounded(skein::spawn_blocking(|| OUTPUT.set(1).map(drop)))
        .await
        .unwrap();
    assert!(matches!(set, Err(SetError::NoScope(_))), "{set:?}");
}
