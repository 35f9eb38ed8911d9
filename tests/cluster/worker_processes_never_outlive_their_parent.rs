//! No worker process outlives its parent (S88): not when the pool is
//! dropped, and not when the parent process is killed outright.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::{self, children, is_running, process_pool, wait_exited, Helper, BOUND};

/// How long worker processes may take to go after their parent pool or process.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

/// The line an intermediate parent prints: its worker processes' pids.
const CHILDREN: &str = "children";

/// Kills, when dropped, every process of its list still running: a test that fails
/// leaves nothing behind.
struct Reap(Vec<u32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in self.0.iter().copied().filter(|p| is_running(*p)) {
            support::signal("-KILL", pid);
        }
    }
}

/// S88: dropping the pool ends its worker processes.
pub async fn children_exit_when_the_pool_drops() {
    let pool = process_pool(2).await;
    let pids: Vec<u32> = children(&pool).await.iter().map(|c| c.pid).collect();
    let _reap = Reap(pids.clone());
    assert!(
        pids.iter().all(|p| is_running(*p)),
        "worker processes {pids:?} run"
    );
    drop(pool);
    wait_exited(
        &pids,
        EXIT_WITHIN,
        "worker processes after their pool was dropped",
    )
    .await;
}

/// S88: a parent process killed by SIGKILL (no destructor runs, nothing is sent) takes
/// its worker processes with it: each notices its stdin close and exits.
pub async fn children_exit_when_the_parent_is_killed() {
    let mut parent = Helper::spawn("parent", &[]);
    let line = parent
        .wait_line(
            Instant::now() + BOUND,
            "the intermediate parent's children",
            |l| l.starts_with(CHILDREN),
        )
        .await;
    let pids: Vec<u32> = line[CHILDREN.len()..]
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    let _reap = Reap(pids.clone());
    assert_eq!(pids.len(), 2, "two worker processes: {line:?}");
    assert!(
        pids.iter().all(|p| is_running(*p)),
        "worker processes {pids:?} run"
    );
    assert!(
        !pids.contains(&parent.pid),
        "the children are other processes"
    );

    parent.kill().await;
    wait_exited(
        &pids,
        EXIT_WITHIN,
        "worker processes after their parent was killed",
    )
    .await;
}

/// The `parent` mode: builds a pool of two worker processes, prints their pids on one
/// line, and waits until it is killed (or the test that started it is gone).
pub fn intermediate_parent() {
    support::exit_when_stdin_closes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pool = process_pool(2).await;
        let pids: Vec<String> = children(&pool)
            .await
            .iter()
            .map(|c| c.pid.to_string())
            .collect();
        println!("{CHILDREN} {}", pids.join(" "));
        futures::future::pending::<()>().await;
    });
}
