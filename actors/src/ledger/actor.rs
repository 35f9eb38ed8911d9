//! The Ledger actor: the mailbox face of this process's home ledger.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{LedgerDelta, SpendOutcome};
use crate::home::home;
use crate::ids::TokenId;

/// Messages the Ledger actor handles. Every spend it decides goes through the home
/// ledger of this process, the one place where a spend of a locally minted token is
/// decided, so a spend asked of the actor and a local `reset` race to one winner.
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerMsg {
    /// Decide a spend.
    Spend {
        /// The token.
        id: TokenId,
        /// The decision.
        reply: RpcReplyPort<SpendOutcome>,
    },
    /// Ask whether a token is spent.
    IsSpent {
        /// The token.
        id: TokenId,
        /// The answer.
        reply: RpcReplyPort<bool>,
    },
    /// Record spends reported by a reply frame (gossip).
    Merge(LedgerDelta),
    /// How many ids are known spent.
    Count(RpcReplyPort<u64>),
}

/// The Ledger actor.
#[derive(Debug, Default)]
pub struct LedgerActor;

impl Actor for LedgerActor {
    type Msg = LedgerMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<LedgerMsg>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<LedgerMsg>,
        message: LedgerMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LedgerMsg::Spend { id, reply } => {
                let _ = reply.send(home().spend(id));
            }
            LedgerMsg::IsSpent { id, reply } => {
                let _ = reply.send(home().is_spent(&id));
            }
            LedgerMsg::Merge(delta) => {
                home().merge(&delta);
            }
            LedgerMsg::Count(reply) => {
                let _ = reply.send(home().spent_count());
            }
        }
        Ok(())
    }
}
