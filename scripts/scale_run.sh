#!/usr/bin/env bash
# How cost grows with the number of stored sessions, and clearsessions on a million rows.
#
#   scripts/scale_run.sh [SECONDS]      # default 10 s per measurement
#
# For each store (memory, SQLite, PostgreSQL, Redis) and each size (1k, 100k, 1M sessions):
# the bench server prefills the store, then wrk measures /read and /write with cookies
# spread over up to 100,000 of those sessions (server on core 0, wrk on core 1, as in
# ../shared/bench-peers). Then, for SQLite and PostgreSQL: 1M expired rows beside 10k live
# ones, `tessera clearsessions` timed (wall time, peak RSS) while wrk keeps reading live
# sessions. Needs wrk, and PostgreSQL/Redis at the loopback defaults (override with
# TESSERA_SCALE_POSTGRES_URL, TESSERA_SCALE_REDIS_URL). TESSERA_SCALE_STORES picks stores
# (default "memory sqlite postgres redis"). Prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
pg="${TESSERA_SCALE_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
redis="${TESSERA_SCALE_REDIS_URL:-redis://127.0.0.1:6379/5}"
work=$(mktemp -d /tmp/tessera-scale-XXXXXX)
lua="$work/bench.lua"
export TESSERA_SECRET_KEY="scale-run-secret-key"

cargo build --release --quiet --example bench_server --bin tessera
bin="${CARGO_TARGET_DIR:-target}/release"

# The wrk script: rotates through the cookie file's lines, prints one summary line.
cat >"$lua" <<'EOF'
local reqs, idx = {}, 0
function init(args)
  local path = os.getenv("BENCH_PATH")
  for line in io.lines(os.getenv("BENCH_COOKIE_FILE")) do
    reqs[#reqs + 1] = wrk.format("GET", path, { ["Cookie"] = line })
  end
end
function request() idx = idx % #reqs + 1; return reqs[idx] end
function done(s, latency)
  io.write(string.format("RESULT %.0f %.2f %d %d\n", s.requests / (s.duration / 1e6),
    latency:percentile(99) / 1000, s.errors.status, s.errors.connect + s.errors.read + s.errors.timeout))
end
EOF

server=
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi; }
trap 'stop_server; rm -rf "$work"' EXIT

port=18181
start_server() { # URL, extra args…
  local url=$1; shift
  taskset -c 0 "$bin/examples/bench_server" --addr "127.0.0.1:$port" --store "$url" "$@" 2>"$work/server.log" &
  server=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/plain"; do
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.2
  done
}

measure() { # ROUTE SECONDS -> "req/s p99 non2xx socket-errors"
  BENCH_PATH="/$1" BENCH_COOKIE_FILE="$work/cookies" taskset -c 1 wrk -t1 -c32 -d1s -s "$lua" \
    "http://127.0.0.1:$port" >/dev/null
  BENCH_PATH="/$1" BENCH_COOKIE_FILE="$work/cookies" taskset -c 1 wrk -t1 -c32 -d"$2"s -s "$lua" \
    "http://127.0.0.1:$port" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}

reset_store() { # URL
  case "$1" in
    sqlite://*) rm -f "${1#sqlite://}"* ;;
    postgres://*) psql -q "${1%%\?*}" -c "DROP TABLE IF EXISTS tessera_scale" ;;
    redis://*) redis-cli -u "$1" flushdb >/dev/null ;;
  esac
}

echo "## /read and /write by number of stored sessions (${secs} s each, wrk -t1 -c32)"
echo
echo "| store | sessions | prefill | /read req/s | /read p99 ms | /write req/s | /write p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
stores="${TESSERA_SCALE_STORES:-memory sqlite postgres redis}"
for store in $stores; do
  case $store in
    memory) url="memory://?max_sessions=2000000" ;;
    sqlite) url="sqlite://$work/scale.sqlite3" ;;
    postgres) url="$pg?table=tessera_scale" ;;
    redis) url="$redis" ;;
  esac
  for n in 1000 100000 1000000; do
    reset_store "$url"
    started=$(date +%s.%N)
    start_server "$url" --prefill "$n" --cookies "$work/cookies"
    prefill=$(echo "$(date +%s.%N) - $started" | bc)
    read -r rr rp re rs <<<"$(measure read "$secs")"
    read -r wr wp we ws <<<"$(measure write "$secs")"
    stop_server
    printf "| %s | %s | %.1f s | %s | %s | %s | %s | %s |\n" "$store" "$n" "$prefill" \
      "$rr" "$rp" "$wr" "$wp" "$((re + rs + we + ws))"
  done
  reset_store "$url"
done

echo
echo "## clearsessions: 1,000,000 expired rows beside 10,000 live ones"
echo
echo "| store | rows deleted | clearsessions wall s | peak RSS MiB | /read req/s before | /read req/s during | /read p99 ms during |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for store in $stores; do
  case $store in
    memory | redis) continue ;;
    sqlite) url="sqlite://$work/clear.sqlite3" ;;
    postgres) url="$pg?table=tessera_scale" ;;
  esac
  reset_store "$url"
  "$bin/examples/bench_server" --store "$url" --prefill 1000000 --prefill-expired --prefill-only 2>/dev/null
  start_server "$url" --prefill 10000 --cookies "$work/cookies"
  read -r before _ _ _ <<<"$(measure read "$secs")"
  # The cleanup runs on core 0 with the server and its database, wrk reads meanwhile.
  taskset -c 0 /usr/bin/time -f "%e %M" -o "$work/time" "$bin/tessera" clearsessions --store "$url" \
    >"$work/clear.out" 2>&1 &
  cleaner=$!
  sleep 0.5
  read -r during p99 _ _ <<<"$(measure read "$secs")"
  wait "$cleaner"
  read -r wall kib <"$work/time"
  deleted=$(grep -o '[0-9][0-9,]*' "$work/clear.out" | head -1 | tr -d ,)
  stop_server
  printf "| %s | %s | %s | %.0f | %s | %s | %s |\n" "$store" "$deleted" "$wall" \
    "$(echo "$kib / 1024" | bc -l)" "$before" "$during" "$p99"
  reset_store "$url"
done
