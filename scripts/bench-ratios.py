#!/usr/bin/env python3
"""Ratios of our benchmarks against their peers from one `make bench` run.
Reads ordo-one/benchmark's text output (p50 column) and the Go peer's "expr|zone|ns" lines."""
import sys


def p50(lines, name, metric):
    """The p50 of `metric` in the table under the benchmark called `name`."""
    for i, line in enumerate(lines):
        if line.strip() == name:
            for row in lines[i + 1:i + 20]:
                if metric in row:
                    return float(row.split("│")[4].strip())
    return None


swift = open(sys.argv[1]).read().splitlines()
print("\nScheduler: ns per next fire time, p50 (lower is better)")
print(f"{'expression':<22}{'zone':<15}{'imagebuildd':>12}{'robfig/cron':>13}{'speed-up':>10}")
for line in open(sys.argv[2]):
    expr, zone, go_ns = line.strip().split("|")
    ours = p50(swift, f"next: {expr} {zone}", "Time (wall clock)")
    ratio = f"{float(go_ns) / ours:.1f}x" if ours else "n/a"
    print(f"{expr:<22}{zone:<15}{ours if ours is not None else 'n/a':>12}{float(go_ns):>13.1f}{ratio:>10}")

print("\nJournal: committed records per second, p50 (K, higher is better)")
sqlite = p50(swift, "SQLite WAL synchronous=FULL, INSERT per transaction", "Throughput")
for writers in (1, 64):
    ours = p50(swift, f"Journal append+fdatasync, {writers} writer(s)", "Throughput")
    if ours and sqlite:
        print(f"  {writers:>2} writer(s): {ours:g}K/s vs SQLite {sqlite:g}K/s = {ours / sqlite:.1f}x")
rec = p50(swift, "Journal recovery, 1M records", "Time (wall clock)")
scan = p50(swift, "SQLite full scan, 1M rows", "Time (wall clock)")
if rec and scan:
    print(f"  recovery of 1,000,000 records: {rec / 1e6:.2f} s (SQLite raw scan of the same rows: {scan / 1e6:.2f} s)")
