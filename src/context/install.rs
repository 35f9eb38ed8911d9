//! How a context takes in a manifest: lenient or strict, and what it reports.

use skein_actors::VarKey;

/// How to treat a value that fails to decode when a manifest is installed
/// (reference §2.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstallMode {
    /// Drop the bad value only, keep its token ids, and report it (the default).
    #[default]
    Lenient,
    /// Refuse the whole frame with one error listing every bad entry.
    Strict,
}

/// A value dropped on install because it does not decode as its declared type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryWarning {
    /// The variable whose value was dropped.
    pub key: VarKey,
    /// The decoder's message.
    pub message: String,
}

/// A strict install refused a frame. Nothing was installed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} context variable(s) failed to decode: {}", .entries.len(), list(.entries))]
pub struct InstallError {
    /// Every bad entry of the frame.
    pub entries: Vec<EntryWarning>,
}

fn list(entries: &[EntryWarning]) -> String {
    entries
        .iter()
        .map(|e| format!("{} ({})", e.key, e.message))
        .collect::<Vec<_>>()
        .join(", ")
}
