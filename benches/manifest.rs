//! The context round trip of one simulated dispatch, for manifests of 1, 16 and 128
//! context variables, against a bare MessagePack round trip of the same entries.
//!
//! One iteration of `round_trip` is what a dispatch costs in context terms: the caller
//! takes its snapshot, encodes it as a frame, the worker decodes the frame and opens a
//! context that continues it. The baseline `bare_rmp` encodes and decodes a
//! `Vec<(namespace, name, value bytes)>` of the same entries, with no chain id, no token
//! ids and no frame checks, so the figure to read is the ratio of the two.
//!
//! Run with `cargo bench --bench manifest`; `docs/performance.md` records the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use skein::actors::{Limits, Manifest};
use skein::{Context, ContextVar, InstallMode, Token};

/// The manifest sizes measured: context variables set in the caller.
const SIZES: [usize; 3] = [1, 16, 128];

const NAMESPACE: &str = "bench";

/// The variables, declared once for the whole run. A key may be declared by one
/// variable only, so every size uses a prefix of the same pool.
fn pool() -> &'static [&'static ContextVar<u64>] {
    static POOL: std::sync::OnceLock<Vec<&'static ContextVar<u64>>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let largest = SIZES.iter().copied().max().unwrap_or(0);
        (0..largest)
            .map(|i| {
                let name: &'static str = Box::leak(format!("var{i:03}").into_boxed_str());
                let var: &'static ContextVar<u64> =
                    Box::leak(Box::new(ContextVar::new(NAMESPACE, name)));
                var
            })
            .collect()
    })
}

fn value(i: usize) -> u64 {
    // Values of mixed encoded widths, as real ids and counters are.
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64)
}

/// A caller context with the first `n` variables of the pool set. The tokens are
/// returned so that the caller keeps them, as a real caller does: a live token stays
/// listed as unspent in every snapshot.
fn caller(rt: &tokio::runtime::Runtime, n: usize) -> (Context, Vec<Token<u64>>) {
    let caller = Context::new();
    let tokens = rt.block_on(caller.scope(async {
        pool()[..n]
            .iter()
            .enumerate()
            .map(|(i, var)| var.set(value(i)).expect("set inside a scope"))
            .collect::<Vec<_>>()
    }));
    (caller, tokens)
}

/// One simulated dispatch, caller side to worker side: snapshot, encode, decode, and a
/// fresh continuation context that merges the manifest.
fn round_trip(caller: &Context) -> Context {
    let bytes = caller.take_snapshot().encode().expect("manifest encodes");
    let manifest = Manifest::decode(&bytes, &Limits::default()).expect("manifest decodes");
    let worker = Context::continuation();
    let warnings = worker
        .merge(&manifest, InstallMode::Lenient)
        .expect("lenient install");
    debug_assert!(warnings.is_empty());
    worker
}

type BareEntry = (String, String, Vec<u8>);

fn bare_entries(n: usize) -> Vec<BareEntry> {
    (0..n)
        .map(|i| {
            (
                NAMESPACE.to_string(),
                format!("var{i:03}"),
                rmp_serde::to_vec(&value(i)).expect("u64 encodes"),
            )
        })
        .collect()
}

fn bare_round_trip(entries: &[BareEntry]) -> Vec<BareEntry> {
    let bytes = rmp_serde::to_vec(entries).expect("entries encode");
    rmp_serde::from_slice(&bytes).expect("entries decode")
}

fn manifest_round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("manifest_round_trip");
    for n in SIZES {
        let (cx, tokens) = caller(&rt, n);
        let entries = bare_entries(n);

        // Sanity and sizes, once per N: the worker sees every value, and the frame and
        // bare encodings are printed for the record.
        let worker = round_trip(&cx);
        rt.block_on(worker.scope(async {
            for (i, var) in pool()[..n].iter().enumerate() {
                assert_eq!(var.get(), Some(value(i)));
            }
        }));
        let frame_bytes = cx.snapshot().encode().expect("manifest encodes").len();
        let bare_bytes = rmp_serde::to_vec(&entries).expect("entries encode").len();
        assert_eq!(bare_round_trip(&entries), entries);
        println!("manifest_sizes vars={n} frame_bytes={frame_bytes} bare_rmp_bytes={bare_bytes}");

        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("skein", n), &cx, |b, cx| {
            b.iter(|| round_trip(black_box(cx)))
        });
        group.bench_with_input(BenchmarkId::new("bare_rmp", n), &entries, |b, entries| {
            b.iter(|| bare_round_trip(black_box(entries.as_slice())))
        });
        drop(tokens);
    }
    group.finish();
}

/// Where the time of one round trip goes, for the largest manifest: each stage alone,
/// with the bare baseline's encode and decode beside the frame's. `decode_from_slice`
/// decodes the same frame body with `rmp_serde::from_slice` (borrowing from the input)
/// instead of the codec's bounded reader, to show what that reader costs.
fn manifest_stages(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let n = SIZES.iter().copied().max().unwrap_or(1);
    let (cx, tokens) = caller(&rt, n);
    let manifest = cx.take_snapshot();
    let bytes = manifest.encode().expect("manifest encodes");
    let entries = bare_entries(n);
    let bare = rmp_serde::to_vec(&entries).expect("entries encode");
    assert_eq!(
        rmp_serde::from_slice::<Manifest>(&bytes[2..]).expect("body decodes"),
        manifest
    );

    let mut group = c.benchmark_group(format!("manifest_stages_{n}"));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("snapshot", |b| b.iter(|| black_box(&cx).take_snapshot()));
    group.bench_function("encode", |b| b.iter(|| black_box(&manifest).encode()));
    group.bench_function("bare_encode", |b| {
        b.iter(|| rmp_serde::to_vec(black_box(&entries)))
    });
    group.bench_function("decode", |b| {
        b.iter(|| Manifest::decode(black_box(&bytes), &Limits::default()))
    });
    group.bench_function("decode_from_slice", |b| {
        b.iter(|| rmp_serde::from_slice::<Manifest>(black_box(&bytes[2..])))
    });
    group.bench_function("bare_decode", |b| {
        b.iter(|| rmp_serde::from_slice::<Vec<BareEntry>>(black_box(&bare)))
    });
    group.bench_function("continuation_merge", |b| {
        b.iter(|| {
            let worker = Context::continuation();
            worker
                .merge(black_box(&manifest), InstallMode::Lenient)
                .expect("lenient install");
            worker
        })
    });
    group.finish();
    drop(tokens);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = manifest_round_trip, manifest_stages
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
