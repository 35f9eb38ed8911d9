//! A pool whose workers are 2 other processes: calls spread over both, a token
//! spent on a remote node is refused at home, and a worker process killed with
//! SIGKILL fails its in-flight calls with `NodeDown` and is respawned.
//!
//!     cargo run --release --features cluster --example cluster
//!
//! The pool re-runs this same binary as its worker processes, so `main` calls
//! `skein::serve_if_worker` before anything else.

use std::collections::BTreeSet;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use skein::{
    ContextVar, DispatchError, Never, Pool, PoolBuilder, ResetErrorKind, Routine, SupervisionEvent,
    Token,
};

/// The pid of the process the routine runs in.
struct Pid;
impl Routine for Pid {
    const NAME: &'static str = "cluster.pid";
    type Args = ();
    type Output = u32;
    type Error = Never;
    async fn run(_: ()) -> Result<u32, Never> {
        Ok(std::process::id())
    }
}

/// Sleeps, then answers its pid: a call that stays in flight for a while.
struct Slow;
impl Routine for Slow {
    const NAME: &'static str = "cluster.slow";
    type Args = u64;
    type Output = u32;
    type Error = Never;
    async fn run(millis: u64) -> Result<u32, Never> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(std::process::id())
    }
}

static TENANT: ContextVar<String> = ContextVar::new("cluster", "tenant");

/// Spends the caller's token where it runs; answers its pid and the refusal, if any.
struct Spend;
impl Routine for Spend {
    const NAME: &'static str = "cluster.spend";
    type Args = Token<String>;
    type Output = (u32, Option<String>);
    type Error = Never;
    async fn run(token: Token<String>) -> Result<(u32, Option<String>), Never> {
        let refused = TENANT
            .reset(token)
            .await
            .err()
            .map(|e| e.kind().to_string());
        Ok((std::process::id(), refused))
    }
}

/// The pool both sides build: the parent adds `processes(2)`, each worker process
/// serves these routines.
fn routines() -> PoolBuilder {
    Pool::builder()
        .routine::<Pid>()
        .routine::<Slow>()
        .routine::<Spend>()
}

/// The bound on every wait.
const BOUND: Duration = Duration::from_secs(20);

type Failed = Box<dyn std::error::Error>;

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> Result<T, Failed> {
    tokio::time::timeout(BOUND, future)
        .await
        .map_err(|_| format!("timed out after {BOUND:?} waiting for {what}").into())
}

// A plain `fn main` that builds its runtime by hand, to bound the runtime's shutdown.
// `#[tokio::main]` would do as well: in a worker process `serve_if_worker` serves on a
// thread and a runtime of its own, and never returns.
fn main() -> ExitCode {
    skein::serve_if_worker(routines);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cluster example failed: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run());
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster example failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Failed> {
    let pool = routines().processes(2).build().await?;
    bounded("2 worker processes", pool.wait_for_workers(2, BOUND)).await??;
    let parent = std::process::id();

    // (a) Calls go to both worker processes, never to the parent (it has no workers).
    let mut pids = BTreeSet::new();
    for _ in 0..8 {
        pids.insert(bounded("a call", pool.call::<Pid>(())).await??);
    }
    println!("calls:   8 calls ran in pids {pids:?}; this process is {parent}");
    if pids.len() != 2 || pids.contains(&parent) {
        return Err(format!("expected 2 worker pids, not {parent}; got {pids:?}").into());
    }

    // (b) A token set here, spent on a remote node, refused at home.
    skein::scope(async {
        let token = TENANT.set("acme".to_string())?;
        let kept = token.duplicate();
        let (pid, refused) = bounded("the spend", pool.call::<Spend>(token)).await??;
        if let Some(why) = refused {
            return Err(format!("the spend on pid {pid} was refused: {why}").into());
        }
        println!(
            "token:   set here, spent in pid {pid}; tenant here is now {:?}",
            TENANT.get()
        );
        let outcome: Result<(), Failed> = match bounded("the reset", TENANT.reset(kept)).await? {
            Err(refused) if refused.kind() == ResetErrorKind::AlreadyUsed => {
                println!("token:   reset at home refused: {}", refused.kind());
                Ok(())
            }
            Err(refused) => {
                Err(format!("reset at home refused for another reason: {refused}").into())
            }
            Ok(()) => Err("a token was spent twice".into()),
        };
        outcome
    })
    .await?;

    // (c) SIGKILL one worker process while calls are in flight to it.
    let victim = *pids.first().ok_or("no pid")?;
    let survivor = *pids.last().ok_or("no pid")?;
    let mut events = pool.events();
    let in_flight: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let result = pool.call::<Slow>(1_000).await;
                (result, Instant::now())
            })
        })
        .collect();
    // Let the dispatches reach the workers: each sleeps 1 s there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()?;
    if !status.success() {
        return Err(format!("kill -9 {victim} failed: {status}").into());
    }
    println!("kill:    8 calls in flight over both processes; kill -9 {victim}");

    let (mut node_down, mut ok, mut slowest_node_down) = (0, 0, Duration::ZERO);
    for call in in_flight {
        let (result, at) = bounded("an in-flight call", call).await??;
        match result {
            Err(DispatchError::NodeDown) => {
                node_down += 1;
                slowest_node_down = slowest_node_down.max(at.duration_since(killed_at));
            }
            Ok(pid) if pid == survivor => ok += 1,
            Ok(pid) => return Err(format!("a call answered from pid {pid} after the kill").into()),
            Err(other) => {
                return Err(format!("an in-flight call failed with {other:?}, not NodeDown").into())
            }
        }
    }
    println!(
        "kill:    {node_down} in-flight calls failed with DispatchError::NodeDown \
         (the last {slowest_node_down:.0?} after the kill); {ok} finished on pid {survivor}"
    );
    if node_down == 0 {
        return Err("no in-flight call saw the kill".into());
    }

    // The supervisor sees the exit and starts a replacement in the same slot.
    let (index, status) = bounded("ProcessExited", async {
        while let Some(event) = events.next().await {
            if let SupervisionEvent::ProcessExited { process, status } = event {
                return Some((process, status));
            }
        }
        None
    })
    .await?
    .ok_or("the pool's events ended")?;
    println!("respawn: worker process {index} exited ({status})");
    let replacement = bounded("ProcessStarted", async {
        while let Some(event) = events.next().await {
            match event {
                SupervisionEvent::ProcessStarted { process, pid } if process == index => {
                    return Some(pid)
                }
                _ => {}
            }
        }
        None
    })
    .await?
    .ok_or("the pool's events ended")?;
    println!("respawn: worker process {index} started again as pid {replacement}");

    bounded("2 workers again", pool.wait_for_workers(2, BOUND)).await??;
    let mut after = BTreeSet::new();
    bounded("a call on the replacement", async {
        while !(after.contains(&replacement) && after.contains(&survivor)) {
            match pool.call::<Pid>(()).await {
                Ok(pid) => {
                    after.insert(pid);
                }
                // A call that raced the old process's departure; the next goes elsewhere.
                Err(DispatchError::NodeDown) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    })
    .await??;
    println!("respawn: calls ran in pids {after:?}");
    if replacement != victim && after.contains(&victim) {
        return Err(format!("a call ran on the killed pid {victim}").into());
    }
    Ok(())
}
