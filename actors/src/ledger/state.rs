//! The ledger as a pure state machine: a set of spent token ids that decides each
//! spend exactly once.
//!
//! # Retention
//!
//! A ledger never forgets a spent id, so a second spend of the same id is refused for
//! as long as the ledger lives: there is no reaping that a peer could outrun. What
//! keeps it small is the shape of token ids: every id is `(home, seq)` with `seq`
//! dense per home, and the ledger stores each home's spent
//! sequence numbers as disjoint runs `start..=end`. Tokens spent in roughly the order
//! they were minted collapse into a handful of runs; the worst case, every other id
//! spent, costs one run per spent id. Memory therefore grows with the number of *gaps*
//! (ids minted and not yet spent between spent ones), never beyond one run per spent
//! id; `benches/ledger.rs` measures both cases for 1,000,000 ids.
//!
//! A gap closes without a spend when its token can never be spent again: when no
//! handle of it is left anywhere and no frame carrying it is in flight, it is
//! *retired* at home ([`Ledger::retire`]). How the home knows is weighted reference
//! counting: a token is minted with [`TOKEN_WEIGHT`]; every handle of it holds a part
//! of that weight, a handle that is sent splits its part with the copy it sends, and
//! a handle that is dropped returns its part to the home ([`Ledger::release`]). All of
//! the weight back means nothing holds the token any more. A part that is lost (a
//! process that dies, a frame that is never read) never comes back, so the id simply
//! stays open: losing weight is always on the safe side. What stays open is the
//! tokens still alive, or in flight, or lost with a process.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::ids::{LedgerId, TokenId};

/// The weight a token is minted with: all of it back at home means no handle of the
/// token is left anywhere. Halved on every send, it lasts 62 sends down one line of
/// copies; a handle whose weight can no longer be split sends none, which only means
/// its token's id is never retired.
pub const TOKEN_WEIGHT: u64 = 1 << 62;

/// What a spend decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpendOutcome {
    /// This was the first spend: the caller owns the reset.
    Spent,
    /// The id was spent before; the caller must refuse the reset.
    AlreadySpent,
}

/// A set of spent token ids, as it travels between ledgers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LedgerDelta(BTreeSet<TokenId>);

impl LedgerDelta {
    /// An empty delta.
    pub fn new() -> LedgerDelta {
        LedgerDelta::default()
    }

    /// Adds a spent id; returns whether it was new to this delta.
    pub fn insert(&mut self, id: TokenId) -> bool {
        self.0.insert(id)
    }

    /// Whether the delta lists `id`.
    pub fn contains(&self, id: &TokenId) -> bool {
        self.0.contains(id)
    }

    /// The ids, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &TokenId> + '_ {
        self.0.iter()
    }

    /// How many ids the delta lists.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the delta is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<TokenId> for LedgerDelta {
    fn from_iter<I: IntoIterator<Item = TokenId>>(iter: I) -> LedgerDelta {
        LedgerDelta(iter.into_iter().collect())
    }
}

/// Disjoint runs of spent sequence numbers of one home: `start -> end`, inclusive.
#[derive(Clone, Debug, Default)]
struct Runs(BTreeMap<u64, u64>);

impl Runs {
    fn contains(&self, seq: u64) -> bool {
        self.0
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &end)| seq <= end)
    }

    /// Inserts `seq`; returns false if it was already there.
    fn insert(&mut self, seq: u64) -> bool {
        let prev = self.0.range(..=seq).next_back().map(|(&s, &e)| (s, e));
        if prev.is_some_and(|(_, end)| seq <= end) {
            return false;
        }
        let joins_prev = prev.filter(|&(_, end)| end.checked_add(1) == Some(seq));
        let joins_next = seq
            .checked_add(1)
            .and_then(|next| self.0.get(&next).map(|&end| (next, end)));
        match (joins_prev, joins_next) {
            (Some((start, _)), Some((next, end))) => {
                self.0.remove(&next);
                self.0.insert(start, end);
            }
            (Some((start, _)), None) => {
                self.0.insert(start, seq);
            }
            (None, Some((next, end))) => {
                self.0.remove(&next);
                self.0.insert(seq, end);
            }
            (None, None) => {
                self.0.insert(seq, seq);
            }
        }
        true
    }
}

/// The spent-token set, deciding each spend exactly once.
///
/// ```
/// use skein_actors::{Ledger, LedgerId, SpendOutcome, TokenId};
///
/// let mut ledger = Ledger::new();
/// let id = TokenId::new(LedgerId::new(), 7);
/// assert_eq!(ledger.spend(id), SpendOutcome::Spent);
/// assert_eq!(ledger.spend(id), SpendOutcome::AlreadySpent);
/// assert!(ledger.is_spent(&id));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    homes: HashMap<LedgerId, Runs>,
    spent: u64,
    retired: u64,
    /// The weight returned so far, of open ids whose handles are not all gone yet.
    released: HashMap<TokenId, u64>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Decides a spend: the first spend of an id wins, every later one is refused.
    pub fn spend(&mut self, id: TokenId) -> SpendOutcome {
        if !self.released.is_empty() {
            self.released.remove(&id); // closed now: its weight no longer matters
        }
        if self.homes.entry(id.home()).or_default().insert(id.seq()) {
            self.spent += 1;
            SpendOutcome::Spent
        } else {
            SpendOutcome::AlreadySpent
        }
    }

    /// Closes an id that can never be spent: its token was dropped without ever
    /// leaving the process that minted it, so no handle of it exists anywhere. The
    /// id's gap closes (the runs merge), so memory tracks the tokens still alive, not
    /// every token ever minted. A later spend of it is refused, as for a spent id.
    /// Returns whether the id was open.
    ///
    /// ```
    /// use skein_actors::{Ledger, LedgerId, SpendOutcome, TokenId};
    ///
    /// let mut ledger = Ledger::new();
    /// let home = LedgerId::new();
    /// ledger.spend(TokenId::new(home, 0));
    /// ledger.spend(TokenId::new(home, 2));
    /// assert_eq!(ledger.runs(), 2);
    /// assert!(ledger.retire(TokenId::new(home, 1))); // dropped, never sent
    /// assert_eq!(ledger.runs(), 1);
    /// assert_eq!((ledger.len(), ledger.retired()), (2, 1));
    /// assert_eq!(ledger.spend(TokenId::new(home, 1)), SpendOutcome::AlreadySpent);
    /// ```
    pub fn retire(&mut self, id: TokenId) -> bool {
        if !self.released.is_empty() {
            self.released.remove(&id);
        }
        let open = self.homes.entry(id.home()).or_default().insert(id.seq());
        if open {
            self.retired += 1;
        }
        open
    }

    /// Takes back `weight` of an open id's [`TOKEN_WEIGHT`] from a handle that was
    /// dropped; when all of it is back, no handle of the token is left anywhere and the
    /// id is retired. Returns whether this release retired it. A release of a closed
    /// id changes nothing.
    ///
    /// Weight returned twice (a frame read twice, its handles each dropped) can retire
    /// an id early: a handle still alive then finds it used. That refuses a reset; it
    /// never lets one through twice.
    ///
    /// ```
    /// use skein_actors::{Ledger, LedgerId, TokenId, TOKEN_WEIGHT};
    ///
    /// let mut ledger = Ledger::new();
    /// let id = TokenId::new(LedgerId::new(), 0);
    /// // Sent once: the home kept half, the copy took half.
    /// assert!(!ledger.release(id, TOKEN_WEIGHT / 2)); // the home's handle is dropped
    /// assert!(!ledger.is_spent(&id));
    /// assert!(ledger.release(id, TOKEN_WEIGHT / 2)); // and the copy's, on its node
    /// assert!(ledger.is_spent(&id));
    /// ```
    pub fn release(&mut self, id: TokenId, weight: u64) -> bool {
        if weight == 0 || self.is_spent(&id) {
            self.released.remove(&id);
            return false;
        }
        let back = self
            .released
            .get(&id)
            .copied()
            .unwrap_or(0)
            .saturating_add(weight);
        if back >= TOKEN_WEIGHT {
            self.released.remove(&id);
            self.retire(id)
        } else {
            self.released.insert(id, back);
            false
        }
    }

    /// How many open ids have some of their weight back: tokens partly released, whose
    /// other handles are still alive somewhere.
    pub fn partly_released(&self) -> usize {
        self.released.len()
    }

    /// How many ids were retired: closed without a spend.
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// Whether `id` has been spent (or retired).
    pub fn is_spent(&self, id: &TokenId) -> bool {
        self.homes
            .get(&id.home())
            .is_some_and(|runs| runs.contains(id.seq()))
    }

    /// Records every id of `delta` as spent; returns how many were new here.
    pub fn merge(&mut self, delta: &LedgerDelta) -> usize {
        delta
            .iter()
            .filter(|id| self.spend(**id) == SpendOutcome::Spent)
            .count()
    }

    /// How many ids have been spent (retired ones not counted).
    pub fn len(&self) -> u64 {
        self.spent
    }

    /// Whether no id has been spent or retired.
    pub fn is_empty(&self) -> bool {
        self.spent == 0 && self.retired == 0
    }

    /// How many runs the ledger stores: what its memory grows with.
    pub fn runs(&self) -> usize {
        self.homes.values().map(|runs| runs.0.len()).sum()
    }
}
