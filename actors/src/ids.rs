//! Identifiers that travel: chains, ledgers and tokens.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of a chain: one serial branch of the call tree (S7, S21).
///
/// An awaited dispatch continues its caller's chain; a fork starts a new one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChainId(Uuid);

impl ChainId {
    /// A fresh, random chain id.
    pub fn new() -> ChainId {
        ChainId(Uuid::new_v4())
    }

    /// The chain id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ChainId {
    fn default() -> Self {
        ChainId::new()
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0.simple())
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

/// The id of a ledger: the home that decides the spends of the tokens it minted.
///
/// One process has one home ledger. Token ids carry it, so any node can tell
/// where a token's spend is decided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LedgerId(Uuid);

impl LedgerId {
    /// A fresh, random ledger id.
    pub fn new() -> LedgerId {
        LedgerId(Uuid::new_v4())
    }

    /// The ledger id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl LedgerId {
    /// The nil ledger id: the home of no token.
    pub fn nil() -> LedgerId {
        LedgerId(Uuid::nil())
    }
}

impl Default for LedgerId {
    fn default() -> Self {
        LedgerId::new()
    }
}

impl fmt::Debug for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerId({})", self.0.simple())
    }
}

/// The id of a single-use token: its home ledger and a sequence number there.
///
/// Sequence numbers are dense per home, which is what lets a [`Ledger`](crate::Ledger)
/// keep a million spent ids in a few runs instead of a million entries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenId {
    home: LedgerId,
    seq: u64,
}

impl TokenId {
    /// The token `seq` of the ledger `home`.
    pub const fn new(home: LedgerId, seq: u64) -> TokenId {
        TokenId { home, seq }
    }

    /// The ledger that decides this token's spend.
    pub fn home(&self) -> LedgerId {
        self.home
    }

    /// The token's sequence number at its home.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenId({}:{})",
            &self.home.0.simple().to_string()[..8],
            self.seq
        )
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.home.0.simple(), self.seq)
    }
}

/// The id of one dispatch: unique across processes.
///
/// A random per-process prefix and a counter, so that minting one costs an atomic
/// increment, not a trip to the system's random source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DispatchId(Uuid);

impl DispatchId {
    /// A fresh dispatch id.
    pub fn new() -> DispatchId {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| Uuid::new_v4().as_u64_pair().0);
        DispatchId(Uuid::from_u64_pair(
            prefix,
            NEXT.fetch_add(1, Ordering::Relaxed),
        ))
    }
}

impl DispatchId {
    /// The id as one 128-bit number.
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// A 64-bit id of this dispatch's span, for trace contexts: unique within a
    /// process (the counter), and apart across processes (the random prefix), never 0.
    pub fn span_id(&self) -> u64 {
        let (prefix, count) = self.0.as_u64_pair();
        (prefix ^ count.rotate_left(32)).max(1)
    }

    /// The nil id: names no dispatch.
    pub fn nil() -> DispatchId {
        DispatchId(Uuid::nil())
    }
}

impl Default for DispatchId {
    fn default() -> Self {
        DispatchId::new()
    }
}

impl fmt::Debug for DispatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DispatchId({})", self.0.simple())
    }
}

impl fmt::Display for DispatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}
