#!/usr/bin/env bash
# skein beside wool, Ray and its own baselines, in one run on one machine.
#
#   benches/compare.sh [--quick] [--pin]
#
# Runs wool's benchmark (wool_bench.py, wool 0.15.7 in a venv under /tmp), Ray's
# (ray_bench.py, Ray 2.60 in another venv) and skein's (`--features cluster --example
# bench --mode all`) interleaved, twice, so all three see the same machine load, then
# prints a markdown table: each figure is the median of the two rounds, and each ratio
# is against wool, Ray or a baseline from the same run.
# --pin runs both on CPU 0 (taskset -c 0), as the performance targets compare pinned
# with pinned.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
anchors=${SKEIN_ANCHORS:-$root/../shared/anchors}
venv=${WOOL_VENV:-/tmp/wool-venv}
ray_venv=${RAY_VENV:-/tmp/ray-venv}
quick="" pin="" taskset=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick="--quick" ;;
    --pin) pin="--pin"; taskset=(taskset -c 0) ;;
    *) echo "usage: $0 [--quick] [--pin]" >&2; exit 2 ;;
  esac
done

if [ ! -x "$venv/bin/python" ]; then
  echo "setting up wool 0.15.7 in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q wool==0.15.7
fi
if [ ! -x "$ray_venv/bin/python" ]; then
  echo "setting up Ray 2.60 in $ray_venv" >&2
  python3 -m venv "$ray_venv"
  "$ray_venv/bin/pip" install -q ray==2.60.0
fi
[ -f "$anchors/wool_bench.py" ] || { echo "wool_bench.py not found under $anchors (set SKEIN_ANCHORS)" >&2; exit 1; }

cargo build --release --features cluster --example bench >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in 1 2; do
  echo "round $round: wool" >&2
  (cd "$anchors" && "${taskset[@]}" "$venv/bin/python" wool_bench.py $quick --spawn 2 2>/dev/null) > "$out/wool_$round.jsonl"
  echo "round $round: ray" >&2
  (cd "$anchors" && "${taskset[@]}" "$ray_venv/bin/python" ray_bench.py $quick 2>/dev/null) > "$out/ray_$round.jsonl"
  echo "round $round: skein" >&2
  "$root/target/release/examples/bench" $quick $pin --mode all 2>/dev/null > "$out/skein_$round.jsonl"
done

python3 - "$out" "$quick" "$pin" <<'PY'
import json, pathlib, statistics, sys, datetime, os

out = pathlib.Path(sys.argv[1])
def load(name):
    rows = {}
    for path in sorted(out.glob(f"{name}_*.jsonl")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            key = (row.get("case"), row.get("mode", "wool"))
            rows.setdefault(key, []).append(row)
    return rows

wool, ray, skein = load("wool"), load("ray"), load("skein")

def med(rows, case, mode, field):
    vals = [r[field] for r in rows.get((case, mode), []) if isinstance(r.get(field), (int, float))]
    return statistics.median(vals) if vals else None

def w(case, field):  # wool rows carry no mode
    return med(wool, case, "wool", field)

def ra(case, field):
    return med(ray, case, "ray", field)

def s(case, mode, field):
    return med(skein, case, mode, field)

def ratio(a, b):
    return a / b if a and b else None

def fmt(x, unit=""):
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x:,.0f}{unit}"
    return f"{x:.3g}{unit}"

rows = []
def row(what, figure, baseline_name, baseline, r, target, ok):
    verdict = "—" if ok is None else ("met" if ok else "missed")
    rows.append(f"| {what} | {figure} | {baseline_name} | {baseline} | {fmt(r, '×')} | {target} | {verdict} |")

def check(r, bound, at_most):
    if r is None:
        return None
    return r <= bound if at_most else r >= bound

# Sequential call, p50.
seq_l, bare_l = s("seq_add", "local", "p50_us"), s("baseline_ractor_call", "local", "p50_us")
r = ratio(seq_l, bare_l); row("sequential call, in-process, p50", fmt(seq_l, " µs"), "bare ractor `call`", fmt(bare_l, " µs"), r, "≤ 2.5×", check(r, 2.5, True))
r = ratio(w("seq_add", "p50_us"), seq_l); row("sequential call, in-process, p50", fmt(seq_l, " µs"), "wool `seq_add`", fmt(w("seq_add", "p50_us"), " µs"), r, "≥ 1,000× faster", check(r, 1000, False))
seq_p, bare_p, tcp = s("seq_add", "process", "p50_us"), s("baseline_remote_call", "process", "p50_us"), s("loopback_rtt", "process", "p50_us")
r = ratio(seq_p, bare_p); row("sequential call, 2 processes, p50", fmt(seq_p, " µs"), "bare ractor_cluster remote `call`", fmt(bare_p, " µs"), r, "≤ 1.25×", check(r, 1.25, True))
r = ratio(seq_p, tcp); row("sequential call, 2 processes, p50", fmt(seq_p, " µs"), "loopback TCP round trip", fmt(tcp, " µs"), r, "≤ 2.5×", check(r, 2.5, True))
r = ratio(w("seq_add", "p50_us"), seq_p); row("sequential call, 2 processes, p50", fmt(seq_p, " µs"), "wool `seq_add`", fmt(w("seq_add", "p50_us"), " µs"), r, "≥ 20× faster", check(r, 20, False))
r = ratio(ra("seq_add", "p50_us"), seq_p); row("sequential call, 2 processes, p50", fmt(seq_p, " µs"), "Ray `seq_add`", fmt(ra("seq_add", "p50_us"), " µs"), r, "≥ 20× faster", check(r, 20, False))
# 64 in flight.
c_l, cb_l = s("conc64_add", "local", "per_s"), s("baseline_ractor_call_conc64", "local", "per_s")
r = ratio(c_l, cb_l); row("64 in flight, in-process, calls/s", fmt(c_l), "64 bare ractor calls", fmt(cb_l), r, "≥ 0.33×", check(r, 0.33, False))
c_p, cb_p = s("conc64_add", "process", "per_s"), s("baseline_remote_call_conc64", "process", "per_s")
r = ratio(c_p, cb_p); row("64 in flight, 2 processes, calls/s", fmt(c_p), "64 bare remote calls", fmt(cb_p), r, "≥ 0.5×", check(r, 0.5, False))
r = ratio(c_p, w("conc64_add", "per_s")); row("64 in flight, 2 processes, calls/s", fmt(c_p), "wool `conc64_add`", fmt(w("conc64_add", "per_s")), r, "≥ 50×", check(r, 50, False))
# Nested.
for mode, seq in (("local", seq_l), ("process", seq_p)):
    n = s("nested_add", mode, "p50_us")
    r = ratio(n, seq); row(f"nested call (2 hops), {mode}, p50", fmt(n, " µs"), "sequential call", fmt(seq, " µs"), r, "≤ 2.2×", check(r, 2.2, True))
r = ratio(w("nested_add", "p50_us"), s("nested_add", "process", "p50_us")); row("nested call, 2 processes, p50", fmt(s("nested_add", "process", "p50_us"), " µs"), "wool `nested_add`", fmt(w("nested_add", "p50_us"), " µs"), r, "faster", None)
# Streams: exact (one credit) and ahead(64), beside sequential calls, wool and Ray.
for mode in ("local", "process"):
    sq = s("seq_add", mode, "per_s")
    st = s("stream_1000", mode, "per_s")
    r = ratio(st, sq); row(f"stream of 1,000, exact, {mode}, items/s", fmt(st), "sequential calls/s", fmt(sq), r, "≥ 0.9×", check(r, 0.9, False))
    ah = s("stream_1000_ahead64", mode, "per_s")
    if mode == "local":
        r = ratio(ah, sq); row("stream of 1,000, ahead(64), in-process, items/s", fmt(ah), "sequential calls/s", fmt(sq), r, "≥ 10×", check(r, 10, False))
ah = s("stream_1000_ahead64", "process", "per_s")
r = ratio(ah, w("stream_1000", "per_s")); row("stream of 1,000, ahead(64), 2 processes, items/s", fmt(ah), "wool `stream_1000`", fmt(w("stream_1000", "per_s")), r, "≥ 200×", check(r, 200, False))
r = ratio(ah, ra("stream_1000", "per_s")); row("stream of 1,000, ahead(64), 2 processes, items/s", fmt(ah), "Ray `stream_1000`", fmt(ra("stream_1000", "per_s")), r, "≥ 20×", check(r, 20, False))
# Growth and memory.
for mode in ("local", "process"):
    g = s("merge_growth", mode, "ratio")
    row(f"p50 late ÷ p50 first 1k, one chain, {mode}", fmt(g, "×"), "itself", "—", g, "≤ 1.1", check(g, 1.1, True))
b = s("ledger_1m_spent", "any", "bytes")
row("memory for 1,000,000 spent tokens (worst order)", fmt(b / 1e6 if b else None, " MB"), "—", "—", None, "≤ 64 MB", None if b is None else b <= 64e6)
# The context cases, beside wool.
for case in ("seq_ctx", "seq_merge", "seq_merge_fresh"):
    sk = s(case, "process", "p50_us"); r = ratio(w(case, "p50_us"), sk)
    row(f"`{case}`, 2 processes, p50", fmt(sk, " µs"), f"wool `{case}`", fmt(w(case, "p50_us"), " µs"), r, "faster", None)
for case in ("conc64_ctx", "conc64_merge"):
    sk = s(case, "process", "per_s"); r = ratio(sk, w(case, "per_s"))
    row(f"`{case}`, 2 processes, calls/s", fmt(sk), f"wool `{case}`", fmt(w(case, "per_s")), r, "faster", None)

print(f"skein vs wool 0.15.7, Ray 2.60 and same-run baselines — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
      f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; flags: {' '.join(a for a in sys.argv[2:] if a) or 'none'}; median of 2 interleaved rounds")
print()
print("| case | skein | baseline | baseline figure | ratio | target | |")
print("| --- | ---: | --- | ---: | ---: | --- | --- |")
print("\n".join(rows))
PY
