//! The Ledger actor: the mailbox face of this process's home ledger, reachable from
//! other nodes.

use ractor::{Actor, ActorProcessingErr, ActorRef, BytesConvertable, RpcReplyPort};

use super::{LedgerDelta, SpendOutcome};
use crate::frame::{self, Limits};
use crate::home::home;
use crate::ids::{LedgerId, TokenId};

/// Messages the Ledger actor handles. Every spend it decides goes through the home
/// ledger of this process, the one place where a spend of a token minted here is
/// decided, so a spend asked by another node and a local `reset` race to one winner.
#[derive(Debug, ractor_cluster::RactorClusterMessage)]
pub enum LedgerMsg {
    /// Decide a spend.
    #[rpc]
    Spend(TokenId, RpcReplyPort<SpendOutcome>),
    /// Ask whether a token is spent.
    #[rpc]
    IsSpent(TokenId, RpcReplyPort<bool>),
    /// Record spends reported by a reply frame (gossip).
    Merge(LedgerDelta),
    /// How many ids are known spent.
    #[rpc]
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
            LedgerMsg::Spend(id, reply) => {
                let _ = reply.send(home().spend(id));
            }
            LedgerMsg::IsSpent(id, reply) => {
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

// ---- how these types cross a node connection ----

fn small<T: serde::Serialize>(value: &T) -> Vec<u8> {
    frame::encode(value, &Limits::with_max_frame_bytes(usize::MAX)).unwrap_or_default()
}

impl BytesConvertable for TokenId {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable id becomes one of the nil ledger, which no real token has.
    fn from_bytes(bytes: Vec<u8>) -> TokenId {
        frame::decode(&bytes, &Limits::default())
            .unwrap_or_else(|_| TokenId::new(LedgerId::nil(), u64::MAX))
    }
}

impl BytesConvertable for SpendOutcome {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable answer refuses the spend: safety over availability.
    fn from_bytes(bytes: Vec<u8>) -> SpendOutcome {
        frame::decode(&bytes, &Limits::default()).unwrap_or(SpendOutcome::AlreadySpent)
    }
}

impl BytesConvertable for LedgerDelta {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable delta teaches nothing; the home ledgers still decide every spend.
    fn from_bytes(bytes: Vec<u8>) -> LedgerDelta {
        frame::decode(&bytes, &frame::wire_limits()).unwrap_or_default()
    }
}
