//! Decoding a frame never panics and refuses every kind of bad input with the right
//! `DecodeError` (S17): oversize input before it is read, bytes that are not a frame,
//! a foreign wire version, truncation, trailing bytes, hostile length prefixes, and
//! bodies that decode but break the manifest's canonical rules (S16; and no id is both
//! spent and unspent).

use proptest::prelude::*;
use serde::Serialize;
use skein_actors::{
    codec, Binding, ChainId, DecodeError, EncodeError, LedgerId, Limits, Manifest, TokenId,
    VarEntry, VarKey, WIRE_VERSION,
};

const MAGIC: u8 = 0xa7;

// ---- helpers ----

/// A UUID-backed id whose 16 bytes are all `byte`, read off the wire as a bin8 of 16.
fn fixed_uuid_id<T: serde::de::DeserializeOwned>(byte: u8) -> T {
    let mut body = vec![0xc4, 0x10];
    body.extend_from_slice(&[byte; 16]);
    codec::decode_body(&body).expect("a bin8 of 16 bytes is a UUID")
}

fn home(index: u8) -> LedgerId {
    fixed_uuid_id(0x20 + index)
}

fn tok(seq: u64) -> TokenId {
    TokenId::new(home(0), seq)
}

fn key(name: &'static str) -> VarKey {
    VarKey::from_static("test", name)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = vec![MAGIC, WIRE_VERSION];
    out.extend_from_slice(body);
    out
}

fn decode(bytes: &[u8]) -> Result<Manifest, DecodeError> {
    Manifest::decode(bytes, &Limits::default())
}

/// A small valid manifest with a value, a reset, and spent and unspent ids.
fn sample() -> Manifest {
    let mut a = VarEntry::new(key("a"), Binding::value(vec![0x93, 1, 2, 3]));
    a.spent = vec![tok(1), tok(2)];
    a.unspent = vec![tok(3)];
    let b = VarEntry::new(key("b"), Binding::NoValue);
    Manifest::new(Some(fixed_uuid_id::<ChainId>(0x42)), vec![a, b])
}

fn binding() -> impl Strategy<Value = Binding> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Binding::value),
        Just(Binding::NoValue),
        Just(Binding::Unchanged),
    ]
}

/// Any valid manifest (canonicalized by `Manifest::new`).
fn manifest() -> impl Strategy<Value = Manifest> {
    let token = (0u8..2, prop_oneof![0u64..300, any::<u64>()])
        .prop_map(|(h, seq)| TokenId::new(home(h), seq));
    let ids = prop::collection::vec(token, 0..5);
    let entry = ("\\PC{0,6}", "\\PC{0,6}", binding(), ids.clone(), ids).prop_map(
        |(namespace, name, binding, spent, unspent)| VarEntry {
            key: VarKey::new(namespace, name),
            binding,
            spent,
            unspent,
        },
    );
    (
        prop::option::of(any::<u8>().prop_map(fixed_uuid_id::<ChainId>)),
        prop::collection::vec(entry, 0..6),
    )
        .prop_map(|(chain, entries)| Manifest::new(chain, entries))
}

/// Input for the fuzzer: wholly arbitrary bytes, or a valid header followed by
/// arbitrary bytes so that the body decoder is reached, not just the header check.
fn fuzz_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|body| frame(&body)),
        // A fixarray of 2 then noise: gets past the outer shape more often.
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|rest| {
            let mut body = vec![0x92];
            body.extend(rest);
            frame(&body)
        }),
    ]
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// S17: decoding arbitrary bytes never panics, and whatever it accepts
    /// round-trips: it re-encodes to bytes that decode to the same manifest.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in fuzz_input()) {
        if let Ok(manifest) = decode(&bytes) {
            let again = manifest.encode().unwrap();
            prop_assert_eq!(decode(&again).unwrap(), manifest);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// S17: every strict prefix of a valid frame is refused: too short for a header is
    /// not a frame, anything longer is a malformed (truncated) body.
    #[test]
    fn every_truncation_is_refused(manifest in manifest()) {
        let bytes = manifest.encode().unwrap();
        prop_assert_eq!(decode(&bytes), Ok(manifest.clone()));
        for len in 0..bytes.len() {
            match decode(&bytes[..len]) {
                Err(DecodeError::NotAFrame) => prop_assert!(len < 2, "prefix of {} bytes", len),
                Err(DecodeError::Malformed(_)) => prop_assert!(len >= 2, "prefix of {} bytes", len),
                other => prop_assert!(false, "prefix of {} of {} bytes gave {:?}", len, bytes.len(), other),
            }
        }
    }

    /// S17: flipping bits of any one byte of a valid frame never panics; what is still
    /// accepted is a manifest that round-trips.
    #[test]
    fn single_byte_mutations_never_panic(
        manifest in manifest(),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut bytes = manifest.encode().unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(mutated) = decode(&bytes) {
            let again = mutated.encode().unwrap();
            prop_assert_eq!(decode(&again).unwrap(), mutated);
        }
    }
}

// ---- oversize ----

/// A manifest whose frame is exactly `len` bytes.
fn manifest_of_len(len: usize) -> Manifest {
    let with_value = |n: usize| {
        Manifest::new(
            None,
            vec![VarEntry::new(key("big"), Binding::value(vec![0u8; n]))],
        )
    };
    let base = with_value(0).encode().unwrap().len();
    // A bin8 header stays 2 bytes up to 255 bytes of value.
    let manifest = with_value(len - base);
    assert_eq!(manifest.encode().unwrap().len(), len);
    manifest
}

#[test]
fn oversize_input_is_refused() {
    let limits = Limits::with_max_frame_bytes(64);
    let bytes = manifest_of_len(65).encode().unwrap();
    assert_eq!(
        Manifest::decode(&bytes, &limits),
        Err(DecodeError::Oversize { len: 65, max: 64 })
    );
    // The same frame is fine under a limit it fits.
    assert!(Manifest::decode(&bytes, &Limits::with_max_frame_bytes(65)).is_ok());
}

#[test]
fn the_limit_is_inclusive() {
    let limits = Limits::with_max_frame_bytes(64);
    let manifest = manifest_of_len(64);
    let bytes = manifest
        .encode_with(&limits)
        .expect("64 bytes fit a limit of 64");
    assert_eq!(Manifest::decode(&bytes, &limits), Ok(manifest));
}

#[test]
fn oversize_is_decided_before_the_input_is_read() {
    let limits = Limits::with_max_frame_bytes(64);

    // Not a frame at all: under a larger limit this is NotAFrame, under 64 it is
    // refused for its size alone.
    let garbage = vec![0u8; 65];
    assert_eq!(
        Manifest::decode(&garbage, &Limits::default()),
        Err(DecodeError::NotAFrame)
    );
    assert_eq!(
        Manifest::decode(&garbage, &limits),
        Err(DecodeError::Oversize { len: 65, max: 64 })
    );

    // A right header and a body of the never-used marker 0xc1: Malformed if read,
    // Oversize because it is not.
    let mut bad_body = frame(&[0xc1; 63]);
    assert_eq!(bad_body.len(), 65);
    assert!(matches!(
        Manifest::decode(&bad_body, &Limits::default()),
        Err(DecodeError::Malformed(_))
    ));
    assert_eq!(
        Manifest::decode(&bad_body, &limits),
        Err(DecodeError::Oversize { len: 65, max: 64 })
    );

    // A foreign version: Version if read, Oversize because it is not.
    bad_body[1] = 2;
    assert_eq!(
        Manifest::decode(&bad_body, &limits),
        Err(DecodeError::Oversize { len: 65, max: 64 })
    );
}

#[test]
fn encoding_over_the_limit_is_refused() {
    let limits = Limits::with_max_frame_bytes(64);
    let manifest = manifest_of_len(65);
    assert_eq!(
        manifest.encode_with(&limits),
        Err(EncodeError::Oversize { len: 65, max: 64 })
    );
    assert!(manifest.encode().is_ok());

    // The generic codec applies the same limit.
    assert!(matches!(
        codec::encode(&manifest, &limits),
        Err(EncodeError::Oversize { len: 65, max: 64 })
    ));
}

#[test]
fn the_default_limit_is_16_mib() {
    assert_eq!(Limits::default().max_frame_bytes, 16 * 1024 * 1024);
    assert_eq!(
        Limits::default(),
        Limits::with_max_frame_bytes(Limits::DEFAULT_MAX_FRAME_BYTES)
    );
}

// ---- header ----

#[test]
fn wrong_magic_is_not_a_frame() {
    let good = sample().encode().unwrap();
    assert!(decode(&good).is_ok());
    for magic in (0..=u8::MAX).filter(|&b| b != MAGIC) {
        let mut bytes = good.clone();
        bytes[0] = magic;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::NotAFrame),
            "magic {magic:#04x}"
        );
    }
}

#[test]
fn empty_and_one_byte_input_is_not_a_frame() {
    assert_eq!(decode(&[]), Err(DecodeError::NotAFrame));
    for byte in 0..=u8::MAX {
        assert_eq!(
            decode(&[byte]),
            Err(DecodeError::NotAFrame),
            "byte {byte:#04x}"
        );
    }
}

#[test]
fn a_foreign_version_is_refused_before_the_body() {
    let mut bytes = sample().encode().unwrap();
    bytes[1] = 2;
    assert_eq!(decode(&bytes), Err(DecodeError::Version { found: 2 }));
    for version in [0u8, 3, 0xff] {
        bytes[1] = version;
        assert_eq!(decode(&bytes), Err(DecodeError::Version { found: version }));
    }
    // A header alone with a foreign version is a version error, not a truncated body.
    assert_eq!(decode(&[MAGIC, 2]), Err(DecodeError::Version { found: 2 }));
    // With our version, the header alone is a malformed (empty) body.
    assert!(matches!(
        decode(&[MAGIC, WIRE_VERSION]),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let good = sample().encode().unwrap();
    let mut bytes = good.clone();
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(DecodeError::Trailing(1)));
    // Even when the extra bytes would be a valid MessagePack value.
    let mut bytes = good.clone();
    bytes.extend_from_slice(&[0xc0, 0x90, 0x01]);
    assert_eq!(decode(&bytes), Err(DecodeError::Trailing(3)));
    // Two frames back to back are not one frame.
    let mut bytes = good.clone();
    bytes.extend_from_slice(&good);
    assert_eq!(decode(&bytes), Err(DecodeError::Trailing(good.len())));
}

// ---- bodies that decode but are not canonical ----

/// The manifest's wire shape without its rules: `Manifest` serializes its fields
/// `chain` and `entries` in this order.
#[derive(Serialize)]
struct Raw {
    chain: Option<ChainId>,
    entries: Vec<VarEntry>,
}

fn raw_bytes(entries: Vec<VarEntry>) -> Vec<u8> {
    codec::encode(
        &Raw {
            chain: None,
            entries,
        },
        &Limits::default(),
    )
    .unwrap()
}

fn not_canonical(entries: Vec<VarEntry>) {
    match decode(&raw_bytes(entries)) {
        Err(DecodeError::NotCanonical(_)) => {}
        other => panic!("expected NotCanonical, got {other:?}"),
    }
}

fn with_ids(name: &'static str, spent: &[u64], unspent: &[u64]) -> VarEntry {
    let mut entry = VarEntry::new(key(name), Binding::Unchanged);
    entry.spent = spent.iter().copied().map(tok).collect();
    entry.unspent = unspent.iter().copied().map(tok).collect();
    entry
}

#[test]
fn the_raw_mirror_has_the_manifest_shape() {
    // Control: in canonical form the mirror encodes to the very bytes of a Manifest,
    // so the refusals below are about the rules, not the shape.
    let entries = vec![
        with_ids("a", &[1, 2], &[3]),
        VarEntry::new(key("b"), Binding::NoValue),
    ];
    let manifest = Manifest::new(None, entries.clone());
    assert_eq!(raw_bytes(entries), manifest.encode().unwrap());
}

#[test]
fn entries_out_of_order_are_not_canonical() {
    not_canonical(vec![
        VarEntry::new(key("b"), Binding::NoValue),
        VarEntry::new(key("a"), Binding::NoValue),
    ]);
}

#[test]
fn a_duplicate_key_is_not_canonical() {
    not_canonical(vec![
        VarEntry::new(key("a"), Binding::NoValue),
        VarEntry::new(key("a"), Binding::value(vec![1])),
    ]);
}

#[test]
fn an_id_both_spent_and_unspent_is_not_canonical() {
    // A spend wins over the witness: Manifest::new would have removed it from unspent.
    not_canonical(vec![with_ids("a", &[1, 2], &[2, 3])]);
}

#[test]
fn unsorted_or_repeated_ids_are_not_canonical() {
    not_canonical(vec![with_ids("a", &[2, 1], &[])]);
    not_canonical(vec![with_ids("a", &[], &[5, 4])]);
    not_canonical(vec![with_ids("a", &[1, 1], &[])]);
    not_canonical(vec![with_ids("a", &[], &[3, 3])]);
}

#[test]
fn an_entry_that_carries_nothing_is_not_canonical() {
    not_canonical(vec![VarEntry::new(key("a"), Binding::Unchanged)]);
}

// ---- hostile length prefixes ----

fn refused(body: &[u8]) {
    let result = decode(&frame(body));
    assert!(result.is_err(), "accepted {body:02x?}: {result:?}");
}

#[test]
fn hostile_length_prefixes_are_refused_without_allocating() {
    const HUGE: [u8; 4] = [0xff; 4];
    let cat = |parts: &[&[u8]]| parts.concat();
    // The whole manifest as an array32 of 2^32-1 elements.
    refused(&cat(&[&[0xdd], &HUGE]));
    refused(&cat(&[&[0xdd], &HUGE, &[0xc0, 0x90]]));
    // The entries as an array32 of 2^32-1, then one real entry.
    let entry = [
        0x94, 0x92, 0xa1, b'n', 0xa1, b'k', 0xa7, b'N', b'o', b'V', b'a', b'l', b'u', b'e', 0x90,
        0x90,
    ];
    refused(&cat(&[&[0x92, 0xc0, 0xdd], &HUGE]));
    refused(&cat(&[&[0x92, 0xc0, 0xdd], &HUGE, &entry]));
    // The chain as a bin32 of 2^32-1 bytes, with and without a few bytes after.
    refused(&cat(&[&[0x92, 0xc6], &HUGE]));
    refused(&cat(&[&[0x92, 0xc6], &HUGE, &[0u8; 32]]));
    // A key string as a str32 of 2^32-1 bytes.
    refused(&cat(&[
        &[0x92, 0xc0, 0x91, 0x94, 0x92, 0xdb],
        &HUGE,
        b"abc",
    ]));
    // A value as a bin32 of 2^32-1 bytes.
    refused(&cat(&[
        &[
            0x92, 0xc0, 0x91, 0x94, 0x92, 0xa1, b'n', 0xa1, b'k', 0x81, 0xa5,
        ],
        b"Value",
        &[0xc6],
        &HUGE,
        &[1, 2, 3],
    ]));
    // The spent ids as an array32 of 2^32-1.
    refused(&cat(&[
        &[0x92, 0xc0, 0x91, 0x94, 0x92, 0xa1, b'n', 0xa1, b'k', 0xa7],
        b"NoValue",
        &[0xdd],
        &HUGE,
    ]));
    // A map32 of 2^32-1 pairs where the manifest's struct goes.
    refused(&cat(&[&[0xdf], &HUGE]));
}

// ---- MessagePack width is not part of the contract ----

/// The guarantee is that the same state always *encodes* to the same bytes (S16).
/// Decoding accepts any MessagePack spelling of a canonical manifest (a wider integer,
/// an array16 header), and what it accepts re-encodes to the one canonical spelling.
#[test]
fn a_wider_spelling_decodes_to_the_same_manifest() {
    // The empty manifest: [nil, []] as fixarray, and again with array16 headers.
    let canonical = frame(&[0x92, 0xc0, 0x90]);
    let wide = frame(&[0xdc, 0x00, 0x02, 0xc0, 0xdc, 0x00, 0x00]);
    let from_wide = decode(&wide).unwrap();
    assert_eq!(from_wide, decode(&canonical).unwrap());
    assert_eq!(from_wide.encode().unwrap(), canonical);
}
