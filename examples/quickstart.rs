//! skein in one page: a pool of 4 supervised workers running routines with the
//! caller's context.
//!
//!     cargo run --release --example quickstart

use std::time::Duration;

use futures::{Stream, StreamExt};
use skein::{
    ContextVar, DispatchError, ErrorMessage, Never, Pool, Routine, SupervisionEvent, Token,
};

/// A plain routine: `#[skein::routine]` writes the type `Add` that the pool calls,
/// and every pool registers it.
#[skein::routine]
async fn add(x: i64, y: i64) -> i64 {
    x + y
}

/// Nested fan-out: each level dispatches its two halves back to the pool. A failed
/// nested call converts into the routine's `ErrorMessage`, so `?` works on it.
#[skein::routine(name = "quickstart.fib")]
async fn fib(n: u32) -> Result<u64, ErrorMessage> {
    if n < 2 {
        return Ok(n.into());
    }
    let (a, b) = futures::join!(skein::call::<Fib>(n - 1), skein::call::<Fib>(n - 2));
    Ok(a? + b?)
}

/// A stream, pulled one item at a time.
#[skein::routine(stream)]
fn squares(n: u64) -> impl Stream<Item = u64> + Send + 'static {
    futures::stream::iter((1..=n).map(|i| i * i))
}

static TENANT: ContextVar<String> = ContextVar::new("quickstart", "tenant");

/// Reads the caller's tenant on the worker, and changes it there.
#[skein::routine]
async fn greet() -> String {
    let tenant = TENANT.get().unwrap_or_default();
    let _ = TENANT.set(format!("{tenant} (seen by a worker)"));
    format!("hello, {tenant}")
}

/// Spends the caller's token on the worker. Written out by hand, as the attribute
/// would write it: a routine is any type with a `Routine` impl, registered with
/// `.routine::<Spend>()`.
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
    // The marked routines register themselves; `Spend` is registered explicitly.
    let pool = Pool::builder()
        .workers(4)
        .routine::<Spend>()
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
    // Run ahead: the worker computes up to 64 items before they are asked for, and
    // sends those that are ready in one message.
    let sum: u64 = pool
        .stream::<Squares>(1_000)
        .ahead(64)
        .map(|item| item.unwrap_or_default())
        .fold(0, |sum, square| async move { sum + square })
        .await;
    println!("ahead:   the sum of the first 1,000 squares = {sum}");

    skein::scope(async {
        let token = TENANT.set("acme".to_string())?;
        println!("context: {}", pool.call::<Greet>(()).await?);
        println!("context: back home, tenant = {:?}", TENANT.get());

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
