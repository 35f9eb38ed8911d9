//! A token none of whose handles is left anywhere can never be spent, so its home
//! closes its id: the home ledger's memory tracks the tokens still alive, not every
//! token ever minted. A token still held anywhere (a duplicate here, a handle a worker
//! kept) keeps its id open, so single use stays exact. The home knows by weighted
//! reference counting: each handle holds a part of the token's weight, and gives it
//! back when it is dropped.
//!
//! Every assertion is about ids the test itself minted: the home ledger is
//! process-wide, and the tests of one binary share a process. What the closing does to
//! memory is measured by the `ledger_soak` case of the `bench` example.

use skein::actors::home;
use skein::{ContextVar, Never, Pool, Routine, Token};

static V: ContextVar<u64> = ContextVar::new("dropped_tokens", "v");

/// Tokens a worker kept: still alive, though their caller dropped its own handles.
static KEPT: std::sync::Mutex<Vec<Token<u64>>> = std::sync::Mutex::new(Vec::new());

/// Keeps the token it is sent, unspent.
struct Keep;
impl Routine for Keep {
    const NAME: &'static str = "dropped_tokens.keep";
    type Args = Token<u64>;
    type Output = ();
    type Error = Never;
    async fn run(token: Token<u64>) -> Result<(), Never> {
        KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(token);
        Ok(())
    }
}

/// Takes a token and drops it on the worker, unspent.
struct Swallow;
impl Routine for Swallow {
    const NAME: &'static str = "dropped_tokens.swallow";
    type Args = Token<u64>;
    type Output = ();
    type Error = Never;
    async fn run(token: Token<u64>) -> Result<(), Never> {
        drop(token);
        Ok(())
    }
}

/// Resets the token it is sent.
struct ResetHere;
impl Routine for ResetHere {
    const NAME: &'static str = "dropped_tokens.reset_here";
    type Args = Token<u64>;
    type Output = bool;
    type Error = Never;
    async fn run(token: Token<u64>) -> Result<bool, Never> {
        Ok(V.reset(token).await.is_ok())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_never_left_close_their_ids_whether_reset_or_dropped() {
    skein::scope(async {
        // A run of ids this test owns: half reset, half dropped unspent, in turn.
        let mut ids = Vec::new();
        for i in 0..2_000u64 {
            let token = V.set(i).expect("a scope");
            ids.push(token.id());
            if i % 2 == 0 {
                V.reset(token).await.expect("a fresh token resets");
            } else {
                drop(token);
            }
        }
        for id in &ids {
            assert!(
                home().is_spent(id),
                "{id:?}: reset or dropped at home, its id is closed"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_live_duplicate_stays_open() {
    skein::scope(async {
        let token = V.set(1).expect("a scope");
        let id = token.id();
        let kept = token.duplicate();
        drop(token);
        assert!(!home().is_spent(&id), "a handle is still alive");
        drop(kept);
        assert!(home().is_spent(&id), "the last handle went: the id closes");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_token_closes_when_its_last_handle_anywhere_goes() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Swallow>()
        .routine::<Keep>()
        .routine::<ResetHere>()
        .build()
        .await
        .expect("pool builds");
    skein::scope(async {
        // Sent and dropped on the worker: every handle is gone, the id closes.
        let token = V.set(2).expect("a scope");
        let id = token.id();
        pool.call::<Swallow>(token).await.expect("swallow");
        assert!(
            home().is_spent(&id),
            "sent, dropped there, and no handle left here: closed"
        );

        // Sent and kept by the worker: open while the worker holds it, closed when it
        // lets go.
        let token = V.set(3).expect("a scope");
        let id = token.id();
        pool.call::<Keep>(token).await.expect("keep");
        assert!(
            !home().is_spent(&id),
            "the worker still holds a handle: the id stays open"
        );
        KEPT.lock().unwrap_or_else(|p| p.into_inner()).clear();
        assert!(home().is_spent(&id), "the last handle went: closed");

        // Sent with a duplicate kept here, which is then dropped: the reset on the
        // worker still wins, exactly once.
        let token = V.set(4).expect("a scope");
        let id = token.id();
        let kept = token.duplicate();
        let sent = token;
        drop(kept);
        assert!(
            pool.call::<ResetHere>(sent).await.expect("reset there"),
            "the sent token resets on the worker"
        );
        assert!(home().is_spent(&id), "spent at home, once");
    })
    .await;
}
