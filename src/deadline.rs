//! A scope deadline: how long everything a piece of work calls may still take, end to
//! end, across every hop and node.
//!
//! [`with_deadline`] runs a future under a deadline; nested ones only ever narrow it.
//! Every call made inside — [`Pool::call`](crate::Pool::call),
//! [`Pool::call_timeout`](crate::Pool::call_timeout), [`Pool::stream`](crate::Pool::stream)
//! and the nested [`call`](crate::call) — waits at most until it, and sends the worker
//! the time that is *left* (never an instant: the clocks of nodes differ). The worker
//! runs the routine under that much from when it starts it, and that is the routine's
//! scope deadline in turn, so its own nested calls inherit what is left of it, on any
//! node, at any depth.
//!
//! The deadline is a task-local: reading it where none is set costs a task-local read,
//! nothing more. It does not follow work handed to another task (`tokio::spawn`,
//! [`skein::spawn`](crate::spawn)); open a `with_deadline` there too.
//!
//! # What is guaranteed at one hop
//!
//! A routine awaiting a nested call when its own deadline passes sees that call's
//! [`DispatchError::Timeout`](crate::DispatchError::Timeout) from the await, not a drop
//! mid-await: the worker reads the clock *before* it polls the routine for the last
//! time, and the nested call reads it after, so the call has timed out by the time the
//! worker gives up (the call's deadline is never later than the routine's). If the
//! routine then returns at once, its answer is what its caller gets; if it awaits
//! anything else that is not ready, it is dropped there (its cleanup runs) and the
//! answer is `Timeout`. Its caller, whose own deadline is a little earlier (the time
//! the request took to arrive), has usually stopped waiting by then: what reaches the
//! caller past its deadline is always `Timeout`.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

tokio::task_local! {
    /// The deadline of the current scope, when one is set.
    static DEADLINE: Instant;
}

/// Runs `fut` with a deadline `within` from now: every call made inside it waits at
/// most until then, and a call made once nothing is left fails with
/// [`DispatchError::Timeout`](crate::DispatchError::Timeout) at once, sending nothing.
///
/// A deadline already set (an outer `with_deadline`, or the routine's own deadline on
/// a worker) is only ever narrowed: the earlier of the two wins. A `within` too far
/// ahead to be a point in time (such as [`Duration::MAX`]) sets nothing.
///
/// `fut` itself is not cut short: the deadline bounds the calls it makes, each of
/// which ends with `Timeout` when it passes. Wrap it in `tokio::time::timeout` as well
/// to bound its own work.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(skein::time_left(), None);
/// skein::with_deadline(Duration::from_secs(2), async {
///     let left = skein::time_left().expect("a deadline is set");
///     assert!(left <= Duration::from_secs(2));
///     // A nested deadline narrows, and never widens.
///     skein::with_deadline(Duration::from_secs(60), async {
///         assert!(skein::time_left().unwrap() <= Duration::from_secs(2));
///     })
///     .await;
/// })
/// .await;
/// # }
/// ```
pub async fn with_deadline<F: Future>(within: Duration, fut: F) -> F::Output {
    match Instant::now().checked_add(within) {
        Some(at) => with_deadline_at(at, fut).await,
        None => fut.await,
    }
}

/// [`with_deadline`] with the deadline as an instant of this process's clock.
pub async fn with_deadline_at<F: Future>(at: Instant, fut: F) -> F::Output {
    let at = deadline().map_or(at, |outer| outer.min(at));
    DEADLINE.scope(at, fut).await
}

/// The deadline of the current scope, or `None` when no deadline is set.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|at| *at).ok()
}

/// What is left of the current scope's deadline (zero once it has passed), or `None`
/// when no deadline is set: for a routine that budgets its own work.
pub fn time_left() -> Option<Duration> {
    deadline().map(|at| at.saturating_duration_since(Instant::now()))
}

/// How long a call made now may take: the instant its caller stops waiting, and the
/// time left until then, which is what the request carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) at: Instant,
    pub(crate) left: Duration,
}

/// Nothing is left of a call's deadline: it fails with `Timeout` before it is sent.
#[derive(Debug)]
pub(crate) struct Expired;

/// The budget of a call made now with its own `timeout` (the call's, or the pool's
/// default), under the current scope deadline: the earlier of the two. With neither it
/// reads no clock.
pub(crate) fn budget(timeout: Option<Duration>) -> Result<Option<Budget>, Expired> {
    let scope = deadline();
    if timeout.is_none() && scope.is_none() {
        return Ok(None);
    }
    let now = Instant::now();
    // A timeout past what the clock can hold is no deadline.
    let own = timeout.and_then(|limit| now.checked_add(limit));
    let Some(at) = own.into_iter().chain(scope).min() else {
        return Ok(None);
    };
    match at.checked_duration_since(now) {
        Some(left) if !left.is_zero() => Ok(Some(Budget { at, left })),
        _ => Err(Expired),
    }
}

/// What is left now until `at`, for a request sent after a wait (`None` for no
/// deadline).
pub(crate) fn left_until(at: Option<Instant>) -> Result<Option<Duration>, Expired> {
    let Some(at) = at else {
        return Ok(None);
    };
    match at.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(Some(left)),
        _ => Err(Expired),
    }
}

/// The deadline of a request a worker starts now: `timeout` from now.
pub(crate) fn of_request(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|limit| Instant::now().checked_add(limit))
}

/// Runs `f` with `at` as the scope deadline, when there is one: for a stream's step,
/// polled in place.
pub(crate) fn sync_scope<T>(at: Option<Instant>, f: impl FnOnce() -> T) -> T {
    match at {
        Some(at) => DEADLINE.sync_scope(at, f),
        None => f(),
    }
}

/// Whether `at` has passed by the clock; if not, `sleep` (a timer for `at`) is armed to
/// wake `task` then. The clock decides, not the timer alone, so two waits on one
/// instant agree on whether it has passed.
pub(crate) fn poll_passed(
    at: Instant,
    mut sleep: Pin<&mut Sleep>,
    task: &mut TaskContext<'_>,
) -> bool {
    loop {
        if Instant::now() >= at {
            return true;
        }
        if sleep.as_mut().poll(task).is_pending() {
            return false;
        }
        // The timer fired before the clock reached `at`: arm it again.
        sleep.as_mut().reset(at.into());
    }
}

/// A deadline that a future polled by hand (a stream, on either side) checks.
#[derive(Debug)]
pub(crate) struct Expiry {
    at: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Expiry {
    pub(crate) fn new(at: Instant) -> Expiry {
        Expiry {
            at,
            sleep: Box::pin(tokio::time::sleep_until(at.into())),
        }
    }

    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// Moves the deadline to `at`.
    pub(crate) fn reset(&mut self, at: Instant) {
        self.at = at;
        self.sleep.as_mut().reset(at.into());
    }

    /// Whether the clock has reached the deadline (without arming anything).
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// [`poll_passed`] for this deadline.
    pub(crate) fn poll_passed(&mut self, task: &mut TaskContext<'_>) -> bool {
        poll_passed(self.at, self.sleep.as_mut(), task)
    }
}

/// Runs a routine's `body` on the worker under its deadline `at`, which is also the
/// scope deadline of everything it calls; `None` once it has passed and the body was
/// dropped (its cleanup ran).
///
/// The clock is read before each poll of the body, and the body is given up only on a
/// poll that began past `at`: a nested call waiting inside it, whose own deadline is
/// never later, reads the clock during that poll and has timed out by then (see the
/// module's docs).
pub(crate) async fn run_until<F: Future>(at: Instant, body: F) -> Option<F::Output> {
    let mut body = pin!(with_deadline_at(at, body));
    let mut sleep = pin!(tokio::time::sleep_until(at.into()));
    poll_fn(|task| loop {
        let passed = Instant::now() >= at;
        if let Poll::Ready(output) = body.as_mut().poll(task) {
            return Poll::Ready(Some(output));
        }
        if passed {
            return Poll::Ready(None);
        }
        if !poll_passed(at, sleep.as_mut(), task) {
            return Poll::Pending;
        }
        // The deadline passed while the body was polled: poll it once more, having
        // read the clock first.
    })
    .await
}
