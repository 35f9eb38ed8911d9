//! Helpers of the multi-process tests: bounded waits that fail loudly, signals,
//! process liveness from `/proc`, direct dispatch to a chosen worker, and this binary
//! run again in a helper mode.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use ractor::rpc::CallResult;
use ractor::ActorRef;
use skein::actors::{Dispatch, DispatchKind, Reply, Request, WorkerMsg};
use skein::{Events, Pool, Routine, SupervisionEvent};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

use crate::{routines, Identity, MODE_ENV};

/// The bound on anything that should take well under a second: a pool starting, a
/// worker process joining, a helper process printing its line.
pub const BOUND: Duration = Duration::from_secs(20);

/// How often a polling loop looks again.
const POLL: Duration = Duration::from_millis(10);

/// Sends `sig` (as `kill` spells it: `-KILL`, `-STOP`, `-CONT`) to `pid`.
pub fn signal(sig: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid} failed: {status}");
}

/// Whether `pid` names a process that has not exited. A zombie (exited, not yet
/// reaped by its parent) counts as exited.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name, which is in
        // parentheses and may itself hold spaces or parentheses.
        Ok(stat) => match stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
        {
            Some(state) => !matches!(state, "Z" | "X" | "x"),
            None => true,
        },
        Err(_) => false,
    }
}

/// Waits until every pid has exited; panics naming the survivors after `within`.
pub async fn wait_exited(pids: &[u32], within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let running: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
        if running.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{what}: processes {running:?} still running after {within:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Sends a built request straight to `worker` and waits for its reply, failing loudly
/// on a transport error or after [`BOUND`].
pub async fn send(worker: &ActorRef<WorkerMsg>, request: Request) -> Reply {
    let answer = worker
        .call(
            |reply| WorkerMsg::Dispatch(Dispatch::new(request, DispatchKind::Call), reply),
            Some(BOUND),
        )
        .await;
    match answer {
        Ok(CallResult::Success(reply)) => reply,
        Ok(CallResult::Timeout) => panic!("a direct dispatch got no reply within {BOUND:?}"),
        Ok(CallResult::SenderError) => panic!("a direct dispatch lost its reply port"),
        Err(e) => panic!("a direct dispatch could not be sent: {e}"),
    }
}

/// Runs `R` on the chosen worker with the current context (if any) and merges its
/// reply back, as `Pool::call` would, but to a worker of the test's choosing.
pub async fn dispatch<R: Routine>(
    worker: &ActorRef<WorkerMsg>,
    args: R::Args,
) -> Result<R::Output, skein::DispatchError<R::Error>> {
    let request = skein::request::<R>(args)?;
    skein::decode_reply::<R>(send(worker, request).await)
}

/// One worker process as a test sees it: a worker to dispatch to, its pid, its index
/// among the pool's worker processes.
#[derive(Clone, Debug)]
pub struct WorkerProcess {
    pub worker: ActorRef<WorkerMsg>,
    pub pid: u32,
    pub index: usize,
}

/// Builds a pool of `n` worker processes and waits until it routes to all of them.
pub async fn process_pool(n: usize) -> Pool {
    let pool = routines().processes(n).build().await.expect("pool builds");
    pool.wait_for_workers(n, BOUND)
        .await
        .unwrap_or_else(|e| panic!("{n} worker processes did not join within {BOUND:?}: {e}"));
    pool
}

/// Waits until every worker process of `pool` has met every other one: each calls
/// [`Reach`](crate::Reach) on each sibling's node, through its own pool. Worker
/// processes meet each other through their parent, after they join it, so a test that
/// spends a token minted in one process from another waits for this first.
pub async fn siblings_meet(pool: &Pool) {
    let nodes: BTreeSet<String> = pool
        .worker_infos()
        .into_iter()
        .filter(|worker| worker.slot.is_none())
        .map(|worker| worker.node)
        .collect();
    for from in &nodes {
        for to in nodes.iter().filter(|to| *to != from) {
            let route = skein::Route::any().node(from.clone());
            let met = within(
                BOUND,
                "a worker process meets its sibling",
                pool.on(route).call::<crate::Reach>(to.clone()),
            )
            .await;
            met.unwrap_or_else(|e| panic!("{from} did not reach {to}: {e}"));
        }
    }
}

/// Asks each remote worker of `pool` who it is, sorted by index; asserts that each is
/// another process of its own.
pub async fn children(pool: &Pool) -> Vec<WorkerProcess> {
    let mut children = Vec::new();
    for worker in pool.remote_workers() {
        let (pid, index) = dispatch::<Identity>(&worker, ())
            .await
            .expect("a worker process says who it is");
        children.push(WorkerProcess { worker, pid, index });
    }
    children.sort_by_key(|c| c.index);
    let pids: BTreeSet<u32> = children.iter().map(|c| c.pid).collect();
    assert_eq!(
        pids.len(),
        children.len(),
        "one remote worker per process: {children:?}"
    );
    assert!(
        !pids.contains(&std::process::id()),
        "no remote worker is in the parent"
    );
    children
}

/// Waits until the pool's remote workers are exactly the processes `pids`, each
/// answering a direct dispatch; panics after `within`. Workers of a node that is going
/// away may linger in the list for a moment, and one that has not synced yet may be
/// missing, so this asks again until the answer is exact.
pub async fn wait_for_children(pool: &Pool, pids: &BTreeSet<u32>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut seen = BTreeSet::new();
        for worker in pool.remote_workers() {
            let request = skein::request::<Identity>(()).expect("request");
            let answer = tokio::time::timeout(
                Duration::from_millis(500),
                worker.call(
                    |reply| WorkerMsg::Dispatch(Dispatch::new(request, DispatchKind::Call), reply),
                    None,
                ),
            )
            .await;
            if let Ok(Ok(CallResult::Success(reply))) = answer {
                if let Ok((pid, _)) = skein::decode_reply::<Identity>(reply) {
                    seen.insert(pid);
                }
            }
        }
        if &seen == pids && pool.remote_workers().len() == pids.len() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "the pool did not reach exactly the processes {pids:?} within {within:?}: \
                 it reached {seen:?} through {} remote workers",
                pool.remote_workers().len()
            );
        }
        tokio::time::sleep(POLL * 5).await;
    }
}

/// Waits for the next event that `wanted` accepts; panics with the events seen on the
/// way after `deadline`.
pub async fn wait_event(
    events: &mut Events,
    deadline: Instant,
    what: &str,
    mut wanted: impl FnMut(&SupervisionEvent) -> bool,
) -> SupervisionEvent {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("{what}: the event stream ended; seen {seen:?}"),
            Err(_) => panic!("{what}: not seen in time; seen {seen:?}"),
        }
    }
}

/// Awaits `future` for at most `within`; panics with `what` past it.
pub async fn within<F: std::future::Future>(within: Duration, what: &str, future: F) -> F::Output {
    tokio::time::timeout(within, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {within:?}"))
}

/// This binary run again in a helper mode, with `envs`. Its stdin is a pipe the helper
/// reads until it closes, so it exits when this process dies; it is killed when the
/// handle is dropped.
pub struct Helper {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
    pub pid: u32,
}

impl Helper {
    pub fn spawn(mode: &str, envs: &[(&str, String)]) -> Helper {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .env(MODE_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("a helper process starts");
        let pid = child.id().expect("a running helper has a pid");
        let stdout = child.stdout.take().expect("piped stdout");
        Helper {
            child,
            lines: BufReader::new(stdout).lines(),
            pid,
        }
    }

    /// Waits until the helper prints a line `wanted` accepts; panics with the lines
    /// seen on the way after `deadline`.
    pub async fn wait_line(
        &mut self,
        deadline: Instant,
        what: &str,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) if wanted(&line) => return line,
                Ok(Ok(Some(line))) => seen.push(line),
                Ok(Ok(None)) => panic!("{what}: the helper closed its stdout; it printed {seen:?}"),
                Ok(Err(e)) => panic!("{what}: reading the helper's stdout failed: {e}"),
                Err(_) => panic!("{what}: not printed in time; the helper printed {seen:?}"),
            }
        }
    }

    /// SIGKILLs the helper and reaps it.
    pub async fn kill(mut self) {
        signal("-KILL", self.pid);
        within(BOUND, "reaping a killed helper", self.child.wait())
            .await
            .expect("wait on the helper");
    }
}

/// In a helper process: exits as soon as stdin closes (the test that started it is
/// gone), so no helper outlives its test.
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
        std::process::exit(0);
    });
}
