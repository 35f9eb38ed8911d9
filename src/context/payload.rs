//! The dispatch encoding of args and results: MessagePack, with tokens allowed inside.
//!
//! A [`Token`](crate::Token) serializes only here. Encoding a token *moves* it to
//! the receiver: the current context keeps its id listed as unspent, because a peer
//! now holds it. Decoding gives an [`Incoming`] value whose tokens are orphans until
//! [`Context::receive`](crate::Context::receive) installs the frame that carried them
//! and anchors those the frame lists (S35, S37).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skein_actors::{Blob, TokenId, VarKey};

use super::token::TokenCell;
use super::Context;

/// What the codec is doing on this thread: encoding or decoding is synchronous, so a
/// thread-local is exactly the extent of one `encode` or `decode` call.
enum Codec {
    Encoding(Vec<(VarKey, TokenId)>),
    Decoding(Vec<Arc<TokenCell>>),
}

thread_local! {
    static CODEC: RefCell<Vec<Codec>> = const { RefCell::new(Vec::new()) };
}

/// Pops the codec frame even if a user `Serialize` impl panics.
struct CodecGuard;

impl CodecGuard {
    fn push(codec: Codec) -> CodecGuard {
        CODEC.with(|stack| stack.borrow_mut().push(codec));
        CodecGuard
    }

    fn pop(self) -> Codec {
        let codec = CODEC.with(|stack| stack.borrow_mut().pop());
        std::mem::forget(self);
        codec.expect("codec stack holds the frame this guard pushed")
    }
}

impl Drop for CodecGuard {
    fn drop(&mut self) {
        CODEC.with(|stack| stack.borrow_mut().pop());
    }
}

/// Called by `Token::serialize`; false outside a dispatch encoding.
pub(crate) fn note_exported(cell: &TokenCell) -> bool {
    CODEC.with(|stack| match stack.borrow_mut().last_mut() {
        Some(Codec::Encoding(exported)) => {
            exported.push((cell.key.clone(), cell.id));
            true
        }
        _ => false,
    })
}

/// Called by `Token::deserialize`; false outside a dispatch decoding.
pub(crate) fn note_arrived(cell: &Arc<TokenCell>) -> bool {
    CODEC.with(|stack| match stack.borrow_mut().last_mut() {
        Some(Codec::Decoding(arrived)) => {
            arrived.push(cell.clone());
            true
        }
        _ => false,
    })
}

/// A value failed to encode or decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The value refused to serialize.
    #[error("payload failed to encode: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("payload failed to decode: {0}")]
    Decode(String),
}

/// Encodes `value` for a dispatch. Tokens inside it are allowed, and their ids stay
/// listed as unspent in the current context so that the receiver can anchor them.
///
/// # Errors
///
/// [`PayloadError::Encode`] if the value refuses to serialize.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PayloadError> {
    let mut bytes = Vec::new();
    encode_into(value, &mut bytes)?;
    Ok(bytes)
}

/// [`encode`] straight into the [`Blob`] a frame carries. The bytes are written into
/// a buffer this thread keeps, then copied once into the blob: one allocation per
/// value, where a fresh `Vec` grows a few times and is then copied anyway.
pub(crate) fn encode_blob<T: Serialize + ?Sized>(value: &T) -> Result<Blob, PayloadError> {
    /// Past this, a buffer is not kept: one huge value does not pin its memory.
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut bytes) => {
            bytes.clear();
            let encoded = encode_into(value, &mut bytes).map(|()| Blob::from(&bytes[..]));
            if bytes.capacity() > KEEP {
                *bytes = Vec::new();
            }
            encoded
        }
        // A value whose `Serialize` encodes another payload: the buffer is in use.
        Err(_) => encode(value).map(Blob::from),
    })
}

fn encode_into<T: Serialize + ?Sized>(value: &T, bytes: &mut Vec<u8>) -> Result<(), PayloadError> {
    let guard = CodecGuard::push(Codec::Encoding(Vec::new()));
    let result = rmp_serde::encode::write(bytes, value);
    let Codec::Encoding(exported) = guard.pop() else {
        unreachable!("the encoding frame is the one pushed above")
    };
    result.map_err(|e| PayloadError::Encode(e.to_string()))?;
    if !exported.is_empty() {
        if let Some(cx) = Context::current() {
            let mut state = cx.lock();
            for (key, id) in &exported {
                state.pin(key, id);
            }
        }
    }
    Ok(())
}

/// Decodes a dispatch payload. Tokens inside are orphans until the frame's manifest is
/// installed with [`Context::receive`](crate::Context::receive).
///
/// # Errors
///
/// [`PayloadError::Decode`] if the bytes are not exactly one valid encoding of `T`
/// (bytes left over after it are refused). Never panics, whatever the input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Incoming<T>, PayloadError> {
    let guard = CodecGuard::push(Codec::Decoding(Vec::new()));
    let result = skein_actors::codec::decode_body(bytes);
    let Codec::Decoding(tokens) = guard.pop() else {
        unreachable!("the decoding frame is the one pushed above")
    };
    let value = result.map_err(|e| PayloadError::Decode(e.to_string()))?;
    Ok(Incoming { value, tokens })
}

/// A decoded payload whose tokens are not anchored yet.
pub struct Incoming<T> {
    value: T,
    tokens: Vec<Arc<TokenCell>>,
}

impl<T> Incoming<T> {
    /// How many tokens the payload carries.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The value without installing any frame: every token inside stays an orphan
    /// (S37: one round-tripped through the serializer without an install).
    pub fn into_orphans(self) -> T {
        self.value
    }

    pub(crate) fn into_parts(self) -> (T, Vec<Arc<TokenCell>>) {
        (self.value, self.tokens)
    }
}

impl<T: fmt::Debug> fmt::Debug for Incoming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("value", &self.value)
            .field("tokens", &self.tokens.len())
            .finish()
    }
}
