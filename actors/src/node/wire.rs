//! How the messages of skein's actors cross a node connection: each payload is one
//! versioned MessagePack frame.
//!
//! Encoding keeps within the limits the sender stamped on the message (its node's) and,
//! past them, sends a small refusal instead. Decoding never panics and never drops a
//! message: a frame that cannot be read becomes a refusal the receiver answers with a
//! typed error. What a node reads at all is capped by its session's frame limit.

use ractor::BytesConvertable;
use serde::Serialize;

use crate::dispatch::{Dispatch, DispatchKind, Outcome, Pull, Reply, Request};
use crate::failure::DispatchError;
use crate::frame::{self, Limits};
use crate::ids::{DispatchId, LedgerId, TokenId};
use crate::ledger::SpendOutcome;
use crate::manifest::{Blob, Manifest};
use crate::metrics;
use crate::stats::StatsAnswer;

/// A small frame that always fits: a refusal, an id, a ledger answer.
fn small<T: Serialize>(value: &T) -> Vec<u8> {
    frame::encode(value, &Limits::unlimited()).unwrap_or_default()
}

/// Decodes what the session delivered; its size was capped by the session already.
fn read<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, frame::DecodeError> {
    frame::decode(bytes, &Limits::unlimited())
}

/// A frame on its way out, its size recorded.
fn sent(message: &'static str, bytes: Vec<u8>) -> Vec<u8> {
    metrics::frame(message, "sent", bytes.len());
    bytes
}

/// Records the size of a frame that came in.
fn received(message: &'static str, bytes: &[u8]) {
    metrics::frame(message, "received", bytes.len());
}

impl BytesConvertable for Dispatch {
    fn into_bytes(self) -> Vec<u8> {
        sent("dispatch", self.into_frame())
    }

    fn from_bytes(bytes: Vec<u8>) -> Dispatch {
        received("dispatch", &bytes);
        Dispatch::from_frame(&bytes)
    }
}

impl Dispatch {
    fn into_frame(self) -> Vec<u8> {
        match frame::encode(&self, &self.limits) {
            Ok(bytes) => bytes,
            Err(why) => {
                let request = Request {
                    args: Blob::from(Vec::new()),
                    manifest: Manifest::default(),
                    ..self.request
                };
                let mut refusal = Dispatch::new(request, self.kind);
                refusal.refused = Some(why.to_string());
                small(&refusal)
            }
        }
    }

    fn from_frame(bytes: &[u8]) -> Dispatch {
        read(bytes).unwrap_or_else(|e| {
            let mut refusal = Dispatch::new(
                Request::new("", Vec::new(), Manifest::default()),
                DispatchKind::Call,
            );
            refusal.refused = Some(e.to_string());
            refusal
        })
    }
}

impl BytesConvertable for Pull {
    fn into_bytes(self) -> Vec<u8> {
        sent("pull", self.into_frame())
    }

    fn from_bytes(bytes: Vec<u8>) -> Pull {
        received("pull", &bytes);
        Pull::from_frame(&bytes)
    }
}

impl Pull {
    fn into_frame(self) -> Vec<u8> {
        match frame::encode(&self, &self.limits) {
            Ok(bytes) => bytes,
            Err(why) => {
                let mut refusal = Pull::new(self.id, Manifest::default());
                refusal.refused = Some(why.to_string());
                small(&refusal)
            }
        }
    }

    fn from_frame(bytes: &[u8]) -> Pull {
        read(bytes).unwrap_or_else(|e| {
            let mut refusal = Pull::new(DispatchId::nil(), Manifest::default());
            refusal.refused = Some(e.to_string());
            refusal
        })
    }
}

impl BytesConvertable for Reply {
    fn into_bytes(self) -> Vec<u8> {
        sent("reply", self.into_frame())
    }

    fn from_bytes(bytes: Vec<u8>) -> Reply {
        received("reply", &bytes);
        read(&bytes).unwrap_or_else(|e| Reply::failed(DispatchError::bad_frame(e)))
    }
}

impl Reply {
    fn into_frame(self) -> Vec<u8> {
        match frame::encode(&self, &self.limits) {
            Ok(bytes) => bytes,
            // The reply is lost, but its spends are not (a batch's later steps'
            // included): they travel in the refusal.
            Err(why) => small(&Reply::new(
                Outcome::Failed(DispatchError::bad_frame(why)),
                None,
                self.spends().copied().collect(),
            )),
        }
    }
}

impl BytesConvertable for DispatchId {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable id becomes the nil id, which names no dispatch.
    fn from_bytes(bytes: Vec<u8>) -> DispatchId {
        read(&bytes).unwrap_or_else(|_| DispatchId::nil())
    }
}

impl BytesConvertable for TokenId {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable id becomes one of the nil ledger, which no real token has.
    fn from_bytes(bytes: Vec<u8>) -> TokenId {
        read(&bytes).unwrap_or_else(|_| TokenId::new(LedgerId::nil(), u64::MAX))
    }
}

impl BytesConvertable for SpendOutcome {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable answer refuses the spend: safety over availability.
    fn from_bytes(bytes: Vec<u8>) -> SpendOutcome {
        read(&bytes).unwrap_or(SpendOutcome::AlreadySpent)
    }
}

impl BytesConvertable for StatsAnswer {
    fn into_bytes(self) -> Vec<u8> {
        small(&self)
    }

    /// An unreadable answer says so: the asker reports the worker unreachable.
    fn from_bytes(bytes: Vec<u8>) -> StatsAnswer {
        read(&bytes).unwrap_or_else(|e| StatsAnswer(Err(format!("unreadable stats: {e}"))))
    }
}
