//! Faults on purpose (S69): 10,000 calls on a 4-worker pool while routines
//! panic and workers are killed or crash at random moments. Every call ends with a
//! result or one of the typed errors a fault explains, none hangs, the pool heals,
//! and no token is spent twice.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use skein::actors::{Dispatch, DispatchKind, TokenId, WorkerMsg};
use skein::{
    ContextVar, DispatchError, Never, Pool, ResetErrorKind, RestartPolicy, Routine,
    SupervisionEvent, Token,
};
use support::pool_helpers::{events_until, within, BOUND};
use tokio::sync::watch;

const WORKERS: usize = 4;
const CALLS: usize = 10_000;
const WAVE: usize = 200;
const KILLS: usize = 50;
const TOKENS: usize = 4;
/// One call in this many carries a token.
const TOKEN_EVERY: usize = 25;
const PANIC_MARK: &str = "chaos panic";

/// A cheap deterministic PRNG (xorshift64).
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

static CHAOS: ContextVar<u32> = ContextVar::new("chaos", "v");

#[derive(Serialize, Deserialize)]
struct Job {
    seq: usize,
    yields: u8,
    panic: bool,
    token: Option<(usize, Token<u32>)>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Spend {
    NoToken,
    Reset(usize),
    Refused(usize, String),
}

/// Resets the token it carries (if any), yields a few times, then returns or panics.
struct Flaky;
impl Routine for Flaky {
    const NAME: &'static str = "chaos.flaky";
    type Args = Job;
    type Output = (usize, Spend);
    type Error = Never;
    async fn run(job: Job) -> Result<(usize, Spend), Never> {
        // The spend comes first, so a crash can land after it (S74).
        let spend = match job.token {
            None => Spend::NoToken,
            Some((k, token)) => match CHAOS.reset(token).await {
                Ok(()) => Spend::Reset(k),
                Err(e) => Spend::Refused(k, format!("{:?}", e.kind())),
            },
        };
        for _ in 0..job.yields {
            tokio::task::yield_now().await;
        }
        if job.panic {
            panic!("{PANIC_MARK} {}", job.seq);
        }
        Ok((job.seq, spend))
    }
}

/// Keeps the expected routine panics out of the test output; others print as usual.
fn quiet_expected_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.starts_with(PANIC_MARK) {
            previous(info);
        }
    }));
}

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    panicked: usize,
    crashed: usize,
    no_workers: usize,
    /// (seq, outcome) of everything else.
    unexpected: Vec<(usize, String)>,
    /// Successful resets per token index.
    resets: [usize; TOKENS],
    /// Refusal kinds seen on workers.
    refusals: BTreeMap<String, usize>,
}

/// Kills a live worker each time the count of finished calls crosses one of `KILLS`
/// random thresholds, alternating `kill()` and an injected crash, and waits for each
/// fault's `WorkerFailed` before the next. Returns how many faults it delivered.
async fn inject_faults(pool: Pool, mut finished: watch::Receiver<usize>, seed: u64) -> usize {
    let mut events = pool.events();
    let mut rng = XorShift(seed);
    let mut thresholds: Vec<usize> = (0..KILLS).map(|_| rng.below(CALLS - WAVE)).collect();
    thresholds.sort_unstable();
    let mut delivered = 0;
    for (i, threshold) in thresholds.into_iter().enumerate() {
        if finished.wait_for(|n| *n >= threshold).await.is_err() {
            break;
        }
        let workers = pool.workers();
        let start = rng.below(WORKERS);
        let Some((slot, victim)) = (0..WORKERS)
            .map(|j| (start + j) % WORKERS)
            .find_map(|slot| workers[slot].clone().map(|w| (slot, w)))
        else {
            continue; // every slot is restarting right now
        };
        if i % 2 == 0 {
            victim.kill();
        } else {
            skein::actors::crash(&victim, "chaos")
                .await
                .expect("a live worker takes the crash");
        }
        delivered += 1;
        events_until(
            &mut events,
            "the fault's WorkerFailed",
            |e| matches!(e, SupervisionEvent::WorkerFailed { worker, .. } if *worker == slot),
        )
        .await;
    }
    delivered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_ends_typed_under_panics_and_kills() {
    quiet_expected_panics();
    let policy = RestartPolicy::new(1_000, Duration::from_secs(60))
        .with_backoff(Duration::ZERO, Duration::ZERO);
    let pool = Pool::builder()
        .workers(WORKERS)
        .restart_policy(policy)
        .routine::<Flaky>()
        .build()
        .await
        .expect("pool builds");
    let mut events = pool.events();

    let (finished_tx, finished_rx) = watch::channel(0usize);
    let injector = tokio::spawn(inject_faults(
        pool.clone(),
        finished_rx,
        0x5eed_cafe_f00d_0001,
    ));
    let finished = Arc::new(AtomicUsize::new(0));

    let (tally, token_ids, kept_retries) = skein::scope(async {
        // A few caller tokens; calls carry duplicates of them, and the caller keeps one.
        let kept: Vec<Token<u32>> = (0..TOKENS)
            .map(|k| CHAOS.set(k as u32).expect("set in scope"))
            .collect();
        let token_ids: Vec<TokenId> = kept.iter().map(Token::id).collect();
        let mut rng = XorShift(0x0dd_ba11_2024);
        let mut tally = Tally::default();

        for wave in 0..CALLS / WAVE {
            let calls = (0..WAVE).map(|i| {
                let seq = wave * WAVE + i;
                let token = (seq % TOKEN_EVERY == 3).then(|| {
                    let k = rng.below(TOKENS);
                    (k, kept[k].duplicate())
                });
                // ~2% panic; a call that carries a token does not, so its answer is
                // lost only to a crash.
                let panic = token.is_none() && rng.below(50) == 0;
                let job = Job {
                    seq,
                    yields: rng.below(4) as u8,
                    panic,
                    token,
                };
                let (pool, finished, finished_tx) = (&pool, &finished, &finished_tx);
                async move {
                    let result = tokio::time::timeout(BOUND, pool.call::<Flaky>(job)).await;
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    finished_tx.send_replace(n);
                    (seq, panic, result)
                }
            });
            for (seq, planned_panic, result) in join_all(calls).await {
                let Ok(result) = result else {
                    panic!("call {seq} hung: no answer within {BOUND:?}");
                };
                match result {
                    Ok((echo, spend)) => {
                        assert_eq!(echo, seq, "call {seq} got another call's answer");
                        assert!(!planned_panic, "call {seq} should have panicked");
                        tally.ok += 1;
                        match spend {
                            Spend::NoToken => {}
                            Spend::Reset(k) => tally.resets[k] += 1,
                            Spend::Refused(_, kind) => {
                                *tally.refusals.entry(kind).or_default() += 1
                            }
                        }
                    }
                    Err(DispatchError::Panicked { message }) => {
                        assert!(planned_panic, "call {seq} panicked unplanned: {message}");
                        assert!(
                            message.contains(&format!("{PANIC_MARK} {seq}")),
                            "call {seq}: {message:?}"
                        );
                        tally.panicked += 1;
                    }
                    Err(DispatchError::WorkerCrashed) => tally.crashed += 1,
                    Err(DispatchError::NoWorkers) => tally.no_workers += 1,
                    Err(other) => tally.unexpected.push((seq, format!("{other:?}"))),
                }
            }
        }

        // The caller's kept handles: every token was spent on some worker, so
        // each is refused here (one spend, globally).
        let mut kept_retries = Vec::new();
        for token in kept {
            kept_retries.push(CHAOS.reset(token).await.map_err(|e| e.kind()));
        }
        (tally, token_ids, kept_retries)
    })
    .await;
    drop(finished_tx);
    let faults = within(BOUND, "the fault injector", injector)
        .await
        .expect("injector task");

    // Every call ended, and only in ways the faults explain.
    assert!(
        tally.unexpected.is_empty(),
        "calls ended in outcomes no fault explains: {:?}",
        tally.unexpected
    );
    assert_eq!(
        tally.ok + tally.panicked + tally.crashed + tally.no_workers,
        CALLS,
        "{tally:?}"
    );
    assert!(tally.ok > 0 && tally.panicked > 0, "{tally:?}");
    assert!(faults >= KILLS / 2, "only {faults} faults were delivered");
    assert!(
        tally.crashed > 0,
        "{faults} faults landed but no call saw WorkerCrashed: {tally:?}"
    );

    // Tokens: at most one successful reset per token over all calls; every other
    // attempt was refused as already used; the caller's own handle is refused too.
    for (k, id) in token_ids.iter().enumerate() {
        assert!(
            tally.resets[k] <= 1,
            "token {k} ({id:?}) was reset {} times",
            tally.resets[k]
        );
    }
    assert!(
        tally.refusals.keys().all(|kind| kind == "AlreadyUsed"),
        "refusals other than AlreadyUsed: {:?}",
        tally.refusals
    );
    assert_eq!(
        kept_retries,
        vec![Err(ResetErrorKind::AlreadyUsed); TOKENS],
        "the caller's kept handles (resets per token: {:?})",
        tally.resets
    );

    // The pool heals: every death is followed by a restart, every slot is live again.
    let (mut failures, mut restarts) = (0usize, 0usize);
    let healed = tokio::time::timeout(BOUND, async {
        loop {
            let live = pool.workers().iter().all(Option::is_some);
            if live && failures == faults && restarts == faults {
                return;
            }
            match events.next().await {
                Some(SupervisionEvent::WorkerFailed { .. }) => failures += 1,
                Some(SupervisionEvent::WorkerRestarted { .. }) => restarts += 1,
                Some(SupervisionEvent::PoolFailed { reason }) => {
                    panic!("the pool failed: {reason}")
                }
                Some(_) => {}
                None => panic!("the event stream ended"),
            }
        }
    })
    .await;
    assert!(
        healed.is_ok(),
        "not healed within {BOUND:?}: {failures} failures, {restarts} restarts, slots {:?}",
        pool.workers()
            .iter()
            .map(Option::is_some)
            .collect::<Vec<_>>()
    );
    assert!(!pool.has_failed());

    // And each worker still serves: a direct dispatch to every slot.
    for (slot, worker) in pool.workers().into_iter().enumerate() {
        let worker = worker.expect("healed");
        let job = Job {
            seq: CALLS + slot,
            yields: 1,
            panic: false,
            token: None,
        };
        let request = skein::request::<Flaky>(job).expect("args encode");
        let reply = within(BOUND, "a final call on each worker", async {
            ractor::call!(worker, |reply| WorkerMsg::Dispatch(
                Dispatch::new(request, DispatchKind::Call),
                reply
            ))
        })
        .await
        .expect("the worker answers");
        assert_eq!(
            skein::decode_reply::<Flaky>(reply),
            Ok((CALLS + slot, Spend::NoToken)),
            "slot {slot}"
        );
    }
    eprintln!(
        "chaos: {} ok, {} panicked, {} crashed, {} no workers; {faults} faults, \
         {failures} failures, {restarts} restarts; resets per token {:?}",
        tally.ok, tally.panicked, tally.crashed, tally.no_workers, tally.resets
    );
}
