//! Sending a dispatch straight to a worker actor, without `Pool::call`: build the
//! request, send `WorkerMsg::Dispatch` with `ractor::call!`, decode the reply.
//!
//!     cargo run --example direct_dispatch

use skein::actors::{Dispatch, DispatchKind, WorkerMsg};
use skein::{ContextVar, Never, Pool, Routine};

static LAST_SUM: ContextVar<i64> = ContextVar::new("direct_dispatch", "last_sum");

struct Add;
impl Routine for Add {
    const NAME: &'static str = "direct_dispatch.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        // A worker-side change: it travels back in the reply's manifest.
        let _ = LAST_SUM.set(x + y).expect("a routine runs in a context");
        Ok(x + y)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(2).routine::<Add>().build().await?;
    // A slot is `None` only while its worker restarts.
    let worker = pool.workers()[0].clone().ok_or("worker 0 is restarting")?;

    skein::scope(async {
        // The request carries the encoded args and a snapshot of the current context,
        // exactly as `pool.call::<Add>((2, 3))` would build it.
        let request = skein::request::<Add>((2, 3))?;
        let reply = ractor::call!(worker, |reply| WorkerMsg::Dispatch(
            Dispatch::new(request, DispatchKind::Call),
            reply
        ))?;

        let manifest_bytes = match &reply.manifest {
            Some(manifest) => manifest.encode()?.len(),
            None => 0,
        };
        // Records the reply's spends, merges its context into this scope, decodes.
        let sum = skein::decode_reply::<Add>(reply)?;
        println!("2 + 3 = {sum}");
        println!("reply manifest: {manifest_bytes} bytes");
        println!("merged back: last_sum = {:?}", LAST_SUM.get());
        Ok(())
    })
    .await
}
