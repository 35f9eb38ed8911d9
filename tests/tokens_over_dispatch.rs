//! Tokens that ride real dispatches through a pool: a caller token reset on a worker,
//! a sibling's token that travels but never resets, a worker-minted token reset at the
//! caller, and one token raced by 64 concurrent dispatches (S70–S73).

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use skein::actors::TokenId;
use skein::{ContextVar, Never, Pool, ResetErrorKind, Routine, Token};

static V: ContextVar<String> = ContextVar::new("tokens_over_dispatch", "v");

/// A reset's outcome as it travels back: `Result<(), ResetErrorKind>` has no serde impls.
const OK: u8 = 0;
const ALREADY_USED: u8 = 1;
const WRONG_VAR: u8 = 2;
const DIFFERENT_CONTEXT: u8 = 3;
const OTHER: u8 = 9;

fn code(kind: ResetErrorKind) -> u8 {
    match kind {
        ResetErrorKind::AlreadyUsed => ALREADY_USED,
        ResetErrorKind::WrongVar => WRONG_VAR,
        ResetErrorKind::DifferentContext => DIFFERENT_CONTEXT,
        _ => OTHER,
    }
}

/// What the worker saw of the token it was sent, and what became of it.
type ResetReport = (TokenId, u8, Option<Token<String>>);

/// Resets the token it is sent, on the worker. Reports the id it arrived with, the
/// outcome, and hands a refused token back in its output.
struct ResetHere;
impl Routine for ResetHere {
    const NAME: &'static str = "tokens_over_dispatch.reset_here";
    type Args = Token<String>;
    type Output = ResetReport;
    type Error = Never;
    async fn run(token: Token<String>) -> Result<ResetReport, Never> {
        let id = token.id();
        Ok(match V.reset(token).await {
            Ok(()) => (id, OK, None),
            Err(refused) => (id, code(refused.kind()), Some(refused.into_token())),
        })
    }
}

/// Sets `V` on the worker and returns the token to the caller.
struct SetHere;
impl Routine for SetHere {
    const NAME: &'static str = "tokens_over_dispatch.set_here";
    type Args = String;
    type Output = Token<String>;
    type Error = Never;
    async fn run(value: String) -> Result<Token<String>, Never> {
        Ok(V.set(value).expect("a routine body runs in a context"))
    }
}

async fn pool() -> Pool {
    Pool::builder()
        .workers(4)
        .routine::<ResetHere>()
        .routine::<SetHere>()
        .build()
        .await
        .expect("pool builds")
}

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_token_reset_on_the_worker_is_spent_at_the_caller_and_restores_there() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let _before = V.set("before".into()).unwrap();
        let token = V.set("during".into()).unwrap();
        let id = token.id();
        let kept = token.duplicate();

        // S35: the call's manifest lists the id unspent, so the worker anchors it.
        let (seen, outcome, handed_back) = pool.call::<ResetHere>(token).await.unwrap();
        assert_eq!(seen, id, "the token arrived with its id");
        assert_eq!(
            outcome, OK,
            "the worker continues the caller: the reset is allowed"
        );
        assert!(handed_back.is_none());

        // S39: the worker's restore merged back before `call` returned.
        assert_eq!(V.get().as_deref(), Some("before"));
        // S29, S70: every handle of a token is spent together, wherever it was spent.
        let refused = V.reset(kept).await.unwrap_err();
        assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
        // S32: the refused reset changed nothing.
        assert_eq!(V.get().as_deref(), Some("before"));
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_token_travels_losslessly_and_fails_only_on_reset() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let _ = V.set("caller".into()).unwrap();
        // A sibling of the caller's context (S71). Keep it to prove the failed resets changed nothing.
        let sibling = skein::Context::current().unwrap().fork();
        let token = sibling
            .scope(async { V.set("sibling".into()).unwrap() })
            .await;
        let id = token.id();
        let kept = token.duplicate();

        let (seen, outcome, handed_back) = pool.call::<ResetHere>(token).await.unwrap();
        assert_eq!(seen, id, "the token reached the worker with the same id");
        assert_eq!(
            outcome, DIFFERENT_CONTEXT,
            "S71: an orphan on the worker: its reset is refused as another context's"
        );
        let back = handed_back.expect("the refused token comes back in the output");
        assert_eq!(back.id(), id, "and it comes back with the same id");
        assert_eq!(back.key(), V.key());
        assert_eq!(back.old_value().unwrap().as_deref(), Some("caller"));

        // At the caller too, both the returned handle and the kept one are orphans.
        let refused = V.reset(back).await.unwrap_err();
        assert_eq!(refused.kind(), ResetErrorKind::DifferentContext);
        let refused = V.reset(kept.duplicate()).await.unwrap_err();
        assert_eq!(refused.kind(), ResetErrorKind::DifferentContext);
        // S32: nothing changed at the caller...
        assert_eq!(V.get().as_deref(), Some("caller"));
        // ...and nothing was spent: the sibling that minted it can still reset it.
        sibling
            .scope(async {
                V.reset(kept)
                    .await
                    .expect("still unspent in its own context");
                assert_eq!(V.get().as_deref(), Some("caller"));
            })
            .await;
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_minted_token_resets_at_the_caller_and_restores_the_pre_call_value() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let _ = V.set("caller".into()).unwrap();
        let token = pool.call::<SetHere>("worker".into()).await.unwrap();
        assert_eq!(V.get().as_deref(), Some("worker"), "S39: merged back");
        assert_eq!(token.old_value().unwrap().as_deref(), Some("caller"));

        // S35: the reply that carried the token lists it unspent, so it anchors here.
        V.reset(token).await.expect("anchored at the caller");
        // S72: a worker-minted token whose old value was the caller's restores it.
        assert_eq!(V.get().as_deref(), Some("caller"));
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_minted_token_over_no_value_resets_to_no_value_at_the_caller() {
    let pool = pool().await;
    bounded(skein::scope(async {
        let token = pool.call::<SetHere>("worker".into()).await.unwrap();
        assert_eq!(V.get().as_deref(), Some("worker"));
        V.reset(token).await.expect("anchored at the caller");
        // S72: "a reset to no value" makes a default-less var read `None` again.
        assert_eq!(V.get(), None);
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_raced_by_64_concurrent_dispatches_is_spent_exactly_once() {
    let pool = pool().await;
    for round in 0..20 {
        bounded(skein::scope(async {
            let token = V.set(format!("round {round}")).unwrap();
            let id = token.id();
            // All 64 calls share the caller's context, where a check against each copy
            // of it would let several resets through; S73 requires one spend globally,
            // decided at the home ledger.
            let calls = (0..64).map(|_| pool.call::<ResetHere>(token.duplicate()));
            let outcomes: Vec<u8> = join_all(calls)
                .await
                .into_iter()
                .map(|reply| {
                    let (seen, outcome, _) = reply.expect("every dispatch answers");
                    assert_eq!(seen, id);
                    outcome
                })
                .collect();
            let won = outcomes.iter().filter(|&&o| o == OK).count();
            let lost = outcomes.iter().filter(|&&o| o == ALREADY_USED).count();
            assert_eq!(
                (won, lost),
                (1, 63),
                "round {round}: exactly one reset wins, every other one is AlreadyUsed; got {outcomes:?}"
            );
            // The caller's own handle is spent too.
            let refused = V.reset(token).await.unwrap_err();
            assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
        }))
        .await;
    }
}
