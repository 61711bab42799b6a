#!/usr/bin/env python3
"""SVG charts of bench results folders, as BENCHMARKS.md ("Charts") embeds them.

    python3 bench/charts.py bench/results/main bench/results/seam     # -> bench/charts/servers-*.svg
    python3 bench/charts.py --prefix tls bench/results/tls            # -> bench/charts/tls-*.svg
    python3 bench/charts.py --prefix redis bench/results/redis        # -> bench/charts/redis.svg
    python3 bench/charts.py --check bench/results/main bench/results/seam   # exit 1 if out of date

One SVG per scenario a folder has runs of, named PREFIX-SCENARIO.svg in --out (default
bench/charts): `fanout` and `rate` (bench/run.sh, bench/tls.sh) get the latency percentiles and
the server CPU per delivered event of each server, `idle` the RSS growth per open stream. With
several folders, each scenario is drawn from the last folder that has it (so `main seam` takes
the idle runs from main/ and the fan-out and rate runs from the newer seam/); a scenario no folder
has is left as it is on disk. A bench/redis.sh folder (--prefix redis) gives one chart of its
four kinds of run (cross-node, same node through Redis, one node with 1,000 and 2,000 clients).

Each bar is the median of a server's repeated runs, its whisker the range (min to max); the
subtitle names the folder, the ssehub commit and the date from its machine.txt. Runs are loaded
by bench/tables.py's code (LABEL.noisy-N.json left out, LABEL.after.json attached).

Written with the standard library only, so that it runs wherever the bench scripts do and the
output depends on nothing but the input: the same results give byte-identical SVG, so a re-run
diffs cleanly. --check draws in memory and compares with what is in --out instead of writing.
"""

import argparse
import itertools
import os
import re
import statistics
import sys
from xml.sax.saxutils import escape, quoteattr

sys.dont_write_bytecode = True  # no bench/__pycache__ left in the tree by the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables  # noqa: E402  (the shared loading code: tables.load, tables.per_server)

# Known servers in the order they are drawn, with a legend name, a name under a bar and a colour
# (Okabe-Ito palette, readable by colour-blind readers); any other server follows, in name order,
# in the FALLBACK colours.
SERVERS = {
    "ssehub": ("ssehub", "ssehub", "#0072B2"),
    "ssehub-tls": ("ssehub, TLS", "ssehub TLS", "#56B4E9"),
    "axum": ("axum + tokio broadcast", "axum", "#E69F00"),
    "floor": ("floor (one write per client per event)", "floor", "#8C8C8C"),
    "nchan": ("nginx + nchan", "nchan", "#009E73"),
    "nchan-tls": ("nginx + nchan, TLS", "nchan TLS", "#7FD1B9"),
}
FALLBACK = ["#CC79A7", "#D55E00", "#F0E442", "#332288", "#882255", "#44AA99"]
SCENARIOS = {"fanout": "Fan-out", "rate": "High rate", "idle": "Idle memory"}
PERCENTILES = [("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max")]
# A server that delivered less than this share of the expected events fell behind: its bars are
# marked, and the latency axis is scaled to the servers that kept up (its taller bars are cut).
KEPT_UP = 0.95
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"


# ---------------------------------------------------------------------------------------------
# Data: the runs of a scenario, per server, and the figures drawn from them.


def scenario_runs(folder, scenario):
    """{server: [report, ...]} for SCENARIO-SERVER-N.json in folder (servers may contain '-')."""
    found = tables.per_server(tables.load(folder, scenario + "-*"), scenario)
    return {s: [r for _, r in runs] for s, runs in found.items()}


def redis_runs(folder):
    """bench/redis.sh's four kinds of run, as series named for what they measure."""
    kinds = [
        ("B", r"two-\d+-B$", "B: cross-node (A publishes)", "B cross-node", "#0072B2"),
        ("A", r"two-\d+-A$", "A: same node, through Redis", "A via Redis", "#56B4E9"),
    ]
    runs = tables.load(folder, "*")
    # One node alone with each node's clients, then with both nodes' total (one-N-REP).
    ones = sorted({int(m.group(1)) for label in runs if (m := re.match(r"one-(\d+)-\d+$", label))})
    for n, colour in zip(ones, ["#8C8C8C", "#E69F00"]):
        kinds.append((f"one-{n}", rf"one-{n}-\d+$", "one node, no Redis", "1 node", colour))
    out = []
    for key, pattern, name, short, colour in kinds:
        rs = [r for label, r in runs.items() if re.match(pattern, label)]
        if rs:
            clients = rs[0]["connections"]["requested"]
            under = f"{short}, {clients:,}" if key.startswith("one") else short
            out.append((key, f"{name}, {clients:,} clients", under, colour, rs))
    return out


def order(servers):
    known = [s for s in SERVERS if s in servers]
    return known + sorted(s for s in servers if s not in SERVERS)


def style(servers):
    """{server: (legend name, short name, colour)} for the servers of one chart."""
    extra = itertools.cycle(FALLBACK)
    return {s: SERVERS.get(s) or (s, s, next(extra)) for s in order(servers)}


def figure(runs, get):
    """(median, min, max) of get(run) over the runs where it has a value, or None."""
    values = []
    for r in runs:
        try:
            v = get(r)
        except (KeyError, TypeError):
            v = None
        if v is not None:
            values.append(v)
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def delivered(runs):
    d = figure(runs, lambda r: r["expected"]["delivered_ratio"])
    return d[0] if d else None


def machine(folder):
    """(dates, commits) from the folder's machine.txt (a folder re-run appends a second block)."""
    dates, commits = [], []
    try:
        with open(os.path.join(folder, "machine.txt")) as f:
            for line in f:
                m = re.match(r"date: (\d{4}-\d\d-\d\d)T(\d\d:\d\d)", line)
                if m and m.group(1) + " " + m.group(2) not in dates:
                    dates.append(m.group(1) + " " + m.group(2))
                m = re.search(r"ssehub commit: (\S+)", line)
                if m and m.group(1) != "?" and m.group(1) not in commits:
                    commits.append(m.group(1))
    except OSError:
        pass
    return dates, commits


def source_line(folder, runs_per_series):
    """Folder · commit · date · what a bar is: the subtitle of a chart."""
    dates, commits = machine(folder)
    counts = [len(rs) for _, rs in runs_per_series]
    usual = max(sorted(set(counts)), key=counts.count)
    odd = [f"{short}: {len(rs)}" for short, rs in runs_per_series if len(rs) != usual]
    parts = [display_path(folder)]
    parts.append("ssehub " + ", ".join(commits) if commits else "commit not recorded")
    if dates:
        parts.append(", ".join(d + " UTC" for d in dates))
    runs = f"{usual} run{'s' if usual != 1 else ''}" + (f" ({', '.join(odd)})" if odd else "")
    parts.append(f"bars: median of {runs}, whiskers: min–max")
    return " · ".join(parts)


def display_path(folder):
    """The folder relative to the repository when inside it, else as given."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.abspath(folder)
    if path.startswith(root + os.sep):
        return os.path.relpath(path, root) + "/"
    return folder.rstrip("/") + "/"


# ---------------------------------------------------------------------------------------------
# Number formats for labels and axes.


def fmt_ms(v):
    if v >= 10000:
        return f"{v / 1000:.1f} s"
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def fmt_us(v):
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"


def fmt_bytes(v):
    return f"{v:,.0f} B"


def fmt_tick(v):
    return f"{int(v):,}" if v == int(v) else f"{v:g}"


def nice_ticks(top, count=5):
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least top."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10.0 ** int(f"{raw:e}".split("e")[1])
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks, i = [0.0], 0
    while ticks[-1] < top * (1 - 1e-9):
        i += 1
        ticks.append(round(i * step, 10))
    return ticks


def text_width(s, size):
    """A generous estimate of s's width in px at a sans-serif font size (for layout only)."""
    narrow, wide = " .,:;'il|!()", "mwMW%"
    return sum(0.32 if c in narrow else 0.85 if c in wide else 0.68 if c.isupper() else 0.58 for c in s) * size


def n(x):
    """A coordinate: one decimal at most, so the output is stable and small."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


# ---------------------------------------------------------------------------------------------
# SVG drawing: a list of elements, then the document.


def attrs(**kw):
    return "".join(f" {k.replace('_', '-')}={quoteattr(str(v))}" for k, v in kw.items() if v is not None)


class Svg:
    def __init__(self, width):
        self.width = width
        self.items = []

    def rect(self, x, y, w, h, fill, **kw):
        self.items.append(f'<rect x="{n(x)}" y="{n(y)}" width="{n(w)}" height="{n(h)}" '
                          f'fill="{fill}"{attrs(**kw)}/>')

    def line(self, x1, y1, x2, y2, stroke="#333", width=1):
        self.items.append(f'<line x1="{n(x1)}" y1="{n(y1)}" x2="{n(x2)}" y2="{n(y2)}" '
                          f'stroke="{stroke}" stroke-width="{n(width)}"/>')

    def text(self, x, y, s, size=12, anchor=None, fill=None, weight=None, rotate=False, halo=False):
        kw = dict(font_size=size, text_anchor=anchor, fill=fill, font_weight=weight)
        if rotate:
            kw["transform"] = f"rotate(-90 {n(x)} {n(y)})"
        if halo:  # a white outline under the glyphs keeps a label readable over a whisker
            kw.update(stroke="#fff", stroke_width=3, paint_order="stroke", stroke_linejoin="round")
        self.items.append(f'<text x="{n(x)}" y="{n(y)}"{attrs(**kw)}>{escape(s)}</text>')

    def document(self, height, title):
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{n(height)}" '
                f'viewBox="0 0 {self.width} {n(height)}" font-family={quoteattr(FONT)}>\n'
                f'<title>{escape(title)}</title>\n'
                f'<rect width="100%" height="100%" fill="#fff"/>\n'
                + "\n".join(self.items) + "\n</svg>\n")


class Series:
    """One server's bars in a panel: names, colour, {group key: (median, min, max)}, pale?"""

    def __init__(self, name, short, colour, figs, pale=False):
        self.name, self.short, self.colour, self.figs, self.pale = name, short, colour, figs, pale


def legend(svg, x, y, series, width):
    """Colour swatches and names, wrapped to width; returns the y below it."""
    cx = x
    for s in series:
        w = 18 + text_width(s.name, 12) + 18
        if cx > x and cx + w > x + width:
            cx, y = x, y + 20
        svg.rect(cx, y - 10, 12, 12, s.colour, fill_opacity="0.5" if s.pale else None)
        svg.text(cx + 18, y, s.name, 12)
        cx += w
    return y + 14


def bar_panel(svg, x, y, w, h, title, axis_label, groups, series, fmt, clip=None):
    """A bar chart in the box (x, y, w, h): one bar per series in each group, labelled with its
    median above it, a whisker from min to max.

    groups: [(key, label)]; with one group, each bar gets a slot of its own, named under it.
    clip: the axis top; a bar above it is cut with a break mark and keeps its true value as
    label. Without, the axis reaches the highest whisker.
    """
    svg.text(x, y + 12, title, 13, weight="600")
    values = [f for s in series for f in s.figs.values() if f]
    ticks = nice_ticks(clip if clip is not None else max((f[2] for f in values), default=1) * 1.06)
    top = ticks[-1]
    label_w = max(text_width(fmt_tick(t), 11) for t in ticks)
    px, py = x + 22 + label_w, y + 44  # the plot area: below the title and the value labels
    single = len(groups) == 1
    pw, ph = x + w - px, y + h - py - (36 if single else 22)

    def yof(v):
        return py + ph - min(v, top) / top * ph

    svg.text(x + 8, py + ph / 2, axis_label, 11, anchor="middle", fill="#555", rotate=True)
    for t in ticks:
        svg.line(px, yof(t), px + pw, yof(t), stroke="#e4e4e4" if t else "#333")
        svg.text(px - 5, yof(t) + 4, fmt_tick(t), 11, anchor="end", fill="#555")

    if single:
        slot = pw / len(series)
        bw = min(56.0, slot * 0.62)
        places = [(groups[0][0], px + i * slot + (slot - bw) / 2) for i in range(len(series))]
        for i, s in enumerate(series):
            for j, part in enumerate(wrap(s.short, slot - 4, 11)[:2]):
                svg.text(px + i * slot + slot / 2, py + ph + 15 + 13 * j, part, 11, anchor="middle")
        bars = [(key, bx, s) for (key, bx), s in zip(places, series)]
    else:
        gw = pw / len(groups)
        bw = min(44.0, gw * 0.84 / len(series))
        bars = []
        for gi, (key, glabel) in enumerate(groups):
            svg.text(px + gi * gw + gw / 2, py + ph + 16, glabel, 12, anchor="middle")
            gx = px + gi * gw + (gw - bw * len(series)) / 2
            bars += [(key, gx + si * bw, s) for si, s in enumerate(series)]

    for key, bx, s in bars:
        f = s.figs.get(key)
        if not f:
            continue
        med, lo, hi = f
        svg.rect(bx + 1, yof(med), bw - 2, py + ph - yof(med), s.colour, fill_opacity="0.5" if s.pale else None)
        if med > top:  # a break mark: the bar goes on beyond the axis
            for d in (10, 16):
                svg.line(bx, yof(top) + d, bx + bw, yof(top) + d - 5, stroke="#fff", width=2.5)
        if hi > lo:
            cx, cap = bx + bw / 2, max(3.0, bw * 0.22)
            svg.line(cx, yof(lo), cx, yof(hi), stroke="#222")
            for v in (lo, hi):
                if v <= top:
                    svg.line(cx - cap, yof(v), cx + cap, yof(v), stroke="#222")
        # The label goes above the whisker, or above the bar (outlined) if the whisker is cut.
        label, ly = fmt(med), yof(hi if hi <= top else med) - 4
        if text_width(label, 10) > bw + 10:
            svg.text(bx + bw / 2 + 3.5, ly, label, 10, rotate=True, halo=True)
        else:
            svg.text(bx + bw / 2, ly, label, 10, anchor="middle", halo=True)


def notes_block(svg, x, y, lines, width):
    """Footnotes, wrapped to width; returns the y below them."""
    for line in lines:
        for part in wrap(line, width, 11):
            svg.text(x, y, part, 11, fill="#555")
            y += 15
    return y


def wrap(s, width, size):
    out, cur = [], ""
    for word in s.split(" "):
        if cur and text_width(cur + " " + word, size) > width:
            out.append(cur)
            cur = word
        else:
            cur = (cur + " " + word).strip()
    return out + ([cur] if cur else [])


# ---------------------------------------------------------------------------------------------
# The charts. servers: [(key, legend name, short name, colour, [report, ...])].

LATENCY_NOTE = ("Latency: receive time minus the publishing time carried in each event, over every "
                "event of the measured window. CPU: the server's user + system time over the window "
                "divided by the events all streams received (on loopback it includes the kernel's "
                "work for both ends of the connection). The load generator shares the same 2 cores.")
IDLE_NOTE = ("Memory per stream: the server's RSS with every stream open minus its RSS before the "
             "first, divided by the streams (one event per 100 s; keep-alive comments at each "
             "server's default).")


def scenario_title(name, runs):
    r = runs[0]
    streams = r["connections"]["requested"]
    rate = (r.get("expected") or {}).get("rate")
    if rate and rate >= 1:
        return f"{name}: {streams:,} streams × {rate:,g} events/s each"
    return f"{name}: {streams:,} streams held open"


def header(svg, title, folder, servers):
    """Title and subtitle (wrapped to the chart); returns the y of the legend's first line."""
    svg.text(20, 30, title, 17, weight="600")
    y = 50
    for part in wrap(source_line(folder, [(short, rs) for _, _, short, _, rs in servers]), svg.width - 40, 12):
        svg.text(20, y, part, 12, fill="#555")
        y += 16
    return y + 10


def latency_chart(folder, servers, title):
    """Latency percentiles (left) and server CPU per delivered event (right), per server."""
    width = 980
    svg = Svg(width)
    top = header(svg, title, folder, servers)
    lat, cpu, notes, kept_up = [], [], [], []
    for _, name, short, colour, runs in servers:
        d = delivered(runs)
        behind = d is not None and d < KEPT_UP
        mark = " *" if behind else ""
        figs = {k: figure(runs, lambda r, k=k: r["latency_us"][k] / 1000) for k, _ in PERCENTILES}
        lat.append(Series(name + mark, short, colour, figs, behind))
        cpu.append(Series(name + mark, short + mark, colour,
                          {"cpu": figure(runs, lambda r: r["server"]["cpu_us_per_event"])}, behind))
        if behind:
            est = figure(runs, lambda r: r["connections"]["established"])
            req = runs[0]["connections"]["requested"]
            never = f"; {req - est[0]:,.0f} of {req:,} streams never answered" if est and est[0] < req else ""
            notes.append(f"* {name} fell behind: it delivered {d * 100:.1f}% of the events{never} "
                         "(pale bars; its latency is that of the events it did deliver).")
        else:
            kept_up += [f[0] for f in figs.values() if f]
    # Scale the latency axis to the servers that kept up when one that fell behind is far above.
    clip = None
    tallest = max((f[2] for s in lat for f in s.figs.values() if f), default=0)
    if kept_up and tallest > 1.5 * max(kept_up) * 1.12:
        clip = max(kept_up) * 1.12
        notes.append("Bars cut by a white break run beyond the axis (which is scaled to the servers "
                     "that kept up); their labels give the true median.")
    notes.append(LATENCY_NOTE)
    y = legend(svg, 20, top, lat, width - 40) + 6
    bar_panel(svg, 20, y, 640, 340, "Latency, publish to receive (ms): lower is better",
              "latency (ms)", [(k, label) for k, label in PERCENTILES], lat, fmt_ms, clip=clip)
    bar_panel(svg, 690, y, 270, 340, "Server CPU per delivered event",
              "µs of server CPU per event", [("cpu", "")], cpu, fmt_us)
    end = notes_block(svg, 20, y + 340 + 16, notes, width - 40)
    return svg.document(end + 4, title)


def idle_chart(folder, servers, name):
    """RSS growth per open stream, per server."""
    width = 680
    svg = Svg(width)
    title = scenario_title(name, servers[0][4])
    top = header(svg, title, folder, servers)
    per_stream = lambda r: r["server"]["rss_growth_per_connection_bytes"]  # noqa: E731
    series = [Series(name, short, colour, {"mem": figure(runs, per_stream)}) for _, name, short, colour, runs in servers]
    y = legend(svg, 20, top, series, width - 40) + 6
    bar_panel(svg, 20, y, width - 40, 300, "Memory per open stream (bytes): lower is better",
              "RSS growth per stream (bytes)", [("mem", "")], series, fmt_bytes)
    end = notes_block(svg, 20, y + 300 + 16, [IDLE_NOTE], width - 40)
    return svg.document(end + 4, title)


def charts(folders, prefix):
    """{file name: SVG text} for every scenario found in folders (the last folder wins)."""
    out = {}
    if prefix == "redis":
        for folder in folders:
            servers = redis_runs(folder)
            if servers:
                rate = (servers[0][4][0].get("expected") or {}).get("rate", 0)
                title = f"Scale-out: two nodes on one Redis, {rate:,g} events/s to each client"
                per_node = servers[0][4][0]["connections"]["requested"]
                name = "redis.svg" if per_node == 1000 else f"redis-{per_node}.svg"
                out[name] = latency_chart(folder, servers, title)
        return out
    for scenario, name in SCENARIOS.items():
        if prefix == "tls":
            name += ", TLS beside plain"
        for folder in folders:
            found = scenario_runs(folder, scenario)
            if not found:
                continue
            st = style(found)
            servers = [(s, *st[s], found[s]) for s in order(found)]
            if scenario == "idle":
                out[f"{prefix}-{scenario}.svg"] = idle_chart(folder, servers, name)
            else:
                title = scenario_title(name, found[order(found)[0]])
                out[f"{prefix}-{scenario}.svg"] = latency_chart(folder, servers, title)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="SVG charts of bench results folders (see the module doc).")
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="results folders, oldest first")
    p.add_argument("--prefix", default="servers",
                   help="file name prefix: servers (bench/run.sh), tls (bench/tls.sh), redis (bench/redis.sh)")
    p.add_argument("--out", default=os.path.join(here, "charts"), help="where the SVGs go (default bench/charts)")
    p.add_argument("--check", action="store_true", help="compare with the SVGs in --out instead of writing")
    args = p.parse_args()
    for folder in args.folders:
        if not os.path.isdir(folder):
            sys.exit(f"charts.py: {folder}: not a results folder")
    drawn = charts(args.folders, args.prefix)
    if not drawn:
        sys.exit(f"charts.py: no runs to chart in {' '.join(args.folders)}")
    stale = []
    for name, doc in sorted(drawn.items()):
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == doc
            except OSError:
                same = False
            if not same:
                stale.append(path)
            continue
        os.makedirs(args.out, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(doc)
        print(f"charts.py: wrote {path}")
    if stale:
        sys.exit("charts.py: out of date (redraw without --check): " + " ".join(stale))
    if args.check:
        print(f"charts.py: {len(drawn)} chart(s) up to date in {args.out}")


if __name__ == "__main__":
    main()
