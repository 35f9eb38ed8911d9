//! Restart intensity holds for worker processes too: a pool whose
//! worker process dies more often than its restart policy allows gives up, as a pool
//! of in-process workers does (`tests/supervision_restart_intensity.rs`). It reports
//! itself failed (`Pool::has_failed`), says so on its events (`PoolFailed`), starts
//! no replacement, and refuses new calls with `DispatchError::PoolFailed`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use skein::{DispatchError, RestartPolicy, SupervisionEvent};
use tokio::time::Instant;

use crate::support::{self, children, wait_event, within, BOUND};
use crate::{routines, Pid};

/// The restarts the policy allows within its window; the death after them fails the
/// pool.
const MAX_RESTARTS: usize = 1;

/// A process exit, a restart, or the pool giving up: what one death leads to.
fn after_a_death(event: &SupervisionEvent) -> bool {
    matches!(
        event,
        SupervisionEvent::ProcessExited { .. }
            | SupervisionEvent::ProcessStarted { .. }
            | SupervisionEvent::PoolFailed { .. }
    )
}

/// S86: with `MAX_RESTARTS` restarts allowed in 30 s, each of the
/// first `MAX_RESTARTS` SIGKILLs of the one worker process is answered by a
/// replacement that serves calls; the next one fails the pool.
pub async fn too_many_process_deaths_fail_the_pool() {
    let policy = RestartPolicy::new(MAX_RESTARTS, Duration::from_secs(30))
        .with_backoff(Duration::ZERO, Duration::ZERO);
    let pool = routines()
        .processes(1)
        .restart_policy(policy)
        .build()
        .await
        .expect("pool builds");
    pool.wait_for_workers(1, BOUND)
        .await
        .expect("the worker process joined");
    let first = children(&pool).await;
    assert_eq!(first.len(), 1, "one worker process: {first:?}");
    let mut victim = first[0].pid;
    let mut events = pool.events();

    for death in 1..=MAX_RESTARTS {
        support::signal("-KILL", victim);
        let deadline = Instant::now() + BOUND;
        let exited = wait_event(
            &mut events,
            deadline,
            "the killed process's exit",
            after_a_death,
        )
        .await;
        assert!(
            matches!(exited, SupervisionEvent::ProcessExited { process: 0, .. }),
            "death {death}: the first event is the exit of process 0: {exited:?}"
        );
        let next = wait_event(
            &mut events,
            deadline,
            "a restart within the limit",
            after_a_death,
        )
        .await;
        let SupervisionEvent::ProcessStarted { process: 0, pid } = next else {
            panic!("death {death} is within the limit of {MAX_RESTARTS}, yet: {next:?}")
        };
        assert_ne!(
            pid, victim,
            "death {death}: the replacement is a new process"
        );
        assert!(
            !pool.has_failed(),
            "death {death}: the pool failed too early"
        );
        support::wait_for_children(&pool, &BTreeSet::from([pid]), BOUND).await;
        let answered = within(BOUND, "a call after a restart", pool.call::<Pid>(()))
            .await
            .unwrap_or_else(|e| panic!("death {death}: a call after the restart failed: {e}"));
        assert_eq!(
            answered, pid,
            "death {death}: the replacement serves the call"
        );
        victim = pid;
    }

    // The death past the limit.
    support::signal("-KILL", victim);
    let deadline = Instant::now() + BOUND;
    let exited = wait_event(
        &mut events,
        deadline,
        "the last process's exit",
        after_a_death,
    )
    .await;
    assert!(
        matches!(exited, SupervisionEvent::ProcessExited { process: 0, .. }),
        "the first event is the exit of process 0: {exited:?}"
    );
    let next = wait_event(&mut events, deadline, "the pool fails", after_a_death).await;
    let SupervisionEvent::PoolFailed { reason } = next else {
        panic!("the death past the limit of {MAX_RESTARTS} did not fail the pool: {next:?}")
    };
    assert!(
        reason.contains("worker process 0"),
        "the reason names the process: {reason}"
    );
    assert!(pool.has_failed(), "the pool reports itself failed");

    match within(BOUND, "a call to a failed pool", pool.call::<Pid>(())).await {
        Err(DispatchError::PoolFailed) => {}
        other => panic!("a call to a failed pool: expected PoolFailed, got {other:?}"),
    }
    while let Some(Some(event)) = events.next().now_or_never() {
        assert!(
            !matches!(event, SupervisionEvent::ProcessStarted { .. }),
            "a failed pool started a process: {event:?}"
        );
    }
}
