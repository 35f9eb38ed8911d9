//! Forks start a new chain: copied values, no pending resets, no token ids
//! (S7, S8).

use skein::{Context, ContextVar};

static V: ContextVar<u32> = ContextVar::new("fork", "v");
static W: ContextVar<u32> = ContextVar::with_default("fork", "w", || 0);

#[tokio::test]
async fn a_fork_has_a_fresh_chain_and_a_copy_of_the_values() {
    skein::scope(async {
        let _ = V.set(1).unwrap();
        let parent = Context::current().unwrap().chain().unwrap();
        let (child_chain, seen) = skein::fork(async {
            let seen = V.get();
            let _ = V.set(2).unwrap();
            (Context::current().unwrap().chain().unwrap(), seen)
        })
        .await;
        assert_ne!(child_chain, parent);
        assert_eq!(seen, Some(1), "the fork copied the value");
        assert_eq!(
            V.get(),
            Some(1),
            "the fork's change never reaches the parent"
        );
    })
    .await;
}

#[tokio::test]
async fn sibling_forks_get_distinct_chains_and_do_not_see_each_other() {
    skein::scope(async {
        let _ = V.set(1).unwrap();
        let a = skein::spawn(async {
            let _ = V.set(10).unwrap();
            (Context::current().unwrap().chain(), V.get())
        });
        let b = skein::spawn(async {
            let _ = V.set(20).unwrap();
            (Context::current().unwrap().chain(), V.get())
        });
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_ne!(a.0, b.0);
        assert_eq!((a.1, b.1), (Some(10), Some(20)));
        assert_eq!(V.get(), Some(1));
    })
    .await;
}

#[tokio::test]
async fn a_fork_carries_no_pending_resets_and_no_token_ids() {
    skein::scope(async {
        let t = W.set(5).unwrap();
        W.reset(t).await.unwrap(); // W is now reset-pending ("no value")
        let _live = V.set(1).unwrap();
        let fork = Context::current().unwrap().fork();
        let snapshot = fork.snapshot();
        assert!(snapshot.entry(W.key()).is_none(), "no pending reset");
        let v = snapshot.entry(V.key()).expect("the value is copied");
        assert!(v.unspent.is_empty() && v.spent.is_empty(), "no token ids");
    })
    .await;
}

#[tokio::test]
async fn an_unarmed_context_forks_unarmed() {
    skein::scope(async {
        let chain = skein::fork(async { Context::current().unwrap().chain() }).await;
        assert_eq!(chain, None);
    })
    .await;
}

#[tokio::test]
async fn a_bare_tokio_spawn_carries_no_context() {
    skein::scope(async {
        let _ = V.set(1).unwrap();
        let seen =
            tokio::spawn(async { (Context::current().is_none(), V.get(), V.set(2).is_err()) })
                .await
                .unwrap();
        assert_eq!(seen, (true, None, true));
    })
    .await;
}
