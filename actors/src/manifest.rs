//! The wire Manifest: a chain's context variables and token ids, in canonical form.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::frame::{self, DecodeError, EncodeError, Limits};
use crate::ids::{ChainId, TokenId};

/// The identity of a context variable: `(namespace, name)` (S1).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VarKey {
    namespace: Cow<'static, str>,
    name: Cow<'static, str>,
}

impl VarKey {
    /// A key from static strings, usable in `const` context.
    pub const fn from_static(namespace: &'static str, name: &'static str) -> VarKey {
        VarKey {
            namespace: Cow::Borrowed(namespace),
            name: Cow::Borrowed(name),
        }
    }

    /// A key from any strings.
    pub fn new(
        namespace: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> VarKey {
        VarKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The namespace part of the key.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name part of the key.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for VarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VarKey({:?}, {:?})", self.namespace, self.name)
    }
}

impl fmt::Display for VarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.namespace, self.name)
    }
}

/// An immutable, cheaply cloned byte string: an encoded value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blob(Arc<[u8]>);

impl Blob {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Shown by its size: the bytes are MessagePack, not text. (So a [`Failure`](crate::Failure)
/// whose routine error is still undecoded displays too.)
impl std::fmt::Display for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes of MessagePack", self.0.len())
    }
}

impl Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob(bytes.into())
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Blob {
        Blob(bytes.into())
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        serde_bytes::ByteBuf::deserialize(deserializer).map(|b| Blob::from(b.into_vec()))
    }
}

/// What an entry says about its variable's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binding {
    /// Bound to this MessagePack-encoded value.
    Value(Blob),
    /// Reset to "no value": the receiver drops its binding (S19).
    NoValue,
    /// The value is not carried; the entry only carries token ids. The receiver keeps
    /// whatever it has.
    Unchanged,
}

impl Binding {
    /// A binding to the given encoded value.
    pub fn value(bytes: impl Into<Blob>) -> Binding {
        Binding::Value(bytes.into())
    }
}

/// One variable in a [`Manifest`]: its binding and its token ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarEntry {
    /// The variable.
    pub key: VarKey,
    /// Its value, a reset, or nothing.
    pub binding: Binding,
    /// Tokens of this variable spent by the sender since its last frame: a ledger delta.
    pub spent: Vec<TokenId>,
    /// Tokens of this variable minted in (or anchored into) the sending context and not
    /// spent: the witness that lets a receiver anchor them (S35).
    pub unspent: Vec<TokenId>,
}

impl VarEntry {
    /// An entry with a binding and no token ids.
    pub fn new(key: VarKey, binding: Binding) -> VarEntry {
        VarEntry {
            key,
            binding,
            spent: Vec::new(),
            unspent: Vec::new(),
        }
    }

    fn carries_state(&self) -> bool {
        self.binding != Binding::Unchanged || !self.spent.is_empty() || !self.unspent.is_empty()
    }
}

/// A snapshot of a chain: its id and its variables, in canonical form.
///
/// Entries are sorted by key with one entry per key, id lists are sorted and free of
/// duplicates, and no id is both spent and unspent. So the same logical state always
/// encodes to the same bytes (S16), and [`Manifest::decode`] refuses bytes
/// that break those rules.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "ManifestWire")]
pub struct Manifest {
    chain: Option<ChainId>,
    entries: Vec<VarEntry>,
}

/// The manifest as it is read off the wire, before its rules are checked.
#[derive(Deserialize)]
struct ManifestWire {
    chain: Option<ChainId>,
    entries: Vec<VarEntry>,
}

impl TryFrom<ManifestWire> for Manifest {
    type Error = String;
    fn try_from(wire: ManifestWire) -> Result<Manifest, String> {
        for pair in wire.entries.windows(2) {
            if pair[0].key >= pair[1].key {
                return Err(format!("entries not strictly sorted at {}", pair[1].key));
            }
        }
        for entry in &wire.entries {
            if !entry.carries_state() {
                return Err(format!("entry {} carries nothing", entry.key));
            }
            for ids in [&entry.spent, &entry.unspent] {
                if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(format!("token ids of {} not strictly sorted", entry.key));
                }
            }
            if entry
                .unspent
                .iter()
                .any(|id| entry.spent.binary_search(id).is_ok())
            {
                return Err(format!(
                    "a token id of {} is both spent and unspent",
                    entry.key
                ));
            }
        }
        Ok(Manifest {
            chain: wire.chain,
            entries: wire.entries,
        })
    }
}

impl Manifest {
    /// A manifest from entries in any order.
    ///
    /// Entries are sorted by key (a key given twice keeps its last entry), id lists are
    /// sorted and deduplicated, an id listed as spent leaves the unspent list (a
    /// spend wins over the witness), and entries that carry nothing are dropped.
    pub fn new(chain: Option<ChainId>, entries: impl IntoIterator<Item = VarEntry>) -> Manifest {
        let mut entries: Vec<VarEntry> = entries.into_iter().collect();
        // Stable sort, then keep the last of equal keys.
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let mut canonical: Vec<VarEntry> = Vec::with_capacity(entries.len());
        for mut entry in entries {
            entry.spent.sort_unstable();
            entry.spent.dedup();
            entry.unspent.sort_unstable();
            entry.unspent.dedup();
            entry
                .unspent
                .retain(|id| entry.spent.binary_search(id).is_err());
            match canonical.last_mut() {
                Some(last) if last.key == entry.key => *last = entry,
                _ => canonical.push(entry),
            }
        }
        canonical.retain(VarEntry::carries_state);
        Manifest {
            chain,
            entries: canonical,
        }
    }

    /// The chain this manifest continues, or `None` if the sender was unarmed.
    pub fn chain(&self) -> Option<ChainId> {
        self.chain
    }

    /// The entries, sorted by key.
    pub fn entries(&self) -> &[VarEntry] {
        &self.entries
    }

    /// The entry for `key`, if any.
    pub fn entry(&self, key: &VarKey) -> Option<&VarEntry> {
        self.entries
            .binary_search_by(|e| e.key.cmp(key))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Whether the manifest carries no state at all: no bindings, no resets and no token
    /// ids. Such a manifest is never installed (S18).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encodes the manifest as a frame with the default [`Limits`].
    ///
    /// # Errors
    ///
    /// [`EncodeError::Oversize`] if the frame is larger than the default limit.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_with(&Limits::default())
    }

    /// Encodes the manifest as a frame within `limits`.
    ///
    /// # Errors
    ///
    /// [`EncodeError::Oversize`] if the frame is larger than `limits` allows.
    pub fn encode_with(&self, limits: &Limits) -> Result<Vec<u8>, EncodeError> {
        frame::encode(self, limits)
    }

    /// Decodes a manifest frame. Oversized input is refused before it is read.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for every way the bytes can be wrong, including
    /// [`DecodeError::NotCanonical`] for entries out of order or ids both spent and
    /// unspent. Never panics, whatever the input.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Manifest, DecodeError> {
        let wire: ManifestWire = frame::decode(bytes, limits)?;
        Manifest::try_from(wire).map_err(DecodeError::NotCanonical)
    }
}

/// A value dropped when a manifest was installed, because it does not decode as its
/// variable's type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryWarning {
    /// The variable whose value was dropped.
    pub key: VarKey,
    /// The decoder's message.
    pub message: String,
}

/// A strict install refused a manifest: nothing was installed. It lists every bad
/// entry, so one error says all that is wrong with the frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{} context variable(s) failed to decode: {}", .entries.len(), list(.entries))]
pub struct InstallError {
    /// Every bad entry of the manifest.
    pub entries: Vec<EntryWarning>,
}

fn list(entries: &[EntryWarning]) -> String {
    entries
        .iter()
        .map(|e| format!("{} ({})", e.key, e.message))
        .collect::<Vec<_>>()
        .join(", ")
}
