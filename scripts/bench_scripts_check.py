#!/usr/bin/env python3
"""Self-check of peer_ratios.py and bench_chart.py on a tiny synthetic run.

    python3 scripts/bench_scripts_check.py

testdata/peers-tiny.csv holds two rounds of made-up rows (and one older run, one noisy row,
which must be left out), some of them on the big-session routes; the expected cells below
follow from its numbers by hand. Exits
non-zero, naming the cell, on the first mismatch. Standard library only.
"""

import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSV = HERE / "testdata" / "peers-tiny.csv"

# (store, route) -> {column: expected text}, from the numbers in the CSV.
EXPECTED = {
    # 0.96 and 0.95 of bare axum in the two rounds.
    ("memory", "plain"): {"× axum": "0.95", "targets": "≥ 0.95 × axum: met"},
    # Its ceiling is 0.83 of bare axum in both rounds: the goal is above it.
    ("memory", "write"): {"× axum": "0.84", "tessera ÷ ceiling": "1.01",
                          "targets": "≥ 0.85 × axum: missed (the ceiling: 0.83)"},
    ("cookie", "plain"): {"targets": "≥ 0.95 × axum: met; ≥ 1.1 × actix-session: missed"},
    ("cookie", "read"): {"tessera ÷ best peer": "1.20×", "targets": "≥ 1.1 × actix-session: met"},
    # tower-sessions, not Django, is the fastest peer; the ceiling is 2× tessera.
    ("sqlite", "read"): {"ceiling req/s (p99 ms)": "90,000 (1.0)", "tessera ÷ ceiling": "0.50",
                         "best peer": "tower-sessions", "tessera ÷ best peer": "3.33×",
                         "tessera ÷ Django": "43×"},
    # p99 8 and 12 ms: the median, 10 ms, is not under 10.
    # The ceiling's p99 (11 and 13 ms, median 12) misses it too.
    ("sqlite", "create"): {"targets": "≥ 5 × best peer: met; "
                                      "p99 < 10 ms: missed (the ceiling's: 12.0 ms)"},
    # 11,000 ÷ 12,000 and 9,000 ÷ 9,500: median 0.93.
    ("postgres", "read"): {"tessera ÷ ceiling": "0.93", "targets": "≥ 0.9 × ceiling: met"},
    ("postgres", "write"): {"targets": "p99 < 15 ms: missed"},
    ("postgres", "create"): {"tessera ÷ ceiling": "0.82", "targets": "≥ 0.9 × ceiling: missed"},
    # actix-session beats tower-sessions on Redis.
    ("redis", "read"): {"best peer": "actix-session", "tessera ÷ best peer": "1.31×",
                        "targets": "≥ 1.25 × actix-session: met"},
    # The noisy second round is left out: only 20,000 ÷ 18,000 remains. No ceiling ran; the
    # ceiling signing each write reaches 19,000 ÷ 18,000 only.
    ("redis", "write"): {"tessera req/s (p99 ms)": "20,000 (3.0)",
                         "targets": "≥ 1.25 × actix-session: missed "
                                    "(the ceiling signing each write: 1.06)"},
    # The ceiling reaches 1.30 × actix-session, the ceiling signing each write only 1.20.
    ("redis", "create"): {"tessera ÷ best peer": "1.08×",
                          "targets": "≥ 1.25 × actix-session: missed "
                                     "(the ceiling signing each write: 1.20)"},
}

# The table of ceilings signing each write: (store, route) -> {column: expected text}. The
# memory store's rows are left out: it keeps dicts, so signing is no floor of it.
EXPECTED_ENCODED = {
    # No ceiling ran on /write: nothing to divide by.
    ("redis", "write"): {"÷ the store's ceiling": "—", "it ÷ best peer": "1.06×"},
    # 24,000 ÷ 26,000 of the store's ceiling; tessera at 0.90 of it; 1.20 × actix-session.
    ("redis", "create"): {"signing each write req/s (p99 ms)": "21,600 (1.0)",
                          "÷ the store's ceiling": "0.92", "tessera ÷ it": "0.90",
                          "best peer": "actix-session", "it ÷ best peer": "1.20×"},
}

# The table of tessera on a current-thread runtime: (store, route) -> {column: expected text}.
EXPECTED_RUNTIME = {
    # 27,000 ÷ 20,000 and 21,600 ÷ 16,000 of actix-session: 1.35; the ceiling 1.50.
    ("redis", "create"): {"tessera req/s (p99 ms)": "24,300 (2.0)", "tessera ÷ ceiling": "0.90",
                          "best peer": "actix-session", "tessera ÷ best peer": "1.35×",
                          "ceiling ÷ best peer": "1.50×",
                          "targets": "≥ 1.25 × actix-session: met"},
    # 1.11 and 1.10 of actix-session: missed, and the ceiling that signs each write on the
    # multi-thread runtime says nothing of this one.
    ("redis", "write"): {"tessera ÷ best peer": "1.11×", "ceiling ÷ best peer": "1.50×",
                         "targets": "≥ 1.25 × actix-session: missed"},
}

# The big-session table: (store, route) -> {column: expected text}.
EXPECTED_BIG = {
    # 72,800 ÷ 91,000 and 57,600 ÷ 72,000 of tessera's own /read; no actix-session or Django.
    ("memory", "read4k"): {"× tessera small": "0.80", "tessera ÷ tower-sessions": "2.00×",
                           "tessera ÷ actix-session": "—", "Django req/s (p99 ms)": "—"},
    ("sqlite", "read4k"): {"tower-sessions req/s (p99 ms)": "9,000 (6.0)",
                           "tessera ÷ Django": "40.00×"},
    # tessera's small /write has one clean round: 10,000 ÷ 20,000.
    ("redis", "write64k"): {"tessera req/s (p99 ms)": "9,000 (5.0)", "× tessera small": "0.50",
                            "tessera ÷ tower-sessions": "2.50×", "tessera ÷ actix-session": "1.25×"},
}


def fail(message):
    sys.exit(f"bench_scripts_check: {message}")


def tables(out):
    """Each Markdown table in `out` as {(store, route): {column: cell}}, in order."""
    found, lines = [], []
    for line in out.splitlines() + [""]:
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            header = [c.strip() for c in lines[0].strip("|").split("|")]
            rows = {}
            for row in lines[2:]:  # past the header and its rule
                cells = dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
                rows[(cells["store"], cells["route"])] = cells
            found.append(rows)
            lines = []
    return found


def check_table(name, rows, expected):
    for key, cells in expected.items():
        if key not in rows:
            fail(f"peer_ratios.py: no row for {key} in the {name} table")
        for column, text in cells.items():
            if rows[key].get(column) != text:
                fail(f"peer_ratios.py: {name} table {key} {column}: {rows[key].get(column)!r}, "
                     f"expected {text!r}")


def check_ratios():
    out = subprocess.run([sys.executable, str(HERE / "peer_ratios.py"), str(CSV)],
                         capture_output=True, text=True, check=True).stdout
    if "Run `20260101T000000`; bare axum /plain: 90,000 req/s." not in out:
        fail(f"peer_ratios.py: wrong run or baseline:\n{out}")
    found = tables(out)
    if len(found) != 4:
        fail(f"peer_ratios.py: {len(found)} tables, expected the main one, the one of ceilings "
             "signing each write, the current-thread one and the big-session one")
    main_rows, encoded_rows, runtime_rows, big_rows = found
    if any(route in ("read4k", "write4k", "read64k", "write64k") for _, route in main_rows):
        fail("peer_ratios.py: a big-session route in the main table")
    check_table("main", main_rows, EXPECTED)
    check_table("signing each write", encoded_rows, EXPECTED_ENCODED)
    if len(encoded_rows) != len(EXPECTED_ENCODED):
        fail(f"peer_ratios.py: rows signing each write {sorted(encoded_rows)}")
    check_table("current-thread", runtime_rows, EXPECTED_RUNTIME)
    if len(runtime_rows) != len(EXPECTED_RUNTIME):
        fail(f"peer_ratios.py: current-thread rows {sorted(runtime_rows)}")
    check_table("big-session", big_rows, EXPECTED_BIG)
    if len(big_rows) != len(EXPECTED_BIG):
        fail(f"peer_ratios.py: big-session rows {sorted(big_rows)}")


def check_chart():
    svg = subprocess.run([sys.executable, str(HERE / "bench_chart.py"), str(CSV)],
                         capture_output=True, text=True, check=True).stdout
    doc = xml.dom.minidom.parseString(svg)
    titles = [t.firstChild.data for t in doc.getElementsByTagName("title")]
    for bar in ("ceiling read: 90,000 req/s", "ceiling read: 10,750 req/s",
                "ceiling create: 5,500 req/s", "ceiling read: 45,000 req/s",
                "tessera read: 45,000 req/s"):
        if bar not in titles:
            fail(f"bench_chart.py: no bar {bar!r}")


def main():
    check_ratios()
    check_chart()
    print("bench_scripts_check: ok")


if __name__ == "__main__":
    main()
