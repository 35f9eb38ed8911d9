//! The ledger: spend and lookup speed on a ledger holding 1,000,000 spent ids, and the
//! memory those ids take, each against a `HashSet<TokenId>` measured in the same run.
//!
//! Before criterion runs, `main` prints one line per measurement of live heap bytes,
//! counted by the global allocator below:
//!
//! ```text
//! ledger_1m_spent order=sequential bytes=... mb=... peak_bytes=... runs=... target_ok=true
//! ```
//!
//! The orders are: `sequential` (seqs 0..1M, spent in the order they were minted),
//! `every_other` (seqs 0, 2, 4, ...: the worst case, one run per spent id) and `random`
//! (a random permutation of 0..1M). The target is at most 64 MB (64,000,000 bytes) for
//! 1M spent ids in every order.
//!
//! Run with `cargo bench --bench ledger`; `docs/performance.md` records the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use skein::actors::{Ledger, LedgerId, SpendOutcome, TokenId};

/// Spent ids held by every structure measured.
const SPENT: u64 = 1_000_000;

/// The memory target for `SPENT` spent ids, in bytes.
const TARGET_BYTES: usize = 64_000_000;

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

/// The system allocator, counting live and peak heap bytes while `COUNTING` is on.
///
/// Why `unsafe` here: `GlobalAlloc` is an unsafe trait (the allocator promises to return
/// valid memory for the layout), so implementing it needs `unsafe impl`, and its methods
/// are unsafe to call. Every method forwards to `System` with the arguments it was given
/// and only adds bookkeeping on atomics, so `System` upholds the contract. The crates
/// themselves forbid unsafe code; this is a bench-only measuring device.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(true);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

fn shrank(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_sub(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System`, which implements `GlobalAlloc` soundly; the
// counters do not touch the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the
        // rest of `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live heap bytes now; resets the peak to it.
fn live_now() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

// ---------------------------------------------------------------------------------------
// Orders and ids
// ---------------------------------------------------------------------------------------

/// xorshift64*: enough randomness for a shuffle, and no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..bound` for a benchmark.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}

/// A random permutation of `0..n` (Fisher-Yates).
fn permutation(n: u64, seed: u64) -> Vec<u64> {
    let mut rng = XorShift(seed);
    let mut seqs: Vec<u64> = (0..n).collect();
    for i in (1..seqs.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        seqs.swap(i, j);
    }
    seqs
}

/// The layouts the speed benches run on: which seqs the 1M spent ids have, and the
/// stride of the fresh ids spent on top of them.
#[derive(Clone, Copy)]
enum Layout1M {
    /// Seqs 0..1M: one run. Fresh ids extend it.
    Sequential,
    /// Seqs 0, 2, 4, ...: 1M runs. Fresh ids (stride 2) each add a run.
    EveryOther,
}

impl Layout1M {
    fn name(self) -> &'static str {
        match self {
            Layout1M::Sequential => "sequential",
            Layout1M::EveryOther => "every_other",
        }
    }

    fn stride(self) -> u64 {
        match self {
            Layout1M::Sequential => 1,
            Layout1M::EveryOther => 2,
        }
    }

    /// The seqs of the spent ids.
    fn spent(self) -> impl Iterator<Item = u64> {
        let stride = self.stride();
        (0..SPENT).map(move |i| i * stride)
    }

    /// The `i`-th fresh seq: never spent, above every spent one.
    fn fresh(self, i: u64) -> u64 {
        (SPENT + i) * self.stride()
    }

    /// The seqs looked up: spread over twice the spent range, so about half hit.
    fn probes(self, n: usize, seed: u64) -> Vec<u64> {
        let mut rng = XorShift(seed);
        let span = 2 * SPENT * self.stride();
        (0..n).map(|_| rng.below(span)).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------

fn report(what: &str, bytes: usize, peak: usize, runs: Option<usize>) {
    let runs = runs.map(|r| format!(" runs={r}")).unwrap_or_default();
    println!(
        "{what} bytes={bytes} mb={:.1} peak_bytes={peak}{runs} target_ok={}",
        bytes as f64 / 1e6,
        bytes <= TARGET_BYTES
    );
}

fn ledger_memory(order: &str, seqs: impl IntoIterator<Item = u64>) {
    let home = LedgerId::new();
    let before = live_now();
    let mut ledger = Ledger::new();
    for seq in seqs {
        assert_eq!(ledger.spend(TokenId::new(home, seq)), SpendOutcome::Spent);
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(ledger.len(), SPENT);
    report(
        &format!("ledger_1m_spent order={order}"),
        bytes,
        peak,
        Some(ledger.runs()),
    );
    drop(ledger);
}

fn hashset_memory() {
    let home = LedgerId::new();
    let before = live_now();
    let mut set = HashSet::new();
    for seq in 0..SPENT {
        assert!(set.insert(TokenId::new(home, seq)));
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    report("hashset_1m_spent order=sequential", bytes, peak, None);
    drop(set);
}

fn memory_report() {
    ledger_memory("sequential", Layout1M::Sequential.spent());
    ledger_memory("every_other", Layout1M::EveryOther.spent());
    // The permutation is built before the count starts, so it is not counted.
    let shuffled = permutation(SPENT, 0x5eed_1e5d_9e37_79b9);
    ledger_memory("random", shuffled.iter().copied());
    drop(shuffled);
    hashset_memory();
    // The speed benches run without the bookkeeping.
    COUNTING.store(false, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------
// Speed
// ---------------------------------------------------------------------------------------

/// Fresh ids spent on one copy of the 1M base before it is replaced by a new copy: the
/// structures stay near 1M ids, and the `HashSet` (2^21 buckets at 1M ids, room for
/// 1,835,008) never resizes inside a chunk.
const CHUNK: u64 = 1 << 19;

/// Probes cycled through by the lookup benches.
const PROBES: usize = 1 << 16;

trait SpentSet: Clone {
    fn spend(&mut self, id: TokenId) -> bool;
    fn is_spent(&self, id: &TokenId) -> bool;
}

impl SpentSet for Ledger {
    fn spend(&mut self, id: TokenId) -> bool {
        Ledger::spend(self, id) == SpendOutcome::Spent
    }
    fn is_spent(&self, id: &TokenId) -> bool {
        Ledger::is_spent(self, id)
    }
}

impl SpentSet for HashSet<TokenId> {
    fn spend(&mut self, id: TokenId) -> bool {
        self.insert(id)
    }
    fn is_spent(&self, id: &TokenId) -> bool {
        self.contains(id)
    }
}

fn build<S: SpentSet>(mut empty: S, home: LedgerId, layout: Layout1M) -> S {
    for seq in layout.spent() {
        assert!(empty.spend(TokenId::new(home, seq)));
    }
    empty
}

/// Times `iters` spends of fresh ids; the copies of the base are made off the clock.
fn time_spends<S: SpentSet>(base: &S, home: LedgerId, layout: Layout1M, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let mut set = base.clone();
        let n = (iters - done).min(CHUNK);
        let start = Instant::now();
        for i in 0..n {
            black_box(set.spend(TokenId::new(home, layout.fresh(i))));
        }
        total += start.elapsed();
        drop(set);
        done += n;
    }
    total
}

fn bench_layout<S: SpentSet>(
    c: &mut Criterion,
    label: &str,
    base: &S,
    home: LedgerId,
    layout: Layout1M,
) {
    c.benchmark_group("spend_fresh_on_1m")
        .bench_function(BenchmarkId::new(label, layout.name()), |b| {
            b.iter_custom(|iters| time_spends(base, home, layout, iters))
        });
    let probes: Vec<TokenId> = layout
        .probes(PROBES, 0xface_b00c)
        .into_iter()
        .map(|seq| TokenId::new(home, seq))
        .collect();
    let mut i = 0;
    c.benchmark_group("is_spent_on_1m").bench_function(
        BenchmarkId::new(label, layout.name()),
        |b| {
            b.iter(|| {
                i = (i + 1) % PROBES;
                base.is_spent(black_box(&probes[i]))
            })
        },
    );
}

fn ledger_speed(c: &mut Criterion) {
    for layout in [Layout1M::Sequential, Layout1M::EveryOther] {
        let home = LedgerId::new();
        let ledger = build(Ledger::new(), home, layout);
        assert_eq!(
            ledger.runs(),
            if layout.stride() == 1 {
                1
            } else {
                SPENT as usize
            }
        );
        bench_layout(c, "ledger", &ledger, home, layout);
        drop(ledger);
        let set = build(HashSet::new(), home, layout);
        bench_layout(c, "hashset", &set, home, layout);
    }
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
    targets = ledger_speed
}

fn main() {
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
