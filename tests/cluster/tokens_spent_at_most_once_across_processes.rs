//! Tokens across processes: one spend per token however many processes race for it
//! (S81), a spend that outlives the worker that made it (S82), and a spend refused
//! while its home ledger is out of reach (S83: safety over availability).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use skein::actors::home;
use skein::{DispatchError, ResetErrorKind, SupervisionEvent, Token};
use tokio::time::Instant;

use crate::support::{self, children, dispatch, process_pool, send, wait_event, within, BOUND};
use crate::{reset_code, Mint, ResetHere, ResetThenAbort, RESET_OK, V};

const ROUNDS: u32 = 1_000;
/// Rounds in flight at once.
const LANES: usize = 8;

/// What one round saw.
struct Round {
    /// The outcome codes of the two children's resets, in the order B, C.
    children: [u8; 2],
    /// How the parent's own reset of its kept handle ended.
    kept: Result<(), ResetErrorKind>,
}

/// S81: the parent (A) mints a token and sends a handle of it to each of its two
/// worker processes (B, C) at once; both reset it, and the home ledger at A lets
/// exactly one of them win. A's kept handle is spent with it.
pub async fn one_spend_per_token_across_processes() {
    let pool = process_pool(2).await;
    let processes = children(&pool).await;
    assert_eq!(processes.len(), 2, "two worker processes: {processes:?}");
    let (b, c) = (processes[0].worker.clone(), processes[1].worker.clone());

    let start = Instant::now();
    let rounds: Vec<Round> = futures::stream::iter(0..ROUNDS)
        .map(|i| {
            let (b, c) = (b.clone(), c.clone());
            skein::scope(async move {
                let token = V.set(i).expect("set inside a scope");
                let kept = token.duplicate();
                let to_b = skein::request::<ResetHere>(token.duplicate()).expect("request to B");
                let to_c = skein::request::<ResetHere>(token).expect("request to C");
                // Both dispatches leave before either is answered.
                let (from_b, from_c) = futures::join!(send(&b, to_b), send(&c, to_c));
                let children = [
                    skein::decode_reply::<ResetHere>(from_b).expect("B answers"),
                    skein::decode_reply::<ResetHere>(from_c).expect("C answers"),
                ];
                let kept = V.reset(kept).await.map_err(|refused| refused.kind());
                Round { children, kept }
            })
        })
        .buffer_unordered(LANES)
        .collect()
        .await;
    let elapsed = start.elapsed();

    let already_used = reset_code(ResetErrorKind::AlreadyUsed);
    let wins = |r: &Round| r.children.iter().filter(|&&o| o == RESET_OK).count();
    let double_spends = rounds.iter().filter(|r| wins(r) > 1).count();
    let no_winner = rounds.iter().filter(|r| wins(r) == 0).count();
    let odd_losers: Vec<[u8; 2]> = rounds
        .iter()
        .filter(|r| wins(r) == 1 && !r.children.contains(&already_used))
        .map(|r| r.children)
        .collect();
    let kept_spendable = rounds
        .iter()
        .filter(|r| r.kept != Err(ResetErrorKind::AlreadyUsed))
        .count();
    let b_won = rounds.iter().filter(|r| r.children[0] == RESET_OK).count();
    eprintln!(
        "one_spend_per_token_across_processes: {ROUNDS} rounds in {elapsed:.2?}; \
         B won {b_won}, C won {}",
        ROUNDS as usize - b_won - no_winner - double_spends
    );
    assert_eq!(rounds.len(), ROUNDS as usize, "every round ended");
    assert_eq!(double_spends, 0, "tokens spent twice, once on each process");
    assert_eq!(
        no_winner, 0,
        "rounds where neither process could spend the token"
    );
    assert!(
        odd_losers.is_empty(),
        "the loser of a race must be told AlreadyUsed; outcome codes: {odd_losers:?}"
    );
    assert_eq!(
        kept_spendable, 0,
        "the parent's kept handle must be AlreadyUsed after a child spent the token"
    );
}

/// S82: a worker resets the caller's token and its process dies before it can reply.
/// The call fails with `NodeDown` at once (not a timeout), and the spend stands: it
/// was decided at the token's home, the parent, when it happened.
pub async fn a_spend_survives_its_workers_death() {
    let pool = process_pool(2).await;
    let mut events = pool.events();
    skein::scope(async {
        let token = V.set(1).expect("set inside a scope");
        let kept = token.duplicate();
        let start = Instant::now();
        let outcome =
            tokio::time::timeout(Duration::from_secs(2), pool.call::<ResetThenAbort>(token))
                .await
                .unwrap_or_else(|_| {
                    panic!("no answer within 2 s: the worker process's death went unnoticed")
                });
        match outcome {
            Err(DispatchError::NodeDown) => {}
            Ok(code) => panic!("the worker replied (reset outcome code {code}) instead of dying"),
            Err(other) => panic!("expected NodeDown, got {other:?}"),
        }
        eprintln!(
            "a_spend_survives_its_workers_death: NodeDown after {:.2?}",
            start.elapsed()
        );

        let refused = V
            .reset(kept)
            .await
            .expect_err("the dead worker's spend was forgotten: the kept handle reset");
        assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
        // A crashed dispatch merges nothing (S60); a refused reset changes nothing (S32).
        assert_eq!(V.get(), Some(1));
    })
    .await;
    // The call failed because the process died, not for any other reason.
    wait_event(
        &mut events,
        Instant::now() + BOUND,
        "the aborted worker process exits",
        |e| matches!(e, SupervisionEvent::ProcessExited { .. }),
    )
    .await;
}

/// S83: a token whose home ledger is out of reach cannot be spent, never twice
/// and not even once: `LedgerUnavailable`, every time, even after the home's process
/// was replaced by a new one (which has a ledger of its own).
pub async fn an_unreachable_home_refuses_the_spend() {
    let pool = process_pool(2).await;
    let processes = children(&pool).await;
    let home_process = processes[0].clone();
    let other = processes[1].clone();
    let mut events = pool.events();

    skein::scope(async {
        let control: Token<u32> = dispatch::<Mint>(&home_process.worker, 1)
            .await
            .expect("mint on the child");
        let token: Token<u32> = dispatch::<Mint>(&home_process.worker, 2)
            .await
            .expect("mint on the child");
        assert_ne!(
            token.id().home(),
            home().id(),
            "the token's home is the child that minted it, not the parent"
        );
        assert_eq!(
            V.get(),
            Some(2),
            "the child's set merged back"
        );
        // While the home is up, a token it minted is spent from here.
        within(BOUND, "resetting a token homed on a live child", V.reset(control))
            .await
            .expect("a token homed on a live child resets at the caller");
        let value = V.get();

        support::signal("-KILL", home_process.pid);
        let deadline = Instant::now() + BOUND;
        wait_event(&mut events, deadline, "the killed home exits", |e| {
            matches!(e, SupervisionEvent::ProcessExited { process, .. } if *process == home_process.index)
        })
        .await;

        let start = Instant::now();
        let refused = within(BOUND, "a reset whose home is dead", V.reset(token))
            .await
            .expect_err("a token was spent while its home ledger was dead");
        assert_eq!(refused.kind(), ResetErrorKind::LedgerUnavailable);
        eprintln!(
            "an_unreachable_home_refuses_the_spend: LedgerUnavailable after {:.2?}",
            start.elapsed()
        );
        assert_eq!(V.get(), value, "a refused reset changes nothing");

        // The pool replaces the process; the new one has a ledger of another id.
        let started = wait_event(&mut events, deadline, "the home's replacement starts", |e| {
            matches!(e, SupervisionEvent::ProcessStarted { process, .. } if *process == home_process.index)
        })
        .await;
        let SupervisionEvent::ProcessStarted { pid: new_pid, .. } = started else {
            unreachable!()
        };
        let pids = BTreeSet::from([other.pid, new_pid]);
        support::wait_for_children(&pool, &pids, BOUND).await;

        let mut token = refused.into_token();
        for attempt in 1..=3 {
            match within(BOUND, "a retried reset", V.reset(token)).await {
                Ok(()) => panic!("attempt {attempt}: a token was spent without its home ledger"),
                Err(refused) => {
                    assert_eq!(
                        refused.kind(),
                        ResetErrorKind::LedgerUnavailable,
                        "attempt {attempt}"
                    );
                    token = refused.into_token();
                }
            }
        }
        assert_eq!(V.get(), value, "refused resets change nothing");
    })
    .await;
}
