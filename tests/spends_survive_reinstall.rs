//! A spend is never forgotten: not by a later install (S22), and frames carry spends
//! as deltas, so they do not grow with the calls made (S26, S27).

mod support;

use skein::actors::Manifest;
use skein::{Context, ContextVar, InstallMode, ResetErrorKind, Token};
use support::{dispatch, over_the_wire};

static V: ContextVar<u64> = ContextVar::new("g4", "v");

#[tokio::test]
async fn a_spend_recorded_on_the_worker_survives_a_later_install() {
    // The case S22 rules out: on worker W, t = set; a nested dispatch resets t on another worker;
    // then the caller's next frame (a stream pull, which knows nothing of t) is
    // installed again; then W retries the reset of t. It must fail.
    skein::scope(async {
        let _ = V.set(1).unwrap();
        let caller = Context::current().unwrap();
        let request = over_the_wire(&caller.take_snapshot());
        let worker = Context::continuation();
        worker.merge(&request, InstallMode::Lenient).unwrap();
        let retry = worker
            .scope(async {
                let t = V.set(2).unwrap();
                let kept = t.duplicate();
                let ok: bool =
                    dispatch(t, |t: Token<u64>| async move { V.reset(t).await.is_ok() }).await;
                assert!(ok, "the nested worker spent t");
                // The next pull's frame from the caller: it never saw t.
                let next_pull = over_the_wire(&caller.take_snapshot());
                assert!(next_pull
                    .entries()
                    .iter()
                    .all(|e| !e.spent.contains(&kept.id())));
                Context::current()
                    .unwrap()
                    .merge(&next_pull, InstallMode::Lenient)
                    .unwrap();
                V.reset(kept).await.map_err(|e| e.kind())
            })
            .await;
        assert_eq!(retry, Err(ResetErrorKind::AlreadyUsed));
    })
    .await;
}

#[tokio::test]
async fn the_reply_frame_carries_the_spend_as_a_delta() {
    skein::scope(async {
        let token = V.set(1).unwrap();
        let id = token.id();
        let caller = Context::current().unwrap();
        let request = over_the_wire(&caller.take_snapshot());
        assert!(request.entry(V.key()).unwrap().unspent.contains(&id));

        let worker = Context::continuation();
        let bytes = skein::payload::encode(&token).unwrap();
        drop(token);
        let incoming = skein::payload::decode::<Token<u64>>(&bytes).unwrap();
        let (token, _) = worker
            .receive(&request, incoming, InstallMode::Lenient)
            .unwrap();
        worker.scope(async { V.reset(token).await.unwrap() }).await;

        let reply: Manifest = over_the_wire(&worker.take_snapshot());
        let entry = reply.entry(V.key()).unwrap();
        assert_eq!(entry.spent, vec![id], "the reply lists the spend");
        assert!(!entry.unspent.contains(&id));
        assert!(
            worker
                .take_snapshot()
                .entry(V.key())
                .unwrap()
                .spent
                .is_empty(),
            "reported once"
        );
    })
    .await;
}

#[tokio::test]
async fn frames_do_not_grow_with_the_calls_made() {
    // wool's seq_merge: every call sets a var on the worker and drops the token. In
    // wool the token ids pile up on the caller's chain; here the frame stays the same
    // size, because a dropped local token leaves the set.
    skein::scope(async {
        let caller = Context::current().unwrap();
        let mut sizes = Vec::new();
        // Values 1,000..2,000 all encode in three bytes, so only token ids could grow it.
        for i in 1_000..2_000u64 {
            dispatch(i, |i| async move {
                let _ = V.set(i).unwrap();
            })
            .await;
            if i == 1_009 || i == 1_999 {
                sizes.push(caller.snapshot().encode().unwrap().len());
            }
        }
        assert_eq!(V.get(), Some(1_999));
        assert_eq!(
            sizes[0], sizes[1],
            "frame size after 10 and after 1,000 calls"
        );
    })
    .await;
}
