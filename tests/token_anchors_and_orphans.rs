//! Where a token that travelled can be reset: anchored where the carrying frame lists
//! it as unspent, an orphan everywhere else (S34–S37).

mod support;

use skein::{payload, Context, ContextVar, ResetErrorKind, Token};
use support::dispatch;

static V: ContextVar<String> = ContextVar::new("anchors", "v");

// Result<(), ResetErrorKind> is not serializable; carry a code over the dispatch.
mod codes {
    use skein::ResetErrorKind;
    pub fn of(kind: ResetErrorKind) -> u8 {
        match kind {
            ResetErrorKind::AlreadyUsed => 1,
            ResetErrorKind::WrongVar => 2,
            _ => 3,
        }
    }
}

async fn reset_on_worker(token: Token<String>) -> Result<(), ResetErrorKind> {
    let code: Result<(), u8> = dispatch(token, |token| async move {
        V.reset(token).await.map_err(|e| codes::of(e.kind()))
    })
    .await;
    code.map_err(|code| match code {
        1 => ResetErrorKind::AlreadyUsed,
        2 => ResetErrorKind::WrongVar,
        _ => ResetErrorKind::DifferentContext,
    })
}

#[tokio::test]
async fn a_caller_token_reset_on_the_worker_restores_and_is_spent_at_home() {
    skein::scope(async {
        let _ = V.set("before".into()).unwrap();
        let token = V.set("during".into()).unwrap();
        let kept = token.duplicate();
        reset_on_worker(token)
            .await
            .expect("anchored on the worker");
        assert_eq!(
            V.get().as_deref(),
            Some("before"),
            "the worker's restore merged back"
        );
        assert_eq!(
            V.reset(kept).await.unwrap_err().kind(),
            ResetErrorKind::AlreadyUsed
        );
    })
    .await;
}

#[tokio::test]
async fn a_worker_minted_token_returned_to_the_caller_resets_there() {
    skein::scope(async {
        let _ = V.set("caller".into()).unwrap();
        let token: Token<String> =
            dispatch((), |()| async { V.set("worker".into()).unwrap() }).await;
        assert_eq!(V.get().as_deref(), Some("worker"));
        V.reset(token)
            .await
            .expect("anchored by the reply that carried it");
        assert_eq!(
            V.get().as_deref(),
            Some("caller"),
            "S36: restores the pre-call value"
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_minted_in_a_fork_is_an_orphan_in_the_parents_dispatch() {
    skein::scope(async {
        let token = skein::fork(async { V.set("child".into()).unwrap() }).await;
        assert_eq!(
            reset_on_worker(token).await,
            Err(ResetErrorKind::DifferentContext)
        );
    })
    .await;
}

#[tokio::test]
async fn a_parent_token_dispatched_from_a_fork_is_an_orphan() {
    skein::scope(async {
        let token = V.set("parent".into()).unwrap();
        let kept = token.duplicate();
        let result = skein::fork(reset_on_worker(token)).await;
        assert_eq!(
            result,
            Err(ResetErrorKind::DifferentContext),
            "S37: the fork dropped the ids"
        );
        V.reset(kept).await.expect("the parent still owns it");
    })
    .await;
}

#[tokio::test]
async fn an_orphan_stays_an_orphan_after_round_trips() {
    skein::scope(async {
        let token = skein::fork(async { V.set("child".into()).unwrap() }).await;
        // Out and back twice: never anchored, because no frame ever lists it.
        let token: Token<String> = dispatch(token, |t| async move { t }).await;
        let token: Token<String> = dispatch(token, |t| async move { t }).await;
        assert_eq!(
            V.reset(token).await.unwrap_err().kind(),
            ResetErrorKind::DifferentContext
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_decoded_without_an_install_is_an_orphan() {
    skein::scope(async {
        let token = V.set("x".into()).unwrap();
        let bytes = payload::encode(&token).unwrap();
        let copy: Token<String> = payload::decode(&bytes).unwrap().into_orphans();
        assert_eq!(copy, token, "equal by id");
        assert_eq!(
            V.reset(copy).await.unwrap_err().kind(),
            ResetErrorKind::DifferentContext
        );
        V.reset(token).await.expect("the original is untouched");
    })
    .await;
}

#[tokio::test]
async fn a_token_serializes_only_inside_a_dispatch_encoding() {
    skein::scope(async {
        let token = V.set("x".into()).unwrap();
        let err = rmp_serde::to_vec(&token).unwrap_err();
        assert!(err.to_string().contains("only inside a dispatch"), "{err}");
        let bytes = payload::encode(&token).unwrap();
        let err = rmp_serde::from_slice::<Token<String>>(&bytes).unwrap_err();
        assert!(err.to_string().contains("only inside a dispatch"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_token_passed_through_two_workers_anchors_at_the_second() {
    skein::scope(async {
        let token = V.set("outer".into()).unwrap();
        let kept = token.duplicate();
        let code: Result<(), u8> = dispatch(token, |token| async move {
            // On worker 1: forward the token to worker 2, which resets it.
            dispatch(token, |token| async move {
                V.reset(token).await.map_err(|e| codes::of(e.kind()))
            })
            .await
        })
        .await;
        assert_eq!(code, Ok(()));
        assert_eq!(V.get(), None, "restored to no value, through both hops");
        assert_eq!(
            V.reset(kept).await.unwrap_err().kind(),
            ResetErrorKind::AlreadyUsed
        );
    })
    .await;
}

#[tokio::test]
async fn a_context_knows_its_chain_and_a_worker_continues_it() {
    let caller = Context::new();
    let _token = caller.scope(async { V.set("x".into()).unwrap() }).await;
    let chain = caller.chain().expect("armed by set");
    let seen = caller
        .scope(dispatch((), |()| async {
            Context::current().unwrap().chain()
        }))
        .await;
    assert_eq!(
        seen,
        Some(chain),
        "S21: the worker runs under the caller's chain id"
    );
}
