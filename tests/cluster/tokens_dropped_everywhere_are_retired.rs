//! A token sent to a worker process is retired at its home once no handle of it is
//! left anywhere: the handles give their weight back, the worker's over the session.
//! While the worker keeps one, the id stays open.

use skein::actors::{home, TokenId};
use tokio::time::Instant;

use crate::support::{process_pool, within, BOUND};
use crate::{Keep, LetGo, Pid, Swallow, V};

/// Waits until the home has retired `id`. The worker's weight comes back as a message
/// to this process's ledger actor, which may be read just after the reply of the call
/// that dropped it, so this yields until it has been (bounded, failing loudly).
async fn retired(id: &TokenId, what: &str) {
    let deadline = Instant::now() + BOUND;
    while !home().is_spent(id) {
        assert!(Instant::now() < deadline, "{what}: {id:?} is still open");
        tokio::task::yield_now().await;
    }
}

pub async fn a_token_dropped_on_a_worker_process_is_retired_at_home() {
    let pool = process_pool(1).await;
    skein::scope(async {
        let token = V.set(1).expect("a scope");
        let id = token.id();
        within(BOUND, "swallow", pool.call::<Swallow>(token))
            .await
            .expect("the worker process drops it");
        retired(&id, "dropped there and here").await;

        let token = V.set(2).expect("a scope");
        let id = token.id();
        within(BOUND, "keep", pool.call::<Keep>(token))
            .await
            .expect("the worker process keeps it");
        // Another round trip on the same session: had the worker given the weight
        // back, it would have been sent before this reply.
        within(BOUND, "a call after keep", pool.call::<Pid>(()))
            .await
            .expect("pid");
        assert!(
            !home().is_spent(&id),
            "the worker process still holds it: the id stays open"
        );
        let dropped = within(BOUND, "let go", pool.call::<LetGo>(()))
            .await
            .expect("the worker process lets go");
        assert_eq!(dropped, 1, "the worker process held the one token");
        retired(&id, "the worker's last handle went").await;
        assert_eq!(home().partly_released(), 0, "nothing is left half released");
    })
    .await;
}
