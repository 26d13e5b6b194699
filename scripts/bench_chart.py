#!/usr/bin/env python3
"""Draws req/s per store and route, tessera beside its peers, as an SVG bar chart.

    python3 scripts/bench_chart.py RESULTS.csv [--run RUN_ID] > docs/bench/chart.svg

RESULTS.csv is what bench/harness/run.py writes. Each bar is the median req/s over the clean
rounds of one run (the run given, else the newest in the file); the dashed line in panels whose
scale reaches it is bare axum's /plain in the same run. In every panel the first, outlined bar
is the store's ceiling in the same run (examples/ceiling_server: the raw statements tessera
issues, a sharded map for memory, Django's format alone for the signed cookie, plus the HTTP
cost of /plain), when the run has it.
Standard library only.
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from html import escape

# Panels: (title, [(label, peer, store)]) in the order the docs discuss them.
PANELS = [
    ("memory", [("ceiling", "ceiling", "memory"), ("tessera", "tessera", "memory"),
                ("tower-sessions", "tower-sessions", "memory")]),
    ("signed cookie", [("ceiling", "ceiling", "cookie"), ("tessera", "tessera", "cookie"),
                       ("actix-session", "actix-session", "cookie")]),
    ("SQLite", [("ceiling", "ceiling", "sqlite"), ("tessera", "tessera", "sqlite"),
                ("tower-sessions", "tower-sessions", "sqlite"), ("Django", "django", "sqlite")]),
    ("PostgreSQL", [("ceiling", "ceiling", "postgres"), ("tessera", "tessera", "postgres"),
                    ("tower-sessions", "tower-sessions", "postgres"), ("Django", "django", "postgres")]),
    ("Redis", [("ceiling", "ceiling", "redis"), ("tessera", "tessera", "redis"),
               ("actix-session", "actix-session", "redis"),
               ("tower-sessions", "tower-sessions", "redis")]),
]
ROUTES = ["read", "write", "create"]
COLOURS = {"ceiling": "#d7ece4", "tessera": "#1b7f5f", "tower-sessions": "#6a7fb0",
           "actix-session": "#c9893a", "Django": "#9a9a9a"}


def medians(path, run):
    rows = list(csv.DictReader(open(path, newline="")))
    if not rows:
        sys.exit(f"{path}: no rows")
    run = run or max(r["run_id"] for r in rows)
    samples = defaultdict(list)
    for r in rows:
        if r["run_id"] == run and r["clean"] == "1":
            samples[(r["peer"], r["store"], r["route"])].append(float(r["req_s"]))
    if not samples:
        sys.exit(f"{path}: no clean rows for run {run}")
    return run, {k: statistics.median(v) for k, v in samples.items()}


def svg(run, med):
    width, panel_h, top, left = 980, 210, 60, 70
    height = top + panel_h * len(PANELS) + 40
    axum_plain = med.get(("baseline", "none", "plain"))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="24" font-size="16" font-weight="bold">Session middleware, '
           f'req/s (median of clean rounds), run {escape(run)}</text>',
           f'<text x="{left}" y="42" fill="#555">server and store on one core, wrk on the other; '
           f'dashed line: bare axum /plain'
           + (f' ({axum_plain:,.0f} req/s)' if axum_plain else '')
           + ('; outlined bar: the store\'s ceiling, its raw statements plus HTTP'
              if any(peer == "ceiling" for peer, _, _ in med) else '') + '</text>']
    plot_w = width - left - 30
    for i, (title, bars) in enumerate(PANELS):
        # A run without the ceiling scenarios charts as before.
        bars = [bar for bar in bars if bar[1] != "ceiling"
                or any((bar[1], bar[2], route) in med for route in ROUTES)]
        y0 = top + i * panel_h
        values = [med.get((peer, store, route), 0) for _, peer, store in bars for route in ROUTES]
        # Each panel has its own scale; bare axum's line is drawn where it fits.
        scale_max = max(values) * 1.15 or 1
        base = y0 + panel_h - 40
        h = panel_h - 70
        out.append(f'<text x="{left}" y="{y0 + 16}" font-weight="bold">{escape(title)}</text>')
        out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
        for frac in (0.5, 1.0):
            v = scale_max * frac
            y = base - h * frac
            out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="#777">'
                       f'{v / 1000:.0f}k</text>')
            out.append(f'<line x1="{left}" y1="{y}" x2="{left + plot_w}" y2="{y}" stroke="#eee"/>')
        if axum_plain and axum_plain <= scale_max:
            y = base - h * axum_plain / scale_max
            out.append(f'<line x1="{left}" y1="{y}" x2="{left + plot_w}" y2="{y}" stroke="#444" '
                       f'stroke-dasharray="5,4"/>')
        group_w = plot_w / len(ROUTES)
        bar_w = min(60, (group_w - 30) / len(bars))
        for g, route in enumerate(ROUTES):
            gx = left + g * group_w + (group_w - bar_w * len(bars)) / 2
            out.append(f'<text x="{left + g * group_w + group_w / 2}" y="{base + 16}" '
                       f'text-anchor="middle">/{route}</text>')
            for b, (label, peer, store) in enumerate(bars):
                v = med.get((peer, store, route))
                x = gx + b * bar_w
                if v is None:
                    out.append(f'<text x="{x + bar_w / 2}" y="{base - 4}" text-anchor="middle" '
                               f'fill="#999">n/a</text>')
                    continue
                bh = h * v / scale_max
                outline = ' stroke="#1b7f5f" stroke-width="1.5"' if peer == "ceiling" else ""
                out.append(f'<rect x="{x + 2}" y="{base - bh}" width="{bar_w - 4}" height="{bh}" '
                           f'fill="{COLOURS[label]}"{outline}><title>{escape(label)} {route}: '
                           f'{v:,.0f} req/s</title></rect>')
                out.append(f'<text x="{x + bar_w / 2}" y="{base - bh - 3}" text-anchor="middle" '
                           f'font-size="10">{v / 1000:.1f}k</text>')
        lx = left + plot_w - 150 * len(bars)
        for b, (label, peer, _) in enumerate(bars):
            outline = ' stroke="#1b7f5f" stroke-width="1.5"' if peer == "ceiling" else ""
            out.append(f'<rect x="{lx + b * 150}" y="{y0 + 6}" width="12" height="12" '
                       f'fill="{COLOURS[label]}"{outline}/>')
            out.append(f'<text x="{lx + b * 150 + 16}" y="{y0 + 16}">{escape(label)}</text>')
    out.append('</svg>')
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--run", help="run id (default: the newest in the file)")
    args = ap.parse_args()
    run, med = medians(args.csv, args.run)
    print(svg(run, med))


if __name__ == "__main__":
    main()
