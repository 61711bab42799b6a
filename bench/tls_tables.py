#!/usr/bin/env python3
"""Markdown tables of a bench/tls.sh results folder, as BENCHMARKS.md ("TLS") shows them.

    python3 bench/tls_tables.py bench/results/tls

Reads the load generator's JSON reports (LABEL.json); runs kept as LABEL.noisy-N.json (the
machine was busy with something else) are left out. Each cell is the median of the repeats,
with the range in brackets when there are several; the ratio lines are what #14's targets judge.
"""

import glob
import json
import os
import statistics
import sys

SERVERS = [
    ("ssehub-tls", "ssehub, TLS"),
    ("ssehub", "ssehub, plain"),
    ("nchan-tls", "nginx + nchan, TLS"),
    ("nchan", "nginx + nchan, plain"),
]


def runs(folder, scenario, server):
    out = []
    for path in sorted(glob.glob(os.path.join(folder, f"{scenario}-{server}-*.json"))):
        rest = os.path.basename(path)[len(f"{scenario}-{server}-") : -len(".json")]
        if not rest.isdigit():  # fanout-ssehub-* also matches fanout-ssehub-tls-*; .noisy-N, .failed
            continue
        with open(path) as f:
            try:
                out.append(json.load(f))
            except json.JSONDecodeError:  # a run still going, or stopped before its report
                continue
    return out


def get(run, *keys):
    for k in keys:
        if run is None:
            return None
        run = run.get(k)
    return run


def other(rs):
    """The cores busy with something else than the server and the load generator."""
    return [r["other_cpu_s"] / r["window_s"] for r in rs if r.get("other_cpu_s") is not None and r.get("window_s")]


def cores(v):
    return f"{v:.2f}"


def figures(rs, *keys):
    return [v for v in (get(r, *keys) for r in rs) if v is not None]


def cell(values, fmt):
    if not values:
        return "—"
    m = fmt(statistics.median(values))
    if len(values) > 1:
        m += f" ({fmt(min(values))}–{fmt(max(values))})"
    return m


def median(values):
    return statistics.median(values) if values else None


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def main(folder):
    us = lambda v: f"{v:.2f} µs"  # noqa: E731
    kib = lambda v: f"{v / 1024:.1f} KiB"  # noqa: E731
    n = lambda v: f"{v:,.0f}"  # noqa: E731
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    ms = lambda v: f"{v / 1000:.1f} ms"  # noqa: E731
    med = {}

    print("### Fan-out: 10,000 streams x 10 events/s of 64 bytes\n")
    print("| server | runs | server CPU per delivered event | delivered | p99 latency | other CPU (cores) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s, name in SERVERS:
        rs = runs(folder, "fanout", s)
        if not rs:
            continue
        cpu = figures(rs, "server", "cpu_us_per_event")
        med[("fanout", s)] = median(cpu)
        print(f"| {name} | {len(rs)} | {cell(cpu, us)} | {cell(figures(rs, 'expected', 'delivered_ratio'), pct)} "
              f"| {cell(figures(rs, 'latency_us', 'p99'), ms)} | {cell(other(rs), cores)} |")
    t, p, x = (med.get(("fanout", k)) for k in ("ssehub-tls", "ssehub", "nchan-tls"))
    print(f"\nssehub TLS / plain ssehub: {ratio(t, p)} (target <= 1.25); "
          f"ssehub TLS / nginx+nchan TLS: {ratio(t, x)} (target <= 0.6)\n")

    print("### Idle: 19,000 streams held\n")
    print("| server | runs | RSS growth per stream | RSS with all open | other CPU (cores) |")
    print("| --- | --- | --- | --- | --- |")
    for s, name in SERVERS:
        rs = runs(folder, "idle", s)
        if not rs:
            continue
        grow = figures(rs, "server", "rss_growth_per_connection_bytes")
        med[("idle", s)] = median(grow)
        print(f"| {name} | {len(rs)} | {cell(grow, kib)} | {cell(figures(rs, 'server', 'rss_bytes'), lambda v: f'{v / 2**20:.1f} MiB')} | {cell(other(rs), cores)} |")
    for tls, plain, name in (("ssehub-tls", "ssehub", "ssehub"), ("nchan-tls", "nchan", "nginx + nchan")):
        a, b = med.get(("idle", tls)), med.get(("idle", plain))
        if a is not None and b is not None:
            print(f"\n{name}: TLS costs {(a - b) / 1024:.1f} KiB per stream above plain"
                  + (" (target <= 4 KiB)" if plain == "ssehub" else ""))
    print()

    print("### Full TLS handshakes (server pinned to one core, load generator on the other)\n")
    print("| server | runs | handshakes/s | server CPU per handshake | load-generator CPU per handshake | other CPU (cores) | agreed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s, name in SERVERS:
        rs = runs(folder, "handshakes", s)
        if not rs:
            continue
        rate = figures(rs, "handshakes", "per_sec")
        med[("hs", s)] = median(rate)
        agreed = ", ".join(sorted({k for r in rs for k in (r.get("tls") or {})}))
        print(f"| {name} | {len(rs)} | {cell(rate, n)} | {cell(figures(rs, 'handshakes', 'server_cpu_us_per_handshake'), us)} "
              f"| {cell(figures(rs, 'handshakes', 'loadgen_cpu_us_per_handshake'), us)} | {cell(other(rs), cores)} | {agreed} |")
    print(f"\nssehub / nginx handshakes per second: {ratio(med.get(('hs', 'ssehub-tls')), med.get(('hs', 'nchan-tls')))} (target >= 1)")


if __name__ == "__main__":
    main(sys.argv[1])
