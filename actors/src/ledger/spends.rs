//! Deciding a spend at the token's home ledger.
//!
//! A token minted in this process is decided here, by the home ledger. A token minted
//! in another process is decided by that process's home ledger, reached through its
//! node (feature `cluster`). When the home cannot be reached the spend is refused with
//! [`LedgerUnavailable`]: never a double spend.

use super::home::home;
use super::state::SpendOutcome;
use crate::ids::TokenId;

/// A spend could not be decided: the token's home ledger is out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's home ledger is unavailable")]
pub struct LedgerUnavailable;

/// Decides a spend at the token's home ledger: here for tokens minted here, on the
/// home node otherwise.
///
/// # Errors
///
/// [`LedgerUnavailable`] when the token was minted elsewhere and its home node is not
/// connected or does not answer (or, without the `cluster` feature, cannot be reached
/// at all).
pub async fn spend(id: TokenId) -> Result<SpendOutcome, LedgerUnavailable> {
    let decided = decide(id).await;
    crate::metrics::spend(match decided {
        Ok(SpendOutcome::Spent) => "spent",
        Ok(SpendOutcome::AlreadySpent) => "already_spent",
        Err(LedgerUnavailable) => "unavailable",
    });
    decided
}

async fn decide(id: TokenId) -> Result<SpendOutcome, LedgerUnavailable> {
    let here = home();
    if id.home() == here.id() {
        return Ok(here.spend(id));
    }
    if here.is_spent(&id) {
        return Ok(SpendOutcome::AlreadySpent);
    }
    let won = ask_home(id, Question::Spend)
        .await
        .ok_or(LedgerUnavailable)?;
    // Either way the id is spent now: remember it here.
    here.learn([&id]);
    Ok(if won {
        SpendOutcome::Spent
    } else {
        SpendOutcome::AlreadySpent
    })
}

/// Whether a token is spent, as its home ledger knows it: here, from what this process
/// has learned, or by asking the home node.
///
/// # Errors
///
/// As [`spend`].
pub async fn is_spent(id: TokenId) -> Result<bool, LedgerUnavailable> {
    let here = home();
    if id.home() == here.id() || here.is_spent(&id) {
        return Ok(here.is_spent(&id));
    }
    let spent = ask_home(id, Question::IsSpent)
        .await
        .ok_or(LedgerUnavailable)?;
    if spent {
        here.learn([&id]);
    }
    Ok(spent)
}

/// Gives a dropped handle's weight back to its token's home: here, or on its node
/// (feature `cluster`, as a message that is not waited for). Weight that cannot be
/// given back (the home is not connected, or gone) is lost, which only means the
/// token's id is never retired: see [`Ledger::release`](super::Ledger::release).
pub fn release(id: TokenId, weight: u64) {
    if weight == 0 {
        return;
    }
    let here = home();
    if id.home() == here.id() {
        here.release(id, weight);
    } else {
        #[cfg(feature = "cluster")]
        super::remote::release(id, weight);
    }
}

/// Asks a token's home node: whether this spend won, or whether the token is spent.
/// `None` when the home cannot be reached.
#[cfg(feature = "cluster")]
async fn ask_home(id: TokenId, question: Question) -> Option<bool> {
    match question {
        Question::Spend => super::remote::spend(id)
            .await
            .map(|outcome| outcome == SpendOutcome::Spent),
        Question::IsSpent => super::remote::is_spent(id).await,
    }
}

/// Without the `cluster` feature there is no other node to ask.
#[cfg(not(feature = "cluster"))]
async fn ask_home(_: TokenId, _: Question) -> Option<bool> {
    None
}

#[derive(Clone, Copy)]
enum Question {
    Spend,
    IsSpent,
}
