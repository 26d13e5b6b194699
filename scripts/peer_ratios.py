#!/usr/bin/env python3
"""tessera beside its peers, as ratios, from one run of ../shared/bench-peers/run.py.

    python3 scripts/peer_ratios.py RESULTS.csv [--run RUN_ID]

Prints a Markdown table: per store and route, tessera's median req/s, the peer's, and the
median over rounds of (tessera ÷ peer) and of (tessera ÷ bare axum /plain) in the same round,
with the issue's target and whether it is met. Clean rounds only. Standard library only.
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

# Per store: the peer, the peer's store, and the targets for /read, /write, /create,
# as multiples of bare axum ("axum") or of the peer ("peer"). /plain is 0.95 × axum everywhere.
STORES = [
    ("memory", "tower-sessions", "memory", (0.85, 0.75, 0.75), "axum"),
    ("cookie", "actix-session", "cookie", (1.0, 1.0, 1.0), "peer"),
    ("sqlite", "tower-sessions", "sqlite", (3.0, 4.0, 5.0), "peer"),
    ("postgres", "tower-sessions", "postgres", (2.5, 2.0, 2.5), "peer"),
    ("redis", "actix-session", "redis", (1.25, 1.25, 1.25), "peer"),
]
# (store in tessera's rows, route, peer, peer's store, target ratio, target over "axum" or "peer")
TARGETS = [
    row
    for store, peer, peer_store, goals, over in STORES
    for row in [(store, "plain", None, None, 0.95, "axum")]
    + [(store, route, peer, peer_store, goal, over)
       for route, goal in zip(("read", "write", "create"), goals)]
]
DJANGO = {"sqlite", "postgres"}


def load(path, run):
    rows = [r for r in csv.DictReader(open(path, newline="")) if r["clean"] == "1"]
    run = run or max(r["run_id"] for r in rows if r["peer"] == "tessera")
    rows = [r for r in rows if r["run_id"] == run]
    by = defaultdict(dict)  # (peer, store, route) -> round -> row
    for r in rows:
        by[(r["peer"], r["store"], r["route"])][r["round"]] = r
    return run, by


def med(xs):
    return statistics.median(xs) if xs else None


def med_of(rows, field):
    """The median of `field` over a scenario's rounds."""
    return med([float(r[field]) for r in rows.values()])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--run")
    args = ap.parse_args()
    run, by = load(args.csv, args.run)
    base = by.get(("baseline", "none", "plain"), {})
    if not base:
        sys.exit("no baseline rows in this run")

    def ratio(a, b):
        return med([float(a[k]["req_s"]) / float(b[k]["req_s"]) for k in a if k in b])

    print(f"Run `{run}`; bare axum /plain: {med_of(base, 'req_s'):,.0f} req/s.\n")
    print("| store | route | tessera req/s (p99 ms) | × axum | peer | peer req/s (p99 ms) "
          "| tessera ÷ peer | target | Django req/s | tessera ÷ Django |")
    print("|---|---|---:|---:|---|---:|---:|---|---:|---:|")
    for store, route, peer, peer_store, goal, over in TARGETS:
        t = by.get(("tessera", store, route), {})
        if not t:
            continue
        t_rps = med_of(t, "req_s")
        t_p99 = med_of(t, "p99_ms")
        vs_axum = ratio(t, base)
        cells = [store, route, f"{t_rps:,.0f} ({t_p99:.1f})", f"{vs_axum:.2f}"]
        vs_peer = None
        if peer:
            p = by.get((peer, peer_store, route), {})
            p_rps = med_of(p, "req_s")
            p_p99 = med_of(p, "p99_ms")
            vs_peer = ratio(t, p)
            cells += [peer, f"{p_rps:,.0f} ({p_p99:.1f})" if p_rps else "—",
                      f"{vs_peer:.2f}×" if vs_peer else "—"]
        else:
            cells += ["—", "—", "—"]
        got = vs_axum if over == "axum" else vs_peer
        verdict = "met" if got is not None and got >= goal else "missed"
        cells.append(f"≥ {goal} × {'axum' if over == 'axum' else 'peer'}: {verdict}")
        d = by.get(("django", store, route), {}) if store in DJANGO and route != "plain" else {}
        if d:
            d_rps = med_of(d, "req_s")
            cells += [f"{d_rps:,.0f}", f"{ratio(t, d):.0f}×"]
        else:
            cells += ["", ""]
        print("| " + " | ".join(cells) + " |")
    plain_c = [(s, by.get(("tessera", s, "plain_c"), {})) for s in ("memory", "cookie", "redis")]
    lines = [f"{s} {ratio(rows, base):.2f}" for s, rows in plain_c if rows]
    if lines:
        print("\n`plain_c` (a valid cookie, handler never reads the session), × axum: "
              + ", ".join(lines) + ".")


if __name__ == "__main__":
    main()
