//! The restart window: how many restarts a supervisor allows, and how long it waits
//! before each. Both supervisors (of workers and of worker processes) use this one.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How a supervisor restarts what dies.
///
/// ```
/// use std::time::Duration;
/// use skein_actors::RestartPolicy;
///
/// // At most 3 restarts in 10 s; the first after 5 ms, then 10, 20, ... up to 1 s.
/// let policy = RestartPolicy::new(3, Duration::from_secs(10))
///     .with_backoff(Duration::from_millis(5), Duration::from_secs(1));
/// assert_eq!(policy.max_restarts, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// More than this many restarts within [`within`](RestartPolicy::within) and the
    /// pool gives up: it reports [`SupervisionEvent::PoolFailed`](crate::SupervisionEvent::PoolFailed)
    /// and refuses new dispatches.
    pub max_restarts: usize,
    /// The window of the restart count.
    pub within: Duration,
    /// The wait before the first restart of a slot; it doubles with each restart of
    /// that slot inside the window.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl RestartPolicy {
    /// A policy allowing `max_restarts` within `within`, with the default backoff.
    pub fn new(max_restarts: usize, within: Duration) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            within,
            ..RestartPolicy::default()
        }
    }

    /// The same policy with another backoff (first wait, and the longest).
    pub fn with_backoff(self, backoff: Duration, max_backoff: Duration) -> RestartPolicy {
        RestartPolicy {
            backoff,
            max_backoff,
            ..self
        }
    }

    /// The wait before restarting a slot that has been restarted `attempt` times
    /// inside the window already.
    fn backoff_for(&self, attempt: usize) -> Duration {
        let factor = u32::try_from(attempt)
            .ok()
            .and_then(|a| 1u32.checked_shl(a))
            .unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 10,
            within: Duration::from_secs(5),
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// What a supervisor does about one death.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Restart the slot after this wait; `in_window` restarts fall inside the window,
    /// this one included.
    Restart { after: Duration, in_window: usize },
    /// Give up: the window already holds `in_window` restarts, the policy's maximum.
    GiveUp { in_window: usize },
}

/// The restarts inside the policy's window, by slot. It reads tokio's clock, so a test
/// with a paused clock sees the window and the backoff exactly.
#[derive(Debug)]
pub(crate) struct RestartWindow {
    policy: RestartPolicy,
    restarts: VecDeque<(Instant, usize)>,
}

impl RestartWindow {
    pub(crate) fn new(policy: RestartPolicy) -> RestartWindow {
        RestartWindow {
            policy,
            restarts: VecDeque::new(),
        }
    }

    /// Decides what to do about a death in `slot` now.
    pub(crate) fn on_death(&mut self, slot: usize) -> Verdict {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.policy.within)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.policy.max_restarts {
            return Verdict::GiveUp {
                in_window: self.restarts.len(),
            };
        }
        let attempt = self.restarts.iter().filter(|(_, s)| *s == slot).count();
        self.restarts.push_back((now, slot));
        Verdict::Restart {
            after: self.policy.backoff_for(attempt),
            in_window: self.restarts.len(),
        }
    }

    pub(crate) fn within(&self) -> Duration {
        self.policy.within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_per_slot_and_the_window_forgets() {
        let policy = RestartPolicy::new(3, Duration::from_secs(10))
            .with_backoff(Duration::from_millis(10), Duration::from_millis(25));
        let mut window = RestartWindow::new(policy);
        let ms = Duration::from_millis;
        assert_eq!(
            window.on_death(0),
            Verdict::Restart {
                after: ms(10),
                in_window: 1
            }
        );
        assert_eq!(
            window.on_death(1),
            Verdict::Restart {
                after: ms(10),
                in_window: 2
            }
        );
        assert_eq!(
            window.on_death(0),
            Verdict::Restart {
                after: ms(20),
                in_window: 3
            }
        );
        assert_eq!(window.on_death(0), Verdict::GiveUp { in_window: 3 });
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            window.on_death(0),
            Verdict::Restart {
                after: ms(10),
                in_window: 1
            }
        );
    }

    #[test]
    fn backoff_saturates() {
        let policy = RestartPolicy::default().with_backoff(Duration::from_secs(1), Duration::MAX);
        assert_eq!(
            policy.backoff_for(usize::MAX),
            Duration::from_secs(u64::from(u32::MAX))
        );
    }
}
