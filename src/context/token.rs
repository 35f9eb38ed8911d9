//! Single-use tokens: what `ContextVar::set` returns and `reset` consumes.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use skein_actors::{Blob, TokenId, VarKey, TOKEN_WEIGHT};

use super::payload;
use super::var::decode_value;
use super::GetError;

/// The shared state of every handle of one token.
pub(crate) struct TokenCell {
    pub(crate) id: TokenId,
    pub(crate) key: VarKey,
    /// The value the `set` replaced; `None` if the variable had no value.
    pub(crate) old: Option<Blob>,
    /// The context this token may be reset in: the one it was minted in, or the one
    /// it was anchored into on arrival. `0` marks an orphan.
    owner: AtomicU64,
    /// This process's part of the token's weight: all of it at mint, halved with the
    /// copy that leaves on every send, returned to the token's home when the last
    /// handle here goes. All the weight back at home means no handle is left anywhere,
    /// and the id is retired (see `skein_actors::Ledger::release`).
    weight: AtomicU64,
}

impl TokenCell {
    /// The cell of a token `ContextVar::set` just minted, in context `owner`.
    pub(crate) fn minted(id: TokenId, key: VarKey, old: Option<Blob>, owner: u64) -> TokenCell {
        TokenCell {
            id,
            key,
            old,
            owner: AtomicU64::new(owner),
            weight: AtomicU64::new(TOKEN_WEIGHT),
        }
    }

    /// The cell of a token that arrived in a payload: an orphan until anchored, with
    /// no weight until the payload's decoding takes it in.
    fn arrived(id: TokenId, key: VarKey, old: Option<Blob>) -> TokenCell {
        TokenCell {
            id,
            key,
            old,
            owner: AtomicU64::new(ORPHAN),
            weight: AtomicU64::new(0),
        }
    }

    /// The weight a copy being sent takes: half of this cell's, or none when it can
    /// no longer be halved (the id will then never be retired).
    fn split(&self) -> u64 {
        match self
            .weight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w >= 2).then(|| w - w / 2)
            }) {
            Ok(before) => before / 2,
            Err(_) => 0,
        }
    }

    pub(crate) fn owner(&self) -> u64 {
        self.owner.load(Ordering::Acquire)
    }

    /// Anchors an arrived token into a context. Only a token still an orphan is
    /// anchored, so a re-install never moves a token: installing a frame again is
    /// idempotent.
    pub(crate) fn anchor(&self, context: u64) {
        let _ = self
            .owner
            .compare_exchange(ORPHAN, context, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Drop for TokenCell {
    fn drop(&mut self) {
        skein_actors::release(self.id, *self.weight.get_mut());
    }
}

pub(crate) const ORPHAN: u64 = 0;

/// A single-use capability to undo one [`ContextVar::set`](super::ContextVar::set).
///
/// A token is moved, never copied: [`ContextVar::reset`](super::ContextVar::reset)
/// takes it by value and hands it back inside the error when it refuses. Two tokens
/// are equal when they have the same id. [`Token::duplicate`] makes a second handle of
/// the same token; all handles of one token are spent together, wherever they are.
///
/// A token may travel inside a routine's args or output; it serializes only inside a
/// dispatch encoding ([`payload::encode`]), and serializing it anywhere else is an
/// error (S34).
///
/// # Examples
///
/// ```
/// use skein::{ContextVar, ResetErrorKind};
///
/// static LEVEL: ContextVar<u32> = ContextVar::with_default("doc.token", "level", || 0);
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// skein::scope(async {
///     let outer = LEVEL.set(1).unwrap();
///     let inner = LEVEL.set(2).unwrap();
///     let again = inner.duplicate(); // a second handle of the same token
///     LEVEL.reset(inner).await.unwrap();
///     assert_eq!(LEVEL.get(), Some(1), "a reset restores the value its set replaced");
///     // Spent once, for every handle; the refused handle comes back in the error.
///     let refused = LEVEL.reset(again).await.unwrap_err();
///     assert_eq!(refused.kind(), ResetErrorKind::AlreadyUsed);
///     let _spent = refused.into_token();
///     LEVEL.reset(outer).await.unwrap();
///     assert_eq!(LEVEL.get(), Some(0), "back to no value: the default shows");
/// })
/// .await;
/// # }
/// ```
///
/// A handle is moved by `reset`, so the same handle cannot be reset twice (S28):
///
/// ```compile_fail
/// use skein::ContextVar;
/// static V: ContextVar<u32> = ContextVar::new("doc", "v");
/// # async fn f() {
/// let token = V.set(1).unwrap();
/// let _ = V.reset(token).await;
/// let _ = V.reset(token).await; // error: use of moved value
/// # }
/// ```
#[must_use = "a token is the only way to reset the value it replaced"]
pub struct Token<T> {
    pub(crate) cell: Arc<TokenCell>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Token<T> {
    pub(crate) fn from_cell(cell: Arc<TokenCell>) -> Token<T> {
        Token {
            cell,
            _type: PhantomData,
        }
    }

    /// The token's id.
    pub fn id(&self) -> TokenId {
        self.cell.id
    }

    /// The key of the variable whose `set` minted this token.
    pub fn key(&self) -> &VarKey {
        &self.cell.key
    }

    /// A second handle of this token, with the same id.
    ///
    /// Useful to send one handle along with a dispatch and keep one. The ledger spends
    /// an id once: after any handle is reset, every other handle's reset fails with
    /// [`ResetErrorKind::AlreadyUsed`](super::ResetErrorKind::AlreadyUsed).
    pub fn duplicate(&self) -> Token<T> {
        Token::from_cell(self.cell.clone())
    }
}

impl<T: DeserializeOwned> Token<T> {
    /// The value the `set` replaced, or `None` if the variable had no value then.
    ///
    /// # Errors
    ///
    /// [`GetError::Decode`] if the recorded value does not decode as `T`.
    pub fn old_value(&self) -> Result<Option<T>, GetError> {
        self.cell
            .old
            .as_ref()
            .map(|bytes| decode_value(&self.cell.key, bytes))
            .transpose()
    }
}

impl<T> PartialEq for Token<T> {
    fn eq(&self, other: &Token<T>) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<T> Eq for Token<T> {}

impl<T> Hash for Token<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.cell.id.hash(state)
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("key", &self.cell.key)
            .field("id", &self.cell.id)
            .finish()
    }
}

/// A token as it travels inside a dispatch encoding.
#[derive(Serialize, Deserialize)]
struct TokenWire {
    key: VarKey,
    id: TokenId,
    old: Option<Blob>,
    /// The part of the token's weight this copy carries (absent in frames of builds
    /// that did not count weight: none, so such a token is never retired).
    #[serde(default)]
    weight: u64,
}

impl<T> Serialize for Token<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !payload::note_exported(&self.cell) {
            return Err(serde::ser::Error::custom(
                "a skein Token serializes only inside a dispatch encoding (skein::payload::encode)",
            ));
        }
        TokenWire {
            key: self.cell.key.clone(),
            id: self.cell.id,
            old: self.cell.old.clone(),
            weight: self.cell.split(),
        }
        .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Token<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Token<T>, D::Error> {
        let wire = TokenWire::deserialize(deserializer)?;
        let cell = Arc::new(TokenCell::arrived(wire.id, wire.key, wire.old));
        if !payload::note_arrived(&cell) {
            return Err(serde::de::Error::custom(
                "a skein Token deserializes only inside a dispatch decoding (skein::payload::decode)",
            ));
        }
        // Only a cell the decoding took in holds the copy's weight: bytes decoded any
        // other way must not give back weight they never held.
        cell.weight.store(wire.weight, Ordering::Release);
        Ok(Token::from_cell(cell))
    }
}

/// Why a reset was refused. The checks run in this order (S31), and a refused reset
/// changes nothing (S32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetErrorKind {
    /// There is no current context: reset was called outside any scope.
    NoScope,
    /// The token was spent before, here or anywhere else.
    AlreadyUsed,
    /// The token belongs to another variable.
    WrongVar,
    /// The token was minted in a context this one does not continue (an orphan here).
    DifferentContext,
    /// The token's home ledger could not be reached, so the spend was not decided.
    LedgerUnavailable,
}

impl fmt::Display for ResetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResetErrorKind::NoScope => "reset outside any context scope",
            ResetErrorKind::AlreadyUsed => "token has already been used once",
            ResetErrorKind::WrongVar => "token was created by a different context variable",
            ResetErrorKind::DifferentContext => "token was created in a different context",
            ResetErrorKind::LedgerUnavailable => "the token's home ledger is unavailable",
        })
    }
}

/// A refused [`ContextVar::reset`](super::ContextVar::reset). Nothing changed; the
/// token comes back with [`ResetError::into_token`].
pub struct ResetError<T> {
    kind: ResetErrorKind,
    token: Token<T>,
}

impl<T> ResetError<T> {
    pub(crate) fn new(kind: ResetErrorKind, token: Token<T>) -> ResetError<T> {
        ResetError { kind, token }
    }

    /// Why the reset was refused.
    pub fn kind(&self) -> ResetErrorKind {
        self.kind
    }

    /// The token, unchanged.
    pub fn token(&self) -> &Token<T> {
        &self.token
    }

    /// Gives the token back.
    pub fn into_token(self) -> Token<T> {
        self.token
    }
}

impl<T> fmt::Debug for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetError")
            .field("kind", &self.kind)
            .field("token", &self.token)
            .finish()
    }
}

impl<T> fmt::Display for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (var {}, token {})",
            self.kind, self.token.cell.key, self.token.cell.id
        )
    }
}

impl<T> std::error::Error for ResetError<T> {}
