//! This process's home ledger: it mints token ids and decides their spends.
//!
//! Every token id names its home ledger. Within one process every spend is decided
//! here, under one lock, so concurrent spends of one id race to exactly one winner.
//! Spends learned from frames (ledger deltas) are recorded here too, so a token spent
//! on the other side of a dispatch is refused at home.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use skein_actors::{Ledger, LedgerId, SpendOutcome, TokenId};

pub(crate) struct HomeLedger {
    id: LedgerId,
    next_seq: AtomicU64,
    ledger: Mutex<Ledger>,
}

pub(crate) fn home() -> &'static HomeLedger {
    static HOME: OnceLock<HomeLedger> = OnceLock::new();
    HOME.get_or_init(|| HomeLedger {
        id: LedgerId::new(),
        next_seq: AtomicU64::new(0),
        ledger: Mutex::new(Ledger::new()),
    })
}

impl HomeLedger {
    /// A fresh token id homed here.
    pub(crate) fn mint(&self) -> TokenId {
        TokenId::new(self.id, self.next_seq.fetch_add(1, Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding this lock cannot leave the ledger half-updated (every
        // mutation is a single insert), so a poisoned lock is still sound to use.
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn spend(&self, id: TokenId) -> SpendOutcome {
        self.lock().spend(id)
    }

    pub(crate) fn is_spent(&self, id: &TokenId) -> bool {
        self.lock().is_spent(id)
    }

    /// Records spends learned from a frame.
    pub(crate) fn learn<'a>(&self, ids: impl IntoIterator<Item = &'a TokenId>) {
        let mut ledger = self.lock();
        for id in ids {
            ledger.spend(*id);
        }
    }
}
