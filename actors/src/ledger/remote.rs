//! The ledger actor: how other nodes reach this process's home ledger.
//!
//! Every node starts one, and it joins the process group named after this process's
//! home ledger id, so a node that holds a token finds the token's home by its id alone.
//! A process with several nodes has several members in its group; each serves the same
//! home ledger, so any of them decides.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use super::home::home;
use super::state::SpendOutcome;
use crate::ids::{LedgerId, TokenId};

/// How long a spend waits for a remote home ledger.
const REMOTE_SPEND_TIMEOUT: Duration = Duration::from_secs(2);

/// The process group of the ledger actors that serve `home`.
fn group_of(home: LedgerId) -> String {
    format!("skein.ledger.{}", home.as_uuid().simple())
}

/// Messages the ledger actor handles. Every spend it decides goes through this
/// process's home ledger, so a spend asked by another node and a local `reset` race to
/// one winner.
#[derive(Debug, ractor_cluster::RactorClusterMessage)]
pub(crate) enum LedgerMsg {
    /// Decide a spend.
    #[rpc]
    Spend(TokenId, RpcReplyPort<SpendOutcome>),
    /// Whether a token is spent.
    #[rpc]
    IsSpent(TokenId, RpcReplyPort<bool>),
    /// A handle of a token minted here was dropped on another node: its weight.
    Release(TokenId, u64),
}

/// The ledger actor. It holds no state of its own: it serves the home ledger.
struct LedgerActor;

impl Actor for LedgerActor {
    type Msg = LedgerMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<LedgerMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<LedgerMsg>,
        message: LedgerMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LedgerMsg::Spend(id, reply) => {
                let _ = reply.send(home().spend(id));
            }
            LedgerMsg::IsSpent(id, reply) => {
                let _ = reply.send(home().is_spent(&id));
            }
            LedgerMsg::Release(id, weight) => home().release(id, weight),
        }
        Ok(())
    }
}

/// Starts a ledger actor serving this process's home ledger, in its group.
pub(crate) async fn start() -> Result<ActorRef<LedgerMsg>, SpawnErr> {
    let (ledger, _) = Actor::spawn(None, LedgerActor, ()).await?;
    ractor::pg::join(group_of(home().id()), vec![ledger.get_cell()]);
    Ok(ledger)
}

/// Decides a spend at the home ledger of `id`, on its node; `None` when that node is
/// not connected or does not answer in time.
pub(crate) async fn spend(id: TokenId) -> Option<SpendOutcome> {
    ask(id, LedgerMsg::Spend).await
}

/// Whether the home ledger of `id`, on its node, knows it spent; `None` when that node
/// is not connected or does not answer in time.
pub(crate) async fn is_spent(id: TokenId) -> Option<bool> {
    ask(id, LedgerMsg::IsSpent).await
}

/// Sends a dropped handle's weight to the home of `id`, if a ledger actor of it is
/// reachable; otherwise the weight is lost (the id then stays open, the safe side).
pub(crate) fn release(id: TokenId, weight: u64) {
    if let Some(ledger) = ractor::pg::get_members(&group_of(id.home()))
        .into_iter()
        .next()
    {
        let _ = ActorRef::<LedgerMsg>::from(ledger).cast(LedgerMsg::Release(id, weight));
    }
}

/// The one way a home ledger is asked: find a ledger actor of the token's home, send
/// the question, wait a bounded time.
async fn ask<T: Send + 'static>(
    id: TokenId,
    question: fn(TokenId, RpcReplyPort<T>) -> LedgerMsg,
) -> Option<T> {
    let ledger: ActorRef<LedgerMsg> = ractor::pg::get_members(&group_of(id.home()))
        .into_iter()
        .next()?
        .into();
    match ledger
        .call(|port| question(id, port), Some(REMOTE_SPEND_TIMEOUT))
        .await
    {
        Ok(CallResult::Success(answer)) => Some(answer),
        _ => None,
    }
}
