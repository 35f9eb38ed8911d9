//! Deadlines and cancellation that travel: a scope deadline bounds a chain of nested
//! calls end to end, each hop sees what is left of it, and a call that runs out of
//! time, or whose caller drops it, is cancelled on every hop (its cleanup runs).
//!
//!     cargo run --release --example deadlines

use std::time::{Duration, Instant};

use skein::{DispatchError, ErrorMessage, Pool};
use tokio::sync::mpsc;

/// Where each hop's cleanup reports: `main` reads it to show that a routine was
/// cancelled where it ran, not left to sleep on.
static CLEANUPS: std::sync::Mutex<Option<mpsc::UnboundedSender<&'static str>>> =
    std::sync::Mutex::new(None);

fn report(what: &'static str) {
    if let Some(tx) = CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        let _ = tx.send(what);
    }
}

/// Runs its cleanup when it is dropped before it finished: a cancelled routine is
/// dropped where it stands, so this is how it notices.
struct Cleanup {
    hop: &'static str,
    finished: bool,
}

impl Cleanup {
    fn new(hop: &'static str) -> Cleanup {
        Cleanup {
            hop,
            finished: false,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.finished {
            report(self.hop);
        }
    }
}

/// What is left of the routine's deadline, as it sees it on its worker.
fn budget() -> String {
    match skein::time_left() {
        Some(left) => format!("{left:.0?} left"),
        None => "no deadline".to_string(),
    }
}

/// The first hop: says how much time it was handed, then asks the second hop, which
/// inherits what is left.
#[skein::routine(name = "deadlines.quote")]
async fn quote(item: String, slow: bool) -> Result<String, ErrorMessage> {
    let mut cleanup = Cleanup::new("quote");
    println!("  quote:   started, {}", budget());
    let price = skein::call::<Price>((item.clone(), slow)).await?;
    cleanup.finished = true;
    Ok(format!("{item}: {price}"))
}

/// The second hop: quick, or sleeps far past any deadline.
#[skein::routine(name = "deadlines.price")]
async fn price(item: String, slow: bool) -> u64 {
    let mut cleanup = Cleanup::new("price");
    println!("  price:   started, {}", budget());
    if slow {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    cleanup.finished = true;
    item.len() as u64 * 100
}

/// Reads the cleanups of `hops` cancelled routines, or fails after a second.
async fn cleanups(
    rx: &mut mpsc::UnboundedReceiver<&'static str>,
    hops: usize,
) -> Result<Vec<&'static str>, String> {
    let mut seen = Vec::new();
    while seen.len() < hops {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some(hop)) => seen.push(hop),
            _ => return Err(format!("only {seen:?} were cancelled")),
        }
    }
    seen.sort();
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let pool = Pool::builder().workers(2).build().await?;

    println!("a chain with time to spare (500 ms):");
    let answer = skein::with_deadline(
        Duration::from_millis(500),
        pool.call::<Quote>(("tea".to_string(), false)),
    )
    .await?;
    println!("  caller:  {answer}");

    println!("a chain whose last hop sleeps, under a 200 ms deadline:");
    let started = Instant::now();
    let timed_out = skein::with_deadline(
        Duration::from_millis(200),
        pool.call::<Quote>(("coffee".to_string(), true)),
    )
    .await;
    match timed_out {
        Err(DispatchError::Timeout) => {
            println!("  caller:  Timeout after {:.0?}", started.elapsed())
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    println!(
        "  cancelled on their workers: {:?}",
        cleanups(&mut rx, 2).await?
    );

    println!("a chain whose caller gives up (drops the call) after 50 ms:");
    let call = pool.call::<Quote>(("cocoa".to_string(), true));
    if tokio::time::timeout(Duration::from_millis(50), call)
        .await
        .is_ok()
    {
        return Err("the sleeping chain answered".into());
    }
    println!(
        "  cancelled on their workers: {:?}",
        cleanups(&mut rx, 2).await?
    );
    Ok(())
}
