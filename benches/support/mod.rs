//! What the in-process benches share: a bare ractor actor to call beside the pool, and
//! a timer that runs a case's iterations as one task on the runtime.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// Answers a ping with its number plus one.
pub struct Echo;
/// A number, and where the answer goes.
pub struct Ping(pub i64, pub RpcReplyPort<i64>);
// Under skein's `cluster` feature ractor asks every message type to say whether it can
// cross nodes; without it, every type is a message.
#[cfg(feature = "cluster")]
impl ractor::Message for Ping {}

impl Actor for Echo {
    type Msg = Ping;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Ping>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Ping>,
        Ping(x, reply): Ping,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(x + 1);
        Ok(())
    }
}

/// `iters` bare ractor calls of `echo` in a row: the baseline every in-process bench
/// measures beside the pool.
pub async fn bare_calls(echo: ActorRef<Ping>, iters: u64) {
    for i in 0..iters {
        ractor::call!(echo, |reply| Ping(i as i64, reply)).unwrap();
    }
}

/// Runs `work` as one task on the runtime and returns how long it took there.
pub async fn timed(
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::time::Duration {
    tokio::spawn(async move {
        let start = std::time::Instant::now();
        work.await;
        start.elapsed()
    })
    .await
    .unwrap()
}
