//! `ContextVar`: a typed handle on one key of the current context.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use skein_actors::codec::decode_body;
use skein_actors::{Blob, VarKey};

use super::registry::{self, CollisionError};
use super::state::Slot;
use super::token::{ResetError, ResetErrorKind, Token, TokenCell};
use super::Context;
use skein_actors::home;

/// A context variable: a typed value that travels with every dispatch.
///
/// Declare it as a `static`, keyed by `(namespace, name)`. A key may be declared by one
/// variable only: a second variable with the same key gets a [`CollisionError`] from
/// every operation (S1). Values are MessagePack-encoded on `set`, so only
/// values that were explicitly set travel (S6); a default is local to each process.
///
/// ```
/// use skein::ContextVar;
///
/// static TENANT: ContextVar<String> = ContextVar::new("demo", "tenant");
/// static RETRIES: ContextVar<u32> = ContextVar::with_default("demo", "retries", || 3);
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(RETRIES.get(), Some(3)); // outside any scope: the default
/// assert!(TENANT.set("acme".into()).is_err()); // outside any scope: an error
/// skein::scope(async {
///     let _token = TENANT.set("acme".into()).unwrap();
///     assert_eq!(TENANT.get().as_deref(), Some("acme"));
/// })
/// .await;
/// # }
/// ```
pub struct ContextVar<T> {
    key: VarKey,
    default: Option<fn() -> T>,
    declared: OnceLock<Result<(), CollisionError>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> ContextVar<T> {
    /// A variable with no default: `get` returns `None` until it is set.
    pub const fn new(namespace: &'static str, name: &'static str) -> ContextVar<T> {
        ContextVar {
            key: VarKey::from_static(namespace, name),
            default: None,
            declared: OnceLock::new(),
            _type: PhantomData,
        }
    }

    /// A variable whose `get` returns `default()` when no value is bound.
    pub const fn with_default(
        namespace: &'static str,
        name: &'static str,
        default: fn() -> T,
    ) -> ContextVar<T> {
        ContextVar {
            key: VarKey::from_static(namespace, name),
            default: Some(default),
            declared: OnceLock::new(),
            _type: PhantomData,
        }
    }

    /// The variable's key.
    pub fn key(&self) -> &VarKey {
        &self.key
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("key", &self.key)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

/// A `set` failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// There is no current context: `set` was called outside any scope.
    #[error("set of {0} outside any context scope")]
    NoScope(VarKey),
    /// Another variable holds this key.
    #[error(transparent)]
    Collision(#[from] CollisionError),
    /// The value failed to encode as MessagePack.
    #[error("value of {key} failed to encode: {message}")]
    Encode {
        /// The variable.
        key: VarKey,
        /// The encoder's message.
        message: String,
    },
}

/// A [`ContextVar::try_get`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// Another variable holds this key.
    #[error(transparent)]
    Collision(#[from] CollisionError),
    /// The bound value (which arrived from the wire before this variable was declared)
    /// does not decode as exactly one value of this variable's type: bytes left over
    /// after it make it bad too.
    #[error("value of {key} failed to decode: {message}")]
    Decode {
        /// The variable.
        key: VarKey,
        /// The decoder's message.
        message: String,
    },
}

// Decoded exactly: bytes left over after the `T` make the value bad.
// `rmp_serde::from_slice` stops after one value and ignores the rest, which once
// installed 64 random bytes as the `u32` their first byte spells.
pub(crate) fn decode_value<T: DeserializeOwned>(key: &VarKey, bytes: &[u8]) -> Result<T, GetError> {
    decode_body(bytes).map_err(|e| GetError::Decode {
        key: key.clone(),
        message: e.to_string(),
    })
}

/// The registry's validator of a `T` variable: what an install checks a value with,
/// so it accepts exactly what `get` will decode.
fn validate<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    decode_body::<T>(bytes).map(drop).map_err(|e| e.to_string())
}

impl<T: Serialize + DeserializeOwned + 'static> ContextVar<T> {
    /// Declares this variable's key in the process-wide registry. Every operation does
    /// this on first use; calling it early surfaces a collision at start-up.
    ///
    /// # Errors
    ///
    /// [`CollisionError`] if another variable already declared the same key.
    pub fn declare(&'static self) -> Result<(), CollisionError> {
        self.declared
            .get_or_init(|| {
                let owner = self as *const ContextVar<T> as usize;
                registry::declare(&self.key, owner, std::any::type_name::<T>(), validate::<T>)
            })
            .clone()
    }

    /// The value bound in the current context, else the default, else `None`.
    /// Outside any scope only the default is seen (S4).
    ///
    /// A value that cannot be read — the key is held by another variable, or a value
    /// that arrived before this variable was declared does not decode as `T` — is
    /// `None` here, with a `WARN` line through `tracing`: the value came from outside
    /// this code, so reading it never panics (S105). [`try_get`](ContextVar::try_get)
    /// tells those cases apart.
    pub fn get(&'static self) -> Option<T> {
        match self.try_get() {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, "context variable read as no value");
                None
            }
        }
    }

    /// [`get`](ContextVar::get), with the reasons a value cannot be read as errors.
    ///
    /// # Errors
    ///
    /// [`GetError::Collision`] if the key is held by another variable;
    /// [`GetError::Decode`] if a value that arrived before this variable was declared
    /// does not decode as `T`.
    pub fn try_get(&'static self) -> Result<Option<T>, GetError> {
        self.declare()?;
        let bound = Context::current().and_then(|cx| cx.lock().binding(&self.key).cloned());
        match bound {
            Some(Slot::Value(bytes)) => decode_value(&self.key, &bytes).map(Some),
            Some(Slot::NoValue) | None => Ok(self.default.map(|default| default())),
        }
    }

    /// Binds `value` in the current context and returns the single-use token that undoes it
    /// (S28, S29).
    ///
    /// # Errors
    ///
    /// [`SetError::NoScope`] outside any scope, [`SetError::Collision`] if the key is
    /// held by another variable, [`SetError::Encode`] if the value does not encode.
    pub fn set(&'static self, value: T) -> Result<Token<T>, SetError> {
        self.declare()?;
        let bytes = rmp_serde::to_vec(&value).map_err(|e| SetError::Encode {
            key: self.key.clone(),
            message: e.to_string(),
        })?;
        let cx = Context::current().ok_or_else(|| SetError::NoScope(self.key.clone()))?;
        let mut state = cx.lock();
        let old = match state.binding(&self.key) {
            Some(Slot::Value(old)) => Some(old.clone()),
            Some(Slot::NoValue) | None => None,
        };
        let cell = Arc::new(TokenCell::minted(
            home().mint(),
            self.key.clone(),
            old,
            state.id(),
        ));
        state.set(self.key.clone(), Blob::from(bytes), &cell);
        Ok(Token::from_cell(cell))
    }

    /// Undoes the `set` that minted `token`, restoring the value it replaced
    /// (S33), and spends the token.
    ///
    /// # Errors
    ///
    /// The checks run in this order, and a refused reset changes nothing (S31, S32):
    /// [`NoScope`](ResetErrorKind::NoScope) outside any scope;
    /// [`AlreadyUsed`](ResetErrorKind::AlreadyUsed) if any handle of the token was
    /// spent, anywhere; [`WrongVar`](ResetErrorKind::WrongVar) if the token belongs to
    /// another variable; [`DifferentContext`](ResetErrorKind::DifferentContext) if the
    /// token is an orphan here (S35, S37);
    /// [`LedgerUnavailable`](ResetErrorKind::LedgerUnavailable) if its home ledger
    /// cannot decide the spend. The token comes back inside the error.
    ///
    /// # Cancel safety
    ///
    /// For a token minted in this process the reset completes in the first poll. For a
    /// token minted on another node the spend is decided there: if the future is
    /// dropped while that answer is on its way, the token may be spent while the value
    /// here is left as it was.
    pub async fn reset(&'static self, token: Token<T>) -> Result<(), ResetError<T>> {
        let Some(cx) = Context::current() else {
            return Err(ResetError::new(ResetErrorKind::NoScope, token));
        };
        let refusal = {
            let state = cx.lock();
            let cell = &token.cell;
            if state.knows_spent(&cell.key, &cell.id) || home().is_spent(&cell.id) {
                return Err(ResetError::new(ResetErrorKind::AlreadyUsed, token));
            }
            if cell.key != self.key {
                Some(ResetErrorKind::WrongVar)
            } else if cell.owner() != state.id() {
                Some(ResetErrorKind::DifferentContext)
            } else {
                None
            }
        };
        if let Some(kind) = refusal {
            // `AlreadyUsed` comes first (S31), but a token homed on another node may
            // have been spent where this node never heard of it: ask its home before
            // refusing for another reason. Only refusals pay for the round trip.
            let foreign = token.cell.id.home() != home().id();
            if foreign && skein_actors::is_spent(token.cell.id).await == Ok(true) {
                return Err(ResetError::new(ResetErrorKind::AlreadyUsed, token));
            }
            return Err(ResetError::new(kind, token));
        }
        // The decision, at the token's home ledger: one spend per id wins, whichever
        // handle, whichever context, whichever node. The context is not locked while
        // a remote home answers.
        match skein_actors::spend(token.cell.id).await {
            Ok(skein_actors::SpendOutcome::Spent) => {}
            Ok(skein_actors::SpendOutcome::AlreadySpent) => {
                return Err(ResetError::new(ResetErrorKind::AlreadyUsed, token));
            }
            Err(skein_actors::LedgerUnavailable) => {
                return Err(ResetError::new(ResetErrorKind::LedgerUnavailable, token));
            }
        }
        let cell = &token.cell;
        let mut state = cx.lock();
        state.apply_reset(&cell.key, cell.id, cell.old.clone());
        Ok(())
    }
}
