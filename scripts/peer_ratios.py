#!/usr/bin/env python3
"""tessera beside its peers and its ceilings, as ratios, from one run of bench/harness/run.py.

    python3 scripts/peer_ratios.py RESULTS.csv [--run RUN_ID]

Prints a Markdown table: per store and route, tessera's median req/s; the same run's ceiling
(examples/ceiling_server: the store's raw statements plus the HTTP cost of /plain; on /plain
itself, the routes behind a layer that does nothing, the floor of any session layer) and tessera
as a fraction of it; the fastest peer on that store and route in the run (tower-sessions,
actix-session or Django) and tessera ÷ that peer; issue 17's targets and whether each is met
(a missed target that the ceiling misses too is marked with the ceiling's own figure; one that
the ceiling reaches only by signing its texts once, with the figure of the ceiling that signs
each write, `ceiling-enc`). When the run has `ceiling-enc` rows, a table sets that ceiling
beside the store's own, tessera and the best peer.
When the run has tessera on a current-thread runtime (`tessera-ct`, with `ceiling-ct`), a table
sets it beside the fastest peer and its goals.
When the run has the big-session routes (read4k, write4k, read64k, write64k: /read and /write
on sessions of ~4 KiB and ~64 KiB of JSON), a second table puts tessera beside tower-sessions,
actix-session and Django on each of them, and beside its own /read or /write on the same store.
Every ratio is the median over rounds of the ratio within one round. Clean rounds only.
Standard library only.
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

STORES = ["memory", "cookie", "sqlite", "postgres", "redis"]
ROUTES = ["plain", "read", "write", "create"]
# The peers a "best peer" is chosen from.
PEERS = ["tower-sessions", "actix-session", "django"]
# The big-session routes, each with the small-session route that is the same request.
BIG_ROUTES = {"read4k": "read", "write4k": "write", "read64k": "read", "write64k": "write"}
BIG_STORES = ["memory", "sqlite", "postgres", "redis"]
# The stores that keep Django's signed text, for which the ceiling signing each write
# (`ceiling-enc`) is a floor: the memory store keeps dicts and signs nothing.
TEXT_STORES = ["sqlite", "postgres", "redis"]

# Issue 17's targets, per (store, route). A target is (against, bound):
#   ("axum", r)      tessera ≥ r × bare axum /plain in the same round;
#   ("ceiling", r)   tessera ≥ r × the store's ceiling in the same round;
#   ("best", r)      tessera ≥ r × the fastest peer on that store and route;
#   (peer, r)        tessera ≥ r × that peer on that store and route;
#   ("p99", ms)      tessera's p99 (median over rounds) < ms.
TARGETS = {
    **{(store, "plain"): [("axum", 0.95)] for store in STORES},
    ("memory", "read"): [("axum", 0.90)],
    ("memory", "write"): [("axum", 0.85)],
    ("memory", "create"): [("axum", 0.85)],
    ("cookie", "plain"): [("axum", 0.95), ("actix-session", 1.10)],
    ("cookie", "read"): [("actix-session", 1.10)],
    ("cookie", "write"): [("actix-session", 1.10)],
    ("cookie", "create"): [("actix-session", 1.10)],
    ("sqlite", "read"): [("best", 3.0), ("ceiling", 0.90)],
    ("sqlite", "write"): [("best", 4.0)],
    ("sqlite", "create"): [("best", 5.0), ("p99", 10.0)],
    ("postgres", "read"): [("ceiling", 0.90)],
    ("postgres", "write"): [("p99", 15.0)],
    ("postgres", "create"): [("ceiling", 0.90)],
    ("redis", "read"): [("actix-session", 1.25)],
    ("redis", "write"): [("actix-session", 1.25)],
    ("redis", "create"): [("actix-session", 1.25)],
}


def load(path, run):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["clean"] == "1"]
    tessera_runs = [r["run_id"] for r in rows if r["peer"] == "tessera"]
    if not run and not tessera_runs:
        sys.exit(f"{path}: no clean tessera rows")
    run = run or max(tessera_runs)
    by = defaultdict(dict)  # (peer, store, route) -> round -> row
    for r in rows:
        if r["run_id"] == run:
            by[(r["peer"], r["store"], r["route"])][r["round"]] = r
    return run, by


def med(xs):
    return statistics.median(xs) if xs else None


def med_of(rows, field):
    """The median of `field` over a scenario's rounds (None without rounds)."""
    return med([float(r[field]) for r in rows.values()])


def ratio(a, b):
    """The median over the rounds both scenarios ran in of a's req/s ÷ b's."""
    return med([float(a[k]["req_s"]) / float(b[k]["req_s"]) for k in a
                if k in b and float(b[k]["req_s"]) > 0])


def fmt_ratio(x, suffix="×"):
    return f"{x:.2f}{suffix}" if x is not None else "—"


def rps_cell(rows):
    """`req/s (p99 ms)` of a scenario, or a dash."""
    if not rows:
        return "—"
    return f"{med_of(rows, 'req_s'):,.0f} ({med_of(rows, 'p99_ms'):.1f})"


def best_peer(by, store, route):
    """The peer with the highest median req/s on store and route in this run, or None."""
    found = [(med_of(by[(p, store, route)], "req_s"), p) for p in PEERS
             if by.get((p, store, route))]
    return max(found)[1] if found else None


def verdicts(goals, t, base, ceiling, best, by, store, route, encoded=None):
    """Each target as `bound: met|missed|no data`. A missed target that the same run's ceiling
    misses too says so, with the ceiling's own figure: that goal is above what the store can do.
    One that the ceiling reaches, but not `encoded`, the same ceiling signing each write (what
    any store of Django's format must do), says so with that figure: the goal is above what
    such a store can do."""
    out = []
    for against, bound in goals:
        if against == "p99":
            got = med_of(t, "p99_ms")
            met = got is not None and got < bound
            state = "met" if met else "missed"
            floor = med_of(ceiling, "p99_ms") if ceiling else None
            if not met and floor is not None and floor >= bound:
                state += f" (the ceiling's: {floor:.1f} ms)"
            out.append(f"p99 < {bound:g} ms: {state}")
            continue
        reference = None
        if against == "axum":
            reference, name = base, "axum"
        elif against == "ceiling":
            name = "ceiling"
        elif against == "best":
            reference, name = (by[(best, store, route)] if best else None), "best peer"
        else:
            reference, name = by.get((against, store, route)), against
        got = (ratio(t, ceiling) if ceiling else None) if against == "ceiling" else \
            (ratio(t, reference) if reference else None)
        state = "no data" if got is None else ("met" if got >= bound else "missed")
        reach = ratio(ceiling, reference) if ceiling and reference else None
        reach_signed = ratio(encoded, reference) if encoded and reference else None
        if state == "missed" and reach is not None and reach < bound:
            state += f" (the ceiling: {reach:.2f})"
        elif state == "missed" and reach_signed is not None and reach_signed < bound:
            state += f" (the ceiling signing each write: {reach_signed:.2f})"
        out.append(f"≥ {bound:g} × {name}: {state}")
    return "; ".join(out)


def scenarios(by, peer, ceiling_peer, stores=STORES):
    """For each store and small-session route `peer` ran: the store, the route, `peer`'s rows,
    `ceiling_peer`'s, the fastest peer there and that peer's rows."""
    for store in stores:
        for route in ROUTES:
            rows = by.get((peer, store, route), {})
            if not rows:
                continue
            best = best_peer(by, store, route)
            yield (store, route, rows, by.get((ceiling_peer, store, route), {}), best,
                   by.get((best, store, route), {}) if best else {})


def table(run, by):
    """The report, as Markdown lines."""
    base = by.get(("baseline", "none", "plain"), {})
    if not base:
        sys.exit("no baseline rows in this run")
    lines = [f"Run `{run}`; bare axum /plain: {med_of(base, 'req_s'):,.0f} req/s.", "",
             "| store | route | tessera req/s (p99 ms) | × axum | ceiling req/s (p99 ms) "
             "| tessera ÷ ceiling | best peer | peer req/s (p99 ms) | tessera ÷ best peer "
             "| targets | Django req/s | tessera ÷ Django |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    head = len(lines)
    for store, route, t, ceiling, best, peer_rows in scenarios(by, "tessera", "ceiling"):
        cells = [store, route, rps_cell(t), fmt_ratio(ratio(t, base), ""),
                 rps_cell(ceiling), fmt_ratio(ratio(t, ceiling) if ceiling else None, ""),
                 best or "—", rps_cell(peer_rows),
                 fmt_ratio(ratio(t, peer_rows) if peer_rows else None),
                 verdicts(TARGETS.get((store, route), []), t, base, ceiling, best, by,
                          store, route, encoded_ceiling(by, store, route))]
        d = by.get(("django", store, route), {}) if route != "plain" else {}
        if d:
            cells += [f"{med_of(d, 'req_s'):,.0f}", f"{ratio(t, d):.0f}×"]
        else:
            cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    if len(lines) == head:  # a run of big-session routes only: no table, not an empty one
        lines[2:] = ["No tessera rows on the small-session routes."]
    plain_c = [(s, by.get(("tessera", s, "plain_c"), {})) for s in ("memory", "cookie", "redis")]
    found = [f"{s} {ratio(rows, base):.2f}" for s, rows in plain_c if rows]
    if found:
        lines += ["", "`plain_c` (a valid cookie, handler never reads the session), × axum: "
                  + ", ".join(found) + "."]
    return lines


def captioned(caption, columns, lines):
    """A table after a blank line and its caption, as Markdown lines; none without `lines`.
    Text columns align left, the rest (figures) right."""
    if not lines:
        return []
    rule = ["---" if c in ("store", "route", "best peer", "targets") else "---:" for c in columns]
    return ["", caption, "", "| " + " | ".join(columns) + " |",
            "|" + "|".join(rule) + "|"] + lines


def encoded_ceiling(by, store, route):
    """The rows of the ceiling signing each write (`ceiling-enc`) on a store that keeps Django's
    text, or none."""
    return by.get(("ceiling-enc", store, route), {}) if store in TEXT_STORES else {}


def encoded_table(by):
    """The ceilings that sign each write (`ceiling-enc`), as Markdown lines (none without them):
    each beside the store's own ceiling, tessera and the fastest peer."""
    lines = []
    for store, route, encoded, ceiling, best, peer_rows in scenarios(by, "ceiling-enc", "ceiling",
                                                                     TEXT_STORES):
        t = by.get(("tessera", store, route), {})
        cells = [store, route, rps_cell(encoded),
                 fmt_ratio(ratio(encoded, ceiling) if ceiling else None, ""),
                 fmt_ratio(ratio(t, encoded) if t else None, ""), best or "—",
                 fmt_ratio(ratio(encoded, peer_rows) if peer_rows else None)]
        lines.append("| " + " | ".join(cells) + " |")
    return captioned("The ceiling signing each write (`--encode-each`: the store's statements "
                     "plus the JSON and signature of every text written):",
                     ["store", "route", "signing each write req/s (p99 ms)",
                      "÷ the store's ceiling", "tessera ÷ it", "best peer", "it ÷ best peer"],
                     lines)


def runtime_table(by):
    """tessera and its ceiling on a current-thread runtime (`tessera-ct`, `ceiling-ct`), as
    Markdown lines (none without them): each beside the fastest peer and the goals."""
    lines = []
    for store, route, t, ceiling, best, peer_rows in scenarios(by, "tessera-ct", "ceiling-ct"):
        # Only the goals against peers: bare axum (the `× axum` goals) ran multi-threaded.
        goals = [g for g in TARGETS.get((store, route), []) if g[0] in PEERS + ["best"]]
        cells = [store, route, rps_cell(t), rps_cell(ceiling),
                 fmt_ratio(ratio(t, ceiling) if ceiling else None, ""), best or "—",
                 fmt_ratio(ratio(t, peer_rows) if peer_rows else None),
                 fmt_ratio(ratio(ceiling, peer_rows) if ceiling and peer_rows else None),
                 verdicts(goals, t, {}, ceiling, best, by, store, route)]
        lines.append("| " + " | ".join(cells) + " |")
    return captioned("On a current-thread runtime (`--current-thread`, actix-web's model), where "
                     "a multiplexed Redis connection batches the commands of concurrent requests:",
                     ["store", "route", "tessera req/s (p99 ms)", "ceiling req/s (p99 ms)",
                      "tessera ÷ ceiling", "best peer", "tessera ÷ best peer",
                      "ceiling ÷ best peer", "targets"], lines)


def big_table(by):
    """The big-session routes, as Markdown lines (none when the run has no such tessera rows)."""
    peer_cols = [("tower-sessions", "tower-sessions"), ("actix-session", "actix-session"),
                 ("django", "Django")]
    header = "| store | route | tessera req/s (p99 ms) | × tessera small |"
    for _, name in peer_cols:
        header += f" {name} req/s (p99 ms) | tessera ÷ {name} |"
    lines = []
    for store in BIG_STORES:
        for route, small in BIG_ROUTES.items():
            t = by.get(("tessera", store, route), {})
            if not t:
                continue
            small_rows = by.get(("tessera", store, small), {})
            cells = [store, route, rps_cell(t),
                     fmt_ratio(ratio(t, small_rows) if small_rows else None, "")]
            for peer, _ in peer_cols:
                rows = by.get((peer, store, route), {})
                cells += [rps_cell(rows), fmt_ratio(ratio(t, rows) if rows else None)]
            lines.append("| " + " | ".join(cells) + " |")
    if not lines:
        return []
    return ["", "Big sessions: `/read` and `/write` on sessions of ~4 KiB and ~64 KiB of JSON "
            "(`× tessera small`: ÷ tessera's `/read` or `/write` on the same store).", "",
            header, "|---|---|---:|---:|" + "---:|---:|" * len(peer_cols)] + lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--run", help="run id (default: the newest run with tessera rows)")
    args = ap.parse_args()
    run, by = load(args.csv, args.run)
    print("\n".join(table(run, by) + encoded_table(by) + runtime_table(by) + big_table(by)))


if __name__ == "__main__":
    main()
