//! How a context takes in a manifest: lenient or strict, and what it reports.

/// How to treat a value that fails to decode when a manifest is installed
/// (S23, S24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstallMode {
    /// Drop the bad value only, keep its token ids, and report it (the default).
    #[default]
    Lenient,
    /// Refuse the whole frame with one error listing every bad entry.
    Strict,
}

pub use skein_actors::{EntryWarning, InstallError};
