//! A manifest's bytes depend only on the logical state it carries, never on the order
//! the entries or their token ids were given in (S16), and
//! `Manifest::new` applies the canonical rules: one entry per key (the last one given),
//! sorted and deduplicated id lists, an id that is spent leaves the unspent list
//! (a spend wins over the witness that the token is unspent), and entries that carry
//! nothing are dropped.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use skein_actors::{
    codec, Binding, ChainId, LedgerId, Limits, Manifest, TokenId, VarEntry, VarKey,
};

// ---- fixed ids, so that every proptest case (and its regression seed) is reproducible ----

/// A UUID-backed id whose 16 bytes are all `byte`, read off the wire as a bin8 of 16.
fn fixed_uuid_id<T: serde::de::DeserializeOwned>(byte: u8) -> T {
    let mut body = vec![0xc4, 0x10];
    body.extend_from_slice(&[byte; 16]);
    codec::decode_body(&body).expect("a bin8 of 16 bytes is a UUID")
}

fn home(index: u8) -> LedgerId {
    fixed_uuid_id(0x10 + index)
}

fn chain(byte: u8) -> ChainId {
    fixed_uuid_id(byte)
}

/// A tiny deterministic generator for the shuffles (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

// ---- the logical state ----

/// What one variable carries, with no order in it.
#[derive(Clone, Debug)]
struct Logical {
    binding: Binding,
    spent: BTreeSet<TokenId>,
    unspent: BTreeSet<TokenId>,
}

#[derive(Clone, Debug)]
struct State {
    chain: Option<ChainId>,
    vars: BTreeMap<(String, String), Logical>,
}

fn binding() -> impl Strategy<Value = Binding> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Binding::value),
        Just(Binding::NoValue),
        Just(Binding::Unchanged),
    ]
}

/// A token from a small pool: seqs 0..8 under `homes` ledgers, so spent and unspent
/// lists overlap often.
fn token(homes: u8) -> impl Strategy<Value = TokenId> {
    (0..homes, 0u64..8).prop_map(|(h, seq)| TokenId::new(home(h), seq))
}

fn state() -> impl Strategy<Value = State> {
    (1u8..=2).prop_flat_map(|homes| {
        let ids = || prop::collection::btree_set(token(homes), 0..6);
        let logical = (binding(), ids(), ids()).prop_map(|(binding, spent, unspent)| Logical {
            binding,
            spent,
            unspent,
        });
        (
            prop::option::of(any::<u8>().prop_map(chain)),
            prop::collection::btree_map(("\\PC{0,4}", "\\PC{0,4}"), logical, 1..=8),
        )
            .prop_map(|(chain, vars)| State { chain, vars })
    })
}

/// An id list in a random order, with some ids given more than once.
fn scrambled(ids: &BTreeSet<TokenId>, rng: &mut Rng) -> Vec<TokenId> {
    let mut out: Vec<TokenId> = ids.iter().copied().collect();
    if !out.is_empty() {
        for _ in 0..rng.below(3) {
            let again = out[rng.below(out.len())];
            out.push(again);
        }
    }
    rng.shuffle(&mut out);
    out
}

/// The state as entries in an order chosen by `seed`.
fn realize(state: &State, seed: u64) -> Vec<VarEntry> {
    let mut rng = Rng(seed);
    let mut entries: Vec<VarEntry> = state
        .vars
        .iter()
        .map(|((namespace, name), logical)| VarEntry {
            key: VarKey::new(namespace.clone(), name.clone()),
            binding: logical.binding.clone(),
            spent: scrambled(&logical.spent, &mut rng),
            unspent: scrambled(&logical.unspent, &mut rng),
        })
        .collect();
    rng.shuffle(&mut entries);
    entries
}

/// The canonical entries of a state, computed independently of `Manifest::new`.
fn expected_entries(state: &State) -> Vec<VarEntry> {
    let mut out: Vec<VarEntry> = state
        .vars
        .iter()
        .map(|((namespace, name), logical)| VarEntry {
            key: VarKey::new(namespace.clone(), name.clone()),
            binding: logical.binding.clone(),
            spent: logical.spent.iter().copied().collect(),
            // A spend wins: an id that is spent is no longer unspent.
            unspent: logical
                .unspent
                .difference(&logical.spent)
                .copied()
                .collect(),
        })
        .filter(|e| e.binding != Binding::Unchanged || !e.spent.is_empty() || !e.unspent.is_empty())
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// S16: the same logical state encodes to the same bytes whatever the order of
    /// its entries and ids, and the bytes decode back to the same manifest.
    #[test]
    fn same_state_same_bytes(state in state(), seed_a in any::<u64>(), seed_b in any::<u64>()) {
        let a = Manifest::new(state.chain, realize(&state, seed_a));
        let b = Manifest::new(state.chain, realize(&state, seed_b));
        prop_assert_eq!(&a, &b);

        let bytes_a = a.encode().unwrap();
        let bytes_b = b.encode().unwrap();
        prop_assert_eq!(&bytes_a, &bytes_b, "S16: one logical state, one encoding");

        // The canonical rules, checked against an independent computation.
        prop_assert_eq!(a.chain(), state.chain);
        let expected = expected_entries(&state);
        prop_assert_eq!(a.entries(), expected.as_slice());
        prop_assert_eq!(a.is_empty(), a.entries().is_empty());

        // Round trip: decode gives the same manifest, and re-encoding gives the same bytes.
        let decoded = Manifest::decode(&bytes_a, &Limits::default()).unwrap();
        prop_assert_eq!(&decoded, &a);
        prop_assert_eq!(decoded.encode().unwrap(), bytes_a);

        // Canonicalizing a canonical manifest changes nothing.
        prop_assert_eq!(Manifest::new(a.chain(), a.entries().to_vec()), a);
    }
}

// ---- unit tests of the canonical rules ----

fn key(name: &'static str) -> VarKey {
    VarKey::from_static("test", name)
}

fn tok(seq: u64) -> TokenId {
    TokenId::new(home(0), seq)
}

#[test]
fn an_id_both_spent_and_unspent_ends_up_only_spent() {
    // A spend wins over the witness that the token is unspent.
    let mut entry = VarEntry::new(key("x"), Binding::Unchanged);
    entry.spent = vec![tok(3), tok(1)];
    entry.unspent = vec![tok(2), tok(3), tok(1), tok(4)];
    let manifest = Manifest::new(None, vec![entry]);

    let got = manifest.entry(&key("x")).expect("the entry carries ids");
    assert_eq!(got.spent, vec![tok(1), tok(3)]);
    assert_eq!(got.unspent, vec![tok(2), tok(4)]);

    // Survives the wire: the decoder would refuse the overlap, so this also shows the
    // encoder never produces it.
    let bytes = manifest.encode().unwrap();
    assert_eq!(
        Manifest::decode(&bytes, &Limits::default()).unwrap(),
        manifest
    );
}

#[test]
fn an_entry_whose_unspent_ids_are_all_spent_keeps_only_the_spends() {
    let mut entry = VarEntry::new(key("x"), Binding::Unchanged);
    entry.spent = vec![tok(7)];
    entry.unspent = vec![tok(7), tok(7)];
    let manifest = Manifest::new(None, vec![entry]);
    let got = manifest.entry(&key("x")).unwrap();
    assert_eq!(got.spent, vec![tok(7)]);
    assert!(got.unspent.is_empty());
}

#[test]
fn entries_that_carry_nothing_are_dropped() {
    let empty = VarEntry::new(key("empty"), Binding::Unchanged);
    let reset = VarEntry::new(key("reset"), Binding::NoValue);
    let valued = VarEntry::new(key("valued"), Binding::value(vec![0xc0]));
    let mut ids_only = VarEntry::new(key("ids_only"), Binding::Unchanged);
    ids_only.unspent = vec![tok(0)];

    let manifest = Manifest::new(None, vec![empty, reset, valued, ids_only]);
    let keys: Vec<&VarKey> = manifest.entries().iter().map(|e| &e.key).collect();
    assert_eq!(keys, vec![&key("ids_only"), &key("reset"), &key("valued")]);
    assert!(manifest.entry(&key("empty")).is_none());
}

#[test]
fn a_key_given_twice_keeps_the_last_entry() {
    let first = VarEntry::new(key("x"), Binding::value(vec![1]));
    let other = VarEntry::new(key("y"), Binding::NoValue);
    let mut last = VarEntry::new(key("x"), Binding::value(vec![2]));
    last.unspent = vec![tok(9)];

    let manifest = Manifest::new(None, vec![first, other, last.clone()]);
    assert_eq!(manifest.entries().len(), 2);
    assert_eq!(manifest.entry(&key("x")), Some(&last));

    // The other order keeps the other entry: "last" means last given, not largest.
    let first = VarEntry::new(key("x"), Binding::value(vec![1]));
    let manifest = Manifest::new(None, vec![last, first.clone()]);
    assert_eq!(manifest.entry(&key("x")), Some(&first));
}

#[test]
fn a_manifest_of_only_empty_entries_is_empty() {
    let entries = ["a", "b", "c"].map(|name| VarEntry::new(key(name), Binding::Unchanged));
    let manifest = Manifest::new(Some(chain(1)), entries);
    assert!(manifest.is_empty());
    assert!(manifest.entries().is_empty());
    // The chain is still carried.
    assert_eq!(manifest.chain(), Some(chain(1)));

    assert!(Manifest::new(None, Vec::new()).is_empty());
    assert!(Manifest::default().is_empty());

    // One reset is state: not empty.
    let manifest = Manifest::new(None, vec![VarEntry::new(key("a"), Binding::NoValue)]);
    assert!(!manifest.is_empty());
}

#[test]
fn the_chain_is_part_of_the_encoding() {
    let entries = || vec![VarEntry::new(key("a"), Binding::NoValue)];
    let none = Manifest::new(None, entries()).encode().unwrap();
    let one = Manifest::new(Some(chain(1)), entries()).encode().unwrap();
    let two = Manifest::new(Some(chain(2)), entries()).encode().unwrap();
    assert_ne!(none, one);
    assert_ne!(one, two);
}
