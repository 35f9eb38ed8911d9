//! Shared test helpers: a simulated dispatch that takes every step a real one takes.
#![allow(dead_code)]

pub mod oracle;
pub mod pick_last;

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skein::actors::{Limits, Manifest};
use skein::{payload, Context, InstallMode};

/// Encodes a manifest to bytes and decodes it back, as the wire would.
pub fn over_the_wire(manifest: &Manifest) -> Manifest {
    let bytes = manifest.encode().expect("manifest encodes");
    Manifest::decode(&bytes, &Limits::default()).expect("manifest decodes")
}

/// Runs `body(args)` as a dispatch from the current context would run: the args and
/// the caller's snapshot are encoded and decoded, a fresh continuation installs them,
/// the body runs there, and its result and snapshot come back the same way and merge
/// into the caller before the result is returned.
pub async fn dispatch<A, R, F, Fut>(args: A, body: F) -> R
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = R>,
{
    let caller = Context::current().expect("dispatch runs inside a scope");
    // Args first: encoding pins the tokens they carry, so the snapshot lists them.
    let arg_bytes = payload::encode(&args).expect("args encode");
    drop(args);
    let request = over_the_wire(&caller.take_snapshot());

    let worker = Context::continuation();
    let incoming = payload::decode::<A>(&arg_bytes).expect("args decode");
    let (args, _) = worker
        .receive(&request, incoming, InstallMode::Lenient)
        .expect("lenient install");
    let result_bytes = worker
        .scope(async {
            let result = body(args).await;
            payload::encode(&result).expect("result encodes")
        })
        .await;
    let reply = over_the_wire(&worker.take_snapshot());

    let incoming = payload::decode::<R>(&result_bytes).expect("result decodes");
    let (result, _) = caller
        .receive(&reply, incoming, InstallMode::Lenient)
        .expect("lenient merge");
    result
}

// ---------------------------------------------------------------------------------
// Pool test helpers: bounded waits, gates that routines block on, event waits.
// (Added for the pool behaviour tests: dispatch_errors_are_typed,
// worker_crash_fails_in_flight_calls, supervision_restart_intensity,
// chaos_calls_end_typed.) Everything lives in this module so it cannot clash with
// other additions to this file.
// ---------------------------------------------------------------------------------

/// Bounded waits, gates and supervision-event waits for tests that run a real pool.
pub mod pool_helpers {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use futures::StreamExt;
    use ractor::ActorRef;
    use skein::actors::{Dispatch, DispatchKind, Reply, Request, WorkerMsg, WorkerStats};
    use skein::{Events, Never, Routine, SupervisionEvent};
    use tokio::sync::oneshot;
    use tokio::sync::watch;

    /// The bound of every wait that should end promptly but must never hang the suite.
    pub const BOUND: Duration = Duration::from_secs(10);

    /// Awaits `future`, failing the test loudly (naming `what`) past `limit`.
    pub async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
        match tokio::time::timeout(limit, future).await {
            Ok(output) => output,
            Err(_) => panic!("{what}: nothing within {limit:?} (hung)"),
        }
    }

    /// What a gate has seen so far.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct GateCounts {
        /// Routine bodies that reached the gate.
        pub entered: usize,
        /// Bodies that went through after the gate opened.
        pub passed: usize,
        /// Bodies dropped while waiting at the gate (cancelled, timed out, or their
        /// worker died): their cleanup ran.
        pub dropped: usize,
    }

    /// A gate a routine body blocks on until the test opens it. Routines are plain
    /// `fn`s, so they find their test's gate by the id passed in their args. Gates
    /// are never unregistered (they are tiny, and tests are short-lived).
    #[derive(Debug)]
    pub struct Gate {
        id: u64,
        open: watch::Sender<bool>,
        counts: watch::Sender<GateCounts>,
    }

    static GATES: Mutex<BTreeMap<u64, Arc<Gate>>> = Mutex::new(BTreeMap::new());
    static NEXT_GATE: AtomicU64 = AtomicU64::new(1);

    fn gates() -> std::sync::MutexGuard<'static, BTreeMap<u64, Arc<Gate>>> {
        GATES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    impl Gate {
        /// A new closed gate, registered under a fresh id.
        pub fn new() -> Arc<Gate> {
            let gate = Arc::new(Gate {
                id: NEXT_GATE.fetch_add(1, Ordering::Relaxed),
                open: watch::Sender::new(false),
                counts: watch::Sender::new(GateCounts::default()),
            });
            gates().insert(gate.id, gate.clone());
            gate
        }

        /// The gate registered under `id` (panics if there is none).
        pub fn find(id: u64) -> Arc<Gate> {
            gates()
                .get(&id)
                .cloned()
                .unwrap_or_else(|| panic!("no gate {id}"))
        }

        /// The id a routine finds this gate by.
        pub fn id(&self) -> u64 {
            self.id
        }

        /// Opens the gate: every body waiting at it, and every later one, goes through.
        pub fn open(&self) {
            self.open.send_replace(true);
        }

        /// The counts now.
        pub fn counts(&self) -> GateCounts {
            *self.counts.borrow()
        }

        /// Called by a routine body: counts it in, waits until the gate is open, and
        /// counts it as passed, or as dropped if the body is dropped while waiting.
        pub async fn pass(&self) {
            let mut visit = Visit {
                gate: self,
                passed: false,
            };
            self.counts.send_modify(|c| c.entered += 1);
            let mut open = self.open.subscribe();
            // The sender lives in `self`, so the channel cannot close under us.
            let _ = open.wait_for(|open| *open).await;
            visit.passed = true;
        }

        /// Waits (bounded by [`BOUND`], failing loudly) until the counts satisfy `done`.
        pub async fn until(
            &self,
            what: &str,
            mut done: impl FnMut(&GateCounts) -> bool,
        ) -> GateCounts {
            let mut counts = self.counts.subscribe();
            let waited = tokio::time::timeout(BOUND, async {
                *counts
                    .wait_for(|c| done(c))
                    .await
                    .expect("the gate's sender lives as long as the gate")
            })
            .await;
            match waited {
                Ok(counts) => counts,
                Err(_) => panic!(
                    "{what}: gate counts still {:?} after {BOUND:?}",
                    self.counts()
                ),
            }
        }
    }

    /// A routine that blocks at the gate whose id it is given, until the test opens
    /// it (or forever); its drop while it waits is counted by the gate. Register it
    /// with `.routine::<Hold>()`.
    pub struct Hold;
    impl Routine for Hold {
        const NAME: &'static str = "test.hold";
        type Args = u64;
        type Output = ();
        type Error = Never;
        async fn run(gate: u64) -> Result<(), Never> {
            Gate::find(gate).pass().await;
            Ok(())
        }
    }

    /// Sends `request` to `worker` as a call, straight to its mailbox (behind its
    /// pool's back), and returns where its reply will come.
    pub fn cast_call(worker: &ActorRef<WorkerMsg>, request: Request) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        worker
            .cast(WorkerMsg::Dispatch(
                Dispatch::new(request, DispatchKind::Call),
                tx.into(),
            ))
            .expect("the worker takes the dispatch");
        rx
    }

    /// Asks `worker` how busy it is through its mailbox: every message sent to it
    /// before (a dispatch cast to it, a cancel) has been handled by the time it
    /// answers, so this is also a way to wait for those.
    pub async fn mailbox_stats(worker: &ActorRef<WorkerMsg>) -> WorkerStats {
        let answer = within(BOUND, "the worker's stats", async {
            ractor::call!(worker, WorkerMsg::Stats)
        })
        .await
        .expect("the worker answers");
        answer.0.expect("its stats decode")
    }

    /// A body's stay at a gate; its drop is the body's cleanup.
    struct Visit<'a> {
        gate: &'a Gate,
        passed: bool,
    }

    impl Drop for Visit<'_> {
        fn drop(&mut self) {
            let passed = self.passed;
            self.gate.counts.send_modify(|c| {
                if passed {
                    c.passed += 1;
                } else {
                    c.dropped += 1;
                }
            });
        }
    }

    /// Reads supervision events until one satisfies `wanted` (bounded by [`BOUND`],
    /// failing loudly); returns every event read, the wanted one last.
    pub async fn events_until(
        events: &mut Events,
        what: &str,
        mut wanted: impl FnMut(&SupervisionEvent) -> bool,
    ) -> Vec<SupervisionEvent> {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(BOUND, async {
            while let Some(event) = events.next().await {
                let last = wanted(&event);
                seen.push(event);
                if last {
                    return true;
                }
            }
            false
        })
        .await;
        match found {
            Ok(true) => seen,
            Ok(false) => panic!("{what}: the event stream ended; saw {seen:?}"),
            Err(_) => panic!("{what}: no such event within {BOUND:?}; saw {seen:?}"),
        }
    }
}
