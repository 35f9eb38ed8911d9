#!/usr/bin/env python3
"""Runs several builds of the `bench` example in turns and prints the in-process
sequential call and 64 in flight of each beside the bare ractor call of the same run.

    benches/interleave.py [--pin] [--rounds N] LABEL=PATH [LABEL=PATH ...]

Each PATH is a `bench` binary (for instance `target/release/examples/bench` built from
two commits, or with and without `--features cluster`). Every round runs each binary
once with `--mode local --case add`, so all of them see the same machine; the table
gives the medians over the rounds and the range of each ratio.
"""
import json
import statistics
import subprocess
import sys


def main(argv):
    pin = "--pin" in argv
    rounds = 7
    if "--rounds" in argv:
        rounds = int(argv[argv.index("--rounds") + 1])
    builds = [a.split("=", 1) for a in argv if "=" in a]
    if not builds:
        print(__doc__, file=sys.stderr)
        return 2
    runs = {label: [] for label, _ in builds}
    for _ in range(rounds):
        for label, path in builds:
            args = [path, "--mode", "local", "--case", "add"] + (["--pin"] if pin else [])
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
            cases = {c["case"]: c for c in map(json.loads, out.splitlines())}
            runs[label].append(cases)
    print(f"{'pinned' if pin else 'unpinned'}, {rounds} rounds in turns; medians (range of the ratio)")
    print("| build | seq_add p50 | bare call p50 | ratio | conc64_add calls/s | 64 bare calls/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, cases in runs.items():
        seq = [c["seq_add"]["p50_us"] for c in cases]
        bare = [c["baseline_ractor_call"]["p50_us"] for c in cases]
        r = [s / b for s, b in zip(seq, bare)]
        conc = [c["conc64_add"]["per_s"] for c in cases]
        cbare = [c["baseline_ractor_call_conc64"]["per_s"] for c in cases]
        cr = [a / b for a, b in zip(conc, cbare)]
        med = statistics.median
        print(
            f"| {label} | {med(seq):.3f} µs | {med(bare):.3f} µs | {med(r):.2f}× ({min(r):.2f}–{max(r):.2f})"
            f" | {med(conc):,.0f} | {med(cbare):,.0f} | {med(cr):.2f}× ({min(cr):.2f}–{max(cr):.2f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
