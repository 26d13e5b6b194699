#!/usr/bin/env python3
"""B ÷ A req/s on one route, from short wrk runs that alternate between two servers started side
by side, for a host whose speed changes from one minute to the next.

    python3 scripts/paired_ratio.py ROUTE "KIND ARGS…" "KIND ARGS…" [--pairs 12] [--seconds 2]
        [--a-route ROUTE]

KIND is `tessera` (TESSERA_BENCH_BIN --store URL), `tessera-bin PATH URL` (another build of the
bench server, to set two commits side by side), `ceiling` (CEILING_BENCH_BIN --store URL), each
with the server's own options after the URL if given (`--current-thread`; for `ceiling` also
`--noop-layer`, `--handle-layer`, `--encode-each`), `axum` (bare axum), `tower-sessions STORE`
or `actix-session STORE` (the harness's peers, from BENCH_PEERS_TARGET/release, STORE as
bench/harness/run.py gives it).
Both servers run at once on CPU 0, on two ports; wrk runs on CPU 1 against one, then the other,
in ABBA order, so each pair's two runs are seconds apart and meet the same host. The server not
under load is idle. Prints each pair's ratio, then the median and the middle half. Cookies are
minted as the harness mints them (32 sessions from /create; none for /plain and /create). ROUTE
may also be a big-session route, `read4k`, `write4k`, `read64k` or `write64k`: `/read` or
`/write` with 32 sessions minted from `/create4k` or `/create64k`, as the harness runs them.
`--a-route` gives A a route of its own, for a goal that compares two routes: memory `/write`
against bare axum's `/plain`, which is the only route bare axum has.
Like the harness, it owns the bench services (bench/harness/services.sh): before and after,
it empties what the two servers store there (the harness's Redis, `django_session` and its
side table in the `bench` database), so a `/create` run leaves no millions of sessions behind
for the next user of those servers. Standard library only.
"""

import argparse
import http.client
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "harness" / "lib" / "bench.lua"
SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
PORTS = (18080, 18081)


def command(spec: str, port: int) -> list[str]:
    kind, *args = shlex.split(spec)
    peers = Path(os.environ.get("BENCH_PEERS_TARGET", ROOT / "bench/harness/peers/target")) / "release"
    addr = ["--addr", f"127.0.0.1:{port}"]
    if kind == "tessera":
        return [os.environ["TESSERA_BENCH_BIN"], *addr, "--store", *args]
    if kind == "tessera-bin":
        # Another build of the bench server (an earlier commit's, say): its path, then the URL.
        binary, *rest = args
        return [binary, *addr, "--store", *rest]
    if kind == "ceiling":
        return [os.environ["CEILING_BENCH_BIN"], *addr, "--store", *args]
    if kind == "axum":
        return [str(peers / "axum-baseline"), str(port)]
    if kind == "tower-sessions":
        return [str(peers / "axum-tower-sessions"), str(port), *args]
    if kind == "actix-session":
        return [str(peers / "actix-session-peer"), str(port), *args]
    sys.exit(f"unknown server kind {kind!r}")


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, list, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    return response.status, response.getheaders(), response.read()


def start(spec: str, port: int) -> subprocess.Popen:
    try:
        get(port, "/plain")
        sys.exit(f"port {port} is already served: stop that server first")
    except OSError:
        pass
    env = {**os.environ, "TESSERA_SECRET_KEY": SECRET}
    proc = subprocess.Popen(["taskset", "-c", "0", *command(spec, port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"{spec} exited with {proc.returncode}")
        try:
            get(port, "/plain")
            return proc
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{spec} did not answer on port {port}")


def paths(route: str) -> tuple[str, str]:
    """The path wrk requests for `route`, and the path its cookies are minted from."""
    big = re.fullmatch(r"(read|write)(4k|64k)", route)
    if big:
        return f"/{big[1]}", f"/create{big[2]}"
    return f"/{route}", "/create"


def cookies(port: int, route: str, tmp: Path) -> str:
    path = tmp / f"cookies-{port}.txt"
    minted = []
    if route not in ("plain", "create"):
        mint = paths(route)[1]
        for _ in range(32):
            status, headers, _ = get(port, mint)
            found = [v for k, v in headers if k.lower() == "set-cookie"]
            if status != 200 or not found:
                sys.exit(f"{mint} on port {port}: {status}")
            minted.append(found[0].split(";", 1)[0])
    path.write_text("\n".join(minted) + "\n")
    return str(path) if minted else ""


def wrk(port: int, route: str, cookie_file: str, seconds: int) -> float:
    env = {**os.environ, "BENCH_PATH": paths(route)[0], "BENCH_COOKIE_FILE": cookie_file}
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--timeout",
                          "5s", "-s", str(LUA), f"http://127.0.0.1:{port}"],
                         env=env, capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"BENCH_JSON (\{.*\})", out)
    if not found:
        sys.exit(f"wrk on port {port} failed: {out[-300:]}")
    result = json.loads(found.group(1))
    bad = result["err_status"] + result["err_connect"] + result["err_read"] + result["err_timeout"]
    if bad:
        sys.exit(f"port {port}: {bad} failed requests")
    return result["requests"] / (result["duration_us"] / 1e6)


def reset_stores(specs: list[str]) -> None:
    """Empties the bench services the servers of `specs` store in, as the harness resets them."""
    joined = " ".join(specs)
    if "redis://127.0.0.1:6379" in joined or "redis:redis://127.0.0.1:6379" in joined:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "flushall"], check=True,
                       capture_output=True, timeout=120)
    if "/bench" in joined and "postgres" in joined:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "root", "-d", "bench", "-qtAc",
                        "DO $$ BEGIN IF to_regclass('django_session') IS NOT NULL THEN "
                        "TRUNCATE django_session, tessera_session_user; END IF; END $$;"],
                       check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("route")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--a-route", help="the route A runs (by default ROUTE)")
    args = parser.parse_args()
    routes = (args.a_route or args.route, args.route)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    reset_stores([args.a, args.b])
    servers = [start(args.a, PORTS[0]), start(args.b, PORTS[1])]
    try:
        files = [cookies(port, route, tmp) for port, route in zip(PORTS, routes)]
        for port, route, cookie_file in zip(PORTS, routes, files):
            wrk(port, route, cookie_file, 1)  # warm-up
        ratios = []
        for pair in range(args.pairs):
            order = (0, 1) if pair % 2 == 0 else (1, 0)
            rates = {}
            for side in order:
                rates[side] = wrk(PORTS[side], routes[side], files[side], args.seconds)
            ratios.append(rates[1] / rates[0])
            print(f"  pair {pair + 1:2}: A {rates[0]:9.0f}  B {rates[1]:9.0f}  B/A {ratios[-1]:.3f}",
                  flush=True)
        quarters = statistics.quantiles(ratios, n=4)
        label = f"/{routes[1]}" if routes[0] == routes[1] else f"B /{routes[1]} ÷ A /{routes[0]}"
        print(f"{label}: B ÷ A = {statistics.median(ratios):.3f} "
              f"(middle half {quarters[0]:.3f}–{quarters[2]:.3f}, {len(ratios)} pairs)"
              f"  A = {args.a}  B = {args.b}")
    finally:
        for proc in servers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        reset_stores([args.a, args.b])


if __name__ == "__main__":
    main()
