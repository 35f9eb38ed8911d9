//! A pool's state on worker processes: each worker process builds its pool from the
//! same builder function as the parent, so it runs the state's factory once, itself,
//! and its routines read that process's value. The state here cannot travel (it has no
//! serde impls, and holds an open file): the only way a worker has it is to build it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use skein::{ErrorMessage, Routine, State};

use crate::support::{dispatch, process_pool, within, BOUND};

/// How many times this process ran the factory of [`ProcessState`].
pub static FACTORY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// What a process builds for itself: its pid when the factory ran, and a resource
/// that is this process's own (a file handle), which no frame could carry.
pub struct ProcessState {
    pid: u32,
    _file: std::fs::File,
}

/// The factory `routines()` gives every pool: counted, so a test can see it ran once.
pub fn build_process_state() -> ProcessState {
    FACTORY_RUNS.fetch_add(1, Ordering::SeqCst);
    ProcessState {
        pid: std::process::id(),
        _file: std::fs::File::open(std::env::current_exe().expect("the binary's path"))
            .expect("the binary opens"),
    }
}

/// Where it ran, the pid its process's state holds, and how many times that process
/// ran the factory.
pub struct StatePid;
impl Routine for StatePid {
    const NAME: &'static str = "cluster.state_pid";
    type Args = ();
    type Output = (u32, u32, usize);
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<(u32, u32, usize), ErrorMessage> {
        let state = State::<ProcessState>::get()?;
        Ok((
            std::process::id(),
            state.pid,
            FACTORY_RUNS.load(Ordering::SeqCst),
        ))
    }
}

pub async fn state_is_built_in_every_worker_process() {
    let pool = process_pool(2).await;
    // The parent built its own, once, for the pool it holds.
    assert_eq!(FACTORY_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(
        pool.state::<ProcessState>()
            .expect("the parent's state")
            .pid,
        std::process::id()
    );
    let mut seen = BTreeSet::new();
    // Each worker process, asked directly: its state is its own.
    for worker in pool.remote_workers() {
        let (ran_in, state_pid, runs) =
            within(BOUND, "a direct call", dispatch::<StatePid>(&worker, ()))
                .await
                .expect("a worker process reads its state");
        assert_ne!(ran_in, std::process::id(), "ran in a worker process");
        assert_eq!(state_pid, ran_in, "the state of the process it ran in");
        assert_eq!(runs, 1, "that process ran the factory once");
        seen.insert(state_pid);
    }
    assert_eq!(seen.len(), 2, "two processes, two states: {seen:?}");
    // Through the pool too, on whichever process each call lands.
    for _ in 0..8 {
        let (ran_in, state_pid, runs) = within(BOUND, "a call", pool.call::<StatePid>(()))
            .await
            .expect("a call reads its process's state");
        assert_eq!(state_pid, ran_in);
        assert_eq!(runs, 1);
        assert!(seen.contains(&state_pid), "one of the two: {state_pid}");
    }
}
