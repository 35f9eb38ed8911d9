//! The process-wide registry of context variable keys (S1–S3).

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use skein_actors::VarKey;

/// Checks that an encoded value decodes as the declared type.
pub(crate) type Validator = fn(&[u8]) -> Result<(), String>;

/// What the registry knows of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registration {
    /// The key arrived from the wire before any variable declared it (S2).
    /// Its values are kept as raw bytes and carried along untouched.
    Stub,
    /// A variable of this type declared the key.
    Declared {
        /// The declared value type.
        type_name: &'static str,
    },
}

struct Declaration {
    owner: usize,
    type_name: &'static str,
    validate: Validator,
}

type Table = HashMap<VarKey, Option<Declaration>>;

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

fn read() -> std::sync::RwLockReadGuard<'static, Table> {
    // Every write is a single map insert: a poisoned lock holds a consistent map.
    table().read().unwrap_or_else(|p| p.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Table> {
    table().write().unwrap_or_else(|p| p.into_inner())
}

/// A second variable tried to declare a key that another variable holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("context variable {key} is already declared (as {existing}); keys must be unique within a namespace")]
pub struct CollisionError {
    /// The contested key.
    pub key: VarKey,
    /// The type of the variable that holds it.
    pub existing: &'static str,
}

/// Declares `key` for the variable at address `owner`. A stub is promoted in place
/// (S2); a key held by another variable is a collision (S1), whatever the
/// types or defaults.
pub(crate) fn declare(
    key: &VarKey,
    owner: usize,
    type_name: &'static str,
    validate: Validator,
) -> Result<(), CollisionError> {
    let mut table = write();
    match table.get(key) {
        Some(Some(existing)) if existing.owner != owner => Err(CollisionError {
            key: key.clone(),
            existing: existing.type_name,
        }),
        Some(Some(_)) => Ok(()),
        _ => {
            table.insert(
                key.clone(),
                Some(Declaration {
                    owner,
                    type_name,
                    validate,
                }),
            );
            Ok(())
        }
    }
}

/// The validator of a declared key; notes a stub for a key never seen before.
pub(crate) fn validator_or_stub(key: &VarKey) -> Option<Validator> {
    if let Some(entry) = read().get(key) {
        return entry.as_ref().map(|d| d.validate);
    }
    write().entry(key.clone()).or_insert(None);
    None
}

/// What the registry knows of `key`, if anything.
pub fn registration(key: &VarKey) -> Option<Registration> {
    read().get(key).map(|entry| match entry {
        None => Registration::Stub,
        Some(d) => Registration::Declared {
            type_name: d.type_name,
        },
    })
}
