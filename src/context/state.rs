//! The state of one context: its chain, bindings and token sets, and the rules that
//! change them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use skein_actors::{Binding, Blob, ChainId, Manifest, TokenId, VarEntry, VarKey};

use super::install::{EntryWarning, InstallError, InstallMode};
use super::registry;
use super::token::TokenCell;
use skein_actors::home;

/// A bound slot: a value, or a pending "reset to no value", which travels like one (S19).
#[derive(Clone, Debug)]
pub(crate) enum Slot {
    Value(Blob),
    NoValue,
}

/// Why an unspent id is kept.
#[derive(Debug)]
enum Hold {
    /// Minted here and never sent anywhere: kept while a handle of the token lives.
    /// When every handle is dropped nobody can reset or forward it, so the id leaves
    /// the set (this is what keeps frames from growing with the calls made, S27).
    Local(Weak<TokenCell>),
    /// Sent away inside a dispatch, or learned from a frame: a peer may hold it, so
    /// it stays until it is spent.
    Kept,
}

impl Hold {
    fn is_live(&self) -> bool {
        match self {
            Hold::Local(cell) => cell.strong_count() > 0,
            Hold::Kept => true,
        }
    }
}

fn next_context_id() -> u64 {
    // 0 is reserved for orphan tokens.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug)]
pub(crate) struct ContextState {
    id: u64,
    chain: Option<ChainId>,
    /// A continuation (the worker side of a dispatch) reports the spends it makes or
    /// learns back to its caller; a root context has nobody to report to.
    reports_spends: bool,
    bindings: BTreeMap<VarKey, Slot>,
    unspent: BTreeMap<VarKey, BTreeMap<TokenId, Hold>>,
    /// Spends made or learned here and not yet put on a frame: the ledger delta.
    spent: BTreeMap<VarKey, BTreeSet<TokenId>>,
    /// What the running step of a stream changed, while one runs (a stream's item
    /// carries only its own step's changes back); `None` in every other context.
    step: Option<StepLog>,
}

/// What one step of a stream changed: the variables it set, reset or merged in from
/// its own nested calls, and the token ids it minted or learned.
#[derive(Debug, Default)]
struct StepLog {
    touched: BTreeSet<VarKey>,
    unspent: BTreeMap<VarKey, BTreeSet<TokenId>>,
}

impl StepLog {
    fn touch(log: &mut Option<StepLog>, key: &VarKey) {
        if let Some(log) = log {
            log.touched.insert(key.clone());
        }
    }

    fn learn(log: &mut Option<StepLog>, key: &VarKey, id: TokenId) {
        if let Some(log) = log {
            log.unspent.entry(key.clone()).or_default().insert(id);
        }
    }
}

impl ContextState {
    pub(crate) fn root() -> ContextState {
        ContextState {
            id: next_context_id(),
            chain: None,
            reports_spends: false,
            bindings: BTreeMap::new(),
            unspent: BTreeMap::new(),
            spent: BTreeMap::new(),
            step: None,
        }
    }

    pub(crate) fn continuation() -> ContextState {
        ContextState {
            reports_spends: true,
            ..ContextState::root()
        }
    }

    /// A fork (S7): a fresh chain id if the parent is armed, the parent's
    /// values, no pending resets, no token ids.
    pub(crate) fn fork(&self) -> ContextState {
        ContextState {
            chain: self.chain.map(|_| ChainId::new()),
            bindings: self
                .bindings
                .iter()
                .filter(|(_, slot)| matches!(slot, Slot::Value(_)))
                .map(|(key, slot)| (key.clone(), slot.clone()))
                .collect(),
            ..ContextState::root()
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn chain(&self) -> Option<ChainId> {
        self.chain
    }

    fn arm(&mut self) {
        self.chain.get_or_insert_with(ChainId::new);
    }

    pub(crate) fn binding(&self, key: &VarKey) -> Option<&Slot> {
        self.bindings.get(key)
    }

    pub(crate) fn set(&mut self, key: VarKey, value: Blob, token: &Arc<TokenCell>) {
        self.arm();
        self.unspent
            .entry(key.clone())
            .or_default()
            .insert(token.id, Hold::Local(Arc::downgrade(token)));
        StepLog::touch(&mut self.step, &key);
        StepLog::learn(&mut self.step, &key, token.id);
        self.bindings.insert(key, Slot::Value(value));
    }

    pub(crate) fn knows_spent(&self, key: &VarKey, id: &TokenId) -> bool {
        self.spent.get(key).is_some_and(|ids| ids.contains(id))
    }

    pub(crate) fn apply_reset(&mut self, key: &VarKey, id: TokenId, old: Option<Blob>) {
        let slot = match old {
            Some(value) => Slot::Value(value),
            None => Slot::NoValue,
        };
        self.bindings.insert(key.clone(), slot);
        StepLog::touch(&mut self.step, key);
        self.record_spent(key, id);
    }

    fn record_spent(&mut self, key: &VarKey, id: TokenId) {
        if let Some(ids) = self.unspent.get_mut(key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.unspent.remove(key);
            }
        }
        if self.reports_spends {
            self.spent.entry(key.clone()).or_default().insert(id);
        }
    }

    /// A token of this context was put into a dispatch: a peer may now hold it.
    pub(crate) fn pin(&mut self, key: &VarKey, id: &TokenId) {
        if let Some(hold) = self.unspent.get_mut(key).and_then(|ids| ids.get_mut(id)) {
            *hold = Hold::Kept;
        }
    }

    /// Whether an arriving token may be anchored here: its id is unspent in this
    /// context after the carrying frame was installed (S35).
    pub(crate) fn lists_unspent(&self, key: &VarKey, id: &TokenId) -> bool {
        self.unspent
            .get(key)
            .is_some_and(|ids| ids.contains_key(id))
    }

    /// The manifest of this context (S16). With `drain`, the spends are
    /// reported once: the delta empties, as it does when a frame carries it away.
    pub(crate) fn snapshot(&mut self, drain: bool) -> Manifest {
        self.forget_dead_tokens();
        let keys: BTreeSet<&VarKey> = self
            .bindings
            .keys()
            .chain(self.unspent.keys())
            .chain(self.spent.keys())
            .collect();
        let entries = self.entries(
            keys,
            |_| true,
            |key| {
                self.unspent
                    .get(key)
                    .map(|ids| ids.keys().copied().collect())
                    .unwrap_or_default()
            },
        );
        if drain {
            self.spent.clear();
        }
        Manifest::new(self.chain, entries)
    }

    /// Ids minted here whose every handle is gone: nobody can reset or forward them.
    fn forget_dead_tokens(&mut self) {
        for ids in self.unspent.values_mut() {
            ids.retain(|_, hold| hold.is_live());
        }
        self.unspent.retain(|_, ids| !ids.is_empty());
    }

    /// The entries of a manifest for `keys`: each key's binding where `bound` says it
    /// travels (else `Unchanged`), its spends not yet on a frame, and the unspent ids
    /// `unspent` lists for it.
    fn entries(
        &self,
        keys: BTreeSet<&VarKey>,
        bound: impl Fn(&VarKey) -> bool,
        unspent: impl Fn(&VarKey) -> Vec<TokenId>,
    ) -> Vec<VarEntry> {
        keys.into_iter()
            .map(|key| VarEntry {
                key: key.clone(),
                binding: match self.bindings.get(key) {
                    Some(Slot::Value(value)) if bound(key) => Binding::Value(value.clone()),
                    Some(Slot::NoValue) if bound(key) => Binding::NoValue,
                    _ => Binding::Unchanged,
                },
                spent: self
                    .spent
                    .get(key)
                    .map(|ids| ids.iter().copied().collect())
                    .unwrap_or_default(),
                unspent: unspent(key),
            })
            .collect()
    }

    /// Starts a stream's step (again): from here to [`ContextState::step_snapshot`],
    /// what changes is what the step changed.
    pub(crate) fn begin_step(&mut self) {
        self.step = Some(StepLog::default());
    }

    /// The manifest of what the step begun last changed: the variables it set, reset
    /// or merged in (from its own nested calls), the spends made or learned since the
    /// last frame, and the ids it minted or learned that are still unspent. Nothing
    /// else: a value the caller changed since it granted the step is not sent back
    /// over. The spends are reported once, as by a draining snapshot.
    pub(crate) fn step_snapshot(&mut self) -> Manifest {
        let log = self.step.take().unwrap_or_default();
        if log.touched.is_empty() && log.unspent.is_empty() && self.spent.is_empty() {
            // The common step: it changed nothing, and its item carries nothing back.
            return Manifest::new(self.chain, []);
        }
        if !log.unspent.is_empty() {
            self.forget_dead_tokens();
        }
        let keys: BTreeSet<&VarKey> = log
            .touched
            .iter()
            .chain(log.unspent.keys())
            .chain(self.spent.keys())
            .collect();
        let entries = self.entries(
            keys,
            |key| log.touched.contains(key),
            |key| match (log.unspent.get(key), self.unspent.get(key)) {
                (Some(learned), Some(held)) => learned
                    .iter()
                    .filter(|id| held.contains_key(id))
                    .copied()
                    .collect(),
                _ => Vec::new(),
            },
        );
        self.spent.clear();
        Manifest::new(self.chain, entries)
    }

    /// Merges a manifest into this context (S19, S20, and S22: token sets are
    /// merged, never replaced, on both sides).
    ///
    /// Values of declared keys are checked against their type first. In lenient mode a
    /// bad value drops only itself, and its token ids still apply (S23); in strict mode
    /// one bad value refuses the whole frame and nothing changes.
    pub(crate) fn merge(
        &mut self,
        manifest: &Manifest,
        mode: InstallMode,
    ) -> Result<Vec<EntryWarning>, InstallError> {
        let mut warnings = Vec::new();
        for entry in manifest.entries() {
            let Binding::Value(bytes) = &entry.binding else {
                continue;
            };
            if let Some(validate) = registry::validator_or_stub(&entry.key) {
                if let Err(message) = validate(bytes) {
                    warnings.push(EntryWarning {
                        key: entry.key.clone(),
                        message,
                    });
                }
            }
        }
        if mode == InstallMode::Strict && !warnings.is_empty() {
            return Err(InstallError { entries: warnings });
        }
        if manifest.is_empty() {
            return Ok(warnings);
        }
        if self.chain.is_none() {
            self.chain = Some(manifest.chain().unwrap_or_default());
        }
        home().learn(manifest.entries().iter().flat_map(|e| e.spent.iter()));
        for entry in manifest.entries() {
            let bad = warnings.iter().any(|w| w.key == entry.key);
            match &entry.binding {
                Binding::Value(value) if !bad => {
                    StepLog::touch(&mut self.step, &entry.key);
                    self.bindings
                        .insert(entry.key.clone(), Slot::Value(value.clone()));
                }
                Binding::NoValue => {
                    StepLog::touch(&mut self.step, &entry.key);
                    self.bindings.insert(entry.key.clone(), Slot::NoValue);
                }
                Binding::Value(_) | Binding::Unchanged => {}
            }
            for id in &entry.spent {
                self.record_spent(&entry.key, *id);
            }
            for id in &entry.unspent {
                if !self.knows_spent(&entry.key, id) && !home().is_spent(id) {
                    StepLog::learn(&mut self.step, &entry.key, *id);
                    self.unspent
                        .entry(entry.key.clone())
                        .or_default()
                        .entry(*id)
                        .or_insert(Hold::Kept);
                }
            }
        }
        for warning in &warnings {
            tracing::warn!(key = %warning.key, error = %warning.message, "dropped a context value that failed to decode");
        }
        Ok(warnings)
    }
}
