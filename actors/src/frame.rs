//! The versioned frame codec and its size limit.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The wire version this build speaks. A frame of another version is refused.
pub const WIRE_VERSION: u8 = 1;

/// The first byte of every frame, so that bytes that are not a skein frame at all
/// are told apart from a version mismatch.
const MAGIC: u8 = 0xa7;

const HEADER_LEN: usize = 2;

/// Limits applied to every frame before it is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame, header included, that is accepted (and produced).
    pub max_frame_bytes: usize,
}

impl Limits {
    /// The default limit: 16 MiB.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

    /// Limits with the given maximum frame size in bytes.
    pub const fn with_max_frame_bytes(max_frame_bytes: usize) -> Limits {
        Limits { max_frame_bytes }
    }

    /// No limit: for frames whose size is bounded some other way (small fixed-size
    /// messages, or bytes a transport already capped).
    pub const fn unlimited() -> Limits {
        Limits::with_max_frame_bytes(usize::MAX)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::with_max_frame_bytes(Self::DEFAULT_MAX_FRAME_BYTES)
    }
}

/// A frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value refused to serialize.
    #[error("frame body failed to encode: {0}")]
    Body(String),
    /// The encoded frame is larger than the limit.
    #[error("encoded frame is {len} bytes, over the limit of {max}")]
    Oversize {
        /// The frame's size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A byte string is not a valid frame. Decoding never panics; every failure is one of
/// these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than the limit; it was not read.
    #[error("frame is {len} bytes, over the limit of {max}")]
    Oversize {
        /// The input's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is too short, or does not start with the frame magic byte.
    #[error("not a skein frame")]
    NotAFrame,
    /// The frame was written by a version this build does not speak.
    #[error("unsupported wire version {found} (this build speaks {WIRE_VERSION})")]
    Version {
        /// The version found in the frame.
        found: u8,
    },
    /// The body is not valid MessagePack for the expected message.
    #[error("malformed frame body: {0}")]
    Malformed(String),
    /// The body decoded but has bytes left over after it.
    #[error("frame has {0} trailing bytes")]
    Trailing(usize),
    /// The body decoded but breaks a rule of the message (such as sorted entries).
    #[error("frame is not canonical: {0}")]
    NotCanonical(String),
}

/// Encodes `value` as a frame: the header, then MessagePack.
///
/// # Errors
///
/// [`EncodeError::Body`] if `value` fails to serialize, [`EncodeError::Oversize`] if the
/// frame is larger than `limits` allows.
pub fn encode<T: Serialize + ?Sized>(value: &T, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    out.push(MAGIC);
    out.push(WIRE_VERSION);
    rmp_serde::encode::write(&mut out, value).map_err(|e| EncodeError::Body(e.to_string()))?;
    if out.len() > limits.max_frame_bytes {
        return Err(EncodeError::Oversize {
            len: out.len(),
            max: limits.max_frame_bytes,
        });
    }
    Ok(out)
}

/// Decodes a frame written by [`encode`].
///
/// The size limit is checked before a single byte is read, and the version before the
/// body is touched.
///
/// # Errors
///
/// Every way `bytes` can be wrong is a [`DecodeError`] variant.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limits: &Limits) -> Result<T, DecodeError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(DecodeError::Oversize {
            len: bytes.len(),
            max: limits.max_frame_bytes,
        });
    }
    let (header, body) = match bytes.split_at_checked(HEADER_LEN) {
        Some(split) => split,
        None => return Err(DecodeError::NotAFrame),
    };
    if header[0] != MAGIC {
        return Err(DecodeError::NotAFrame);
    }
    if header[1] != WIRE_VERSION {
        return Err(DecodeError::Version { found: header[1] });
    }
    decode_body(body)
}

/// Decodes a bare MessagePack body (no header) that must be exactly one `T`.
///
/// # Errors
///
/// [`DecodeError::Malformed`] if the bytes are not a `T`, [`DecodeError::Trailing`] if
/// bytes are left over. Never panics, whatever the input.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    // A cursor reader copies strings and byte strings out in bounded steps, so a
    // hostile length prefix can never make it allocate more than the input holds.
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(body));
    let value = T::deserialize(&mut de).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let rest = body.len() - (de.position() as usize).min(body.len());
    if rest != 0 {
        return Err(DecodeError::Trailing(rest));
    }
    Ok(value)
}
