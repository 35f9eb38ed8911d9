//! Each reset error, the order of the checks, and that a refused reset changes
//! nothing (S4, S5, S29–S33).

use skein::{ContextVar, ResetErrorKind, SetError};

static A: ContextVar<u32> = ContextVar::new("reset_errors", "a");
static B: ContextVar<u32> = ContextVar::new("reset_errors", "b");
static D: ContextVar<u32> = ContextVar::with_default("reset_errors", "d", || 7);

#[tokio::test]
async fn a_spent_token_is_already_used_for_every_handle() {
    skein::scope(async {
        let token = A.set(1).unwrap();
        let kept = token.duplicate();
        assert_eq!(kept, token, "handles of one token are equal by id");
        A.reset(token).await.unwrap();
        let err = A.reset(kept).await.unwrap_err();
        assert_eq!(err.kind(), ResetErrorKind::AlreadyUsed);
        assert_eq!(A.get(), None);
    })
    .await;
}

#[tokio::test]
async fn a_token_of_another_var_is_wrong_var_and_changes_nothing() {
    skein::scope(async {
        let a = A.set(1).unwrap();
        let _b = B.set(2).unwrap();
        let err = B.reset(a).await.unwrap_err();
        assert_eq!(err.kind(), ResetErrorKind::WrongVar);
        assert_eq!(
            (A.get(), B.get()),
            (Some(1), Some(2)),
            "S32: nothing changed"
        );
        // The token comes back intact and still works where it belongs.
        A.reset(err.into_token()).await.unwrap();
        assert_eq!(A.get(), None);
    })
    .await;
}

#[tokio::test]
async fn a_token_from_another_context_is_different_context() {
    skein::scope(async {
        let token = A.set(1).unwrap();
        let token = skein::fork(async move {
            let err = A.reset(token).await.unwrap_err();
            assert_eq!(err.kind(), ResetErrorKind::DifferentContext);
            assert_eq!(A.get(), Some(1), "the fork copied the value, unchanged");
            err.into_token()
        })
        .await;
        A.reset(token)
            .await
            .expect("still resettable where it was minted");
    })
    .await;
}

#[tokio::test]
async fn used_is_checked_before_wrong_var_and_wrong_var_before_context() {
    skein::scope(async {
        // S31: used and of the wrong var -> AlreadyUsed.
        let token = A.set(1).unwrap();
        let kept = token.duplicate();
        A.reset(token).await.unwrap();
        assert_eq!(
            B.reset(kept).await.unwrap_err().kind(),
            ResetErrorKind::AlreadyUsed
        );

        // Wrong var presented in a foreign context -> WrongVar.
        let token = A.set(2).unwrap();
        let kind = skein::fork(async move { B.reset(token).await.unwrap_err().kind() }).await;
        assert_eq!(kind, ResetErrorKind::WrongVar);
    })
    .await;
}

#[tokio::test]
async fn outside_any_scope_set_and_reset_fail_and_get_sees_the_default() {
    assert!(matches!(A.set(1), Err(SetError::NoScope(_))));
    assert_eq!(D.get(), Some(7));
    assert_eq!(A.get(), None);
    let token = skein::scope(async { A.set(1).unwrap() }).await;
    assert_eq!(
        A.reset(token).await.unwrap_err().kind(),
        ResetErrorKind::NoScope
    );
}

#[tokio::test]
async fn each_token_restores_its_own_old_value_in_any_order() {
    // S33, both orders.
    skein::scope(async {
        let t1 = D.set(1).unwrap();
        let t2 = D.set(2).unwrap();
        D.reset(t1).await.unwrap();
        assert_eq!(
            D.get(),
            Some(7),
            "t1 restores 'no value': the default shows"
        );
        D.reset(t2).await.unwrap();
        assert_eq!(D.get(), Some(1), "t2 restores the value it replaced");
    })
    .await;
    skein::scope(async {
        let t1 = D.set(1).unwrap();
        let t2 = D.set(2).unwrap();
        D.reset(t2).await.unwrap();
        assert_eq!(D.get(), Some(1));
        D.reset(t1).await.unwrap();
        assert_eq!(D.get(), Some(7));
    })
    .await;
}

#[tokio::test]
async fn old_value_is_what_the_set_replaced() {
    skein::scope(async {
        let t1 = A.set(5).unwrap();
        let t2 = A.set(6).unwrap();
        assert_eq!(t1.old_value().unwrap(), None);
        assert_eq!(t2.old_value().unwrap(), Some(5));
    })
    .await;
}

#[test]
fn concurrent_resets_of_one_token_have_exactly_one_winner() {
    // Many handles of one token, reset from many forked tasks at once: the ledger
    // decides once. Forks are other contexts, so resets there are refused; the race
    // that matters is among handles in the minting context, run on several threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(skein::scope(async {
        let token = A.set(1).unwrap();
        let handles: Vec<_> = (0..64).map(|_| token.duplicate()).collect();
        let cx = skein::Context::current().unwrap();
        let tasks: Vec<_> = handles
            .into_iter()
            .map(|handle| {
                tokio::spawn(cx.scope(async move { A.reset(handle).await.map_err(|e| e.kind()) }))
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => wins += 1,
                Err(kind) => assert_eq!(kind, ResetErrorKind::AlreadyUsed),
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(
            A.reset(token).await.unwrap_err().kind(),
            ResetErrorKind::AlreadyUsed
        );
    }));
}
