//! Spends: where each token spend is decided, exactly once.
//!
//! - `state`: the pure state machine, a set of spent ids stored as runs ([`Ledger`]).
//! - `home`: this process's home ledger ([`home`]), which mints token ids and decides
//!   the spends of the tokens minted here, under one lock.
//! - `spends`: [`spend`] and [`is_spent`], which decide at a token's home, here or (with
//!   the `cluster` feature) on the node where it was minted.
//! - `remote` (feature `cluster`): the ledger actor through which other nodes reach
//!   this process's home ledger.

mod home;
#[cfg(feature = "cluster")]
pub(crate) mod remote;
mod spends;
mod state;

pub use home::{home, HomeLedger};
pub use spends::{is_spent, release, spend, LedgerUnavailable};
pub use state::{Ledger, LedgerDelta, SpendOutcome, TOKEN_WEIGHT};
