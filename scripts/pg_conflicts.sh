#!/usr/bin/env bash
# How many PostgreSQL /write requests of the bench lose a compare-and-swap race.
#
#   scripts/pg_conflicts.sh [SECONDS]        # TESSERA_TEST_POSTGRES_URL, else the loopback default
#
# Runs the bench server (core 0) on the PostgreSQL store in a table of its own, mints 32
# sessions, and drives /write with wrk (core 1) as the peer harness does: 32 connections, the
# 32 cookies rotated round-robin, so two requests for one session overlap whenever one of them
# is slow. PostgreSQL's own statistics then tell how often a save lost the race: a clean write
# is two index lookups (the load and the `UPDATE`); a lost race adds two (the `UPDATE` that
# changed nothing and the reload on the same connection, `save_or_reload`) before the retried
# `UPDATE`. (Before `save_or_reload` a lost race added three, with an existence check, and the
# reload took a second pooled connection: divide by 3 when measuring such a build.)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-5}"
pg="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
table="bench_conflicts_$$"
sep='?'; [[ "$pg" == *\?* ]] && sep='&'

cargo build --release --quiet --example bench_server --features postgres
target="${CARGO_TARGET_DIR:-target}/release"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cookies=$(mktemp /tmp/tessera-conflicts-XXXXXX)
lua=$(mktemp /tmp/tessera-conflicts-XXXXXX.lua)
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql "$pg" -qc "DROP TABLE IF EXISTS $table" >/dev/null 2>&1
  rm -f "$cookies" "$lua"
}
trap cleanup EXIT

TESSERA_SECRET_KEY="conflicts-$(date +%s%N)" taskset -c 0 "$target/examples/bench_server" \
  --addr "127.0.0.1:$port" --store "$pg${sep}table=$table" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$port/plain" >/dev/null && break
  sleep 0.1
done
for _ in $(seq 32); do
  curl -s -D - -o /dev/null "127.0.0.1:$port/create" |
    sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' >>"$cookies"
done

cat >"$lua" <<'EOF'
local reqs, i = {}, 0
function init()
  for line in io.lines(os.getenv("COOKIES")) do reqs[#reqs + 1] = wrk.format("GET", "/write", { Cookie = line }) end
end
function request() i = i % #reqs + 1; return reqs[i] end
function done(summary, latency)
  io.write(string.format("requests %d p50_ms %.1f p99_ms %.1f\n", summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF

# Backends publish their statistics when idle for a while; wait for that on both sides.
stats() { psql "$pg" -qtA -F' ' -c "SELECT idx_scan, n_tup_upd FROM pg_stat_user_tables WHERE relname = '$table'"; }
sleep 12
read -r scans0 updates0 < <(stats)
result=$(COOKIES="$cookies" taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s "$lua" "http://127.0.0.1:$port" | grep '^requests')
sleep 12
read -r scans1 updates1 < <(stats)
requests=$(awk '{print $2}' <<<"$result")
scans=$((scans1 - scans0))
echo "$result"
echo "index lookups $scans, rows updated $((updates1 - updates0))"
echo "saves that lost a race: about $(((scans - 2 * requests) / 2)) of $requests requests"
