#!/usr/bin/env python3
"""The tables of bench/h2.sh's results (BENCHMARKS.md, "HTTP/2"), as Markdown on stdout.

    bench/h2_tables.py bench/results/h2

Reads OUT/fanout-*.json, OUT/memory-h2-x*.json (ssehub bench --json) and OUT/h2load-*.txt;
noisy, failed and missing runs are left out (their files stay beside the others).
"""
import glob
import json
import os
import re
import sys
from statistics import median


def load(pattern):
    runs = {}
    for path in sorted(glob.glob(pattern)):
        name = os.path.basename(path)[: -len(".json")]
        if ".noisy-" in name or ".failed" in name:
            continue
        with open(path) as f:
            runs[name] = json.load(f)
    return runs


def by_server(runs, prefix):
    """label -> [runs], the repeat number stripped: fanout-h2-tls-1 -> h2-tls."""
    out = {}
    for name, v in runs.items():
        key = re.sub(r"-\d+$", "", name[len(prefix):])
        out.setdefault(key, []).append(v)
    return out


def med(values):
    values = [v for v in values if v is not None]
    return median(values) if values else None


def fmt(x, spec="{:.2f}", none="-"):
    return none if x is None else spec.format(x)


def fanout(out):
    runs = by_server(load(os.path.join(out, "fanout-*.json")), "fanout-")
    if not runs:
        return
    names = {
        "h1": "ssehub HTTP/1.1 (plain)",
        "h2": "ssehub HTTP/2 (h2c)",
        "h2-tls": "ssehub HTTP/2 over TLS",
        "nchan-h2-tls": "nginx + nchan HTTP/2 over TLS",
    }
    print("### Fan-out: server CPU per delivered event, latency, memory\n")
    print("| server | connections × streams | established / failed | delivered | events/s | server CPU | CPU per event | p50 | p99 | RSS at end | RSS growth per stream | other CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    cpu = {}
    p99 = {}
    for key in ["h1", "h2", "h2-tls", "nchan-h2-tls"]:
        for v in runs.get(key, []):
            h2 = v.get("h2")
            shape = f"{h2['connections']:,} × {h2['streams_per_connection']}" if h2 else f"{v['connections']['requested']:,} × 1"
            server = v.get("server") or {}
            lat = v.get("latency_us") or {}
            exp = v.get("expected") or {}
            print(
                f"| {names.get(key, key)} | {shape} | {v['connections']['established']:,} / {v['connections']['failed']:,} "
                f"| {fmt(exp.get('delivered_ratio'), '{:.2%}')} | {v['events_per_sec']:,.0f} "
                f"| {fmt(server.get('cpu_s'), '{:.2f} s')} | {fmt(server.get('cpu_us_per_event'), '{:.2f} µs')} "
                f"| {fmt(lat.get('p50'), '{:,} µs')} | {fmt(lat.get('p99'), '{:,} µs')} "
                f"| {fmt(server.get('rss_bytes') and server['rss_bytes'] / 2**20, '{:.1f} MiB')} "
                f"| {fmt(server.get('rss_growth_per_connection_bytes'), '{:,.0f} B')} "
                f"| {fmt(v.get('other_cpu_s'), '{:.2f} s')} |"
            )
        cpu[key] = med([(v.get("server") or {}).get("cpu_us_per_event") for v in runs.get(key, [])])
        p99[key] = med([(v.get("latency_us") or {}).get("p99") for v in runs.get(key, [])])
    print()
    ratio = lambda a, b: None if a is None or b in (None, 0) else a / b
    print("| against the targets | ratio | target |")
    print("|---|---|---|")
    print(f"| CPU per event, ssehub h2c ÷ ssehub HTTP/1.1 | {fmt(ratio(cpu.get('h2'), cpu.get('h1')))} | ≤ 0.5 |")
    print(f"| CPU per event, ssehub h2 TLS ÷ nginx + nchan h2 TLS | {fmt(ratio(cpu.get('h2-tls'), cpu.get('nchan-h2-tls')))} | ≤ 0.5 |")
    print(f"| p99, ssehub h2 TLS ÷ nginx + nchan h2 TLS | {fmt(ratio(p99.get('h2-tls'), p99.get('nchan-h2-tls')))} | ≤ 0.5 |")
    print()


def memory(out):
    runs = load(os.path.join(out, "memory-h2-x*.json"))
    if not runs:
        return
    print("### Memory per HTTP/2 stream above its connection\n")
    print("| run | streams | RSS growth | per stream |")
    print("|---|---|---|---|")
    growth = {}
    for name, v in runs.items():
        s = v.get("server") or {}
        m = (v.get("h2") or {}).get("streams_per_connection")
        total = None
        if s.get("rss_bytes") is not None and s.get("rss_before_bytes") is not None:
            total = s["rss_bytes"] - s["rss_before_bytes"]
        per = s.get("rss_growth_per_connection_bytes")
        growth.setdefault(m, []).append((total, v["connections"]["established"]))
        print(f"| {name} | {v['connections']['established']:,} | {fmt(total and total / 1024, '{:,.0f} KiB')} | {fmt(per, '{:,.0f} B')} |")
    ms = sorted(k for k in growth if k is not None)
    if len(ms) >= 2:
        lo, hi = ms[0], ms[-1]
        # Repeat i of x1 beside repeat i of x10 (runs are sorted by name: repeat order).
        for i, ((g1, n1), (g2, n2)) in enumerate(zip(growth[lo], growth[hi]), 1):
            if None not in (g1, g2) and n2 > n1:
                print(f"\nAbove the connection, repeat {i}: ({g2:,} − {g1:,}) B ÷ ({n2:,} − {n1:,}) streams = **{(g2 - g1) / (n2 - n1):,.0f} B per stream** (target ≤ 512 B)")
    print()


def h2load(out):
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "h2load-*.txt"))):
        text = open(path).read()
        m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
        req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
        codes = re.search(r"status codes: (\d+) 2xx", text)
        rows.append((os.path.basename(path)[:-4], m, req, codes))
    if not rows:
        return
    print("### h2load: GET / over TLS (10 connections × 10 streams, one h2load thread)\n")
    print("| run | requests/s | succeeded | failed | 2xx |")
    print("|---|---|---|---|---|")
    for name, m, req, codes in rows:
        print(f"| {name} | {m and float(m.group(3)):,.0f} | {req and req.group(4)} | {req and req.group(5)} | {codes and codes.group(1)} |" if m else f"| {name} | - | - | - | - |")
    print()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench/results/h2"
    fanout(out)
    memory(out)
    h2load(out)


if __name__ == "__main__":
    main()
