#!/usr/bin/env python3
"""Markdown tables of a bench/run.sh results folder, as BENCHMARKS.md shows them.

    python3 bench/tables.py bench/results/<date>      # prints every table it has data for

Reads the load generator's JSON reports (LABEL.json) and, for the idle runs, LABEL.after.json.
Runs kept as LABEL.noisy-N.json (the machine was busy with something else) are left out.
"""

import glob
import json
import os
import re
import statistics
import sys

SERVERS = ["ssehub", "axum", "floor"]


def load(folder, pattern):
    runs = {}
    for path in sorted(glob.glob(os.path.join(folder, pattern + ".json"))):
        label = os.path.basename(path)[: -len(".json")]
        if ".noisy-" in label or label.endswith(".after"):
            continue
        with open(path) as f:
            runs[label] = json.load(f)
        after = os.path.join(folder, label + ".after.json")
        if os.path.exists(after):
            with open(after) as f:
                runs[label]["after"] = json.load(f)
    return runs


def ms(us):
    return "—" if us is None else f"{us / 1000:.1f} ms"


def num(n):
    return f"{n:,.0f}"


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def per_server(runs, prefix):
    out = {}
    for label, r in runs.items():
        m = re.match(prefix + r"-([\w-]+)-(\d+)$", label)  # [\w-]: ssehub-tls, nchan-tls
        if m:
            out.setdefault(m.group(1), []).append((label, r))
    return out


def cpu_share(r):
    return r["server"]["cpu_s"] / r["window_s"] * 100


def steady(folder, prefix, title):
    runs = per_server(load(folder, prefix + "-*"), prefix)
    if not runs:
        return
    print(f"#### {title}\n")
    print("| run | events/s | delivered | per connection | ids skipped | server CPU | µs/event "
          "| p50 | p99 | p99.9 | max | load gen CPU | other CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in SERVERS:
        for label, r in runs.get(s, []):
            lat = r["latency_us"] or {}
            pc = r["per_connection_events"] or {}
            skipped = r["skipped_ids"] if r["numbered_events"] else "—"
            print(f"| {label} | {num(r['events_per_sec'])} | {r['expected']['delivered_ratio'] * 100:.3f}% "
                  f"| {pc.get('fewest')}–{pc.get('most')} | {skipped} "
                  f"| {r['server']['cpu_s']:.2f} s ({cpu_share(r):.0f}%) | {r['server']['cpu_us_per_event']:.3f} "
                  f"| {ms(lat.get('p50'))} | {ms(lat.get('p99'))} | {ms(lat.get('p99_9'))} | {ms(lat.get('max'))} "
                  f"| {r['loadgen_cpu_s']:.2f} s | {r['other_cpu_s']:.2f} s |")
    print()
    print("| server | µs/event | p50 | p99 | load gen CPU |")
    print("|---|---|---|---|---|")
    for s in SERVERS:
        rs = [r for _, r in runs.get(s, [])]
        if rs:
            print(f"| {s} | {spread([r['server']['cpu_us_per_event'] for r in rs], lambda v: f'{v:.3f}')} "
                  f"| {spread([r['latency_us']['p50'] for r in rs], ms)} "
                  f"| {spread([r['latency_us']['p99'] for r in rs], ms)} "
                  f"| {spread([r['loadgen_cpu_s'] for r in rs], lambda v: f'{v:.2f} s')} |")
    print()


def saturation(folder):
    runs = load(folder, "sat-*")
    if not runs:
        return
    print("#### Saturation (1,000 connections)\n")
    print("| server | ev/s per connection | delivered ev/s | delivered | ids skipped | closed by server "
          "| p50 | p99 | µs/event | load gen CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for label, r in runs.items():
        _, s, rate = label.split("-")
        rows.append((SERVERS.index(s), int(rate), s, r))
    for _, rate, s, r in sorted(rows):
        skipped = r["skipped_ids"] if r["numbered_events"] else "—"
        print(f"| {s} | {num(rate)} | {num(r['events_per_sec'])} | {r['expected']['delivered_ratio'] * 100:.3f}% "
              f"| {skipped} | {r['connections']['closed']} | {ms(r['latency_us']['p50'])} "
              f"| {ms(r['latency_us']['p99'])} | {r['server']['cpu_us_per_event']:.3f} | {r['loadgen_cpu_s']:.1f} s |")
    print()


def idle(folder):
    runs = load(folder, "idle-*")
    if not runs:
        return
    print("#### Idle\n")
    print("| run | RSS before | with 19,000 | per connection | 5 s after closing | 20 s after |")
    print("|---|---|---|---|---|---|")
    for label, r in runs.items():
        srv, after = r["server"], r.get("after", {})
        a5 = after.get("rss_after_close_5s_kib", after.get("after5_kib"))
        a20 = after.get("rss_after_close_20s_kib", after.get("after20_kib"))
        print(f"| {label} | {num(srv['rss_before_bytes'] / 1024)} KiB | {num(srv['rss_bytes'] / 1024)} KiB "
              f"| {srv['rss_growth_per_connection_bytes']:.0f} B | {num(a5) if a5 else '—'} KiB "
              f"| {num(a20) if a20 else '—'} KiB |")
    print()


def setup(folder):
    runs = per_server(load(folder, "setup-*"), "setup")
    if not runs:
        return
    print("#### Set-up\n")
    print("| server | streams/s | set-up p50 | p99 | max | failed |")
    print("|---|---|---|---|---|---|")
    for s in SERVERS:
        rs = [r for _, r in runs.get(s, [])]
        if rs:
            join = lambda f: " · ".join(f(r) for r in rs)
            print(f"| {s} | {join(lambda r: num(r['fill']['streams_per_sec']))} "
                  f"| {join(lambda r: ms(r['setup_us']['p50']))} | {join(lambda r: ms(r['setup_us']['p99']))} "
                  f"| {join(lambda r: ms(r['setup_us']['max']))} | {join(lambda r: str(r['connections']['failed']))} |")
    for label, r in load(folder, "churnmax-*").items():
        c = r["churn"]
        print(f"\n{label}: {num(c['closed'])} closed and {num(c['established'])} reopened "
              f"({c['established_per_sec']:,.1f}/s) of {num(c['attempts'])} attempts, "
              f"{r['connections']['failed']} failed, {num(r['events_per_sec'])} events/s, "
              f"p99 {ms(r['latency_us']['p99'])}, server CPU {r['server']['cpu_s']:.1f} s ({cpu_share(r):.0f}%)")
    print()


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    steady(folder, "fanout", "Fan-out (10,000 × 10 ev/s)")
    steady(folder, "rate", "1,000 × 1,000 ev/s")
    saturation(folder)
    idle(folder)
    setup(folder)


if __name__ == "__main__":
    main()
