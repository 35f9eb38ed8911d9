//! skein in one page: a pool of 4 supervised workers running routines with the
//! caller's context.
//!
//!     cargo run --release --example quickstart

use std::time::Duration;

use futures::StreamExt;
use skein::{
    ContextVar, DispatchError, ErrorMessage, Never, Pool, Routine, StreamRoutine, SupervisionEvent,
    Token,
};

/// A plain routine.
struct Add;
impl Routine for Add {
    const NAME: &'static str = "quickstart.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// Nested fan-out: each level dispatches its two halves back to the pool.
struct Fib;
impl Routine for Fib {
    const NAME: &'static str = "quickstart.fib";
    type Args = u32;
    type Output = u64;
    type Error = ErrorMessage;
    async fn run(n: u32) -> Result<u64, ErrorMessage> {
        if n < 2 {
            return Ok(n.into());
        }
        let (a, b) = futures::join!(skein::call::<Fib>(n - 1), skein::call::<Fib>(n - 2));
        Ok(a.map_err(|e| e.to_string())? + b.map_err(|e| e.to_string())?)
    }
}

/// A stream, pulled one item at a time.
struct Squares;
impl StreamRoutine for Squares {
    const NAME: &'static str = "quickstart.squares";
    type Args = u64;
    type Item = u64;
    type Error = Never;
    fn run(n: u64) -> impl futures::Stream<Item = Result<u64, Never>> + Send + 'static {
        futures::stream::iter((1..=n).map(|i| Ok(i * i)))
    }
}

static TENANT: ContextVar<String> = ContextVar::new("quickstart", "tenant");

/// Reads the caller's tenant on the worker, and changes it there.
struct Greet;
impl Routine for Greet {
    const NAME: &'static str = "quickstart.greet";
    type Args = ();
    type Output = String;
    type Error = Never;
    async fn run(_: ()) -> Result<String, Never> {
        let tenant = TENANT.get().ok().flatten().unwrap_or_default();
        let _ = TENANT.set(format!("{tenant} (seen by a worker)"));
        Ok(format!("hello, {tenant}"))
    }
}

/// Spends the caller's token on the worker.
struct Spend;
impl Routine for Spend {
    const NAME: &'static str = "quickstart.spend";
    type Args = Token<String>;
    type Output = bool;
    type Error = Never;
    async fn run(token: Token<String>) -> Result<bool, Never> {
        Ok(TENANT.reset(token).await.is_ok())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .workers(4)
        .routine::<Add>()
        .routine::<Fib>()
        .routine::<Greet>()
        .routine::<Spend>()
        .stream_routine::<Squares>()
        .build()
        .await?;

    println!("call:    add(2, 3) = {}", pool.call::<Add>((2, 3)).await?);
    println!(
        "nested:  fib(15) = {} (each level fans out to the pool)",
        pool.call::<Fib>(15).await?
    );
    let squares: Vec<u64> = pool
        .stream::<Squares>(5)
        .map(|item| item.unwrap_or_default())
        .collect()
        .await;
    println!("stream:  squares = {squares:?}");

    pool.scope(async {
        let token = TENANT.set("acme".to_string())?;
        println!("context: {}", pool.call::<Greet>(()).await?);
        println!("context: back home, tenant = {:?}", TENANT.get()?);

        let kept = token.duplicate();
        println!(
            "token:   the worker spent it: {}",
            pool.call::<Spend>(token).await?
        );
        match TENANT.reset(kept).await {
            Ok(()) => return Err("a token was spent twice".into()),
            Err(refused) => println!("token:   reset at home refused: {}", refused.kind()),
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .await?;

    // Crash a worker while calls go on; the supervisor restarts it.
    let mut events = pool.events();
    let calls = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let (mut ok, mut crashed) = (0, 0);
            for i in 0..2_000 {
                match pool.call::<Add>((i, 1)).await {
                    Ok(_) => ok += 1,
                    Err(DispatchError::WorkerCrashed) => crashed += 1,
                    Err(other) => return Err(other.to_string()),
                }
            }
            Ok((ok, crashed))
        })
    };
    if let Some(worker) = pool.workers()[0].clone() {
        skein::actors::crash(&worker, "crashed on purpose").await?;
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), events.next()).await? {
            Some(SupervisionEvent::WorkerFailed { worker, reason }) => {
                seen.push(format!("worker {worker} failed ({reason})"))
            }
            Some(SupervisionEvent::WorkerRestarted { worker, .. }) => {
                seen.push(format!("worker {worker} restarted"))
            }
            Some(_) => {}
            None => break,
        }
    }
    println!("crash:   {}", seen.join(", then "));
    let (ok, crashed) = calls.await??;
    println!("crash:   2000 calls meanwhile: {ok} ok, {crashed} answered WorkerCrashed, none lost");
    println!(
        "crash:   after restart: add(40, 2) = {}",
        pool.call::<Add>((40, 2)).await?
    );
    Ok(())
}
