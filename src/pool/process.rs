//! Worker processes: the entry hook a binary calls first, so that the pool can re-run
//! it as worker nodes.

use std::io::BufRead;
use std::time::Duration;

use skein_actors::process::{tags_from_env, DRAIN_LINE, INDEX_ENV, PARENT_ENV, WORKERS_ENV};
use skein_actors::Node;

use super::builder::PoolBuilder;

/// The entry hook for worker processes. Call it first in `main`, with a function that
/// builds the same pool (the same routines) the parent builds; in the parent it returns
/// at once, in a worker process it serves and never returns.
///
/// A pool built with [`PoolBuilder::processes`] starts its worker processes by
/// re-running the current binary. Each one comes here, joins the parent's node, runs
/// `routines()` as its own workers, and exits when its parent drops the pool or dies.
///
/// ```no_run
/// use skein::{Never, Pool, PoolBuilder, Routine};
///
/// struct Add;
/// impl Routine for Add {
///     const NAME: &'static str = "demo.add";
///     type Args = (i64, i64);
///     type Output = i64;
///     type Error = Never;
///     async fn run((x, y): (i64, i64)) -> Result<i64, Never> { Ok(x + y) }
/// }
///
/// fn routines() -> PoolBuilder {
///     Pool::builder().routine::<Add>()
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     skein::serve_if_worker(routines);
///     let pool = routines().processes(2).build().await?;
///     pool.wait_for_workers(2, std::time::Duration::from_secs(10)).await?;
///     assert_eq!(pool.call::<Add>((1, 2)).await?, 3);
///     Ok(())
/// }
/// ```
pub fn serve_if_worker(routines: fn() -> PoolBuilder) {
    serve_if_worker_with(routines, |_| async {});
}

/// [`serve_if_worker`], running `setup` in the worker process once its node and pool
/// are up (to start actors of the program's own beside the pool, say).
pub fn serve_if_worker_with<F, Fut>(routines: fn() -> PoolBuilder, setup: F)
where
    F: FnOnce(Node) -> Fut + Send,
    Fut: std::future::Future<Output = ()>,
{
    let Some(parent) = std::env::var_os(PARENT_ENV) else {
        return;
    };
    let parent = parent.to_string_lossy().into_owned();
    // Serve on a thread of its own with a runtime of its own: the hook may be called
    // from a plain `main` or from inside `#[tokio::main]`, where building a second
    // runtime on the same thread would panic.
    let served = std::thread::scope(|scope| {
        scope
            .spawn(|| serve(&parent, routines, setup).map_err(|e| e.to_string()))
            .join()
    });
    let code = match served {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("skein worker process: {e}");
            1
        }
        Err(_) => {
            eprintln!("skein worker process: the serving thread panicked");
            1
        }
    };
    std::process::exit(code);
}

fn serve<F, Fut>(
    parent: &str,
    routines: fn() -> PoolBuilder,
    setup: F,
) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnOnce(Node) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stdin = std::io::stdin().lock();
    let mut cookie = String::new();
    stdin.read_line(&mut cookie)?;
    let cookie = cookie.trim_end().to_string();
    if cookie.is_empty() {
        return Err("no cookie on stdin: the parent is gone".into());
    }
    let workers: usize = std::env::var(WORKERS_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let index = std::env::var(INDEX_ENV).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (node, pool) = runtime.block_on(async {
        let node = Node::builder()
            .listen("127.0.0.1:0")
            .cookie(cookie)
            .name(format!("skein-worker-{index}-{}", std::process::id()))
            .peer(parent)
            // Meet the parent's other peers too: the sibling processes, whose ledgers
            // decide the spends of the tokens minted there, and whose workers this
            // process's nested calls may go to.
            .transitive(true)
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(500))
            .build()
            .await?;
        // The tags the parent gave this child, beside those `routines()` gives.
        let pool = routines()
            .workers(workers)
            .tags(tags_from_env())
            .node(&node)
            .build()
            .await?;
        setup(node.clone()).await;
        Ok::<_, Box<dyn std::error::Error>>((node, pool))
    })?;
    // Stopping is the parent's to decide: a ctrl-c in a terminal reaches the whole
    // process group, and the parent drains its children itself. (A handler that is
    // never read leaves the signal caught and ignored.)
    runtime.block_on(async { ignore_stop_signals() });
    // Serve until the parent asks for a drain, or closes our stdin: it dropped the
    // pool, or it died.
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Some(grace) = drain_grace(&line) {
                    // The pool drains, then the node tells its peers it leaves.
                    runtime.block_on(node.shutdown(grace));
                    break;
                }
            }
        }
    }
    drop(pool);
    drop(node);
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// The grace of a drain line from the parent (`drain <ms>`), if that is what it is.
fn drain_grace(line: &str) -> Option<Duration> {
    let mut words = line.split_whitespace();
    if words.next()? != DRAIN_LINE {
        return None;
    }
    words.next()?.parse().ok().map(Duration::from_millis)
}

fn ignore_stop_signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
            if let Err(e) = signal(kind) {
                tracing::warn!(error = %e, "skein worker process: a stop signal stays fatal");
            }
        }
    }
}
