//! This process's home ledger: it mints token ids and decides their spends.
//!
//! The state lives in a process-wide value rather than inside an actor, because token
//! ids are minted by `ContextVar::set` anywhere in the process, with or without a pool
//! and on any tokio runtime; an actor is bound to the runtime that spawned it. With the
//! `cluster` feature each node starts a ledger actor that serves this same state to
//! other nodes.
//!
//! Every token id names its home ledger. Within one process every spend is decided
//! here, under one lock, so concurrent spends of one id race to exactly one winner.
//! Spends learned from frames (ledger deltas) are recorded here too, so a token spent
//! on the other side of a dispatch is refused at home.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::state::{Ledger, LedgerDelta, SpendOutcome};
use crate::ids::{LedgerId, TokenId};

/// This process's home ledger. Obtain it with [`home`].
#[derive(Debug)]
pub struct HomeLedger {
    id: LedgerId,
    next_seq: AtomicU64,
    ledger: Mutex<Ledger>,
}

/// The home ledger of this process, created on first use.
pub fn home() -> &'static HomeLedger {
    static HOME: OnceLock<HomeLedger> = OnceLock::new();
    HOME.get_or_init(|| HomeLedger {
        id: LedgerId::new(),
        next_seq: AtomicU64::new(0),
        ledger: Mutex::new(Ledger::new()),
    })
}

impl HomeLedger {
    /// This ledger's id: the home of every token minted here.
    pub fn id(&self) -> LedgerId {
        self.id
    }

    /// A fresh token id homed here.
    pub fn mint(&self) -> TokenId {
        TokenId::new(self.id, self.next_seq.fetch_add(1, Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding this lock cannot leave the ledger half-updated (every
        // mutation is a single insert), so a poisoned lock is still sound to use.
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides a spend: the first spend of an id wins, every later one is refused.
    pub fn spend(&self, id: TokenId) -> SpendOutcome {
        self.lock().spend(id)
    }

    /// Whether `id` has been spent (here, or anywhere a delta reported).
    pub fn is_spent(&self, id: &TokenId) -> bool {
        self.lock().is_spent(id)
    }

    /// Records spends learned from a frame.
    pub fn learn<'a>(&self, ids: impl IntoIterator<Item = &'a TokenId>) {
        let mut ledger = self.lock();
        for id in ids {
            ledger.spend(*id);
        }
    }

    /// Records every id of a delta as spent; returns how many were new here.
    pub fn merge(&self, delta: &LedgerDelta) -> usize {
        if delta.is_empty() {
            return 0; // the common reply: no spends, no lock
        }
        self.lock().merge(delta)
    }

    /// Takes back `weight` of a token minted here from a handle that was dropped (here,
    /// or on another node that sent it back); see [`Ledger::release`].
    pub fn release(&self, id: TokenId, weight: u64) {
        if id.home() == self.id && weight > 0 {
            self.lock().release(id, weight);
        }
    }

    /// How many ids this process knows to be spent.
    pub fn spent_count(&self) -> u64 {
        self.lock().len()
    }

    /// How many runs the home ledger stores: what its memory grows with (each run is
    /// one entry of a B-tree map from `u64` to `u64`).
    pub fn runs(&self) -> usize {
        self.lock().runs()
    }

    /// How many tokens minted here are partly released (some handle dropped, another
    /// still alive or in flight): the other thing the home's memory grows with.
    pub fn partly_released(&self) -> usize {
        self.lock().partly_released()
    }
}
